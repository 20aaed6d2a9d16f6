"""The hash-chained audit trail: round trip, every kind of tampering, redaction, CLI exit codes."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT, harness

from harness.contracts import AuditEvent, Chart, ChartResult, CodeAssignment, Extraction, Finding, Span
from harness.trust.audit import GENESIS, AuditRecord, RunMeta, canonical, verify_audit, write_audit

EVIDENCE = "simple renal cyst"
RUN = RunMeta(extractor="dictionary", extractor_version="1", pack_version="core@1", code_set_year=2024, degradation="none",
              seed=7)
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _record(index: int, redact: bool = False) -> AuditRecord:
    text = f"Patient {index} has a {EVIDENCE} on the left kidney."
    start = text.index(EVIDENCE)
    span = Span(start=start, end=start + len(EVIDENCE), text=EVIDENCE)
    chart = Chart(id=f"c{index}", text=text)
    result = ChartResult(
        chart_id=chart.id,
        codes=[CodeAssignment(code="N28.1", confidence=0.9, evidence=[span], rule_trace=["R1"], pack_version="core@1")],
        audit=[AuditEvent(stage="code", actor="rules", detail={"rules_fired": ["R1"]}),
               AuditEvent(stage="route", actor="routing", detail={"route": "auto", "reasons": []})],
    )
    extraction = Extraction(chart_id=chart.id, extractor="dictionary", raw_output=f"found {EVIDENCE}",
                            findings=[Finding(text=EVIDENCE, code="N28.1", spans=[span], attributes={"term": EVIDENCE})])
    return AuditRecord.build(result, chart, RUN, extraction=extraction, redact=redact, now=NOW)


@pytest.fixture
def trail(tmp_path: Path) -> Path:
    path = tmp_path / "audit.jsonl"
    write_audit(path, [_record(i) for i in range(1, 4)])
    return path


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def test_write_then_verify_is_ok_and_deterministic(trail: Path, tmp_path: Path):
    report = verify_audit(trail)
    assert report.ok and report.records == 3 and str(report) == "ok: 3 records, chain intact"
    first = json.loads(_lines(trail)[0])
    assert first["prev_hash"] == GENESIS and first["run"]["seed"] == 7 and first["recorded_at"] == "2024-05-01T12:00:00+00:00"
    assert first["input_hash"] == Chart(id="c1", text=f"Patient 1 has a {EVIDENCE} on the left kidney.").content_hash()
    again = tmp_path / "again.jsonl"
    head = write_audit(again, [_record(i) for i in range(1, 4)])
    assert again.read_bytes() == trail.read_bytes() and verify_audit(again, head=head).ok


def test_changed_code_names_the_line(trail: Path):
    lines = _lines(trail)
    lines[1] = lines[1].replace('"N28.1"', '"N28.2"', 1)
    trail.write_text("".join(lines), encoding="utf-8")
    report = verify_audit(trail)
    assert not report.ok and report.line == 2 and "content changed" in report.reason and report.records == 1


def test_deleted_line(trail: Path):
    lines = _lines(trail)
    trail.write_text(lines[0] + lines[2], encoding="utf-8")
    report = verify_audit(trail)
    assert not report.ok and report.line == 2 and "deleted" in report.reason


def test_swapped_lines(trail: Path):
    lines = _lines(trail)
    trail.write_text(lines[0] + lines[2] + lines[1], encoding="utf-8")
    report = verify_audit(trail)
    assert not report.ok and report.line == 2 and "reordered" in report.reason


def test_inserted_line(trail: Path):
    lines = _lines(trail)
    trail.write_text(lines[0] + lines[0] + lines[1] + lines[2], encoding="utf-8")
    report = verify_audit(trail)
    assert not report.ok and report.line == 2 and "inserted" in report.reason


def test_truncated_line(trail: Path):
    data = trail.read_bytes()
    trail.write_bytes(data[: len(data) - 40])
    report = verify_audit(trail)
    assert not report.ok and report.line == 3 and "not valid JSON" in report.reason


def test_rewritten_chain_is_caught(trail: Path):
    """A line re-hashed after editing passes its own hash but breaks the link to the next line."""
    lines = [json.loads(line) for line in _lines(trail)]
    lines[0]["codes"][0]["code"] = "N28.2"
    del lines[0]["hash"]
    lines[0]["hash"] = hashlib.sha256(canonical(lines[0]).encode()).hexdigest()
    trail.write_text("".join(canonical(line) + "\n" for line in lines), encoding="utf-8")
    report = verify_audit(trail)
    assert not report.ok and report.line == 2 and "chain broken" in report.reason


def test_cut_tail_needs_the_head(trail: Path):
    head = json.loads(_lines(trail)[-1])["hash"]
    trail.write_text("".join(_lines(trail)[:2]), encoding="utf-8")
    assert verify_audit(trail).ok  # the chain alone cannot see a missing tail
    report = verify_audit(trail, head=head)
    assert not report.ok and "expected head" in report.reason


def test_redact_leaves_no_patient_text(tmp_path: Path):
    path = tmp_path / "redacted.jsonl"
    write_audit(path, [_record(i, redact=True) for i in range(1, 3)])
    content = path.read_text(encoding="utf-8")
    assert EVIDENCE not in content and "Patient" not in content
    record = json.loads(content.splitlines()[0])
    assert record["redacted"] and record["raw_output"] is None
    assert record["codes"][0]["evidence"][0]["start"] == 16 and record["codes"][0]["code"] == "N28.1"
    assert verify_audit(path).ok
    plain = tmp_path / "plain.jsonl"
    write_audit(plain, [_record(1)])
    assert EVIDENCE in plain.read_text(encoding="utf-8")


def test_missing_file_raises(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        verify_audit(tmp_path / "nope.jsonl")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return harness(PROJECT_ROOT, "audit", *args, check=False, timeout=60)


def test_cli_exit_codes(trail: Path, tmp_path: Path):
    ok = _cli("verify", str(trail))
    assert ok.returncode == 0 and ok.stdout.strip() == "ok: 3 records, chain intact"
    lines = _lines(trail)
    trail.write_text(lines[0] + lines[2], encoding="utf-8")
    bad = _cli("verify", str(trail))
    assert bad.returncode == 1 and bad.stdout.startswith("line 2:")
    missing = _cli("verify", str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 2 and "audit file not found" in missing.stderr and "nope.jsonl" in missing.stderr


def test_cli_imports_nothing_heavy():
    probe = ("import sys, harness.trust.audit; "
             "print(sorted(m for m in ('torch', 'mlflow', 'vllm', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "[]"
