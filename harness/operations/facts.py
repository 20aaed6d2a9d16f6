"""What the workload model needs to know of each chart, from a live run or from a recorded run's artifacts.

``ChartFacts`` holds no text: a route, reason families, whether any scored code was wrong or missing, which edits
failed, and how long the pipeline took. Both sources go through :func:`facts_of`, so a run read back from its
``chart_results.jsonl`` and ``per_chart_scores.jsonl`` gives the very facts the live run scored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.contracts import ChartResult, Route
from harness.operations.config import FAMILIES, Family
from harness.operations.families import families_of
from harness.run_record import METRICS_FILE, RESULTS_FILE, SCORES_FILE, RunArtifacts

if TYPE_CHECKING:
    from coders.routing import RoutingConfig
    from harness.metrics.coding import ChartOutcome

@dataclass(frozen=True)
class ChartFacts:
    """One chart as the workload model sees it."""

    chart_id: str
    route: Route
    families: tuple[Family, ...]
    """Families of its review reasons (``harness.operations.families``); empty for a chart routed auto."""
    code_error: bool | None
    """Some scored code is wrong or missing against gold (``fp > 0 or fn > 0``); None for a run without gold codes."""
    failed_edits: tuple[str, ...]
    """Names of the validation edits the chart's codes failed, sorted."""
    latency_s: float
    """Seconds the pipeline spent on the chart."""

    def __post_init__(self) -> None:
        if self.route not in ("auto", "review"):
            raise ValueError(f"chart {self.chart_id!r}: route must be auto or review, got {self.route!r}")
        if (self.route == "review") != bool(self.families):
            raise ValueError(f"chart {self.chart_id!r}: a chart routed {self.route} has reason families {self.families}")
        if not set(self.families) <= set(FAMILIES):
            raise ValueError(f"chart {self.chart_id!r}: unknown reason family in {self.families}")
        if not math.isfinite(self.latency_s) or self.latency_s < 0:
            raise ValueError(f"chart {self.chart_id!r}: latency_s must be finite and >= 0, got {self.latency_s}")


def facts_of(results: Sequence[ChartResult], scores: Sequence[Mapping[str, Any]], labelled: bool) -> list[ChartFacts]:
    """Each chart's facts from its result and its ``per_chart_scores`` row (same charts, same order)."""
    if len(results) != len(scores):
        raise ValueError(f"{len(results)} chart results but {len(scores)} per-chart scores")
    facts = []
    for result, row in zip(results, scores):
        if result.chart_id != row["chart_id"]:
            raise ValueError(f"chart results and per-chart scores are out of step: {result.chart_id!r} vs {row['chart_id']!r}")
        facts.append(ChartFacts(
            chart_id=result.chart_id,
            route=result.route,
            families=families_of(result.reasons) if result.route == "review" else (),
            code_error=bool(row["fp"] or row["fn"]) if labelled else None,
            failed_edits=tuple(sorted({edit.edit for edit in result.edits if not edit.passed})),
            latency_s=float(row["latency_s"]),
        ))
    return facts


def live_facts(results: Sequence[ChartResult], outcomes: Sequence[ChartOutcome], labelled: bool) -> list[ChartFacts]:
    """Facts of a run just scored: its results beside the outcomes the job scored them by (``harness.run.outcomes_of``)."""
    from harness.metrics.coding import per_chart_scores

    return facts_of(results, per_chart_scores(outcomes), labelled)


@dataclass(frozen=True)
class RecordedCharts:
    """A recorded run's per-chart results and scores, read back from its artifact folder."""

    results: list[ChartResult]
    scores: list[dict[str, Any]]
    labelled: bool
    """Whether the run was scored against gold codes (its ``metrics.json`` holds ``n_gold_codes``)."""

    def facts(self, routing: RoutingConfig | None = None) -> list[ChartFacts]:
        """The charts' facts as recorded, or as they would be under another routing policy (:func:`reroute`)."""
        from harness.operations.reroute import reroute

        results = self.results if routing is None else reroute(self.results, routing)
        return facts_of(results, self.scores, self.labelled)


def load_recorded(folder: Path) -> RecordedCharts:
    """The per-chart results and scores a job wrote into ``folder`` (a ``RecordedRun.folder``, or a job's
    ``artifacts/``); ``FileNotFoundError`` names a missing file."""
    artifacts = RunArtifacts(folder)
    missing = artifacts.missing(RESULTS_FILE, SCORES_FILE, METRICS_FILE)
    if missing:
        raise FileNotFoundError(f"{folder} has no {missing[0]}: not the artifact folder of a job")
    return RecordedCharts(results=artifacts.chart_results(), scores=artifacts.per_chart_scores(),
                          labelled="n_gold_codes" in artifacts.metrics())


def recorded_facts(folder: Path) -> list[ChartFacts]:
    """The facts of the run recorded in ``folder``: equal to those the live run computed."""
    return load_recorded(folder).facts()
