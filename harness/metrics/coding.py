"""Code-level accuracy, review and throughput metrics with bootstrap intervals.

Every metric is computed from per-chart quantities, so one resample of charts
(see :mod:`harness.metrics.bootstrap`) gives all metrics at once: sums over charts are
``W @ values`` with ``W`` the resample count matrix.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.metrics.bootstrap import count_matrix, draw_indices, normal_interval, percentile_interval

MAP_DEPTH = 1000
"""Ranks scored by MAP per chart: trectools' ``get_map`` default depth."""

METRIC_NAMES: tuple[str, ...] = (
    "micro_precision",
    "micro_recall",
    "micro_f1",
    "macro_f1",
    "map",
    "exact_match",
    "review_rate",
    "charts_per_s",
    "chart_latency_p50_s",
    "chart_latency_p95_s",
)
"""Metrics that ``evaluate`` reports with ``_ci_low`` / ``_ci_high`` bounds."""

# Cap on the (resamples x labels) block held at once by the macro-F1 bootstrap.
_MACRO_BLOCK_ELEMENTS = 1 << 23


@dataclass(frozen=True)
class ChartOutcome:
    """What the pipeline did on one chart, next to the chart's gold codes."""

    chart_id: str
    gold: frozenset[str]
    """Canonical gold codes of the chart."""
    ranked: tuple[tuple[str, float], ...]
    """Predicted ``(code, confidence)`` pairs in any order."""
    routed_to_review: bool
    latency_s: float
    """Seconds the pipeline spent on this chart."""

    def __post_init__(self) -> None:
        if not np.isfinite(self.latency_s) or self.latency_s < 0:
            raise ValueError(
                f"chart {self.chart_id!r}: latency_s must be finite and >= 0, "
                f"got {self.latency_s}"
            )


def ranking(ranked: Iterable[tuple[str, float]]) -> list[str]:
    """Distinct predicted codes by confidence descending, ties by code ascending.

    A code predicted twice keeps its highest confidence.
    """
    best: dict[str, float] = {}
    for code, confidence in ranked:
        if code not in best or confidence > best[code]:
            best[code] = confidence
    return sorted(best, key=lambda code: (-best[code], code))


def average_precision(ranked_codes: Sequence[str], gold: frozenset[str]) -> float | None:
    """CodiEsp average precision of one chart; None when it has no gold codes.

    The official CodiEsp D/P scorer (TeMU-BSC/codiesp-evaluation-script,
    ``codiespD_P_evaluation.py``) calls trectools
    ``TrecEval(run, qrels).get_map(trec_eval=False)``: the ranking is taken as
    submitted, cut at depth 1000, and per chart

        AP = sum over ranks k <= 1000 whose code is gold of precision@k / |gold|

    with duplicate codes removed (gold and predictions) beforehand. A chart
    without predictions has AP 0.
    """
    if not gold:
        return None
    hits = 0
    total = 0.0
    for k, code in enumerate(ranked_codes[:MAP_DEPTH], start=1):
        if code in gold:
            hits += 1
            total += hits / k
    return total / len(gold)


def per_chart_scores(outcomes: Iterable[ChartOutcome]) -> list[dict[str, Any]]:
    """One JSON-ready row per chart, in input order.

    Keys: chart_id, tp, fp, fn, precision, recall, f1, average_precision
    (None for a chart without gold codes), exact_match, routed_to_review,
    latency_s. Undefined ratios are 0.
    """
    rows = []
    for outcome in outcomes:
        codes = ranking(outcome.ranked)
        predicted = frozenset(codes)
        tp = len(predicted & outcome.gold)
        fp = len(predicted) - tp
        fn = len(outcome.gold) - tp
        rows.append(
            {
                "chart_id": outcome.chart_id,
                "tp": tp,
                "fp": fp,
                "fn": fn,
                "precision": _ratio(tp, tp + fp),
                "recall": _ratio(tp, tp + fn),
                "f1": _ratio(2 * tp, 2 * tp + fp + fn),
                "average_precision": average_precision(codes, outcome.gold),
                "exact_match": predicted == outcome.gold,
                "routed_to_review": bool(outcome.routed_to_review),
                "latency_s": float(outcome.latency_s),
            }
        )
    return rows


def evaluate(
    outcomes: Sequence[ChartOutcome],
    wall_seconds: float,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """Point values and bootstrap intervals of the headline metrics.

    For each name in :data:`METRIC_NAMES` the result holds ``name``,
    ``name_ci_low`` and ``name_ci_high``; intervals come from ``n_resamples``
    resamples of charts (the same resamples for every metric, drawn from
    ``numpy.random.default_rng(seed)``). Also ``n_charts``, ``n_gold_codes`` and
    ``n_predicted_codes`` (distinct codes per chart, summed).

    - micro_precision / micro_recall / micro_f1: over (chart, code) pairs.
    - macro_f1: mean per-code F1 over the codes that occur in gold or predictions. Its interval
      is the point value plus or minus z bootstrap standard errors, not a percentile interval: a
      code seen in one chart is missing from 37% of the resamples, and rare codes score
      lower than common ones, so resampled values sit above the point value. On long-tailed code
      sets (CodiEsp) the percentile interval missed the point value altogether.
    - map: mean CodiEsp average precision (:func:`average_precision`) over the
      charts with gold codes. Deviation from the official scorer: trectools
      averages only over charts present in both gold and predictions, so a chart
      with no predictions drops out of its mean; here it counts as AP 0, as with
      ``trec_eval -c``, so abstaining on hard charts cannot raise MAP. The
      official value is the mean of ``per_chart_scores`` average_precision over
      rows with gold codes and ``tp + fp > 0``.
    - exact_match: share of charts whose predicted code set equals the gold set.
    - review_rate: share of charts routed to review.
    - charts_per_s: ``n_charts / wall_seconds``; its interval scales the point
      value by total latency over the resample's total latency.
    - chart_latency_p50_s / p95_s: linear-interpolated percentiles of latency_s.

    Ratios with a zero denominator are 0.
    """
    if not outcomes:
        raise ValueError("evaluate() needs at least one chart outcome; got none")
    if not wall_seconds > 0:
        raise ValueError(f"wall_seconds must be positive, got {wall_seconds}")

    rows = per_chart_scores(outcomes)
    n_charts = len(rows)
    latency = np.array([row["latency_s"] for row in rows])
    columns = _sum_columns(rows)
    two_tp, support = _label_matrices(outcomes)

    ones = np.ones((1, n_charts))
    indices = draw_indices(n_charts, n_resamples, seed)
    weights = count_matrix(indices, n_charts)

    point = _additive_metrics(ones, columns, two_tp, support)
    samples = _additive_metrics(weights, columns, two_tp, support)

    total_latency = latency.sum()
    resampled_latency = weights @ latency
    # With no latency recorded in a resample there is nothing to rescale by.
    scale = np.divide(
        total_latency,
        resampled_latency,
        out=np.ones(n_resamples),
        where=resampled_latency > 0,
    )
    throughput = n_charts / wall_seconds
    point["charts_per_s"] = np.array([throughput])
    samples["charts_per_s"] = throughput * scale

    point_p50, point_p95 = np.percentile(latency, [50, 95])
    sample_p50, sample_p95 = np.percentile(latency[indices], [50, 95], axis=1)
    point["chart_latency_p50_s"] = np.array([point_p50])
    point["chart_latency_p95_s"] = np.array([point_p95])
    samples["chart_latency_p50_s"] = sample_p50
    samples["chart_latency_p95_s"] = sample_p95

    result: dict[str, float] = {}
    for name in METRIC_NAMES:
        if name == "macro_f1":
            low, high = np.clip(normal_interval(point[name][0], samples[name], confidence), 0.0, 1.0)
        else:
            low, high = percentile_interval(samples[name], confidence)
        result[name] = float(point[name][0])
        result[f"{name}_ci_low"] = float(low)
        result[f"{name}_ci_high"] = float(high)
    result["n_charts"] = n_charts
    result["n_gold_codes"] = sum(len(outcome.gold) for outcome in outcomes)
    result["n_predicted_codes"] = sum(row["tp"] + row["fp"] for row in rows)
    return result


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def _sum_columns(rows: list[dict[str, Any]]) -> np.ndarray:
    """Per-chart additive quantities, shape ``(N, 7)``, in ``_additive_metrics`` order."""
    return np.array(
        [
            (
                row["tp"],
                row["fp"],
                row["fn"],
                row["exact_match"],
                row["routed_to_review"],
                row["average_precision"] or 0.0,
                row["average_precision"] is not None,
            )
            for row in rows
        ],
        dtype=np.float64,
    )


def _label_matrices(outcomes: Sequence[ChartOutcome]) -> tuple[np.ndarray, np.ndarray]:
    """Per chart and code: ``2*TP`` and ``2*TP + FP + FN`` (gold + predicted), ``(N, L)``."""
    predicted = [frozenset(code for code, _ in outcome.ranked) for outcome in outcomes]
    labels = sorted(set().union(*(o.gold for o in outcomes), *predicted))
    column = {code: j for j, code in enumerate(labels)}
    two_tp = np.zeros((len(outcomes), len(labels)))
    support = np.zeros((len(outcomes), len(labels)))
    for i, (outcome, codes) in enumerate(zip(outcomes, predicted)):
        for code in outcome.gold:
            support[i, column[code]] += 1
        for code in codes:
            support[i, column[code]] += 1
        for code in outcome.gold & codes:
            two_tp[i, column[code]] = 2
    return two_tp, support


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(
        numerator,
        denominator,
        out=np.zeros(np.broadcast_shapes(numerator.shape, denominator.shape)),
        where=denominator > 0,
    )


def _additive_metrics(
    weights: np.ndarray, columns: np.ndarray, two_tp: np.ndarray, support: np.ndarray
) -> dict[str, np.ndarray]:
    """Metrics built from weighted chart sums, one value per row of ``weights``."""
    tp, fp, fn, exact, review, ap, has_gold = (weights @ columns).T
    n_charts = weights.sum(axis=1)
    return {
        "micro_precision": _safe_divide(tp, tp + fp),
        "micro_recall": _safe_divide(tp, tp + fn),
        "micro_f1": _safe_divide(2 * tp, 2 * tp + fp + fn),
        "macro_f1": _macro_f1(weights, two_tp, support),
        "map": _safe_divide(ap, has_gold),
        "exact_match": exact / n_charts,
        "review_rate": review / n_charts,
    }


def _macro_f1(weights: np.ndarray, two_tp: np.ndarray, support: np.ndarray) -> np.ndarray:
    """Mean per-code F1 over the codes present in each weighted chart set."""
    result = np.empty(weights.shape[0])
    block = max(1, _MACRO_BLOCK_ELEMENTS // max(1, two_tp.shape[1]))
    for start in range(0, weights.shape[0], block):
        w = weights[start : start + block]
        denominator = w @ support
        present = denominator > 0
        f1 = _safe_divide(w @ two_tp, denominator)
        result[start : start + block] = f1.sum(axis=1) / np.maximum(present.sum(axis=1), 1)
    return result
