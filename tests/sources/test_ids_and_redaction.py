"""Chart ids, checked gold evidence and languages, skipped lines under ``tracking.redact``, and sweep job folders that
stay inside the sweep folder (issue 27, items 7 and 8)."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
from conftest import harness

from harness.config import DatasetConfig
from harness.run_record import RunArtifacts, RunFolder
from harness.sources import DataError, load_split

TEXT = "Assessment: essential hypertension."
PRIVATE = "Zed-Quux-1957"
"""An id that names a patient: no redacted file may hold it."""


def chart(chart_id: str, **fields) -> str:
    record = {"id": chart_id, "text": TEXT, "meta": {"split": "dev"},
              "gold": [{"code": "I10", "evidence": [{"start": 12, "end": 34}]}]}
    return json.dumps(record | fields, ensure_ascii=False)


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def skip(path: Path, **fields) -> DatasetConfig:
    return DatasetConfig(name="jsonl", path=str(path), on_bad_line="skip", **fields)


def test_one_id_composed_and_decomposed_is_one_chart(tmp_path: Path) -> None:
    composed, decomposed = unicodedata.normalize("NFC", "café-1"), unicodedata.normalize("NFD", "café-1")
    assert composed != decomposed
    path = write(tmp_path / "charts.jsonl", [chart(decomposed), chart(composed), chart("c2")])
    loaded = load_split(skip(path))
    assert [c.id for c in loaded.charts] == ["c2", composed]  # the kept chart carries the NFC form
    assert [(s.where, s.problem) for s in loaded.skipped] == [(f"{path}:2", f"id 'café-1' repeats the chart at {path}:1")]
    with pytest.raises(DataError, match="charts.jsonl:2: id 'café-1' repeats the chart at"):
        load_split(DatasetConfig(name="jsonl", path=str(path)))


def test_an_id_longer_than_max_id_chars_is_a_bad_line(tmp_path: Path) -> None:
    path = write(tmp_path / "charts.jsonl", [chart("c1"), chart("x" * 200_000), chart("y" * 256)])
    loaded = load_split(skip(path))
    assert [c.id for c in loaded.charts] == ["c1", "y" * 256]
    assert [str(s) for s in loaded.skipped] == [f"{path}:2: id: 200000 characters, more than dataset.max_id_chars (256)"]
    assert len(load_split(skip(path, max_id_chars=200_000)).charts) == 3
    with pytest.raises(ValueError, match="max_id_chars"):
        DatasetConfig(name="jsonl", max_id_chars=0)


def test_evidence_text_must_be_the_text_its_offsets_select(tmp_path: Path) -> None:
    evidence = {"start": 12, "end": 34}
    path = write(tmp_path / "charts.jsonl", [
        chart("c1", gold=[{"code": "I10", "evidence": [evidence | {"text": TEXT[12:34]}]}]),
        chart("c2", gold=[{"code": "I10", "evidence": [evidence, evidence | {"text": "chronic kidney disease"}]}]),
        chart("c3"),  # no text: the offsets alone
    ])
    loaded = load_split(skip(path))
    assert [c.id for c in loaded.charts] == ["c1", "c3"]
    assert [str(s) for s in loaded.skipped] == [
        f"{path}:2: gold[0].evidence[1].text: is not the chart text at 12-34 "
        "(leave text out, or give the characters the offsets select)"]
    assert "chronic" not in str(loaded.skipped[0])  # the problem never quotes the given text


def test_a_language_the_harness_does_not_support_is_a_bad_line(tmp_path: Path) -> None:
    path = write(tmp_path / "charts.jsonl", [chart("c1", language="es"), chart("c2", language="fr"),
                                             chart("c3", language="EN")])
    loaded = load_split(skip(path))
    assert [(c.id, c.language) for c in loaded.charts] == [("c1", "es")]
    assert [str(s) for s in loaded.skipped] == [f"{path}:{n}: language: Input should be 'en' or 'es'" for n in (2, 3)]


def test_skipped_lines_keep_where_and_field_but_no_value_when_redacted(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    path = write(tmp_path / "data" / "charts.jsonl", [
        chart("c1"),
        chart(PRIVATE), chart(PRIVATE),  # a repeated id
        chart("c3", gold=[{"code": "Q99.99"}]),  # a code that does not exist
        chart("c4", meta={"split": "validation-" + PRIVATE}),  # not a split
        chart("c5", pages=[{"index": 0, "offset": 0, "image_path": f"../scans/{PRIVATE}.png"}]),  # outside the folder
    ])
    loaded = load_split(skip(path))
    artifacts = RunArtifacts(tmp_path / "artifacts")
    artifacts.path.mkdir()
    artifacts.write_skipped_lines(loaded.skipped, redact=False)
    plain = artifacts.skipped_lines()
    artifacts.write_skipped_lines(loaded.skipped, redact=True)
    redacted = artifacts.skipped_lines()
    assert [row["where"] for row in redacted] == [row["where"] for row in plain] == [f"{path}:{n}" for n in (3, 4, 5, 6)]
    outside = f" is outside the chart file's folder {path.parent} (dataset.allow_outside_paths=true accepts it)"
    assert [row["problem"] for row in plain] == [
        f"id '{PRIVATE}' repeats the chart at {path}:2",
        "gold[0].code: 'Q99.99' does not exist in icd10cm 2026 (dataset.unknown_gold_codes=keep keeps it)",
        "meta.split 'validation-Zed-Quux-195... of chart 'c4' is not a split (train, dev, test)",
        f"pages[0].image_path: {tmp_path / 'scans' / PRIVATE}.png{outside}",
    ]
    assert [row["problem"] for row in redacted] == [
        f"id [REDACTED] repeats the chart at {path}:2",
        "gold[0].code: [REDACTED] does not exist in icd10cm 2026 (dataset.unknown_gold_codes=keep keeps it)",
        "meta.split [REDACTED] of chart [REDACTED] is not a split (train, dev, test)",
        f"pages[0].image_path: [REDACTED]{outside}",
    ]
    assert PRIVATE not in artifacts.file("skipped_lines.jsonl").read_text()


@pytest.mark.slow
def test_a_redacted_run_writes_skipped_lines_without_their_values(tmp_path: Path) -> None:
    path = write(tmp_path / "charts.jsonl", [chart("c1"), chart(PRIVATE), chart(PRIVATE), chart("c2", language="fr"),
                                             chart("c3", id="x" * 200_000)])
    run_dir = tmp_path / "run"
    harness(tmp_path, "dataset=jsonl", f"dataset.path={path}", "dataset.on_bad_line=skip", "tracking.enabled=false",
            "tracking.redact=true", "extractor.train_split=null", "extraction_cache=false", f"hydra.run.dir={run_dir}")
    rows = RunFolder(run_dir).artifacts.skipped_lines()
    assert rows == [
        {"where": f"{path}:3", "problem": f"id [REDACTED] repeats the chart at {path}:2"},
        {"where": f"{path}:4", "problem": "language: Input should be 'en' or 'es'"},
        {"where": f"{path}:5", "problem": "id: 200000 characters, more than dataset.max_id_chars (256)"},
    ]
    assert "x" * 300 not in "".join(p.read_text() for p in (run_dir / "artifacts").glob("*.jsonl"))  # nor the long id


@pytest.mark.slow
def test_sweep_job_folders_stay_inside_the_sweep_folder(tmp_path: Path) -> None:
    for name in ("north", "south"):
        (tmp_path / name).mkdir()
        write(tmp_path / name / "charts.jsonl", [chart("c1"), chart("c2")])
    cwd = tmp_path / "a" / "b" / "c"
    cwd.mkdir(parents=True)
    sweep = cwd / "sweep"
    # named after these values as Hydra names it, a job folder was sweep/0_dataset.path=../../../north/charts.jsonl,...:
    # folder north/ of the working folder, outside the sweep folder
    harness(cwd, "-m", "dataset=jsonl", "dataset.path=../../../north/charts.jsonl,../../../south/charts.jsonl",
            "extractor.train_split=null", "tracking.enabled=false", "extraction_cache=false", f"hydra.sweep.dir={sweep}")
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert len(jobs) == 2 and all((job / "run.json").is_file() for job in jobs)
    for job in jobs:
        assert job.parent == sweep and ".." not in job.name and "/" not in job.name
        assert job.name.startswith(("0_dataset.path=charts.jsonl-", "1_dataset.path=charts.jsonl-"))
    assert len({job.name.split(",")[0].split("-")[-1] for job in jobs}) == 2  # two paths, two hashes
    # nothing was written outside the sweep folder but the chart files themselves
    written = {p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file() and sweep not in p.parents}
    assert written == {Path("north/charts.jsonl"), Path("south/charts.jsonl")}


def test_job_folder_names_keep_plain_values_and_hash_paths_and_long_ones() -> None:
    import yaml
    from omegaconf import OmegaConf

    from harness.cli.job_folders import MAX_NAME_BYTES, job_folder, register

    assert job_folder("dataset=jsonl,rules=icd10cm_2026_v1") == "dataset=jsonl,rules=icd10cm_2026_v1"
    assert job_folder("") == ""
    named = job_folder("dataset.code_systems=[icd10cm,icd10pcs],dataset.path=../../x/charts.jsonl,seed=3")
    assert named.startswith("dataset.code_systems=[icd10cm,icd10pcs],dataset.path=charts.jsonl-") and named.endswith(",seed=3")
    assert job_folder("dataset.path=../a/charts.jsonl") != job_folder("dataset.path=../b/charts.jsonl")
    many = ",".join(f"k{i}=v" for i in range(99))
    for dirname in ("dataset.path=..", "dataset.path=/etc/..", "a/b=c", "x=" + "é" * 5000, many):
        name = job_folder(dirname)
        assert "/" not in name and ".." not in name and len(name.encode()) <= MAX_NAME_BYTES, name
    # conf/config.yaml's pattern, resolved as every launcher resolves it
    register()
    pattern = yaml.safe_load((Path(__file__).parents[2] / "conf" / "config.yaml").read_text())["hydra"]["sweep"]["subdir"]
    up = "dataset.path=../../up.jsonl"
    config = OmegaConf.create({"hydra": {"job": {"num": 1, "override_dirname": up}}, "subdir": pattern})
    assert config.subdir == f"1_{job_folder(up)}" and job_folder(up).startswith("dataset.path=up.jsonl-")
