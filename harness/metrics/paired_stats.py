"""Paired statistics of two runs over the same charts: what the regression gate decides on.

Both runs scored the same charts, so each chart is a pair (candidate, baseline). Resampling the
pairs, not each run on its own, cancels the variation between charts that both runs share: the
interval of the difference is much narrower than the two runs' intervals suggest.

- :func:`paired_bootstrap`: point difference ``candidate - baseline`` of a statistic and its
  percentile interval over resamples of charts (the same resampled charts for both runs).
  A coding-department outcome (``denial_rate``, ``coder_minutes_per_chart``) is a mean of per-chart
  expected values that the caller adds to the rows (``harness.operations.chart_outcomes``).
- :func:`mcnemar`: exact McNemar test on per-chart exact match.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.metrics.bootstrap import count_matrix, draw_indices, percentile_interval

SUMS = ("micro_f1", "review_rate", "exact_match")
"""Statistics built from the per-chart sums of ``per_chart_scores.jsonl`` rows (tp, fp, fn, exact_match, routed_to_review)."""
CHART_MEANS = ("denial_rate", "rework_rate", "coder_minutes_per_chart")
"""Statistics that are the mean over charts of a per-chart value the rows carry under the statistic's own name: each
chart's expected outcome under the workload model, which the caller adds to the rows from the runs' recorded results
(``harness.operations.chart_outcomes``)."""
STATISTICS = (*SUMS, *CHART_MEANS)
"""Statistics :func:`paired_bootstrap` knows."""

Rows = Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class PairedDifference:
    """A statistic of both runs, their difference ``candidate - baseline`` and its bootstrap interval."""

    statistic: str
    baseline: float
    candidate: float
    difference: float
    low: float
    high: float
    n_charts: int
    confidence: float


@dataclass(frozen=True)
class McNemar:
    """Discordant pairs of per-chart exact match and the exact two-sided p-value."""

    b: int
    """Charts the baseline got exactly right and the candidate did not (lost)."""
    c: int
    """Charts the candidate got exactly right and the baseline did not (gained)."""
    p_value: float


def align(candidate_rows: Rows, baseline_rows: Rows) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """Both runs' rows in the same chart order (the candidate's); raises ``ValueError`` unless the chart sets are equal."""
    def by_id(rows: Rows, which: str) -> dict[str, Mapping[str, Any]]:
        found = {row["chart_id"]: row for row in rows}
        if len(found) != len(rows):
            raise ValueError(f"{which} has repeated chart ids")
        return found

    candidate, baseline = by_id(candidate_rows, "candidate"), by_id(baseline_rows, "baseline")
    if candidate.keys() != baseline.keys():
        only_c, only_b = sorted(candidate.keys() - baseline.keys()), sorted(baseline.keys() - candidate.keys())
        raise ValueError(f"the runs scored different charts: {len(only_c)} only in the candidate {only_c[:3]}, "
                         f"{len(only_b)} only in the baseline {only_b[:3]}")
    if not candidate:
        raise ValueError("no charts to compare")
    return list(candidate.values()), [baseline[chart_id] for chart_id in candidate]


def _columns(rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Per-chart additive quantities, shape ``(N, 5)``: tp, fp, fn, exact_match, routed_to_review."""
    return np.array([(r["tp"], r["fp"], r["fn"], r["exact_match"], r["routed_to_review"]) for r in rows], dtype=np.float64)


def _chart_values(rows: Sequence[Mapping[str, Any]], statistic: str, which: str) -> np.ndarray:
    """Each row's own value of ``statistic``, shape ``(N,)``; a row without it is a ``ValueError`` naming the chart."""
    missing = next((row["chart_id"] for row in rows if row.get(statistic) is None), None)
    if missing is not None:
        raise ValueError(f"the {which}'s row of chart {missing!r} has no per-chart {statistic}: add each chart's outcome "
                         "to the rows first (harness.operations.chart_outcomes)")
    return np.array([row[statistic] for row in rows], dtype=np.float64)


def _statistic(name: str, sums: np.ndarray, n_charts: np.ndarray) -> np.ndarray:
    """``name`` of each weighted chart set from its column sums ``(B, 5)`` and chart counts ``(B,)``."""
    tp, fp, fn, exact, review = sums.T
    if name == "micro_f1":
        denominator = 2 * tp + fp + fn
        return np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    return (exact if name == "exact_match" else review) / n_charts


def paired_bootstrap(candidate_rows: Rows, baseline_rows: Rows, statistic: str, n_resamples: int = 1000,
                     confidence: float = 0.95, seed: int = 0) -> PairedDifference:
    """Difference ``candidate - baseline`` of ``statistic`` and its paired percentile bootstrap interval.

    Rows are ``per_chart_scores.jsonl`` rows, aligned by chart_id (the chart sets must be equal).
    Each resample draws charts with replacement and scores both runs on those same charts:
    micro_f1 from the summed tp/fp/fn, review_rate and exact_match as means, a statistic of
    :data:`CHART_MEANS` as the mean of the rows' own values of it. The indices depend only
    on ``seed`` and the number of charts, so every statistic of one comparison sees the same resamples.
    """
    if statistic not in STATISTICS:
        raise ValueError(f"unknown statistic {statistic!r}; known: {', '.join(STATISTICS)}")
    candidate, baseline = align(candidate_rows, baseline_rows)
    n = len(candidate)
    weights = np.vstack([np.ones((1, n)), count_matrix(draw_indices(n, n_resamples, seed), n)])  # row 0: the point value
    totals = weights.sum(axis=1)
    if statistic in CHART_MEANS:
        values = {name: weights @ _chart_values(rows, statistic, name) / totals for name, rows in
                  (("candidate", candidate), ("baseline", baseline))}
    else:
        values = {name: _statistic(statistic, weights @ _columns(rows), totals) for name, rows in
                  (("candidate", candidate), ("baseline", baseline))}
    differences = values["candidate"] - values["baseline"]
    low, high = percentile_interval(differences[1:], confidence)
    return PairedDifference(statistic=statistic, baseline=float(values["baseline"][0]), candidate=float(values["candidate"][0]),
                            difference=float(differences[0]), low=float(low), high=float(high), n_charts=n, confidence=confidence)


def mcnemar(candidate_exact: Sequence[bool], baseline_exact: Sequence[bool]) -> McNemar:
    """Exact McNemar test of per-chart exact match (both sequences in the same chart order).

    Only discordant charts carry information: ``b`` lost (baseline right, candidate wrong) and ``c``
    gained. Under "no difference" each discordant chart is lost or gained with probability 1/2, so
    ``b ~ Binomial(b + c, 1/2)`` and the two-sided p-value is

        p = min(1, 2 * sum_{k=0}^{min(b, c)} C(b + c, k) / 2^(b + c)),   p = 1 when b + c = 0.

    Computed exactly with integers (``math.comb``), no scipy needed.
    """
    candidate, baseline = np.asarray(candidate_exact, dtype=bool), np.asarray(baseline_exact, dtype=bool)
    if candidate.shape != baseline.shape:
        raise ValueError(f"{candidate.size} candidate charts and {baseline.size} baseline charts: pair them first")
    b, c = int(np.sum(baseline & ~candidate)), int(np.sum(candidate & ~baseline))
    n = b + c
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1))
    return McNemar(b=b, c=c, p_value=min(1.0, 2 * tail / 2**n))
