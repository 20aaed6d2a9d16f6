"""CI regression gate: compare a candidate job run with a baseline run over the same charts.

    harness gate --candidate <run_id|latest> --baseline <run_id|champion> [--tracking-uri URI]
                 [--experiment NAME] [--config default|path.yaml] [--out summary.md]
    harness gate promote <run_id|latest> [--tracking-uri URI] [--experiment NAME]

In CI: run the job, then `harness gate --baseline champion --candidate latest`.

Differences are candidate - baseline, paired by chart_id, with percentile intervals from a paired
bootstrap over charts (harness.metrics.paired_stats); thresholds come from conf/gate/<name>.yaml.

Checks: one per metric that harness.metrics.registry gives a gate rule (listed at the end), by the rule's
test with the threshold in the config field it names; "worse" is the metric's registered direction.
Each gives pass, regression or inconclusive:
  paired   regression when the whole interval of the change lies beyond the tolerance on the worse side;
           pass when none of it does; otherwise inconclusive.
  mcnemar  exact McNemar test on the per-chart flags: regression when more charts got worse than better
           (b > c) and p < the alpha; otherwise pass.
  floor    regression when the candidate's value is on the worse side of the limit (skipped when the
           candidate does not record it).
  ratio    regression when the candidate is worse than the baseline by more than the relative tolerance;
           inconclusive when either run lacks it or fewer than min_charts charts are paired (timing noise).
  paired charts: inconclusive when fewer than min_charts charts are paired.
The coding department's outcomes (denial_rate, coder_minutes_per_chart) are gated by paired intervals too:
each chart's expected denial and coder minutes are recomputed from both runs' recorded results under the
candidate's workload model (harness.operations; the baseline's charts costed as the candidate's assumptions
say, so only the pipeline's decisions differ). Skipped when either run lacks per-chart results or gold codes.
Verdict: regression if any check is a regression; else inconclusive if any check is inconclusive;
else pass.

Which runs: `latest` is the newest finished job run (tag harness.kind=job, by start time) in the
--experiment (default coding-harness); against a baseline run id, the newest of the baseline's dataset
and dataset.split. `champion` is the run promoted for the candidate's dataset/split in the candidate's
experiment. A `latest` that is the baseline itself (the champion is the newest run) is refused: there
is no newer run to gate.

Runs that cannot be compared are refused: an unknown run id, an unreachable store, a run without
per-chart results, different dataset or dataset.split tags, different chart sets (chart ids or
dataset.digest), no champion for the candidate's dataset/split, no finished job run for `latest`.

The Markdown summary is printed (and written to --out), logged to the candidate run as artifact
gate_summary.md, and the candidate is tagged gate.verdict=<verdict> and gate.baseline=<run_id>.
`promote` tags a run (or `latest`) champion=true and removes that tag from every other run of its
experiment with the same dataset and dataset.split; `--baseline champion` resolves to that run.

Exit codes:
  0  pass
  1  regression
  2  inconclusive, or a usage or data error (runs refused; the message on stderr names both runs)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.errors import HarnessError
from harness.metrics.registry import Metric, gated
from harness.tracking.run_store import (
    DEFAULT_EXPERIMENT,
    DEFAULT_URI,
    RecordedRun,
    RunStoreError,
    client,
    get_run,
    load_run,
    newest_job_run,
    tag_filter,
)

if TYPE_CHECKING:
    from harness.metrics.paired_stats import McNemar, PairedDifference

PASS, REGRESSION, INCONCLUSIVE, SKIPPED = "pass", "regression", "inconclusive", "skipped"
EXIT_CODES = {PASS: 0, REGRESSION: 1, INCONCLUSIVE: 2}
USAGE_ERROR = 2
"""Exit status when the runs cannot be compared (same as inconclusive: CI must not go green)."""
CHAMPION = "champion"
LATEST = "latest"
SPLIT_TAGS = ("dataset", "dataset.split")
"""The tags that scope a comparison and a champion."""
SUMMARY_ARTIFACT = "gate_summary.md"


class GateError(HarnessError, RuntimeError):
    """The runs cannot be gated: the message says why."""


class GateConfig(BaseModel):
    """Thresholds and bootstrap settings of the gate (``conf/gate/<name>.yaml``)."""

    model_config = ConfigDict(extra="forbid")

    max_micro_f1_drop: float = Field(default=0.01, ge=0, le=1)
    """Largest micro-F1 drop tolerated; the interval's lower bound must stay at or above its negative."""
    max_review_rate_rise: float = Field(default=0.02, ge=0, le=1)
    """Largest review-rate rise tolerated; the interval's upper bound must stay at or below it."""
    min_schema_valid_rate: float = Field(default=0.95, ge=0, le=1)
    """Lowest share of schema-valid extractions; checked only when the candidate records schema_valid_rate."""
    max_denial_rate_rise: float = Field(default=0.01, ge=0, le=1)
    """Largest rise of the modelled denial rate tolerated (share of claims); the interval's upper bound must stay at or
    below it."""
    max_coder_minutes_rise: float = Field(default=0.5, ge=0, allow_inf_nan=False)
    """Largest rise of modelled coder minutes per chart tolerated (review, QA, rework); the interval's upper bound must
    stay at or below it."""
    max_throughput_drop: float = Field(default=0.5, ge=0, le=1)
    """Largest relative drop of charts_per_s (run metrics, no per-chart test): CI machines are noisy."""
    min_wall_s: float = Field(default=5.0, ge=0)
    """Shortest pipeline wall time (``wall_s``, both runs) on which throughput is judged: below it start-up and a busy
    neighbour decide charts_per_s, not the candidate, so the check is skipped and says why."""
    min_charts: int = Field(default=30, ge=1)
    """Fewest paired charts for a conclusive verdict."""
    n_resamples: int = Field(default=2000, ge=100)
    """Paired bootstrap resamples of charts."""
    confidence: float = Field(default=0.95, gt=0, lt=1)
    """Coverage of the intervals of the differences."""
    seed: int = 0
    """Seed of the bootstrap: the same runs give the same verdict."""
    mcnemar_alpha: float = Field(default=0.05, gt=0, lt=1)
    """A loss of exact matches is significant when McNemar's p-value is below this."""


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


def load_config(name_or_path: str) -> GateConfig:
    """A gate config by option name (``conf/gate/<name>.yaml``) or YAML path."""
    import yaml

    from harness.config import config_option

    try:
        if name_or_path.endswith((".yaml", ".yml")) or "/" in name_or_path:
            values = yaml.safe_load(Path(name_or_path).read_text(encoding="utf-8"))
        else:
            values = config_option("gate", name_or_path)
        return GateConfig.model_validate(values or {})
    except (OSError, yaml.YAMLError) as error:
        raise GateError(f"gate config {name_or_path}: {error}") from None
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise GateError(f"gate config {name_or_path}: {problems}") from None


def _interval_result(low: float, high: float, floor: float) -> str:
    """Decision for a difference that must stay at or above ``floor``."""
    if high < floor:
        return REGRESSION
    return PASS if low >= floor else INCONCLUSIVE


def _difference(low: float, high: float, point: float) -> str:
    return f"{point:+.4f} [{low:+.4f}, {high:+.4f}]"


def check_comparable(candidate: RecordedRun, baseline: RecordedRun) -> None:
    """Raise ``GateError`` unless both runs scored the same charts of the same dataset split."""
    from harness.metrics.paired_stats import align

    if candidate.run_id == baseline.run_id:
        raise GateError("candidate and baseline are the same run")
    for tag in SPLIT_TAGS:
        if not candidate.tags.get(tag) or candidate.tags.get(tag) != baseline.tags.get(tag):
            raise GateError(f"different datasets: {tag} is {candidate.tags.get(tag)!r} in the candidate "
                            f"and {baseline.tags.get(tag)!r} in the baseline")
    try:
        align(candidate.per_chart, baseline.per_chart)
    except ValueError as error:
        raise GateError(f"different chart sets: {error}") from None
    digests = candidate.tags.get("dataset.digest"), baseline.tags.get("dataset.digest")
    if not digests[0] or digests[0] != digests[1]:
        raise GateError(f"different chart sets: dataset.digest {digests[0]} (candidate) vs {digests[1]} (baseline): "
                        "same chart ids but different chart contents or gold codes")


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


def decide(candidate: RecordedRun, baseline: RecordedRun, config: GateConfig) -> GateReport:
    """Run every check on two comparable runs (see the module docstring for the rules)."""
    from harness.metrics.paired_stats import CHART_MEANS, align, mcnemar, paired_bootstrap

    check_comparable(candidate, baseline)
    cand_rows, base_rows = align(candidate.per_chart, baseline.per_chart)
    n_charts, checks, tests, notes = len(cand_rows), [], {}, []
    rules = gated()
    costed: tuple[list[dict], list[dict]] | None = None
    if any(metric.name in CHART_MEANS for metric in rules):
        try:
            cand_costs, base_costs, line = costed_rows(candidate, baseline)
            costed = cand_costs, base_costs
        except GateError as error:
            line = f"Operations not gated: {error}."
        notes.append(line)
    for metric in rules:
        limit, name = getattr(config, metric.gate.setting), metric.name
        if metric.gate.test not in ("paired", "mcnemar"):
            checks.append(_run_check(metric, limit, candidate, baseline, n_charts, config))
            continue
        pairs = (candidate.per_chart, baseline.per_chart)
        if name in CHART_MEANS:
            if costed is None:
                checks.append(Check(name, SKIPPED, f"{'drop' if metric.higher_is_better else 'rise'} <= {limit:g}"))
                continue
            pairs = costed
        diff = paired_bootstrap(*pairs, name, config.n_resamples, config.confidence, config.seed)
        if metric.gate.test == "mcnemar":
            tests[name] = mcnemar([r[name] for r in cand_rows], [r[name] for r in base_rows])
        checks.append(_paired_check(metric, limit, diff, tests.get(name)))
    checks.append(Check("paired charts", PASS if n_charts >= config.min_charts else INCONCLUSIVE, f">= {config.min_charts}",
                        str(n_charts), str(n_charts)))
    results = {k.result for k in checks}
    verdict = REGRESSION if REGRESSION in results else INCONCLUSIVE if INCONCLUSIVE in results else PASS
    return GateReport(verdict=verdict, checks=checks, candidate=candidate, baseline=baseline, mcnemar=tests, n_charts=n_charts,
                      config=config, notes=tuple(notes))


def split_of(run_id: str, tags: dict[str, str]) -> dict[str, str]:
    """The run's dataset and dataset.split tags; a run without them is no harness job run."""
    split = {tag: tags.get(tag, "") for tag in SPLIT_TAGS}
    if not all(split.values()):
        raise GateError(f"run {run_id!r} has no dataset/dataset.split tags: not a harness job run")
    return split


def _champions(uri: str, experiment_id: str, split: dict[str, str]) -> list[str]:
    """Ids of the runs tagged champion for the dataset split in the experiment."""
    found = client(uri).search_runs([experiment_id], filter_string=tag_filter({CHAMPION: "true", **split}))
    return [run.info.run_id for run in found]


def resolve_champion(candidate_id: str, uri: str) -> str:
    """The champion run for the candidate's dataset/split, in the candidate's experiment."""
    candidate = get_run(candidate_id, uri)
    split = split_of(candidate_id, candidate.data.tags)
    found = _champions(uri, candidate.info.experiment_id, split)
    shown = "/".join(split.values())
    if not found:
        raise GateError(f"no champion run for {shown}: promote one first (harness gate promote <run_id>)")
    if len(found) > 1:
        raise GateError(f"several champion runs for {shown} ({', '.join(found)}): promote one again")
    return found[0]


def resolve_runs(candidate_id: str, baseline_id: str, uri: str = DEFAULT_URI,
                 experiment: str = DEFAULT_EXPERIMENT) -> tuple[str, str]:
    """The run ids to compare, with ``latest`` and ``champion`` resolved (see the module docstring)."""
    latest = candidate_id == LATEST
    if latest:
        scope = {} if baseline_id == CHAMPION else split_of(baseline_id, get_run(baseline_id, uri).data.tags)
        candidate_id = newest_job_run(uri, experiment, scope)
    if baseline_id == CHAMPION:
        baseline_id = resolve_champion(candidate_id, uri)
    if latest and candidate_id == baseline_id:
        raise GateError(f"the newest finished job run in experiment {experiment!r}, {candidate_id}, is the baseline itself: "
                        "there is no newer run to gate")
    return candidate_id, baseline_id


def record(report: GateReport, uri: str) -> None:
    """Log the summary to the candidate run and tag it with the verdict and the baseline."""
    from harness.config import TrackingConfig
    from harness.tracking.mlflow_store import Tracker

    tracker = Tracker(TrackingConfig(uri=uri))
    tracker.log(report.candidate.run_id, tags={"gate.verdict": report.verdict, "gate.baseline": report.baseline.run_id})
    with tempfile.TemporaryDirectory() as folder:  # log_artifacts logs a folder: give it just the summary
        (Path(folder) / SUMMARY_ARTIFACT).write_text(report.markdown(), encoding="utf-8")
        tracker.log_artifacts(report.candidate.run_id, Path(folder))


def run_gate(candidate_id: str, baseline_id: str, uri: str = DEFAULT_URI, config: GateConfig | None = None,
             experiment: str = DEFAULT_EXPERIMENT) -> GateReport:
    """Load both runs (``candidate_id`` may be ``latest``, ``baseline_id`` ``champion``), decide and record the result on
    the candidate.

    The downloaded artifacts are deleted on return; the report keeps the runs' rows, tags and metrics.
    """
    candidate_id, baseline_id = resolve_runs(candidate_id, baseline_id, uri, experiment)
    with tempfile.TemporaryDirectory() as folder:
        candidate = load_run(candidate_id, uri, into=_subfolder(folder, "candidate"))
        baseline = load_run(baseline_id, uri, into=_subfolder(folder, "baseline"))
        report = decide(candidate, baseline, config or GateConfig())
        record(report, uri)
    return report


def promote(run_id: str, uri: str = DEFAULT_URI) -> list[str]:
    """Tag ``run_id`` champion for its dataset/split; returns the runs that lost the tag."""
    from harness.config import TrackingConfig
    from harness.tracking.mlflow_store import Tracker

    with tempfile.TemporaryDirectory() as folder:
        run = load_run(run_id, uri, into=_subfolder(folder, "run"))  # only a job with per-chart results can be a baseline
    mlflow = client(uri)
    previous = _champions(uri, mlflow.get_run(run_id).info.experiment_id, split_of(run_id, run.tags))
    Tracker(TrackingConfig(uri=uri)).log(run_id, tags={CHAMPION: "true"})
    demoted = [other for other in previous if other != run_id]
    for other in demoted:
        mlflow.delete_tag(other, CHAMPION)
    return demoted


def _subfolder(root: str, name: str) -> Path:
    path = Path(root) / name
    path.mkdir()
    return path


def _known_errors() -> tuple[type[Exception], ...]:
    """Failures that mean "cannot gate" (exit 2). Evaluated only when an exception reaches the ``except``
    clause, and arguments are parsed outside it, so ``--help`` never imports mlflow."""
    from mlflow.exceptions import MlflowException

    return GateError, RunStoreError, MlflowException, OSError


def _gate_parser() -> argparse.ArgumentParser:
    gated_metrics = "\n".join(f"  {m.name:<24} {m.gate.test}, threshold {m.gate.setting}, "
                              f"{'higher' if m.higher_is_better else 'lower'} is better" for m in gated())
    parser = argparse.ArgumentParser(prog="harness gate", description=__doc__,
                                     epilog=f"gated metrics (harness.metrics.registry):\n{gated_metrics}",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidate", required=True, metavar="RUN_ID|latest",
                        help="the run under test, or latest (the newest finished job run)")
    parser.add_argument("--baseline", required=True, metavar="RUN_ID|champion", help="the run to compare with, or champion")
    _add_store_arguments(parser)
    parser.add_argument("--config", default="default",
                        help="gate config: a name under conf/gate/ or a YAML path (default: default)")
    parser.add_argument("--out", type=Path, metavar="PATH", help="also write the Markdown summary here")
    return parser


def _promote_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness gate promote",
                                     description="Make a run the champion baseline for its dataset/split.")
    parser.add_argument("run_id", metavar="RUN_ID|latest", help="the run to promote, or latest (the newest finished job run)")
    _add_store_arguments(parser)
    return parser


def _add_store_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tracking-uri", default=DEFAULT_URI, metavar="URI", help=f"MLflow store (default {DEFAULT_URI})")
    parser.add_argument("--experiment", default=DEFAULT_EXPERIMENT, metavar="NAME",
                        help=f"where latest is looked for (default {DEFAULT_EXPERIMENT})")


def _gate(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    try:
        report = run_gate(args.candidate, args.baseline, args.tracking_uri, config, args.experiment)
    except _known_errors() as error:
        raise GateError(f"cannot gate candidate {args.candidate!r} against baseline {args.baseline!r}: {error}") from None
    summary = report.markdown()
    print(summary)
    if args.out:
        args.out.write_text(summary, encoding="utf-8")
    return report.exit_code


def _promote(args: argparse.Namespace) -> int:
    run_id = newest_job_run(args.tracking_uri, args.experiment) if args.run_id == LATEST else args.run_id
    demoted = promote(run_id, args.tracking_uri)
    print(f"champion: {run_id}" + (f" (replaces {', '.join(demoted)})" if demoted else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (see the module docstring)."""
    argv = sys.argv[1:] if argv is None else argv
    promoting = argv[:1] == ["promote"]
    args = _promote_parser().parse_args(argv[1:]) if promoting else _gate_parser().parse_args(argv)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # keep CI logs to the summary
    try:
        return _promote(args) if promoting else _gate(args)
    except _known_errors() as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR


if __name__ == "__main__":
    sys.exit(main())
