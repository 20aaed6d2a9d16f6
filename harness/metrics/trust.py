"""The trust-layer metrics of a run: automation and review, calibration, evidence, edits.

Fixed names: ``automation_rate``, ``auto_precision``, ``automation_rate_at_p95``,
``automation_rate_at_p99``, ``aurc``, ``ece`` (confidences as reported) and ``ece_raw`` (before
calibration: equal to ``ece`` when the run does not calibrate), ``evidence_f1_exact``,
``evidence_f1_overlap`` (only where gold codes carry evidence offsets, as CodiEsp Spanish does),
``evidence_supported_rate``, ``edit_failure_rate`` and ``edit_<name>_failure_rate`` per edit.
Undefined values (no codes, no gold evidence) are left out rather than logged as NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from harness.contracts import Chart, ChartResult
from harness.metrics.coding import ChartOutcome


def _outcomes(charts: Sequence[Chart], results: Sequence[ChartResult], systems: Sequence[str], raw: bool) -> list[ChartOutcome]:
    return [
        ChartOutcome(
            chart_id=chart.id,
            gold=frozenset(g.code for g in chart.gold if g.system in systems),
            ranked=tuple((c.code, c.raw_confidence if raw and c.raw_confidence is not None else c.confidence)
                         for c in result.codes if c.system in systems),
            routed_to_review=result.route == "review",
            latency_s=0.0,
        )
        for chart, result in zip(charts, results, strict=True)
    ]


def trust_metrics(charts: Sequence[Chart], results: Sequence[ChartResult],
                  systems: Sequence[str]) -> tuple[dict[str, float], dict[str, Any]]:
    """``(metrics, curves)``: the metrics above, and the reliability bins and risk-coverage sweep for reports."""
    from coders.edits import edit_failure_breakdown
    from harness.metrics.evidence import evidence_f1_exact, evidence_f1_overlap, evidence_supported_rate
    from harness.metrics.review import (
        aurc,
        auto_precision,
        automation_rate,
        automation_rate_at_p95,
        automation_rate_at_p99,
        code_outcomes,
        threshold_sweep,
    )
    from harness.trust.calibration import ece, reliability_bins

    codes = code_outcomes(_outcomes(charts, results, systems, raw=False))
    raw_codes = code_outcomes(_outcomes(charts, results, systems, raw=True))
    confidences, correct = [c for c, _, _ in codes], [ok for _, ok, _ in codes]
    metrics = {
        "automation_rate": automation_rate(codes),
        "auto_precision": auto_precision(codes),
        "automation_rate_at_p95": automation_rate_at_p95(confidences, correct),
        "automation_rate_at_p99": automation_rate_at_p99(confidences, correct),
        "aurc": aurc(confidences, correct),
        "ece": ece(confidences, correct),
        "ece_raw": ece([c for c, _, _ in raw_codes], [ok for _, ok, _ in raw_codes]),
    }
    scored = [(chart.gold, [c for c in result.codes if c.system in systems]) for chart, result in zip(charts, results)]
    if any(span for gold, _ in scored for g in gold for span in g.evidence):
        metrics["evidence_f1_exact"] = evidence_f1_exact(scored).f1
        metrics["evidence_f1_overlap"] = evidence_f1_overlap(scored).f1
    metrics["evidence_supported_rate"] = evidence_supported_rate(
        (chart.text, code) for chart, result in zip(charts, results) for code in result.codes)
    edits = [result.edits for result in results]
    if any(edits):
        breakdown = edit_failure_breakdown(edits)
        metrics["edit_failure_rate"] = breakdown.pop("edit_failure_rate")
        metrics.update({f"edit_{name}_failure_rate": share for name, share in breakdown.items()})
    curves = {
        "reliability": [bin._asdict() for bin in reliability_bins(confidences, correct)] if codes else [],
        "risk_coverage": [row._asdict() for row in threshold_sweep(confidences, correct)] if codes else [],
    }
    return {name: value for name, value in metrics.items() if not math.isnan(value)}, curves
