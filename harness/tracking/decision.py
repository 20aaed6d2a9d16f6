"""Which design of a sweep to pick: each job against a baseline job, the designs nothing beats, and a recommendation.

Every job is compared with its baseline by the gate's own functions: ``gate_statistics.compare_runs`` gives the paired
differences with their intervals and ``gate_policy.decide`` the verdict ``harness gate`` would give the same pair, so
the sweep report, its end-of-sweep table and the gate never disagree on "better".

- The baseline of each dataset split: the job named by ``report.baseline`` (a value of its overrides, or a run id), else
  the split's champion when it scored the same charts (``harness gate promote``), else the split's first job.
- The non-dominated designs: no other job is at least as good on every axis (:attr:`ReportConfig.axes`) and better on one.
- The recommended design: the best job on the objective's metric among the baseline and the jobs whose gate checks of
  the objective's guarded metrics pass against it (their change is shown to stay within the gate's tolerance).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.metrics.registry import find
from harness.tracking.decision_config import Objective, ReportConfig
from harness.tracking.gate_config import GateConfig, GateError
from harness.tracking.gate_policy import PASS, GateReport, decide
from harness.tracking.gate_statistics import SPLIT_TAGS, RunComparison, RunsNotComparable, check_comparable, compare_runs
from harness.tracking.run_store import RecordedRun


@dataclass(frozen=True)
class PairDecision:
    """One job against its baseline: the paired differences and the gate's verdict, or why they cannot be compared."""

    candidate: RecordedRun
    baseline: RecordedRun
    comparison: RunComparison | None = None
    """Every paired statistic (``compare_runs``); None when the runs are not comparable."""
    gate: GateReport | None = None
    """What ``harness gate`` decides for this pair; None when the runs are not comparable."""
    not_comparable: str | None = None

    @property
    def verdict(self) -> str:
        """The gate's verdict, or ``not comparable``."""
        return self.gate.verdict if self.gate else "not comparable"

    def check(self, metric: str) -> str | None:
        """The gate's result for ``metric`` (pass, regression, inconclusive, skipped); None when it judged no such check."""
        return next((k.result for k in self.gate.checks if k.metric == metric), None) if self.gate else None


@dataclass(frozen=True)
class SplitBaseline:
    """The baseline of one dataset split and why it was chosen."""

    run: RecordedRun
    why: str


@dataclass(frozen=True)
class SweepDecision:
    """A sweep's decision page in data: baselines, each job against its baseline, the front and the recommendation."""

    baselines: list[SplitBaseline]
    pairs: list[PairDecision]
    front: list[RecordedRun]
    """Jobs no other job beats on every axis."""
    axes: list[str]
    recommended: RecordedRun | None
    recommendation: str
    """Why the recommended job (or why none)."""
    config: ReportConfig
    left_out: list[tuple[RecordedRun, str]] = field(default_factory=list)
    """Designs the recommendation could not pick, each with the guarded checks that did not pass."""
    notes: list[str] = field(default_factory=list)


def split_key(run: RecordedRun) -> tuple[str, ...]:
    return tuple(run.tags.get(tag, "") for tag in SPLIT_TAGS)


def matches(run: RecordedRun, wanted: str) -> bool:
    """Whether ``wanted`` names ``run``: its run id, one of its overrides, or an override's value."""
    tokens = run.tags.get("harness.overrides", "").split()
    return wanted == run.run_id or wanted in tokens or any(token.partition("=")[2] == wanted for token in tokens)


def report_config(runs: Sequence[RecordedRun]) -> ReportConfig:
    """The report settings the sweep's jobs ran with (the first job's ``report`` group; defaults when it has none)."""
    from harness.run_record import CONFIG_FILE

    artifacts = runs[0].artifacts if runs else None
    composed = artifacts.config() if artifacts is not None and artifacts.has(CONFIG_FILE) else {}
    return ReportConfig.model_validate(composed.get("report") or {})


def pick_baseline(jobs: Sequence[RecordedRun], config: ReportConfig, champion: RecordedRun | None) -> SplitBaseline:
    """The baseline of one split's ``jobs`` (sweep order); ``champion`` is the split's champion run, if any."""
    named = [run for run in jobs if matches(run, config.baseline)] if config.baseline is not None else []
    if len(named) == 1:
        return SplitBaseline(named[0], f"set by report.baseline={config.baseline}")
    if named:  # the page is still worth having: say what to give instead
        return SplitBaseline(jobs[0], f"the sweep's first job: report.baseline={config.baseline} names {len(named)} jobs, "
                                      "give a whole override or a run id")
    if champion is not None:
        try:
            check_comparable(jobs[0], champion)
            return SplitBaseline(champion, "the champion of this dataset split")
        except RunsNotComparable as error:
            why = f"the sweep's first job (the champion {champion.run_id[:8]} is not comparable: {error})"
            return SplitBaseline(jobs[0], why)
    why = "the sweep's first job" + (f" (report.baseline={config.baseline} names no job here)" if config.baseline else "")
    return SplitBaseline(jobs[0], why)


def decide_pair(candidate: RecordedRun, baseline: RecordedRun, gate: GateConfig) -> PairDecision:
    """``candidate`` against ``baseline``: every paired statistic and the gate's verdict on that same comparison."""
    try:
        comparison = compare_runs(candidate, baseline, gate)
    except RunsNotComparable as error:
        return PairDecision(candidate, baseline, not_comparable=str(error))
    return PairDecision(candidate, baseline, comparison, decide(candidate, baseline, gate, comparison))


def non_dominated(runs: Sequence[RecordedRun], axes: Sequence[str]) -> list[RecordedRun]:
    """The runs no other run is at least as good as on every axis and better on one (point values, registered directions)."""
    def as_good(a: RecordedRun, b: RecordedRun, axis: str) -> bool:
        up = find(axis).higher_is_better if find(axis) else True
        return a.metrics[axis] >= b.metrics[axis] if up else a.metrics[axis] <= b.metrics[axis]

    def beaten(run: RecordedRun) -> bool:
        return any(all(as_good(other, run, a) for a in axes) and not all(as_good(run, other, a) for a in axes)
                   for other in runs if other is not run)

    return [run for run in runs if not beaten(run)]


def recommend(baseline: RecordedRun, pairs: Sequence[PairDecision], objective: Objective
              ) -> tuple[RecordedRun | None, str, list[tuple[RecordedRun, str]]]:
    """The best run on ``objective.best`` among the baseline and the candidates whose guarded gate checks pass, why, and
    the candidates left out with the checks that did not pass."""
    metric = find(objective.best)
    if metric is None or objective.best not in baseline.metrics:
        return None, f"no recommendation: the baseline does not record {objective.best}", []
    eligible, left_out = [baseline], []
    for pair in pairs:
        failed = [f"{name} {pair.check(name) or 'not checked'}" for name in objective.guarded if pair.check(name) != PASS]
        if pair.gate is None or failed or objective.best not in pair.candidate.metrics:
            left_out.append((pair.candidate, ", ".join(failed) or pair.not_comparable or f"{objective.best} not recorded"))
        else:
            eligible.append(pair.candidate)
    pick = (max if metric.higher_is_better else min)(eligible, key=lambda run: run.metrics[objective.best])
    label = metric.label.split(" (")[0].lower()
    why = (f"{'highest' if metric.higher_is_better else 'lowest'} {label} among the baseline and the designs whose gate "
           f"checks of {' and '.join(objective.guarded) or 'nothing'} pass against it")
    return pick, why, left_out


def decide_sweep(runs: Sequence[RecordedRun], champions: dict[tuple[str, ...], RecordedRun] | None = None,
                 config: ReportConfig | None = None) -> SweepDecision:
    """Every job of ``runs`` (sweep order) against its split's baseline; ``champions`` maps a split to its champion run."""
    from harness.tracking.gate_config import load_config

    config = config or report_config(runs)
    gate = load_config(config.gate)
    splits: dict[tuple[str, ...], list[RecordedRun]] = {}
    for run in runs:
        splits.setdefault(split_key(run), []).append(run)
    baselines, pairs = [], []
    for key, jobs in splits.items():
        chosen = pick_baseline(jobs, config, (champions or {}).get(key))
        baselines.append(chosen)
        pairs += [decide_pair(run, chosen.run, gate) for run in jobs if run.run_id != chosen.run.run_id]
    axes = [axis for axis in config.axes if runs and all(axis in run.metrics for run in runs)]
    missing = [axis for axis in config.axes if axis not in axes]
    notes = [f"Left out of the non-dominated designs, not recorded by every job: {', '.join(missing)}."] if missing else []
    front = non_dominated(list(runs), axes) if axes else []
    recommended, why, left_out = (recommend(baselines[0].run, pairs, config.objective) if len(baselines) == 1
                                  else (None, "no recommendation: the sweep covers several dataset splits", []))
    return SweepDecision(baselines, pairs, front, axes, recommended, why, config, left_out, notes)


def decide_recorded_sweep(runs: Sequence[RecordedRun], uri: str, into: str) -> SweepDecision:
    """:func:`decide_sweep` for runs read from the store at ``uri``, with each split's champion downloaded under ``into``."""
    from pathlib import Path

    from harness.tracking.gate_runs import resolve_champion
    from harness.tracking.run_store import load_run

    config = report_config(runs)
    champions = {}
    for run in runs:
        key = split_key(run)
        if key in champions or config.baseline is not None:
            continue
        try:
            champion_id = resolve_champion(run.run_id, uri)
        except GateError:  # no champion (or several): the first job is the baseline
            continue
        known = next((r for r in runs if r.run_id == champion_id), None)
        if known is None:
            (Path(into) / champion_id).mkdir(parents=True, exist_ok=True)
            known = load_run(champion_id, uri, into=Path(into) / champion_id)
        champions[key] = known
    return decide_sweep(runs, champions, config)
