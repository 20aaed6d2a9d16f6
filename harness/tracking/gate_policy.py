"""The regression gate's policy: the rules that turn a comparison of two runs into checks and a verdict.

Checks: one per metric that harness.metrics.registry gives a gate rule, by the rule's test with the threshold in the
config field it names (``harness.tracking.gate_config.GateConfig``); "worse" is the metric's registered direction.
The paired tests read ``harness.tracking.gate_statistics.compare_runs``; the others read the runs' metrics. Each check
gives pass, regression or inconclusive (the rules are spelled out in ``harness gate --help``, ``harness.cli.gate``).
Verdict: regression if any check is a regression; else inconclusive if any check is inconclusive; else pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.metrics.registry import Metric, gated
from harness.tracking.gate_config import GateConfig
from harness.tracking.gate_statistics import RunComparison, compare_runs
from harness.tracking.run_store import RecordedRun

if TYPE_CHECKING:
    from harness.metrics.paired_stats import McNemar, PairedDifference

PASS, REGRESSION, INCONCLUSIVE, SKIPPED = "pass", "regression", "inconclusive", "skipped"
EXIT_CODES = {PASS: 0, REGRESSION: 1, INCONCLUSIVE: 3}
"""Exit status of each verdict: inconclusive is not a pass (CI must not go green), nor a usage error (exit 2)."""
CHAMPION = "champion"
"""The tag (``champion=true``) of the run a dataset split's candidates are gated against, and the word that names it."""
PAIRED_TESTS = ("paired", "mcnemar")
"""Gate tests decided on per-chart pairs; the others read the runs' metrics."""
CHARTS = "n_charts"
"""The check on how many charts were paired (test ``charts``): too few decide nothing."""


@dataclass(frozen=True)
class Check:
    """One check of the gate: the values it compared and what it decided, in the metric's own units (shares as fractions)."""

    metric: str
    """Registered metric name (``harness.metrics.registry``), or :data:`CHARTS`."""
    test: str
    """The registry's gate test (``paired``, ``mcnemar``, ``floor``, ``ratio``), or ``charts``."""
    result: str
    limit: float
    """The tolerance or limit of the config field the rule names (a relative change for ``ratio``)."""
    threshold: str
    """The rule with its limit, in short (``rise <= 0.01``)."""
    baseline: float | None = None
    candidate: float | None = None
    difference: float | None = None
    """``candidate - baseline`` (``ratio``: ``candidate / baseline - 1``)."""
    low: float | None = None
    """Lower bound of the paired interval of ``difference`` (``paired`` only)."""
    high: float | None = None
    note: str = ""
    """Why a check was skipped or decided nothing, when the values do not say."""


@dataclass(frozen=True)
class GateReport:
    """Everything the gate decided (``reports.gate_summary`` tells it in words and as JSON)."""

    verdict: str
    checks: list[Check]
    candidate: RecordedRun
    baseline: RecordedRun
    mcnemar: dict[str, McNemar]
    """McNemar test of each metric gated by one."""
    n_charts: int
    config: GateConfig
    notes: tuple[str, ...] = ()
    """Lines under the table: how the operations checks costed the charts, or why they were skipped."""

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    @property
    def failing(self) -> list[Check]:
        """The checks that keep the verdict from a pass, the one to name first first: regressions, then too few paired
        charts (which leaves the other checks undecided), then the other inconclusive ones."""
        order = {REGRESSION: 0, INCONCLUSIVE: 1}
        return sorted((k for k in self.checks if k.result in order), key=lambda k: (order[k.result], k.metric != CHARTS))


def _interval_result(low: float, high: float, floor: float) -> str:
    """Decision for a difference that must stay at or above ``floor``."""
    if high < floor:
        return REGRESSION
    return PASS if low >= floor else INCONCLUSIVE


def _paired_check(metric: Metric, limit: float, diff: PairedDifference, test: McNemar | None) -> Check:
    """``paired``: the interval of the change against a tolerance on the worse side; ``mcnemar``: a significant
    excess of charts that got worse (the flag lost where it is good, gained where it is bad)."""
    up = metric.higher_is_better
    values = {"baseline": diff.baseline, "candidate": diff.candidate, "difference": diff.difference}
    if test is not None:
        worse, better = (test.b, test.c) if up else (test.c, test.b)
        return Check(metric.name, metric.gate.test, REGRESSION if worse > better and test.p_value < limit else PASS, limit,
                     f"no significant loss (McNemar, alpha {limit:g})", **values)
    better_low, better_high = (diff.low, diff.high) if up else (-diff.high, -diff.low)  # the change for the better
    return Check(metric.name, metric.gate.test, _interval_result(better_low, better_high, -limit), limit,
                 f"{'drop' if up else 'rise'} <= {limit:g}", **values, low=diff.low, high=diff.high)


def _run_check(metric: Metric, limit: float, candidate: RecordedRun, baseline: RecordedRun, n_charts: int,
               config: GateConfig) -> Check:
    """On the runs' metrics, no per-chart test. ``floor``: a limit on the candidate alone (a ceiling where lower is better);
    a run that does not record the metric skips it (the dictionary extractor has no schema). ``ratio``: the relative change
    (charts_per_s); the wall time of a handful of charts is mostly noise and start-up, so below min_charts it decides nothing."""
    up, name, test = metric.higher_is_better, metric.name, metric.gate.test
    value, base_value = candidate.metrics.get(name), baseline.metrics.get(name)
    if test == "floor":
        threshold = f"{'>=' if up else '<='} {limit:g}"
        if value is None:
            return Check(name, test, SKIPPED, limit, threshold, note="the candidate does not record it")
        return Check(name, test, PASS if (value >= limit if up else value <= limit) else REGRESSION, limit, threshold,
                     base_value, value)
    threshold = f"{'drop' if up else 'rise'} <= {limit:.0%}"
    if value is None or not base_value:
        return Check(name, test, INCONCLUSIVE, limit, threshold, base_value, value, note="a run does not record it")
    values = {"baseline": base_value, "candidate": value, "difference": value / base_value - 1}
    walls = [run.metrics.get("wall_s") for run in (candidate, baseline)]
    if any(wall is not None and wall < config.min_wall_s for wall in walls):
        return Check(name, test, SKIPPED, limit, threshold, **values,
                     note=f"runs under {config.min_wall_s:g} s of pipeline time are not timed")
    kept = value >= base_value * (1 - limit) if up else value <= base_value * (1 + limit)
    if n_charts < config.min_charts:
        return Check(name, test, INCONCLUSIVE, limit, threshold, **values,
                     note=f"the timing of fewer than {config.min_charts} charts is noise")
    return Check(name, test, PASS if kept else REGRESSION, limit, threshold, **values)


MODEL_EXTRACTORS = ("vllm", "transformers", "openai_server")
"""Extractors whose outputs come from a model engine (they may depend on what else was batched)."""


def batch_invariance_note(candidate: RecordedRun, baseline: RecordedRun) -> str:
    """A note when a compared model run was not batch invariant (``engine.batch_invariant`` not recorded ``True``): its
    outputs may move with what was batched beside each chart, so a small difference can be engine noise; else ""."""
    variant = [who for who, run in (("candidate", candidate), ("baseline", baseline))
               if (run.params.get("extractor") or run.tags.get("extractor")) in MODEL_EXTRACTORS
               and run.params.get("engine.batch_invariant") != "True"]
    if not variant:
        return ""
    return (f"Model runs not batch invariant ({' and '.join(variant)}): a chart's output can change with what was "
            "batched beside it, so a small difference may be engine noise (extractor.batch_invariant=true, vllm on "
            "recent NVIDIA GPUs).")


def decide(candidate: RecordedRun, baseline: RecordedRun, config: GateConfig,
           comparison: RunComparison | None = None) -> GateReport:
    """Compare two comparable runs (``compare_runs``) and judge every gated metric (see the module docstring).

    ``comparison``: the pair already compared by ``compare_runs`` with ``config`` (every statistic), not compared again."""
    rules = gated()
    if comparison is None:
        comparison = compare_runs(candidate, baseline, config, statistics=[m.name for m in rules if m.gate.test in PAIRED_TESTS],
                                  flags=[m.name for m in rules if m.gate.test == "mcnemar"])
    n_charts, checks = comparison.n_charts, []
    for metric in rules:
        limit, name = getattr(config, metric.gate.setting), metric.name
        if metric.gate.test not in PAIRED_TESTS:
            checks.append(_run_check(metric, limit, candidate, baseline, n_charts, config))
        elif name not in comparison.differences:  # an outcome of the coding department on runs that cannot be costed
            checks.append(Check(name, metric.gate.test, SKIPPED, limit,
                                f"{'drop' if metric.higher_is_better else 'rise'} <= {limit:g}", note="runs not costed"))
        else:
            checks.append(_paired_check(metric, limit, comparison.differences[name], comparison.mcnemar.get(name)))
    checks.append(Check(CHARTS, "charts", PASS if n_charts >= config.min_charts else INCONCLUSIVE, config.min_charts,
                        f">= {config.min_charts}", n_charts, n_charts))
    results = {k.result for k in checks}
    verdict = REGRESSION if REGRESSION in results else INCONCLUSIVE if INCONCLUSIVE in results else PASS
    notes = [f"Operations not gated: {comparison.not_costed}." if comparison.not_costed else comparison.costing,
             batch_invariance_note(candidate, baseline)]
    return GateReport(verdict=verdict, checks=checks, candidate=candidate, baseline=baseline, mcnemar=comparison.mcnemar,
                      n_charts=n_charts, config=config, notes=tuple(note for note in notes if note))
