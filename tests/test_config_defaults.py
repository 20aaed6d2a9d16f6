"""One source for each default: a ``conf/`` option holds its name and its differences from the typed model, nothing more.

The models' defaults reach Hydra through ``model_defaults/*`` (``harness.job_config.register_model_defaults``), so a
value repeated in YAML would be a second copy that silently stops following the model. Experiments are checked against
the options they select (a value they set must change something); Hydra launcher presets against the launcher's own
structured config.
"""

from __future__ import annotations

import typing
from typing import Any

import pytest
import yaml
from conftest import PROJECT_ROOT
from pydantic import BaseModel

from harness.job_config import ExtractorChoice, JobConfig, field_default, register_model_defaults
from harness.registry import EXTRACTORS
from harness.tracking.gate_config import GateConfig

CONF = PROJECT_ROOT / "conf"
GROUPS = sorted(p.name for p in CONF.iterdir() if p.is_dir() and p.name not in ("experiment", "hydra"))
OPTIONS = [(group, path.stem) for group in GROUPS for path in sorted((CONF / group).glob("*.yaml"))]


def option_model(group: str, option: str) -> type[BaseModel]:
    """The model an option's values are fields of: the extractor's own, the gate's, or the job's group model."""
    if group == "extractor":
        return EXTRACTORS.resolve(option).config_model
    if group == "gate":
        return GateConfig
    return JobConfig.model_fields[group].annotation


def models_in(annotation: Any) -> list[type[BaseModel]]:
    """The models an annotation can hold (``RenderConfig | None``, a discriminated union of operations, ...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in models_in(arg)]


def repeated(values: dict, model: type[BaseModel], where: str, exempt: tuple[str, ...] = ()) -> list[str]:
    """``where.key: ...`` for each value that equals its model default or names no field, nested models included."""
    found = []
    for key, value in values.items():
        field = model.model_fields.get(key)
        if field is None:
            found.append(f"{where}.{key}: {model.__name__} has no such field")
            continue
        if key in exempt:
            continue
        if not field.is_required() and value == field_default(field):
            found.append(f"{where}.{key}: {value!r} is {model.__name__}'s default")
        nested = models_in(field.annotation)
        if isinstance(value, dict) and nested:
            found += repeated(value, nested[0], f"{where}.{key}")
        items = typing.get_args(field.annotation)
        if isinstance(value, list) and items and models_in(items[0]):
            for i, item in enumerate(value):  # a list of operations: each item's model is chosen by its ``type``
                (item_model,) = [m for m in models_in(items[0]) if m.model_fields["type"].default == item["type"]]
                found += repeated(item, item_model, f"{where}.{key}[{i}]", exempt=("type",))
    return found


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}/{o}" for g, o in OPTIONS])
def test_option_holds_only_its_differences(group: str, option: str) -> None:
    values = yaml.safe_load((CONF / group / f"{option}.yaml").read_text(encoding="utf-8")) or {}
    values.pop("defaults", None)  # Hydra's own: an option composed of other options of its group (checked there)
    model = option_model(group, option)
    if "name" in model.model_fields:
        assert values.get("name") == option, f"{group}/{option}.yaml must name its option: name: {option}"
    assert repeated(values, model, f"{group}/{option}", exempt=("name",)) == []


def test_primary_config_leaves_the_jobs_fields_to_the_model() -> None:
    values = yaml.safe_load((CONF / "config.yaml").read_text(encoding="utf-8"))
    own = {k: v for k, v in values.items() if k not in ("defaults", "hydra")}
    assert repeated(own, JobConfig, "config") == []


@pytest.fixture(scope="module")
def compose():
    from hydra import compose, initialize_config_dir

    register_model_defaults()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        yield compose


@pytest.mark.parametrize("group", [g for g in GROUPS if g != "gate"])
def test_every_field_of_every_option_is_in_the_composed_config(compose, group: str) -> None:
    """Hydra's struct mode refuses to override a key it has not composed: every model field must be there."""
    for path in sorted((CONF / group).glob("*.yaml")):
        extra = ["dataset.path=charts.jsonl"] if group == "dataset" else []
        cfg = compose("config", overrides=[f"{group}={path.stem}", *extra])
        model = option_model(group, path.stem)
        assert set(model.model_fields) <= set(cfg[group]), f"{group}={path.stem}"
    choice_fields = set(ExtractorChoice.model_fields)
    assert choice_fields <= set(compose("config")["extractor"])


def test_a_default_valued_field_is_overridable_on_the_command_line(compose) -> None:
    cfg = compose("config", overrides=["extractor.use_icd_terms=false", "dataset.max_line_bytes=10", "seed=4",
                                       "degradation.page_ops.shuffle=true"])
    assert cfg.extractor.use_icd_terms is False and cfg.dataset.max_line_bytes == 10 and cfg.seed == 4
    assert cfg.degradation.page_ops.shuffle is True


@pytest.mark.parametrize("experiment", sorted(p.stem for p in (CONF / "experiment").glob("*.yaml")))
def test_experiment_sets_only_what_changes_its_options(compose, experiment: str) -> None:
    values = yaml.safe_load((CONF / "experiment" / f"{experiment}.yaml").read_text(encoding="utf-8"))
    chosen = [f"{entry.removeprefix('override /')}={option}" for item in values.get("defaults", [])
              for entry, option in item.items()]
    base = compose("config", overrides=chosen)
    for group, settings in values.items():
        if group in ("defaults", "hydra"):
            continue
        for key, value in settings.items():
            assert key in base[group], f"{experiment}: {group}.{key} is no field of the chosen option"
            assert base[group][key] != value, f"{experiment}: {group}.{key}={value!r} is what the options give already"


@pytest.mark.parametrize("preset", sorted(p.stem for p in (CONF / "hydra" / "launcher").glob("*.yaml")))
def test_launcher_preset_sets_only_what_changes_the_launcher(preset: str) -> None:
    from hydra_plugins.hydra_submitit_launcher.config import LocalQueueConf, SlurmQueueConf

    values = yaml.safe_load((CONF / "hydra" / "launcher" / f"{preset}.yaml").read_text(encoding="utf-8"))
    (base,) = values.pop("defaults")
    launcher = {"submitit_slurm": SlurmQueueConf, "submitit_local": LocalQueueConf}[base]()
    for key, value in values.items():
        assert hasattr(launcher, key), f"{preset}: {base} has no field {key}"
        assert getattr(launcher, key) != value, f"{preset}: {key}={value!r} is {base}'s default"


def test_repeated_values_are_found() -> None:
    """The check itself: a repeated default, a repeat nested in an operation, and a typo are each reported."""
    from harness.intake.degrade.config import DegradationConfig

    values = {"name": "x", "text_noise": None, "render": {"dpi": 200}, "image_ops": [{"type": "fax", "streaks": 0}],
              "rendr": {}}
    assert [problem.split(":")[0] for problem in repeated(values, DegradationConfig, "d", exempt=("name",))] == [
        "d.text_noise", "d.render.dpi", "d.image_ops[0].streaks", "d.rendr"]

