"""The trust layer end to end on the bundled sample: calibration, edits, routing reasons, evidence,
a hash-chained audit trail that catches tampering, FHIR claims that validate, and the billing CSV."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import artifact, harness, runs, store

pytestmark = pytest.mark.slow  # harness jobs on the bundled sample, in subprocesses


@pytest.fixture(scope="module")
def calibrated_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("trust")
    harness(tmp_path, "calibration=isotonic", store(tmp_path))
    client, (run,) = runs(tmp_path)
    return client, run


def test_calibration_lowers_ece_on_held_out_charts_and_keeps_the_ranking(calibrated_run) -> None:
    client, run = calibrated_run
    metrics = run.data.metrics
    # fitted on charts held out of the dictionary's training split, scored on dev: a real out-of-sample check
    assert metrics["ece"] < metrics["ece_raw"] * 0.6
    assert run.data.tags["calibration"].startswith("isotonic:")
    saved = json.loads(artifact(client, run, "calibrator.json").read_text())
    assert saved["version"] == "1" and saved["created_by"]["rules"] == "icd10cm_2026_v2@2"
    results = [json.loads(line) for line in artifact(client, run, "chart_results.jsonl").read_text().splitlines()]
    codes = [c for r in results for c in r["codes"]]
    assert codes and all(c["raw_confidence"] is not None for c in codes)
    for r in results:  # the extractor's order survives calibration (MAP unchanged)
        raw = [c["raw_confidence"] for c in r["codes"]]
        by_calibrated = sorted(r["codes"], key=lambda c: -c["confidence"])
        assert [c["raw_confidence"] for c in by_calibrated] == sorted(raw, reverse=True)


def test_review_and_edit_metrics_are_recorded(calibrated_run) -> None:
    _, run = calibrated_run
    metrics = run.data.metrics
    for name in ("automation_rate", "auto_precision", "automation_rate_at_p95", "automation_rate_at_p99", "aurc",
                 "evidence_f1_exact", "evidence_f1_overlap", "evidence_supported_rate", "edit_failure_rate",
                 "billing_valid_rate"):
        assert 0.0 <= metrics[name] <= 1.0, name
    assert metrics["automation_rate_at_p99"] <= metrics["automation_rate_at_p95"]
    assert metrics["evidence_f1_overlap"] >= metrics["evidence_f1_exact"] > 0.5  # sample gold carries evidence offsets
    assert metrics["billing_valid_rate"] == 1.0


def test_routed_charts_carry_reasons_and_edits_are_on_every_chart(calibrated_run) -> None:
    client, run = calibrated_run
    results = [json.loads(line) for line in artifact(client, run, "chart_results.jsonl").read_text().splitlines()]
    assert all(r["edits"] for r in results)
    assert all(r["reasons"] for r in results if r["route"] == "review")
    assert any(r["route"] == "auto" for r in results)


def test_audit_trail_verifies_and_detects_a_changed_record(calibrated_run, tmp_path: Path) -> None:
    client, run = calibrated_run
    audit = artifact(client, run, "audit.jsonl")
    head = run.data.tags["audit.head"]
    ok = subprocess.run([sys.executable, "-m", "harness", "audit", "verify", str(audit), "--head", head],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "chain intact" in ok.stdout
    lines = audit.read_text().splitlines()
    record = json.loads(lines[5])
    record["route"] = "auto" if record["route"] == "review" else "review"  # someone flips a routing decision
    lines[5] = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    tampered = tmp_path / "audit.jsonl"
    tampered.write_text("\n".join(lines) + "\n")
    bad = subprocess.run([sys.executable, "-m", "harness", "audit", "verify", str(tampered)], capture_output=True, text=True)
    assert bad.returncode == 1 and "line 6" in bad.stdout


def test_claims_validate_as_fhir_and_match_the_billing_csv(calibrated_run) -> None:
    from fhir.resources.R4B.claim import Claim

    client, run = calibrated_run
    claims = [json.loads(line) for line in artifact(client, run, "claims.ndjson").read_text().splitlines()]
    assert claims
    for claim in claims:
        parsed = Claim.model_validate(claim)
        assert [d.sequence for d in parsed.diagnosis] == list(range(1, len(parsed.diagnosis) + 1))
    with open(artifact(client, run, "billing.csv"), newline="") as handle:
        rows = list(csv.DictReader(handle))
    claimed = {(c["identifier"][0]["value"], d["diagnosisCodeableConcept"]["coding"][0]["code"])
               for c in claims for d in c["diagnosis"]}
    assert {(r["chart_id"], r["code"]) for r in rows if r["system"] == "icd10cm"} == claimed


def test_redaction_leaves_no_evidence_text_in_trust_artifacts(tmp_path: Path) -> None:
    harness(tmp_path, "tracking.redact=true", "dataset.limit=5", store(tmp_path))
    client, (run,) = runs(tmp_path)
    from harness.config import DatasetConfig
    from harness.sources import load_charts

    charts = {c.id: c for c in load_charts(DatasetConfig(name="sample", split="dev", limit=5))}
    quotes = {g_span.text or charts[c_id].text[g_span.start:g_span.end]
              for c_id, chart in charts.items() for g in chart.gold for g_span in g.evidence}
    quotes = {q for q in quotes if len(q) > 8}
    assert quotes
    for name in ("audit.jsonl", "claims.ndjson", "billing.csv"):
        text = artifact(client, run, name).read_text()
        # code titles ("Fecal impaction") are the code set's words, not the patient's: the sample often quotes them
        text = re.sub(r'"(description|display)":\s*"[^"]*"', "", text) if name != "billing.csv" else \
            "\n".join(",".join(row[:4] + row[5:]) for row in csv.reader(text.splitlines()))
        assert not any(q in text for q in quotes), name
