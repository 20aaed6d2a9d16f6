"""Billing-ready output: a FHIR ``Claim`` per auto-coded chart, and a flat CSV of codes.

FHIR version: ``fhir.resources`` 8.x models FHIR R5 at the package root and ships no plain
R4 (4.0.1) package; ``fhir.resources.R4B`` (FHIR 4.3.0) is the R4-compatible one, and its
``Claim`` is what payers' R4 interfaces read, so claims are built and validated with it.

Only charts routed ``auto`` with at least one code are billable. Anything else is not an
error: ``claim_for_chart`` returns a ``ClaimOutcome`` with ``claim=None`` and the reason. A
claim that fails FHIR validation comes back with ``valid=False``, the error as its reason,
and the unvalidated dict, so a run reports it instead of stopping.

Evidence goes into ``supportingInfo`` as offsets (``chart <id> chars 10-24``, half-open);
the evidence text follows as written with ``redact=False``, as ``[REDACTED]`` otherwise.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from fhir.resources.R4B.claim import Claim
from pydantic import ValidationError

from harness.atomic_files import atomic_write
from harness.contracts import ChartResult, CodeAssignment
from harness.trust.redaction import redact_spans

FHIR_PACKAGE = "fhir.resources.R4B"
"""Module the claims are validated with (FHIR 4.3.0)."""
SYSTEM_URI = {"icd10cm": "http://hl7.org/fhir/sid/icd-10-cm", "icd10pcs": "http://www.cms.gov/Medicare/Coding/ICD10"}
"""FHIR code-system URI of each ``CodeSystem``."""
CSV_FIELDS = ("chart_id", "sequence", "code", "system", "description", "confidence", "evidence_start", "evidence_end")
"""Columns of ``billing_csv``, in order."""
COVERAGE_PLACEHOLDER = {"display": "coverage to be attached by the billing system"}
"""``Claim.insurance`` is required by FHIR; the harness knows no coverage."""
_INFO = {"system": "http://terminology.hl7.org/CodeSystem/claiminformationcategory", "code": "info"}


@dataclass(frozen=True)
class ClaimOutcome:
    """What ``claim_for_chart`` made of one chart."""

    chart_id: str
    """Chart the outcome is about."""
    claim: dict[str, Any] | None
    """Claim JSON; None when the chart is not billable."""
    valid: bool
    """True when ``claim`` validated as a FHIR Claim."""
    reason: str = ""
    """Why there is no claim, or why it is invalid; empty for a valid claim."""

    @property
    def billable(self) -> bool:
        """True when a claim was attempted (chart routed ``auto`` with codes)."""
        return self.claim is not None


def _sequenced(codes: Sequence[CodeAssignment]) -> list[tuple[int, CodeAssignment]]:
    """Codes in order, numbered 1.. within their system (diagnoses and procedures count apart)."""
    counters = {"icd10cm": 0, "icd10pcs": 0}
    numbered = []
    for code in codes:
        counters[code.system] += 1
        numbered.append((counters[code.system], code))
    return numbered


def _concept(code: CodeAssignment, year: int) -> dict[str, Any]:
    coding = {"system": SYSTEM_URI[code.system], "version": str(year), "code": code.code}
    if code.description:
        coding["display"] = code.description
    return {"coding": [coding]}


def _evidence_note(code: CodeAssignment, chart_id: str, redact: bool) -> str:
    evidence = redact_spans(code.evidence) if redact else code.evidence
    spans = ", ".join(f"{s.start}-{s.end}" + (f' "{s.text}"' if s.text else "") for s in evidence)
    return f"chart {chart_id} chars {spans}"


def claim_for_chart(
    result: ChartResult,
    chart_id: str | None,
    patient_ref: str,
    provider_ref: str,
    created: str,
    year: int,
    *,
    claim_type: Literal["institutional", "professional"] = "institutional",
    redact: bool = True,
) -> ClaimOutcome:
    """Build and validate the FHIR R4B ``Claim`` for ``result``.

    ``chart_id`` is the identifier written on the claim (e.g. a pseudonym; None uses
    ``result.chart_id``); ``patient_ref``/``provider_ref`` are FHIR references
    (``Patient/123``); ``created`` is a FHIR dateTime; ``year`` is the code-set year,
    written as each coding's ``version``. Codes without evidence get no ``supportingInfo``.
    """
    chart_id = chart_id or result.chart_id
    if result.route != "auto":
        return ClaimOutcome(chart_id, None, False, f"routed to review: {', '.join(result.reasons)}")
    if not result.codes:
        return ClaimOutcome(chart_id, None, False, "no codes assigned")
    numbered = _sequenced(result.codes)
    claim: dict[str, Any] = {
        "resourceType": "Claim",
        "identifier": [{"value": chart_id}],
        "status": "active",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": claim_type}]},
        "use": "claim",
        "patient": {"reference": patient_ref},
        "created": created,
        "provider": {"reference": provider_ref},
        "priority": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/processpriority", "code": "normal"}]},
        "insurance": [{"sequence": 1, "focal": True, "coverage": dict(COVERAGE_PLACEHOLDER)}],
    }
    diagnoses = [{"sequence": n, "diagnosisCodeableConcept": _concept(c, year)} for n, c in numbered if c.system == "icd10cm"]
    procedures = [{"sequence": n, "procedureCodeableConcept": _concept(c, year)} for n, c in numbered if c.system == "icd10pcs"]
    info = [
        {"sequence": n, "category": {"coding": [dict(_INFO)]}, "code": _concept(c, year),
         "valueString": _evidence_note(c, chart_id, redact)}
        for n, c in enumerate((c for c in result.codes if c.evidence), start=1)
    ]
    for key, entries in (("diagnosis", diagnoses), ("procedure", procedures), ("supportingInfo", info)):
        if entries:  # FHIR forbids empty arrays
            claim[key] = entries
    try:
        Claim.model_validate(claim)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return ClaimOutcome(chart_id, claim, False, f"invalid claim: {where}: {first['msg']}")
    return ClaimOutcome(chart_id, claim, True)


def billing_valid_rate(claims: Iterable[ClaimOutcome]) -> float:
    """Share of billable charts (routed ``auto`` with codes) whose claim validated; 0.0 when none."""
    billable = [c for c in claims if c.billable]
    return sum(c.valid for c in billable) / len(billable) if billable else 0.0


def billing_csv(results: Iterable[ChartResult], path: str | Path) -> int:
    """Write one row per code of each chart routed ``auto``; return the number of rows.

    ``sequence`` matches the claim (diagnoses and procedures numbered apart);
    ``evidence_start``/``evidence_end`` are the first evidence span, blank when there is none.
    """
    rows = 0
    with atomic_write(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(CSV_FIELDS)
        for result in results:
            if result.route != "auto":  # codes of review charts are drafts, not billing
                continue
            for sequence, code in _sequenced(result.codes):
                first = code.evidence[0] if code.evidence else None
                writer.writerow([
                    result.chart_id, sequence, code.code, code.system, code.description, code.confidence,
                    first.start if first else "", first.end if first else "",
                ])
                rows += 1
    return rows
