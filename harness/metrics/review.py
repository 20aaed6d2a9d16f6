"""Review and automation metrics: how much coding passes without a human, and how good that part is.

Input
-----
Per predicted code a triple ``(confidence, correct, chart_routed_to_review)``:

- ``confidence``: the code's confidence (raw or calibrated), a finite float;
- ``correct``: the code is in its chart's gold set;
- ``chart_routed_to_review``: the chart holding the code went to review, so none
  of that chart's codes was accepted automatically.

:func:`code_outcomes` builds the triples from :class:`harness.metrics.coding.ChartOutcome`
(one per distinct predicted code of a chart, at its highest confidence).
:func:`review_rate` takes one flag per chart instead, so charts without codes count.

Two views
---------
Routing metrics (:func:`review_rate`, :func:`automation_rate`, :func:`auto_precision`)
measure what the router did. Confidence metrics (:func:`risk_coverage_curve`,
:func:`aurc`, :func:`automation_rate_at_precision`, :func:`threshold_sweep`) ask what
a code-level threshold ``t`` would do: it accepts every code with ``confidence >= t``
(the comparison of ``RoutingConfig.min_code_confidence``), so codes of equal
confidence are always accepted together and each distinct confidence is one step.
coverage = accepted / all codes; precision = correct accepted / accepted;
risk = 1 - precision.

Empty input
-----------
A ratio with an empty denominator is NaN, never 0.0: no charts, no codes, or no
accepted codes leave the metric undefined, and NaN keeps that visible instead of
reading as "0% automated". The curve of no codes has no points.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from harness.metrics.coding import ChartOutcome

CodeOutcome = tuple[float, bool, bool]
"""``(confidence, correct, chart_routed_to_review)`` of one predicted code."""


class RiskCoverage(NamedTuple):
    """Risk-coverage curve, one point per distinct confidence, from the highest down."""

    thresholds: np.ndarray
    """Confidence threshold of each step (codes with ``confidence >= threshold`` accepted)."""
    coverage: np.ndarray
    """Share of codes accepted at the step (increasing, last 1.0)."""
    risk: np.ndarray
    """1 - precision of the accepted codes."""


class SweepRow(NamedTuple):
    """Outcome of one routing threshold."""

    threshold: float
    """Codes with ``confidence >= threshold`` are accepted."""
    coverage: float
    """Share of codes accepted; NaN without codes."""
    precision: float
    """Share of accepted codes that are correct; NaN when none is accepted."""


def code_outcomes(outcomes: Iterable[ChartOutcome]) -> list[CodeOutcome]:
    """One triple per distinct predicted code per chart; a code predicted twice keeps its highest confidence."""
    triples = []
    for outcome in outcomes:
        best: dict[str, float] = {}
        for code, confidence in outcome.ranked:
            best[code] = max(confidence, best.get(code, confidence))
        triples.extend((best[code], code in outcome.gold, bool(outcome.routed_to_review)) for code in sorted(best))
    return triples


def review_rate(chart_routed_to_review: Sequence[bool]) -> float:
    """Share of charts routed to review (one flag per chart); NaN for no charts."""
    flags = np.asarray(chart_routed_to_review, dtype=bool)
    return float(flags.mean()) if flags.size else math.nan


def automation_rate(codes: Sequence[CodeOutcome]) -> float:
    """Share of predicted codes accepted without review (their chart routed auto); NaN for no codes."""
    _, review = _columns(codes)
    return float(1.0 - review.mean()) if review.size else math.nan


def auto_precision(codes: Sequence[CodeOutcome]) -> float:
    """Precision of the codes accepted without review; NaN when none was."""
    correct, review = _columns(codes)
    accepted = correct[~review]
    return float(accepted.mean()) if accepted.size else math.nan


def risk_coverage_curve(confidences: ArrayLike, correct: ArrayLike) -> RiskCoverage:
    """Risk against coverage as the threshold falls through each distinct confidence.

    Codes are sorted by confidence descending; a tie group is accepted as one step,
    so the result does not depend on the order of tied codes.
    """
    thresholds, accepted, hits, n = _steps(confidences, correct)
    if not n:
        return RiskCoverage(thresholds, np.empty(0), np.empty(0))
    return RiskCoverage(thresholds, accepted / n, 1.0 - hits / accepted)


def aurc(confidences: ArrayLike, correct: ArrayLike) -> float:
    """Area under the risk-coverage curve; NaN for no codes.

    Following Geifman, Uziel & El-Yaniv (ICLR 2019), AURC is the selective risk
    averaged over the thresholds that accept the top ``i`` codes, ``i = 1..n``:
    ``AURC = (1/n) * sum_i risk(i)``. With ties, code ``i`` cannot be accepted
    without the rest of its tie group, so ``risk(i)`` is the risk of the whole
    group's step:

        AURC = sum over steps g of (m_g / n) * (1 - TP_g / N_g)

    where ``m_g`` is the size of tie group ``g``, and ``N_g`` / ``TP_g`` are the
    codes / correct codes accepted once ``g`` is (all groups with confidence >= g's).
    Without ties this is exactly the mean of the n selective risks.
    """
    curve = risk_coverage_curve(confidences, correct)
    if not curve.coverage.size:
        return math.nan
    return float(np.diff(curve.coverage, prepend=0.0) @ curve.risk)


def automation_rate_at_precision(confidences: ArrayLike, correct: ArrayLike, target: float) -> float:
    """Largest coverage of a threshold whose accepted codes have precision >= ``target``.

    0.0 when no threshold reaches the target; NaN for no codes.
    """
    if not 0.0 <= target <= 1.0:
        raise ValueError(f"target precision must be within [0, 1], got {target}")
    _, accepted, hits, n = _steps(confidences, correct)
    if not n:
        return math.nan
    reached = hits / accepted >= target  # precision itself, not 1 - risk, so 19/20 >= 0.95 holds exactly
    return float(accepted[reached].max() / n) if reached.any() else 0.0


def automation_rate_at_p95(confidences: ArrayLike, correct: ArrayLike) -> float:
    """:func:`automation_rate_at_precision` at 95% precision."""
    return automation_rate_at_precision(confidences, correct, 0.95)


def automation_rate_at_p99(confidences: ArrayLike, correct: ArrayLike) -> float:
    """:func:`automation_rate_at_precision` at 99% precision."""
    return automation_rate_at_precision(confidences, correct, 0.99)


def threshold_sweep(confidences: ArrayLike, correct: ArrayLike, thresholds: ArrayLike | None = None) -> list[SweepRow]:
    """Coverage and precision of each routing threshold, for plotting.

    ``thresholds`` defaults to 0.00, 0.01, ..., 1.00; rows come in the given order.
    """
    conf, hit = _scored(confidences, correct)
    grid = np.arange(101) / 100 if thresholds is None else np.asarray(thresholds, dtype=np.float64).ravel()
    order = np.argsort(conf, kind="stable")
    rejected = np.searchsorted(conf[order], grid, side="left")  # codes below each threshold
    correct_below = np.concatenate(([0.0], np.cumsum(hit[order])))
    n = len(conf)
    accepted = n - rejected
    with np.errstate(invalid="ignore", divide="ignore"):
        coverage = accepted / n if n else np.full(len(grid), math.nan)
        precision = (hit.sum() - correct_below[rejected]) / accepted
    return [SweepRow(float(t), float(c), float(p)) for t, c, p in zip(grid, coverage, precision)]


def threshold_for_precision(rows: Sequence[Mapping[str, float]], target: float) -> SweepRow | None:
    """Of a :func:`threshold_sweep` (rows as dicts, as ``risk_coverage.json`` keeps them), the threshold that accepts the
    most codes at precision >= ``target`` (the highest such threshold when several accept as many); None when none does.
    Unlike :func:`automation_rate_at_precision` it is a value ``routing.min_code_confidence`` can be set to."""
    safe = [SweepRow(row["threshold"], row["coverage"], row["precision"]) for row in rows
            if not math.isnan(row["coverage"]) and not math.isnan(row["precision"]) and row["precision"] >= target]
    return max(safe, key=lambda row: (row.coverage, row.threshold), default=None)


def _steps(confidences: ArrayLike, correct: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Per distinct confidence (descending): threshold, codes accepted, correct codes accepted; and n."""
    conf, hit = _scored(confidences, correct)
    n = len(conf)
    if not n:
        return np.empty(0), np.empty(0, dtype=np.int64), np.empty(0), 0
    order = np.argsort(-conf, kind="stable")
    conf, hits = conf[order], np.cumsum(hit[order])
    last_of_group = np.flatnonzero(np.append(conf[1:] != conf[:-1], True))
    return conf[last_of_group], last_of_group + 1, hits[last_of_group], n


def _scored(confidences: ArrayLike, correct: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    conf = np.asarray(confidences, dtype=np.float64)
    hit = np.asarray(correct)
    if conf.ndim != 1 or hit.shape != conf.shape:
        raise ValueError(f"confidences and correct must be 1-D of equal length, got shapes {conf.shape} and {hit.shape}")
    if not np.isfinite(conf).all():
        raise ValueError("confidences must be finite")
    if not np.isin(hit, (0, 1)).all():
        raise ValueError("correct must hold booleans (or 0/1)")
    return conf, hit.astype(np.float64)


def _columns(codes: Sequence[CodeOutcome]) -> tuple[np.ndarray, np.ndarray]:
    """Correct and routed-to-review columns of the triples, as booleans."""
    table = np.asarray(codes, dtype=np.float64).reshape(-1, 3)
    return table[:, 1].astype(bool), table[:, 2].astype(bool)
