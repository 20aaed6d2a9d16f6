"""The workload model's config: typed, strict, and every figure in its YAML says where it comes from."""

from __future__ import annotations

import re

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


def test_every_figure_names_its_source_or_says_assumption() -> None:
    lines = DEFAULT.read_text().splitlines()
    fields = set(OperationsConfig.model_fields) - {"name", "review_minutes"} | set(ReviewMinutes.model_fields)
    found = set()
    for number, line in enumerate(lines):
        key = re.match(r"\s*(\w+):\s*\S", line)
        if not key or key.group(1) not in fields:
            continue
        found.add(key.group(1))
        comment_above = []
        for above in reversed(lines[:number]):
            if not above.lstrip().startswith("#"):
                break
            comment_above.append(above)
        said = line.partition("#")[2] + " ".join(comment_above)
        assert "assumption" in said or "Source:" in said, f"{key.group(1)}: no source and not marked as an assumption"
    assert found == fields


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
