"""Robustness metrics: what degradation and intake cost, and what could not be recovered at all.

A gold code is recoverable when at least one of its evidence spans overlaps text
that reached intake; codes of a chart whose source has no evidence offsets
(document-level labels) count as recoverable while any of its text arrived.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from harness.contracts import Chart, ReviewReason
from harness.intake.degrade.effects import PageChanges, page_change_metrics
from harness.metrics.coding import ChartOutcome, evaluate


@dataclass(frozen=True)
class ChartIntake:
    """What degradation and intake did to one chart."""

    kept_ranges: tuple[tuple[int, int], ...]
    """Chart-text ranges that reached intake."""
    source_chars: int = 0
    """Characters of source text on the delivered pages (the CER denominator)."""
    edit_distance: int = 0
    """Levenshtein distance between intake text and that source text."""
    pages_read: int = 0
    """Page images OCR'd (0 for text-only pipelines)."""
    intake_s: float = 0.0
    quality: float | None = None
    """Chart-level intake quality in [0, 1]; None for text-only pipelines."""
    reasons: tuple[ReviewReason, ...] = field(default_factory=tuple)
    """Intake's review reasons (empty when intake found nothing wrong)."""
    page_changes: PageChanges | None = None
    """What page degradation changed (None when the chart was not rendered)."""


def _overlaps(start: int, end: int, ranges: Sequence[tuple[int, int]]) -> bool:
    return any(start < r_end and r_start < end for r_start, r_end in ranges)


def recoverable_gold(chart: Chart, kept_ranges: Sequence[tuple[int, int]]) -> frozenset[str]:
    """Gold codes that intake could still see evidence for."""
    if not kept_ranges:
        return frozenset()
    return frozenset(
        g.code for g in chart.gold if not g.evidence or any(_overlaps(s.start, s.end, kept_ranges) for s in g.evidence)
    )


def robustness_metrics(
    charts: Sequence[Chart],
    outcomes: Sequence[ChartOutcome],
    intake: Sequence[ChartIntake],
    *,
    n_resamples: int,
    confidence: float,
    seed: int,
) -> dict[str, float]:
    """``micro_f1_recoverable`` (with interval), ``ocr_cer``, ``pages_per_s``, ``intake_review_rate``, ``quality_auroc``, and
    for rendered charts what page degradation changed (``pages_dropped``, ...)."""
    recoverable = [replace(outcome, gold=recoverable_gold(chart, facts.kept_ranges))
                   for chart, outcome, facts in zip(charts, outcomes, intake, strict=True)]
    wall = sum(o.latency_s for o in outcomes) or 1.0
    scored = evaluate(recoverable, wall, n_resamples=n_resamples, confidence=confidence, seed=seed)
    metrics = {f"micro_f1_recoverable{suffix}": scored[f"micro_f1{suffix}"] for suffix in ("", "_ci_low", "_ci_high")}
    metrics["n_gold_codes_recoverable"] = scored["n_gold_codes"]
    source_chars = sum(f.source_chars for f in intake)
    metrics["ocr_cer"] = sum(f.edit_distance for f in intake) / source_chars if source_chars else 0.0
    metrics["intake_review_rate"] = sum(bool(f.reasons) for f in intake) / len(intake)
    metrics.update(page_change_metrics([f.page_changes for f in intake if f.page_changes is not None]))
    pages, seconds = sum(f.pages_read for f in intake), sum(f.intake_s for f in intake)
    if pages and seconds > 0:
        metrics["pages_per_s"] = pages / seconds
    with_quality = [(f.quality, o) for f, o in zip(intake, outcomes, strict=True) if f.quality is not None]
    wrong = [{code for code, _ in o.ranked} != o.gold for _, o in with_quality]  # a chart with any coding error
    if with_quality and 0 < sum(wrong) < len(wrong):  # AUROC needs both kinds of chart
        from sklearn.metrics import roc_auc_score

        metrics["quality_auroc"] = float(roc_auc_score(wrong, [1.0 - q for q, _ in with_quality]))
    return metrics
