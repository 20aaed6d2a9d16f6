"""The root of a job's composed config: every Hydra group as its owner's typed model, checked in one step.

Each group's model lives with the stage that reads it (``RoutingConfig`` in ``coders.routing``, ...); this
module only composes them, so the stages never import the job. An extractor's own fields are validated
when the extractor is built (each backend knows its fields); here its name is checked against the registry.

The models are also the one source of every default: ``register_model_defaults`` stores them in Hydra's ConfigStore
(group ``model_defaults``), ``conf/config.yaml`` merges each chosen option over its model's node, and so an option's
YAML holds only its name and its differences while every field stays on the command line and in ``harness run --help``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator
from pydantic.fields import FieldInfo

from coders.edits import EditConfig
from coders.routing import CODE_SET_YEAR, RoutingConfig
from harness.config import DatasetConfig, EvaluationConfig, RulesConfig, TrackingConfig
from harness.errors import ConfigError
from harness.intake.degrade.config import DegradationConfig
from harness.intake.ocr import IntakeConfig
from harness.operations.config import OperationsConfig
from harness.pipeline.config import PipelineConfig
from harness.registry import EXTRACTORS
from harness.tracking.decision_config import ReportConfig
from harness.trust.calibration_split import CalibrationRunConfig


class ExtractorChoice(BaseModel):
    """The ``extractor`` group: a registered name plus the fields that extractor's own config defines."""

    model_config = ConfigDict(extra="allow")

    name: str
    """Registry name of the extractor (equals the Hydra option)."""
    train_split: str | None = None
    """Split the extractor learns from before the run (None: it learns nothing)."""

    @field_validator("name")
    @classmethod
    def _registered(cls, name: str) -> str:
        return EXTRACTORS.check(name)

    def settings(self) -> dict[str, Any]:
        """The group as composed, for the extractor to validate."""
        return self.model_dump(exclude_unset=True)


class JobConfig(BaseModel):
    """One job's whole composed config (``conf/config.yaml`` and its groups)."""

    model_config = ConfigDict(extra="forbid")

    dataset: DatasetConfig
    """Which charts the job reads."""
    extractor: ExtractorChoice
    """Which extractor proposes findings, with its own settings."""
    rules: RulesConfig
    """Which rule pack codes the findings."""
    degradation: DegradationConfig
    """How charts are damaged before intake."""
    intake: IntakeConfig
    """How page images are read back."""
    calibration: CalibrationRunConfig = Field(default_factory=CalibrationRunConfig)
    """Whether and how code confidences are calibrated."""
    edits: EditConfig = Field(default_factory=lambda: EditConfig(edits=[]))
    """Which validation edits run."""
    routing: RoutingConfig
    """When a chart goes to human review."""
    tracking: TrackingConfig
    """Where the run is recorded."""
    evaluation: EvaluationConfig
    """How metrics and their intervals are computed."""
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig)
    """How the stages are scheduled (streaming, or stop-and-go batches)."""
    operations: OperationsConfig = Field(default_factory=OperationsConfig)
    """The workload model that turns routes and errors into a coding department's outcomes (denials, coder time, queue)."""
    report: ReportConfig = Field(default_factory=ReportConfig)
    """What a sweep's report compares and recommends: the baseline job, the gate, the experiment's metrics, the objective."""
    seed: int = 0
    """Seed of every random choice (degradation, bootstrap, calibration hold-out): same config and seed, same results."""
    extraction_cache: bool = True
    """Reuse extractions of identical charts under an identical extractor."""
    summary: Literal[True, False, "full"] = True
    """What the terminal shows after the job: true, the headline figures and where the outputs are; full, every metric;
    false, only the run id and the report."""

    @classmethod
    def from_composed(cls, config: Mapping[str, Any]) -> JobConfig:
        """Validate a composed, resolved config; every problem is listed as ``group.key: message``."""
        edits = config.get("edits")
        year = edits.get("year") if isinstance(edits, Mapping) else None  # routing's codes are checked in the job's year
        try:
            return cls.model_validate(config, context={CODE_SET_YEAR: year})
        except ValidationError as error:
            raise ConfigError(f"invalid config: {problems(error, model=cls)}") from None


MODEL_DEFAULTS = "model_defaults"
"""Hydra group of the models' default nodes (``conf/config.yaml`` names them in its defaults list)."""


def field_default(field: FieldInfo) -> Any:
    """A field's default as plain YAML data, or Hydra's ``???`` (must be set) for a field without one."""
    if field.is_required():
        return "???"
    return TypeAdapter(field.annotation).dump_python(field.get_default(call_default_factory=True), mode="json")


def model_defaults(model: type[BaseModel]) -> dict[str, Any]:
    """Every field of ``model`` with its default: the node a group's option is merged over."""
    return {name: field_default(field) for name, field in model.model_fields.items()}


def register_model_defaults() -> None:
    """Store the job's models in Hydra's ConfigStore before Hydra composes ``conf/config.yaml``.

    ``model_defaults/<group>`` for each group's model, ``model_defaults/extractor/<name>`` for each registered
    extractor's own model (options differ by extractor), and ``model_defaults/job`` for the root's own fields."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    for name in EXTRACTORS.names():
        store.store(group=f"{MODEL_DEFAULTS}/extractor", name=name, node=model_defaults(EXTRACTORS.resolve(name).config_model))
    root = {}
    for name, field in JobConfig.model_fields.items():
        if field.annotation is ExtractorChoice:
            continue
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            store.store(group=MODEL_DEFAULTS, name=name, node=model_defaults(field.annotation))
        else:
            root[name] = field_default(field)
    store.store(group=MODEL_DEFAULTS, name="job", node=root)


_SHOWN = 3
"""Closest names offered at most."""


def closest(name: str, valid: Iterable[str], prefix: str = "") -> str:
    """``did you mean a, b?`` over the names nearest ``name`` (difflib), or the valid names when none is near; each name
    shown with ``prefix`` (``dataset.``), as it is typed."""
    names = sorted({str(n) for n in valid})
    near = difflib.get_close_matches(name, names, n=_SHOWN, cutoff=0.6)
    if near:
        return f"did you mean {', '.join(prefix + n for n in near)}?"
    return f"valid: {', '.join(prefix + n for n in names)}" if names else "see harness run --help"


def _fields_at(model: type[BaseModel], path: tuple[Any, ...]) -> list[str]:
    """The field names of the model nested at ``path`` under ``model`` (none when the path leaves the models)."""
    for name in path:
        field = model.model_fields.get(str(name))
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return []
        model = field.annotation
    return list(model.model_fields)


def problems(error: ValidationError, prefix: str = "", model: type[BaseModel] | None = None) -> str:
    """``group.key: message; ...`` for each error of a validation; an unknown key of ``model`` names the closest fields."""
    found = []
    for e in error.errors():
        key = f"{prefix}{'.'.join(map(str, e['loc']))}"
        message = e["msg"]
        if e["type"] == "extra_forbidden" and model is not None:
            group = f"{prefix}{'.'.join(map(str, e['loc'][:-1]))}"
            message = f"unknown key; {closest(str(e['loc'][-1]), _fields_at(model, e['loc'][:-1]), f'{group}.' if group else '')}"
        found.append(f"{key}: {message}")
    return "; ".join(found)
