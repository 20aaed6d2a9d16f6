"""The trust files (audit trail, claims, billing CSV, curves) are whole or absent after a full disk, never cut off."""

from __future__ import annotations

from pathlib import Path

import pytest
from faults import disk_full_after

from harness.contracts import Chart, ChartResult, CodeAssignment, Extraction, Span
from harness.trust.artifacts import write_trust_artifacts
from harness.trust.audit import AuditRecord, RunMeta, write_audit
from harness.trust.billing import billing_csv

EVIDENCE = "simple renal cyst"
RUN = RunMeta(extractor="dictionary", extractor_version="1", pack_version="core@1", code_set_year=2024, seed=7)
CURVES = {"reliability": [{"bin": i, "confidence": i / 10, "accuracy": i / 10} for i in range(10)]}


def charts_and_results(n: int = 150) -> tuple[list[Chart], list[ChartResult]]:
    charts, results = [], []
    for i in range(n):
        text = f"Patient {i} has a {EVIDENCE} on the left kidney."
        span = Span(start=text.index(EVIDENCE), end=text.index(EVIDENCE) + len(EVIDENCE), text=EVIDENCE)
        charts.append(Chart(id=f"c{i}", text=text))
        results.append(ChartResult(chart_id=f"c{i}", route="auto", codes=[
            CodeAssignment(code="N28.1", description="Cyst of kidney, acquired", confidence=0.9, evidence=[span])]))
    return charts, results


def write_all(folder: Path) -> None:
    charts, results = charts_and_results()
    extractions = {c.id: Extraction(chart_id=c.id, extractor="dictionary") for c in charts}
    write_trust_artifacts(folder, charts, results, extractions, RUN, CURVES, redact=False)


def test_a_full_disk_leaves_no_cut_off_audit_trail_or_billing_csv(tmp_path: Path) -> None:
    charts, results = charts_and_results()
    records = [AuditRecord.build(r, c, RUN) for c, r in zip(charts, results, strict=True)]
    with disk_full_after(4096), pytest.raises(OSError):
        write_audit(tmp_path / "audit.jsonl", records)
    with disk_full_after(4096), pytest.raises(OSError):
        billing_csv(results, tmp_path / "billing.csv")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("limit", ["first", "largest"])
def test_every_trust_file_left_after_a_full_disk_is_whole(tmp_path: Path, limit: str) -> None:
    whole = tmp_path / "whole"
    write_all(whole)
    sizes = {p.name: p.stat().st_size for p in whole.iterdir()}
    # Fill the disk at the first file, or only at the largest one (the files before it are written whole).
    at = 1024 if limit == "first" else max(sizes.values()) - 1

    failed = tmp_path / "failed"
    with disk_full_after(at), pytest.raises(OSError):
        write_all(failed)
    left = {p.name: p.stat().st_size for p in failed.iterdir()}
    assert all(not name.startswith(".") for name in left), left  # no temporary file
    assert {name: sizes[name] for name in left} == left  # every file there is complete
    assert len(left) < len(sizes)
