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
from harness.tracking.gate_statistics import compare_runs
from harness.tracking.run_store import RecordedRun

if TYPE_CHECKING:
    from harness.metrics.paired_stats import McNemar, PairedDifference

PASS, REGRESSION, INCONCLUSIVE, SKIPPED = "pass", "regression", "inconclusive", "skipped"
EXIT_CODES = {PASS: 0, REGRESSION: 1, INCONCLUSIVE: 2}
"""Exit status of each verdict: inconclusive is not a pass (CI must not go green)."""
CHAMPION = "champion"
"""The tag (``champion=true``) of the run a dataset split's candidates are gated against, and the word that names it."""
PAIRED_TESTS = ("paired", "mcnemar")
"""Gate tests decided on per-chart pairs; the others read the runs' metrics."""


@dataclass(frozen=True)
class Check:
    """One row of the gate's table."""

    metric: str
    result: str
    threshold: str
    baseline: str = "-"
    candidate: str = "-"
    difference: str = "-"


@dataclass(frozen=True)
class GateReport:
    """Everything the gate decided, and the Markdown that explains it."""

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

    def markdown(self) -> str:
        c, b, cfg = self.candidate, self.baseline, self.config
        lines = [
            f"## Regression gate: {self.verdict.upper()}",
            "",
            f"- candidate: `{c.run_id}` ({c.name}, rules {c.tags.get('rules.pack', '?')})",
            f"- baseline: `{b.run_id}` ({b.name}, rules {b.tags.get('rules.pack', '?')}"
            f"{', champion' if b.tags.get(CHAMPION) == 'true' else ''})",
            f"- dataset: {c.tags.get('dataset')}/{c.tags.get('dataset.split')} (digest {c.tags.get('dataset.digest')}), "
            f"{self.n_charts} paired charts",
            f"- paired bootstrap: {cfg.n_resamples} resamples of charts, {cfg.confidence:.0%} intervals, seed {cfg.seed}",
            "",
            f"| metric | baseline | candidate | difference [{cfg.confidence:.0%} interval] | threshold | result |",
            "|---|---:|---:|---|---|---|",
            *(f"| {k.metric} | {k.baseline} | {k.candidate} | {k.difference} | {k.threshold} | {k.result} |"
              for k in self.checks),
            *(f"\nMcNemar on {name}: b = {test.b} charts lost (baseline right, candidate wrong), c = {test.c} gained "
              f"(candidate right, baseline wrong), exact two-sided p = {test.p_value:.4g}." for name, test in
              self.mcnemar.items()),
        ]
        lines += [f"\n{line}" for line in self.notes]
        failing = [f"{k.metric} ({k.result})" for k in self.checks if k.result in (REGRESSION, INCONCLUSIVE)]
        if failing:
            lines += ["", f"Not a pass because of: {', '.join(failing)}."]
        return "\n".join(lines) + "\n"


def _interval_result(low: float, high: float, floor: float) -> str:
    """Decision for a difference that must stay at or above ``floor``."""
    if high < floor:
        return REGRESSION
    return PASS if low >= floor else INCONCLUSIVE


def _difference(low: float, high: float, point: float) -> str:
    return f"{point:+.4f} [{low:+.4f}, {high:+.4f}]"


def _paired_check(metric: Metric, limit: float, diff: PairedDifference, test: McNemar | None) -> Check:
    """``paired``: the interval of the change against a tolerance on the worse side; ``mcnemar``: a significant
    excess of charts that got worse (the flag lost where it is good, gained where it is bad)."""
    up, shown = metric.higher_is_better, (f"{diff.baseline:.4f}", f"{diff.candidate:.4f}",
                                          _difference(diff.low, diff.high, diff.difference))
    if test is not None:
        worse, better = (test.b, test.c) if up else (test.c, test.b)
        return Check(metric.name, REGRESSION if worse > better and test.p_value < limit else PASS,
                     f"no significant loss (McNemar, alpha {limit:g})", *shown)
    better_low, better_high = (diff.low, diff.high) if up else (-diff.high, -diff.low)  # the change for the better
    return Check(metric.name, _interval_result(better_low, better_high, -limit), f"{'drop' if up else 'rise'} <= {limit:g}",
                 *shown)


def _run_check(metric: Metric, limit: float, candidate: RecordedRun, baseline: RecordedRun, n_charts: int,
               config: GateConfig) -> Check:
    """On the runs' metrics, no per-chart test. ``floor``: a limit on the candidate alone (a ceiling where lower is better);
    a run that does not record the metric skips it (the dictionary extractor has no schema). ``ratio``: the relative change
    (charts_per_s); the wall time of a handful of charts is mostly noise and start-up, so below min_charts it decides nothing."""
    up, name = metric.higher_is_better, metric.name
    value, base_value = candidate.metrics.get(name), baseline.metrics.get(name)
    if metric.gate.test == "floor":
        threshold = f"{'>=' if up else '<='} {limit:g}"
        if value is None:
            return Check(name, SKIPPED, threshold)
        return Check(name, PASS if (value >= limit if up else value <= limit) else REGRESSION, threshold,
                     "-" if base_value is None else f"{base_value:.4f}", f"{value:.4f}")
    threshold = f"{'drop' if up else 'rise'} <= {limit:.0%}"
    if value is None or not base_value:
        return Check(name, INCONCLUSIVE, threshold)
    walls = [run.metrics.get("wall_s") for run in (candidate, baseline)]
    if any(wall is not None and wall < config.min_wall_s for wall in walls):
        return Check(name, SKIPPED, f"{threshold}; runs under {config.min_wall_s:g} s are not timed", f"{base_value:.1f}",
                     f"{value:.1f}", f"{value / base_value - 1:+.1%}")
    kept = value >= base_value * (1 - limit) if up else value <= base_value * (1 + limit)
    result = INCONCLUSIVE if n_charts < config.min_charts else PASS if kept else REGRESSION
    return Check(name, result, threshold, f"{base_value:.1f}", f"{value:.1f}", f"{value / base_value - 1:+.1%}")


def decide(candidate: RecordedRun, baseline: RecordedRun, config: GateConfig) -> GateReport:
    """Compare two comparable runs (``compare_runs``) and judge every gated metric (see the module docstring)."""
    rules = gated()
    comparison = compare_runs(candidate, baseline, config, statistics=[m.name for m in rules if m.gate.test in PAIRED_TESTS],
                              flags=[m.name for m in rules if m.gate.test == "mcnemar"])
    n_charts, checks = comparison.n_charts, []
    for metric in rules:
        limit, name = getattr(config, metric.gate.setting), metric.name
        if metric.gate.test not in PAIRED_TESTS:
            checks.append(_run_check(metric, limit, candidate, baseline, n_charts, config))
        elif name not in comparison.differences:  # an outcome of the coding department on runs that cannot be costed
            checks.append(Check(name, SKIPPED, f"{'drop' if metric.higher_is_better else 'rise'} <= {limit:g}"))
        else:
            checks.append(_paired_check(metric, limit, comparison.differences[name], comparison.mcnemar.get(name)))
    checks.append(Check("paired charts", PASS if n_charts >= config.min_charts else INCONCLUSIVE, f">= {config.min_charts}",
                        str(n_charts), str(n_charts)))
    results = {k.result for k in checks}
    verdict = REGRESSION if REGRESSION in results else INCONCLUSIVE if INCONCLUSIVE in results else PASS
    notes = [f"Operations not gated: {comparison.not_costed}." if comparison.not_costed else comparison.costing]
    return GateReport(verdict=verdict, checks=checks, candidate=candidate, baseline=baseline, mcnemar=comparison.mcnemar,
                      n_charts=n_charts, config=config, notes=tuple(note for note in notes if note))
