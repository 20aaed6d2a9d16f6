"""The root of a job's composed config: every Hydra group as its owner's typed model, checked in one step.

Each group's model lives with the stage that reads it (``RoutingConfig`` in ``coders.routing``, ...); this
module only composes them, so the stages never import the job. An extractor's own fields are validated
when the extractor is built (each backend knows its fields); here its name is checked against the registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from coders.edits import EditConfig
from coders.routing import RoutingConfig
from harness.config import DatasetConfig, EvaluationConfig, RulesConfig, TrackingConfig
from harness.errors import ConfigError
from harness.intake.degrade.config import DegradationConfig
from harness.intake.ocr import IntakeConfig
from harness.operations.config import OperationsConfig
from harness.pipeline.streaming import PipelineConfig
from harness.registry import EXTRACTORS
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
    seed: int = 0
    """Seed of every random choice (degradation, bootstrap, calibration hold-out): same config and seed, same results."""
    extraction_cache: bool = True
    """Reuse extractions of identical charts under an identical extractor."""
    summary: bool = True
    """Print the end-of-run summary table."""

    @classmethod
    def from_composed(cls, config: Mapping[str, Any]) -> JobConfig:
        """Validate a composed, resolved config; every problem is listed as ``group.key: message``."""
        try:
            return cls.model_validate(config)
        except ValidationError as error:
            raise ConfigError(f"invalid config: {problems(error)}") from None


def problems(error: ValidationError, prefix: str = "") -> str:
    """``group.key: message; ...`` for each error of a validation."""
    return "; ".join(f"{prefix}{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
