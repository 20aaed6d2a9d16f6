"""CI regression gate: compare a candidate job run with a baseline run over the same charts.

    harness gate --candidate <run_id|latest> --baseline <run_id|champion> [--tracking-uri URI]
                 [--experiment NAME] [--config default|path.yaml] [--out summary.md] [--json result.json]
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
is no newer run to gate. Any other value is a run id, a unique prefix of one (6 characters or more: the
8 that `harness runs` shows do), or a run name (harness.tracking.run_ids).

Runs that cannot be compared are refused: an unknown run id, an unreachable store, a run without
per-chart results, different dataset or dataset.split tags, different chart sets (chart ids or
dataset.digest), no champion for the candidate's dataset/split, no finished job run for `latest`.

The Markdown summary is printed (and written to --out). Its first line is the verdict and the reason in
the metrics' labels and units ("Claims a payer would deny: 10.8% -> 19.1%, +8.3 pts [+1.5 pts, +18.5 pts];
allowed +1.0 pts"); then both runs by commit, branch and dataset, every check, and the charts and codes that
got worse most. --json writes the machine-readable result (verdict, each check with its values, interval,
threshold and outcome, run ids, commits; schema: reports/gate_result.schema.json). The summary
(gate_summary.md), the result (gate_result.json) and the paired comparison report of the two runs
(gate_comparison.html, as `harness report compare` writes it) are logged to the candidate run, which is
tagged gate.verdict=<verdict> and gate.baseline=<run_id>.
`promote` tags a run (or `latest`) champion=true and removes that tag from every other run of its
experiment with the same dataset and dataset.split; `--baseline champion` resolves to that run.

Exit codes:
  0  pass
  1  regression (only: nothing else exits 1)
  2  usage or data error (runs refused, a store that is no MLflow database, a --config that is not a YAML file, an
     --out or --json that cannot be written: one error line on stderr, naming the runs or the path; nothing is recorded)
  3  inconclusive: not a pass (too few charts, or an interval that reaches past a tolerance)
  4  the gate itself failed (a bug in the harness; its traceback is printed): no verdict
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.errors import USAGE_ERROR
from harness.metrics.registry import gated
from harness.tracking.run_store import DEFAULT_EXPERIMENT, DEFAULT_URI

GATE_FAILED = 4
"""Exit status when the gate fails on a bug: Python's own status for an uncaught exception, 1, would read as a
regression in CI."""


def _known_errors() -> tuple[type[Exception], ...]:
    """Failures that mean "cannot gate" (exit 2). Evaluated only when an exception reaches the ``except``
    clause, and arguments are parsed outside it, so ``--help`` never imports mlflow."""
    from mlflow.exceptions import MlflowException

    from harness.tracking.gate_config import GateError
    from harness.tracking.run_store import RunStoreError
    from harness.user_paths import UnwritableError
    from reports.run_data import ReportError

    return GateError, RunStoreError, ReportError, UnwritableError, MlflowException, OSError


def _gate_parser() -> argparse.ArgumentParser:
    gated_metrics = "\n".join(f"  {m.name:<24} {m.gate.test}, threshold {m.gate.setting}, "
                              f"{'higher' if m.higher_is_better else 'lower'} is better" for m in gated())
    parser = argparse.ArgumentParser(prog="harness gate", description=__doc__,
                                     epilog=f"gated metrics (harness.metrics.registry):\n{gated_metrics}",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidate", required=True, metavar="RUN|latest",
                        help="the run under test (id, 6+ characters of it, or name), or latest (the newest finished job run)")
    parser.add_argument("--baseline", required=True, metavar="RUN|champion",
                        help="the run to compare with (id, 6+ characters of it, or name), or champion")
    _add_store_arguments(parser)
    parser.add_argument("--config", default="default",
                        help="gate config: a name under conf/gate/ or a YAML path (default: default)")
    parser.add_argument("--out", type=Path, metavar="PATH", help="also write the Markdown summary here")
    parser.add_argument("--json", type=Path, metavar="FILE",
                        help="also write the machine-readable result here (schema: reports/gate_result.schema.json)")
    return parser


def _promote_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness gate promote",
                                     description="Make a run the champion baseline for its dataset/split.")
    parser.add_argument("run_id", metavar="RUN|latest",
                        help="the run to promote (id, 6+ characters of it, or name), or latest (the newest finished job run)")
    _add_store_arguments(parser)
    return parser


def _add_store_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tracking-uri", default=DEFAULT_URI, metavar="URI", help=f"MLflow store (default {DEFAULT_URI})")
    parser.add_argument("--experiment", default=DEFAULT_EXPERIMENT, metavar="NAME",
                        help=f"where latest and champion are looked for (default {DEFAULT_EXPERIMENT})")


def _gate(args: argparse.Namespace) -> int:
    import json
    import tempfile

    from harness.tracking.gate_config import GateError, load_config
    from harness.tracking.gate_policy import decide
    from harness.tracking.gate_runs import load_runs, record
    from harness.user_paths import writable_file
    from reports.gate_summary import publish

    config = load_config(args.config)
    for path, option in ((args.out, "--out"), (args.json, "--json")):
        if path:  # checked before the gate records anything, so a verdict is never lost to an unwritable path
            writable_file(path, f"gate {option}")
    with tempfile.TemporaryDirectory() as folder:
        runs, attachments = Path(folder) / "runs", Path(folder) / "attachments"
        runs.mkdir()
        attachments.mkdir()
        try:
            candidate, baseline = load_runs(args.candidate, args.baseline, runs, args.tracking_uri, args.experiment)
            report = decide(candidate, baseline, config)
            published = publish(report, attachments)
            record(report, args.tracking_uri, attachments)
        except _known_errors() as error:
            raise GateError(f"cannot gate candidate {args.candidate!r} against baseline {args.baseline!r}: {error}") from None
    print(published.summary)
    if args.out:
        args.out.write_text(published.summary, encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(published.result, indent=2) + "\n", encoding="utf-8")
    return report.exit_code


def _promote(args: argparse.Namespace) -> int:
    from harness.tracking.gate_runs import promote
    from harness.tracking.run_ids import resolve_run

    run_id = resolve_run(args.run_id, args.tracking_uri, args.experiment)
    demoted = promote(run_id, args.tracking_uri)
    print(f"champion: {run_id}" + (f" (replaces {', '.join(demoted)})" if demoted else ""))
    return 0


def main(argv: Sequence[str]) -> int:
    """Entry point; returns the exit status (see the module docstring)."""
    argv = list(argv)
    promoting = argv[:1] == ["promote"]
    args = _promote_parser().parse_args(argv[1:]) if promoting else _gate_parser().parse_args(argv)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # keep CI logs to the summary
    try:
        return _promote(args) if promoting else _gate(args)
    except _known_errors() as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except Exception:  # noqa: BLE001 - a bug: its traceback, and a status that CI cannot read as a verdict
        import traceback

        traceback.print_exc()
        print(f"error: the gate failed (a bug in the harness: traceback above); no verdict (exit {GATE_FAILED})",
              file=sys.stderr)
        return GATE_FAILED
