"""A run's operational outcomes: the metrics it records (registered in ``harness.metrics.registry``, group
``operations``) and ``operations.json``, what the report draws them from.

From each chart's expected outcome (``harness.operations.workload``), means over charts with bootstrap intervals
resampled by chart (the same resamples as the accuracy metrics for the same seed):

- ``denial_rate``: mean chance that a submitted claim is denied;
- ``rework_rate``: mean chance that a chart comes back for correction;
- ``coder_minutes_per_chart``: mean coder minutes (review, QA, rework) per arriving chart;
- ``coder_throughput_charts_per_hour``: ``60 / coder_minutes_per_chart``, charts a coder hour handles;
- ``coder_time_saved``: ``1 - coder_minutes_per_chart / manual_coding_minutes``, against coding every chart by hand.

From the queue (``harness.operations.queue``), no interval (one simulated period):

- ``coder_utilization``: coder minutes the daily volume needs over those available,
  ``arrivals_per_day * coder_minutes_per_chart / (coders * hours_per_day * 60)``;
- ``operations_stable``: 1 when that is below 1 (the queue keeps up), else 0;
- ``review_queue_backlog``: review-routed charts still waiting at the end of the period; ``backlog_growth_per_day``;
- ``time_to_claim_p50_h`` / ``time_to_claim_p95_h``: only when the queue keeps up. An unstable queue's waits grow
  with the length of the simulated period, so a percentile of them would be a meaningless number: the backlog and
  its growth say what happens instead.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.metrics.bootstrap import count_matrix, draw_indices, percentile_interval
from harness.operations.config import FAMILIES, OperationsConfig
from harness.operations.facts import ChartFacts
from harness.operations.queue import QueueResult, simulate
from harness.operations.workload import ChartWorkload, workload

log = logging.getLogger("harness")
DOCUMENT = "operations"
"""Name of the run artifact (``operations.json``)."""
UNSTABLE_QUEUE = "unstable queue"
"""The assumption warning given when the workload model's coders cannot keep up with its arrivals."""
_said: set[str] = set()
"""Assumption warnings given in this process: a sweep's jobs share the assumptions, so each warning is given once."""


def _say_once(warning: str, message: str, *args: object) -> None:
    """Log ``message`` as a warning the first time ``warning`` comes up in this process, at debug level after that."""
    log.log(logging.DEBUG if warning in _said else logging.WARNING, message, *args)
    _said.add(warning)



@dataclass
class Operations:
    """A run's operational outcomes."""

    metrics: dict[str, float]
    document: dict[str, Any] = field(default_factory=dict)
    """``operations.json``: the assumptions as used, the outcomes, the queue's daily backlog and utilisation."""


def operations(facts: Sequence[ChartFacts], config: OperationsConfig, *, n_resamples: int = 1000,
               confidence: float = 0.95, seed: int = 0) -> Operations:
    """The metrics and document above for the run's charts (``facts``, from a run with gold codes)."""
    if not facts:
        return Operations(metrics={})
    loads = [workload(chart, config) for chart in facts]
    metrics = outcome_metrics(loads, config, n_resamples=n_resamples, confidence=confidence, seed=seed)
    demand = config.arrivals_per_day * metrics["coder_minutes_per_chart"]
    capacity = config.capacity_minutes_per_day()
    utilization = demand / capacity
    stable = utilization < 1.0
    queue = simulate(facts, loads, config, seed, drain=stable)
    metrics.update({
        "coder_utilization": utilization,
        "operations_stable": float(stable),
        "review_queue_backlog": float(queue.backlog_per_day[-1]),
        "backlog_growth_per_day": queue.backlog_growth_per_day,
    })
    claim_times = np.asarray(queue.time_to_claim_h)
    if stable and claim_times.size:
        metrics["time_to_claim_p50_h"], metrics["time_to_claim_p95_h"] = map(float, np.percentile(claim_times, [50, 95]))
    if not stable:
        _say_once(UNSTABLE_QUEUE, "operations: the review queue does not keep up (coders needed %.0f%% of their hours): %d "
                  "charts waiting after %d days, growing by %.1f a day; time to claim not reported (said once per process: "
                  "each run's report and operations_stable say it for that run)", 100 * utilization, queue.backlog_per_day[-1],
                  queue.days, queue.backlog_growth_per_day)
    return Operations(metrics=metrics, document=_document(facts, loads, config, metrics, queue, demand, capacity, seed))


def outcome_metrics(loads: Sequence[ChartWorkload], config: OperationsConfig, *, n_resamples: int, confidence: float,
                    seed: int) -> dict[str, float]:
    """Means over charts of their expected outcomes, with percentile bootstrap intervals (resampled by chart)."""
    columns = np.array([(w.denial, w.rework, w.minutes) for w in loads], dtype=np.float64)
    n = len(loads)
    point = columns.mean(axis=0)
    samples = count_matrix(draw_indices(n, n_resamples, seed), n) @ columns / n
    values = {"denial_rate": (point[0], samples[:, 0]), "rework_rate": (point[1], samples[:, 1]),
              "coder_minutes_per_chart": (point[2], samples[:, 2]),
              "coder_time_saved": (1.0 - point[2] / config.manual_coding_minutes,
                                   1.0 - samples[:, 2] / config.manual_coding_minutes)}
    if point[2] > 0 and (samples[:, 2] > 0).all():  # no coder time at all: charts per coder hour is unbounded
        values["coder_throughput_charts_per_hour"] = (60.0 / point[2], 60.0 / samples[:, 2])
    result: dict[str, float] = {}
    for name, (value, resampled) in values.items():
        low, high = percentile_interval(resampled, confidence)
        result[name] = float(value)
        result[f"{name}_ci_low"] = float(low)
        result[f"{name}_ci_high"] = float(high)
    return result


def _document(facts: Sequence[ChartFacts], loads: Sequence[ChartWorkload], config: OperationsConfig,
              metrics: dict[str, float], queue: QueueResult, demand: float, capacity: float, seed: int) -> dict[str, Any]:
    reviewed = [chart for chart in facts if chart.route == "review"]
    costed = {family: 0 for family in FAMILIES}
    for chart in reviewed:  # the family each reviewed chart is costed by (its most expensive)
        costed[max(chart.families, key=config.review_minutes.of)] += 1
    n = len(facts)
    return {
        "assumptions": config.model_dump(mode="json"),
        "seed": seed,
        "charts": n,
        "charts_reviewed": len(reviewed),
        "reviewed_by_family": costed,
        "coder_minutes_per_chart": {"review": sum(w.review_minutes for w in loads) / n,
                                    "qa": sum(w.qa_minutes for w in loads) / n,
                                    "rework": sum(w.rework_minutes for w in loads) / n,
                                    "all": metrics["coder_minutes_per_chart"],
                                    "manual_baseline": config.manual_coding_minutes},
        "metrics": {name: value for name, value in metrics.items() if not name.endswith(("_ci_low", "_ci_high"))},
        "queue": {
            "stable": bool(metrics["operations_stable"]),
            "utilization": metrics["coder_utilization"],
            "demand_minutes_per_day": demand,
            "capacity_minutes_per_day": capacity,
            "days": queue.days,
            "charts_arrived": queue.charts_arrived,
            "review_charts": queue.review_charts,
            "charts_claimed": queue.charts_claimed,
            "drained": queue.drained,
            "backlog_per_day": list(queue.backlog_per_day),
            "work_backlog_minutes_per_day": list(queue.work_backlog_minutes_per_day),
            "backlog_growth_per_day": queue.backlog_growth_per_day,
            "coder_minutes_worked": queue.coder_minutes_worked,
        },
    }
