"""The trust-layer files of a run: hash-chained audit trail, FHIR claims, billing CSV, curves.

- ``audit.jsonl``: one record per chart (``harness.trust.audit``); its head hash is returned so the run
  can be tagged with it, and ``harness audit verify audit.jsonl --head <hash>`` detects
  any changed, removed or added record.
- ``claims.ndjson``: a FHIR R4B ``Claim`` per chart routed ``auto`` with codes; ``billing.csv``.
- ``reliability.json`` and ``risk_coverage.json``: what the reliability diagram and the
  risk-coverage curve are drawn from.

With ``redact`` no file here holds patient text: evidence appears as offsets only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from harness.atomic_files import atomic_write
from harness.contracts import DEFAULT_CODE_SET_YEAR, Chart, ChartResult, Extraction
from harness.run_record import AUDIT_FILE, BILLING_FILE, CLAIMS_FILE, RunArtifacts
from harness.trust.audit import AuditRecord, RunMeta


def write_trust_artifacts(folder: Path, charts: Sequence[Chart], results: Sequence[ChartResult],
                          extractions: Mapping[str, Extraction], run: RunMeta, curves: Mapping[str, Any],
                          redact: bool) -> tuple[dict[str, float], str]:
    """Write the files above into ``folder``; returns ``({"billing_valid_rate": ...}, audit head hash)``."""
    from harness.trust.audit import write_audit
    from harness.trust.billing import billing_csv, billing_valid_rate, claim_for_chart

    records = (AuditRecord.build(result, chart, run, extraction=extractions.get(chart.id), redact=redact)
               for chart, result in zip(charts, results, strict=True))
    artifacts = RunArtifacts(folder)
    head = write_audit(artifacts.file(AUDIT_FILE), records)
    today = date.today().isoformat()
    claims = [claim_for_chart(result, None, f"Patient/{result.chart_id}", "Organization/provider", today,
                              run.code_set_year or DEFAULT_CODE_SET_YEAR, redact=redact) for result in results]
    with atomic_write(artifacts.file(CLAIMS_FILE)) as out:
        for claim in claims:
            if claim.claim is not None:
                out.write(json.dumps(claim.claim, ensure_ascii=False) + "\n")
    billing_csv(results, artifacts.file(BILLING_FILE))
    for name, rows in curves.items():
        artifacts.write_curve(name, rows)
    billable = [c for c in claims if c.billable]
    return ({"billing_valid_rate": billing_valid_rate(claims)} if billable else {}), head
