"""Files are written whole or not at all: a failure mid-write leaves neither a cut-off target nor a temporary file."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from faults import disk_full_after

from harness.atomic_files import atomic_write, write_text_atomic
from harness.contracts import Chart, ChartResult, CodeAssignment, GoldCode, Span

BIG = "x" * 100_000
"""More than the write buffer: part of it reaches the disk before the failure."""


def test_a_complete_write_lands_under_the_name_with_nothing_beside_it(tmp_path: Path) -> None:
    target = tmp_path / "new" / "report.html"  # the folder is made too
    assert write_text_atomic(target, "<p>é</p>") == target
    assert target.read_text(encoding="utf-8") == "<p>é</p>" and list(target.parent.iterdir()) == [target]
    with atomic_write(target, "wb") as out:
        out.write(b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01" and list(target.parent.iterdir()) == [target]


def test_an_error_mid_write_leaves_no_file(tmp_path: Path) -> None:
    target = tmp_path / "predictions.jsonl"
    with pytest.raises(RuntimeError, match="writer failed"), atomic_write(target) as out:
        out.write(BIG)
        out.flush()  # the partial content is on disk under the temporary name
        assert len(list(tmp_path.iterdir())) == 1
        raise RuntimeError("writer failed")
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_leaves_no_file_and_keeps_the_earlier_one(tmp_path: Path) -> None:
    target = tmp_path / "metrics.json"
    with disk_full_after(4096), pytest.raises(OSError) as full:
        write_text_atomic(target, BIG)
    assert full.value.errno == errno.EFBIG and list(tmp_path.iterdir()) == []

    write_text_atomic(target, "{}")
    with disk_full_after(4096), pytest.raises(OSError):
        write_text_atomic(target, BIG)
    assert target.read_text() == "{}" and list(tmp_path.iterdir()) == [target]  # the earlier file, whole


def test_only_whole_file_modes_are_accepted(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'a'"), atomic_write(tmp_path / "audit.jsonl", "a"):
        pass
    assert list(tmp_path.iterdir()) == []


def test_the_jobs_artifacts_are_whole_or_absent_on_a_full_disk(tmp_path: Path) -> None:
    from harness.recording import write_artifacts
    from harness.run_record import RunArtifacts

    charts, results = [], []
    for i in range(200):
        text = f"Chart {i}: essential hypertension, on lisinopril."
        span = Span(start=text.index("hypertension"), end=text.index("hypertension") + 12, text="hypertension")
        charts.append(Chart(id=f"c{i}", text=text, gold=[GoldCode(code="I10", system="icd10cm", evidence=[span])]))
        results.append(ChartResult(chart_id=f"c{i}", route="auto", codes=[
            CodeAssignment(code="I10", system="icd10cm", description="Essential (primary) hypertension", confidence=0.9,
                           evidence=[span])]))
    per_chart = [{"chart_id": c.id, "f1": 1.0} for c in charts]
    args = ({"dataset": {"name": "sample"}}, charts, results, per_chart)

    limit = 65536  # predictions.jsonl (written first) fits; chart_results.jsonl does not
    with disk_full_after(limit), pytest.raises(OSError):
        write_artifacts(RunArtifacts(tmp_path), *args, redact=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["predictions.jsonl"]  # whole before the disk filled up

    write_artifacts(RunArtifacts(tmp_path), *args, redact=False)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["chart_results.jsonl", "config.yaml", "per_chart_scores.jsonl", "predictions.jsonl", "record.json"]
    assert (tmp_path / "chart_results.jsonl").stat().st_size > limit  # so the failed write was cut off mid-file
    assert len((tmp_path / "chart_results.jsonl").read_text().splitlines()) == 200
