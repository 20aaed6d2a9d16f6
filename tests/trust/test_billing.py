"""Billing output: FHIR R4B claims that validate, non-billable charts, invalid claims, the flat CSV."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from fhir.resources.R4B.claim import Claim

from harness.contracts import ChartResult, CodeAssignment, Span
from harness.trust.billing import CSV_FIELDS, SYSTEM_URI, billing_csv, billing_valid_rate, claim_for_chart

EVIDENCE = "simple renal cyst"


def _result(chart_id: str = "c1", route: str = "auto", first_code: str = "N28.1") -> ChartResult:
    return ChartResult(
        chart_id=chart_id,
        route=route,
        reasons=["low_confidence"] if route == "review" else [],
        codes=[
            CodeAssignment(code=first_code, description="Cyst of kidney, acquired", confidence=0.9,
                           evidence=[Span(start=10, end=27, text=EVIDENCE)]),
            CodeAssignment(code="I10", description="Essential (primary) hypertension", confidence=0.8,
                           evidence=[Span(start=40, end=52, text="hypertension")]),
            CodeAssignment(code="0TT00ZZ", system="icd10pcs", description="Resection of right kidney", confidence=0.7,
                           evidence=[Span(start=60, end=71, text="nephrectomy")]),
        ],
    )


def _claim(result: ChartResult, redact: bool = True):
    return claim_for_chart(result, None, "Patient/p1", "Organization/o1", "2024-05-01T12:00:00Z", 2024, redact=redact)


def test_claim_validates_with_ordered_diagnoses():
    outcome = _claim(_result())
    assert outcome.valid and outcome.billable and outcome.reason == ""
    claim = Claim.model_validate_json(json.dumps(outcome.claim))  # parses back into the FHIR model
    diagnoses = [(d.sequence, d.diagnosisCodeableConcept.coding[0]) for d in claim.diagnosis]
    assert [(n, c.code, c.system, c.version) for n, c in diagnoses] == [
        (1, "N28.1", SYSTEM_URI["icd10cm"], "2024"), (2, "I10", SYSTEM_URI["icd10cm"], "2024")]
    assert [(p.sequence, p.procedureCodeableConcept.coding[0].code) for p in claim.procedure] == [(1, "0TT00ZZ")]
    assert claim.procedure[0].procedureCodeableConcept.coding[0].system == "http://www.cms.gov/Medicare/Coding/ICD10"
    assert claim.status == "active" and claim.use == "claim" and claim.patient.reference == "Patient/p1"
    notes = [s.valueString for s in claim.supportingInfo]
    assert notes[0] == 'chart c1 chars 10-27 "[REDACTED]"'
    assert all(s.category.coding[0].code == "info" for s in claim.supportingInfo)
    assert EVIDENCE not in json.dumps(outcome.claim)
    assert EVIDENCE in _claim(_result(), redact=False).claim["supportingInfo"][0]["valueString"]


def test_review_chart_is_not_billed():
    outcome = _claim(_result(route="review"))
    assert outcome.claim is None and not outcome.valid and not outcome.billable
    assert outcome.reason == "routed to review: low_confidence"
    empty = _claim(ChartResult(chart_id="c2"))
    assert empty.claim is None and empty.reason == "no codes assigned"


def test_invalid_claim_is_reported():
    bad = _claim(_result("c3", first_code=""))
    assert bad.billable and not bad.valid and bad.reason.startswith("invalid claim: ") and "code" in bad.reason
    outcomes = [_claim(_result()), bad, _claim(_result("c4", route="review"))]
    assert billing_valid_rate(outcomes) == 0.5  # the review chart is not in the denominator
    assert billing_valid_rate([]) == 0.0


def test_csv_round_trip(tmp_path: Path):
    path = tmp_path / "billing.csv"
    assert billing_csv([_result(), _result("c2", route="review")], path) == 3
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames) == CSV_FIELDS
        rows = list(reader)
    assert [(r["chart_id"], r["sequence"], r["code"], r["system"]) for r in rows] == [
        ("c1", "1", "N28.1", "icd10cm"), ("c1", "2", "I10", "icd10cm"), ("c1", "1", "0TT00ZZ", "icd10pcs")]
    assert rows[0]["description"] == "Cyst of kidney, acquired" and float(rows[0]["confidence"]) == 0.9
    assert (int(rows[0]["evidence_start"]), int(rows[0]["evidence_end"])) == (10, 27)
