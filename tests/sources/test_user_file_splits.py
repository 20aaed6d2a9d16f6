"""Which charts of a user file belong to a split, for evaluating or for learning, and the loading API every source shares.

Rules: a chart without ``meta.split`` is an evaluation chart (never a training chart); one whose ``meta.split`` names
no split is skipped and reported under either policy; one of another split is simply not in this one. With
``{split}`` in the path the file is the split.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.config import DatasetConfig
from harness.sources import DataError, load_charts, load_split
from harness.sources.readers import accepted_files


def chart(chart_id: str, split: str | None) -> dict:
    return {"id": chart_id, "text": "Assessment: essential hypertension."} | ({"meta": {"split": split}} if split else {})


def write(path: Path, charts: list[dict]) -> Path:
    path.write_text("".join(json.dumps(c) + "\n" for c in charts))
    return path


def config(path: Path | str, split: str = "dev", **fields) -> DatasetConfig:
    return DatasetConfig(name="jsonl", path=str(path), split=split, **fields)


@pytest.fixture
def one_file(tmp_path: Path) -> Path:
    return write(tmp_path / "charts.jsonl", [chart("t1", "train"), chart("d2", "dev"), chart("e1", None),
                                             chart("v1", "validation"), chart("d1", "dev"), chart("t2", "train")])


def test_evaluation_takes_the_split_and_the_charts_without_one(one_file: Path) -> None:
    for policy in ("stop", "skip"):  # a chart naming no split is reported, never the end of the run
        loaded = load_split(config(one_file, on_bad_line=policy))
        assert [c.id for c in loaded.charts] == ["d1", "d2", "e1"]  # sorted by id
        assert [(s.where, s.problem) for s in loaded.skipped] == [
            (f"{one_file}:4", "meta.split 'validation' of chart 'v1' is not a split (train, dev, test)")]


def test_learning_never_takes_charts_without_a_split(one_file: Path) -> None:
    assert [c.id for c in load_charts(config(one_file, "train"), purpose="learn")] == ["t1", "t2"]
    assert [c.id for c in load_charts(config(one_file, "train"))] == ["e1", "t1", "t2"]


def test_learning_from_a_split_the_file_lacks_gives_no_charts(tmp_path: Path) -> None:
    dev_only = write(tmp_path / "charts.jsonl", [chart("d1", "dev"), chart("d2", "dev")])
    assert load_split(config(dev_only, "train"), purpose="learn").charts == []
    with pytest.raises(DataError) as raised:
        load_split(config(dev_only, "test"))
    assert str(raised.value) == (
        f"dataset 'jsonl' split 'test': no charts in {dev_only} (found 2 of split 'dev'; 0 lines skipped). Give its charts "
        "meta.split 'test' (or none: evaluation charts), put {split} in dataset.path to read one file per split, or set "
        "dataset.split to a split the file holds")


def test_limit_cuts_evaluation_not_learning(tmp_path: Path) -> None:
    path = write(tmp_path / "charts.jsonl", [chart(f"c{i}", "dev") for i in (3, 1, 2)])
    assert [c.id for c in load_charts(config(path, limit=2))] == ["c1", "c2"]
    assert [c.id for c in load_charts(config(path, limit=2), purpose="learn")] == ["c1", "c2", "c3"]


def test_a_file_per_split_is_its_split_for_learning_too(tmp_path: Path) -> None:
    write(tmp_path / "train.jsonl", [chart("t1", None), chart("t2", "train"), chart("t3", None) | {"meta": {"split": None}}])
    write(tmp_path / "dev.jsonl", [chart("d1", None)])
    pattern = str(tmp_path / "{split}.jsonl")
    assert [c.id for c in load_charts(config(pattern, "train"), purpose="learn")] == ["t1", "t2", "t3"]
    assert [c.id for c in load_charts(config(pattern))] == ["d1"]
    with pytest.raises(DataError, match=r"test\.jsonl does not exist"):  # a named file must exist, even to learn from
        load_charts(config(pattern, "test"), purpose="learn")


def test_a_folder_as_path_says_so(tmp_path: Path) -> None:
    write(tmp_path / "charts.jsonl", [chart("d1", "dev")])
    with pytest.raises(DataError) as raised:
        load_split(config(tmp_path))
    assert str(raised.value) == (f"dataset.path {tmp_path} is a folder: expected {accepted_files()} "
                                 "(or a path containing {split})")
    with pytest.raises(DataError, match=r"^chart file .*nowhere\.jsonl does not exist$"):
        load_split(config(tmp_path / "nowhere.jsonl"))


def test_other_sources_skip_nothing_and_may_be_empty_for_learning(tmp_path: Path) -> None:
    sample = load_split(DatasetConfig(name="sample", split="dev"))
    assert len(sample.charts) == 40 and sample.skipped == []
    assert len(load_charts(DatasetConfig(name="sample", split="train", limit=3), purpose="learn")) == 120
    split_dir = tmp_path / "codiesp" / "dev"  # a CodiEsp split with no cases at all
    (split_dir / "text_files").mkdir(parents=True)
    for suffix in "DPX":
        (split_dir / f"dev{suffix}.tsv").write_text("")
    empty = DatasetConfig(name="codiesp_es", data_dir=str(tmp_path))
    assert load_split(empty, purpose="learn").charts == []
    with pytest.raises(DataError, match="dataset 'codiesp_es' split 'dev' has no charts"):
        load_split(empty)
