"""Learned-from and evaluated charts must be disjoint, by id and by text."""

from __future__ import annotations

import pytest
from conftest import harness

from harness.contracts import Chart
from harness.leakage import LeakageError, check_disjoint


def chart(chart_id: str, text: str) -> Chart:
    return Chart(id=chart_id, text=text)


def test_disjoint_charts_pass() -> None:
    check_disjoint([chart("t1", "cough"), chart("t2", "fever")], [chart("d1", "asthma")], "extractor 'dictionary'")


def test_nothing_learned_passes() -> None:
    check_disjoint([], [chart("d1", "asthma")], "extractor 'dictionary'")


def test_same_ids_are_named_with_the_fix() -> None:
    with pytest.raises(LeakageError) as raised:
        check_disjoint([chart("a", "x"), chart("b", "y")], [chart("a", "x"), chart("b", "y"), chart("c", "z")], "extractor 'e'")
    message = str(raised.value)
    assert message.startswith("2 of the 3 evaluated charts are also charts the extractor 'e' learns from (2 with the same id, 0 ")
    assert "meta.split" in message and "{split}" in message and "extractor.train_split=null" in message


def test_same_text_under_another_id_is_leakage() -> None:
    with pytest.raises(LeakageError, match=r"1 of the 2 evaluated .* \(0 with the same id, 1 with the same text"):
        check_disjoint([chart("train-7", "Hypertension.\nOn lisinopril.")],
                       [chart("dev-1", "Hypertension.  On   lisinopril."), chart("dev-2", "Asthma.")], "calibrator")


def test_empty_texts_are_not_the_same_note() -> None:
    check_disjoint([chart("t", "   ")], [chart("d", "")], "calibrator")


@pytest.mark.slow
def test_the_sample_exported_without_splits_never_trains_on_what_it_scores(tmp_path) -> None:
    """Exported without meta.split: one file runs untrained with the notice; a file per split scores as dataset=sample."""
    import json

    from harness.config import DatasetConfig
    from harness.sources import load_charts

    for split in ("dev", "train"):
        with open(tmp_path / f"sample_{split}.jsonl", "w") as out:
            for exported in load_charts(DatasetConfig(name="sample", split=split), purpose="learn"):
                row = exported.model_dump(mode="json")
                row["meta"].pop("split")
                out.write(json.dumps(row) + "\n")

    def micro_f1(*overrides: str) -> tuple[float, str]:
        done = harness(tmp_path, "tracking.enabled=false", "extraction_cache=false", f"hydra.run.dir={tmp_path / 'run'}",
                       *overrides)
        return json.loads((tmp_path / "run" / "run.json").read_text())["metrics"]["micro_f1"], done.stdout + done.stderr

    reference, _ = micro_f1()
    split_files, _ = micro_f1("dataset=jsonl", 'dataset.path="sample_{split}.jsonl"')
    one_file, said = micro_f1("dataset=jsonl", "dataset.path=sample_dev.jsonl")
    assert split_files == reference
    assert "dictionary: no labelled training charts" in said and one_file < reference
