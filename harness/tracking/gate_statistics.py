"""Is run B better than run A? The paired statistics of two recorded runs over the same charts.

:func:`compare_runs` is the one answer for a pair of runs, for the regression gate (``harness.tracking.gate_policy``
judges it against its thresholds), the Python API and reports alike. It refuses runs that did not score the same charts
of the same dataset split, pairs their charts by id and gives, for each statistic asked, the difference
``candidate - baseline`` with its paired bootstrap interval, and the exact McNemar test of each per-chart flag asked
(``harness.metrics.paired_stats`` computes both).

The coding department's outcomes (``denial_rate``, ``rework_rate``, ``coder_minutes_per_chart``) are compared chart by
chart too: each chart's expected denial, rework and coder minutes are recomputed from both runs' recorded results under
the candidate's workload model (``harness.operations``; the baseline's charts costed as the candidate's assumptions say,
so only the pipeline's decisions differ). When either run lacks per-chart results or gold codes they are left out and
the comparison says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.tracking.gate_config import GateConfig, GateError
from harness.tracking.run_store import RecordedRun

if TYPE_CHECKING:
    from harness.metrics.paired_stats import McNemar, PairedDifference

SPLIT_TAGS = ("dataset", "dataset.split")
"""The tags that scope a comparison and a champion."""


def scope_tags(dataset: str, split: str, digest: str) -> dict[str, str]:
    """The tags that scope a comparison (:data:`SPLIT_TAGS` and ``dataset.digest``, which :func:`check_comparable`
    reads), as a tracked run carries them: what a run read from disk gets from its config and ``run.json``."""
    return {**dict(zip(SPLIT_TAGS, (dataset, split), strict=True)), "dataset.digest": digest}


class RunsNotComparable(GateError, ValueError):
    """The runs did not score the same charts of the same dataset split: the message says how they differ."""


@dataclass(frozen=True)
class RunComparison:
    """Two runs compared chart by chart: what :func:`compare_runs` returns."""

    candidate: RecordedRun
    """Run B, the one under test."""
    baseline: RecordedRun
    """Run A, the one it is compared with."""
    n_charts: int
    """Charts paired by id (both runs scored exactly these)."""
    differences: dict[str, PairedDifference]
    """Each statistic compared: both runs' values, ``candidate - baseline`` and its paired bootstrap interval."""
    mcnemar: dict[str, McNemar]
    """The exact McNemar test of each per-chart flag compared (``exact_match``)."""
    costing: str | None = None
    """How the coding department's outcomes were costed; None when none was asked or they could not be costed."""
    not_costed: str | None = None
    """Why the coding department's outcomes asked for are not in ``differences``; None when they are (or none was asked)."""


def check_comparable(candidate: RecordedRun, baseline: RecordedRun) -> None:
    """Raise ``RunsNotComparable`` unless both runs scored the same charts of the same dataset split."""
    from harness.metrics.paired_stats import align

    if candidate.run_id == baseline.run_id:
        raise RunsNotComparable("candidate and baseline are the same run")
    for tag in SPLIT_TAGS:
        if not candidate.tags.get(tag) or candidate.tags.get(tag) != baseline.tags.get(tag):
            raise RunsNotComparable(f"different datasets: {tag} is {candidate.tags.get(tag)!r} in the candidate "
                                    f"and {baseline.tags.get(tag)!r} in the baseline")
    try:
        align(candidate.per_chart, baseline.per_chart)
    except ValueError as error:
        raise RunsNotComparable(f"different chart sets: {error}") from None
    digests = candidate.tags.get("dataset.digest"), baseline.tags.get("dataset.digest")
    if not digests[0] or digests[0] != digests[1]:
        raise RunsNotComparable(f"different chart sets: dataset.digest {digests[0]} (candidate) vs {digests[1]} (baseline): "
                                "same chart ids but different chart contents or gold codes")


def costed_rows(candidate: RecordedRun, baseline: RecordedRun) -> tuple[list[dict], list[dict], str]:
    """Both runs' per-chart expected outcomes (``harness.operations.chart_outcomes``), costed under the candidate's
    workload model, and a line saying so; ``GateError`` naming the run when either cannot be costed."""
    from pydantic import ValidationError

    from harness.operations.chart_outcomes import assumptions_differ, costable, recorded_chart_outcomes, recorded_settings

    for which, run in (("candidate", candidate), ("baseline", baseline)):
        why = costable(run.folder)
        if why is not None:
            raise GateError(f"the {which} run {run.run_id} cannot be costed: {why}")
    try:
        settings, base_settings = recorded_settings(candidate.folder), recorded_settings(baseline.folder)
    except (OSError, ValidationError) as error:
        raise GateError(f"a run's workload model cannot be read: {str(error).splitlines()[0]}") from None
    model = settings.operations
    line = (f"Operations: each chart's expected denial and coder minutes recomputed from both runs' results under the "
            f"candidate's workload model (operations={model.name}")
    differ = assumptions_differ(model, base_settings.operations)
    if differ:
        line += f"; the baseline ran with other assumptions for {', '.join(differ)}, its charts are costed under the candidate's"
    return recorded_chart_outcomes(candidate.folder, model), recorded_chart_outcomes(baseline.folder, model), line + ")."


def compare_runs(candidate: RecordedRun, baseline: RecordedRun, config: GateConfig | None = None,
                 statistics: Sequence[str] | None = None, flags: Sequence[str] = ("exact_match",)) -> RunComparison:
    """Compare ``candidate`` (B) with ``baseline`` (A) chart by chart: each of ``statistics`` (default: every statistic
    ``harness.metrics.paired_stats`` knows) by paired bootstrap, each of ``flags`` by McNemar's exact test, with the
    bootstrap settings of ``config`` (the default gate config when None).

    ``RunsNotComparable`` unless both scored the same charts of the same dataset split. A coding-department outcome
    asked for is left out of ``differences`` when either run cannot be costed (``not_costed`` says why).
    """
    from harness.metrics.paired_stats import CHART_MEANS, STATISTICS, align, mcnemar, paired_bootstrap

    config, statistics = config or GateConfig(), STATISTICS if statistics is None else statistics
    check_comparable(candidate, baseline)
    cand_rows, base_rows = align(candidate.per_chart, baseline.per_chart)
    costed, costing, not_costed = None, None, None
    if any(name in CHART_MEANS for name in statistics):
        try:
            cand_costs, base_costs, costing = costed_rows(candidate, baseline)
            costed = cand_costs, base_costs
        except GateError as error:
            not_costed = str(error)
    differences = {}
    for name in statistics:
        pairs = costed if name in CHART_MEANS else (candidate.per_chart, baseline.per_chart)
        if pairs is not None:
            differences[name] = paired_bootstrap(*pairs, name, config.n_resamples, config.confidence, config.seed)
    tests = {name: mcnemar([r[name] for r in cand_rows], [r[name] for r in base_rows]) for name in flags}
    return RunComparison(candidate=candidate, baseline=baseline, n_charts=len(cand_rows), differences=differences,
                         mcnemar=tests, costing=costing, not_costed=not_costed)
