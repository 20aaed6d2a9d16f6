"""The workload model's config: typed, strict, and every figure documented where its default lives."""

from __future__ import annotations

import pytest
import yaml
from conftest import PROJECT_ROOT
from pydantic import ValidationError

from harness.operations import OperationsConfig
from harness.operations.config import FAMILIES, ReviewMinutes

DEFAULT = PROJECT_ROOT / "conf" / "operations" / "default.yaml"


def test_the_default_yaml_is_the_typed_default() -> None:
    assert OperationsConfig.model_validate(yaml.safe_load(DEFAULT.read_text())) == OperationsConfig()
    assert set(ReviewMinutes.model_fields) == set(FAMILIES)


def test_every_figure_is_documented_where_its_default_lives() -> None:
    """The model is the one place a figure's default lives, so its docstring says what the figure is; one from a
    published source names it there (``Source:``), every other figure is an assumption (the module says so)."""
    fields = {**OperationsConfig.model_fields, **ReviewMinutes.model_fields}
    assert all(field.description for field in fields.values())
    assert "Source:" in fields["manual_coding_minutes"].description


def test_every_field_is_documented_and_typos_are_refused() -> None:
    for model in (OperationsConfig, ReviewMinutes):
        assert all(field.description for field in model.model_fields.values()), model  # the docstring under each field
    with pytest.raises(ValidationError, match="coder_count"):
        OperationsConfig(coder_count=3)
    with pytest.raises(ValidationError):
        OperationsConfig(qa_sample_rate=1.5)
    with pytest.raises(ValidationError):
        ReviewMinutes(low_confidence=0)


def test_the_job_config_carries_it_and_names_a_bad_key() -> None:
    from harness.errors import ConfigError
    from harness.job_config import JobConfig

    assert JobConfig.model_fields["operations"].annotation is OperationsConfig
    with pytest.raises(ConfigError, match=r"operations\.coders"):
        JobConfig.from_composed({"dataset": {"name": "sample"}, "extractor": {"name": "dictionary"},
                                 "rules": {"name": "r", "pack": "icd10cm_2026_v2"}, "degradation": {"name": "clean"},
                                 "intake": {}, "routing": {}, "tracking": {}, "evaluation": {},
                                 "operations": {"coders": 0}})
