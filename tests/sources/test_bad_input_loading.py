"""Every loading case of the bad-input corpus, through the loader in this process (the ``harness`` command runs them
end to end elsewhere): the same charts and skipped lines, or a ``DataError`` with the same message."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from bad_inputs.corpus import LOADING_CASES, Case

from harness.config import DatasetConfig, config_option
from harness.sources import DataError, load_split


def dataset_config(arguments: list[str], **update: object) -> DatasetConfig:
    """The dataset config that the ``dataset`` overrides among ``arguments`` compose (as Hydra would)."""
    fields: dict = {}
    for argument in arguments:
        key, _, value = argument.partition("=")
        if key == "dataset":
            fields = config_option("dataset", value) | fields
        elif key.startswith("dataset."):
            fields[key.removeprefix("dataset.")] = yaml.safe_load(value)
    return DatasetConfig.model_validate(fields | update)


def train_split(arguments: list[str]) -> str | None:
    return next((a.partition("=")[2] for a in arguments if a.startswith("extractor.train_split=")), None)


def test_corpus_kinds_are_distinct_and_many() -> None:
    kinds = [case.kind for case in LOADING_CASES]
    assert len(kinds) == len(set(kinds)) >= 25
    assert {case.exit_code for case in LOADING_CASES} == {0, 2}


@pytest.mark.parametrize("case", LOADING_CASES, ids=lambda case: case.kind)
def test_loading_case(case: Case, tmp_path: Path) -> None:
    arguments = case.prepare(tmp_path)
    config = dataset_config(arguments)
    if case.exit_code:
        with pytest.raises(DataError) as raised:
            load_split(config)
        assert case.message in str(raised.value)
        assert "essential hypertension" not in str(raised.value)  # never the chart's text
        return
    loaded = load_split(config)
    assert (len(loaded.charts), len(loaded.skipped)) == (case.charts_in, case.skipped)
    assert case.message in "\n".join(map(str, loaded.skipped))
    if split := train_split(arguments):  # the extractor's split loads for learning, even when it holds no chart
        load_split(config.model_copy(update={"split": split}), purpose="learn")
