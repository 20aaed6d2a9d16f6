"""``harness operations``: a recorded run's operational outcomes under other assumptions, without running the pipeline.

    harness operations <run> [key=value ...] [--sweep KEY=V1,V2,...] [--tracking-uri URI] [--experiment NAME] [--no-log]

<run> is a job run's id, 6 or more of its first characters, its name, latest or champion (harness.tracking.run_ids).

Reads the run's per-chart results and the config it ran with from MLflow, applies the overrides, routes the recorded
results again when a ``routing.`` key changes (``harness.operations.reroute``: the codes, confidences and edits stay
as recorded), and recomputes the outcomes with the run's seed and bootstrap settings. Each scenario is logged as a
child run of the recorded run (tag ``harness.kind=operations``, ``harness.what_if_of=<run>``, the overrides in
``harness.what_if``; params: the workload model and routing policy used; metrics: the outcomes, with ``review_rate``
under the new routing; artifacts: ``operations.json`` and ``what_if.json``), and a table is printed.

Keys, checked before anything is read:
  operations.<field>   the workload model (conf/operations/default.yaml): coders, qa_sample_rate, hours_per_day,
                       arrivals_per_day, manual_coding_minutes, review_minutes.high_risk, payer_edits, ...
  routing.<field>      the routing policy (conf/routing/default.yaml): min_code_confidence,
                       review_unestimated_confidence, review_on_edits, high_risk_codes, family_thresholds.<prefix>, ...
Values are YAML (8, 0.85, true, [excludes1, mce_age]).

--sweep KEY=V1,V2,... computes one scenario per value (on top of the other overrides) and prints the curve coding
leads ask for: review share against denial rate against coder hours; it also writes it as an HTML page with each
outcome's interval (--out FILE). Example:

    harness operations latest --sweep routing.min_code_confidence=0.5,0.6,0.7,0.8,0.9
    harness operations 3f2a9c1e operations.coders=8 operations.qa_sample_rate=0.1

Exit codes: 0 done; 2 an unknown key or a bad value (named), a run that cannot be read or has no gold codes.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import USAGE_ERROR, HarnessError

if TYPE_CHECKING:
    from harness.operations.what_if import Scenario

SHOWN = ("review_rate", "denial_rate", "rework_rate", "coder_minutes_per_chart", "coder_throughput_charts_per_hour",
         "coder_time_saved", "coder_utilization", "operations_stable", "review_queue_backlog", "backlog_growth_per_day",
         "time_to_claim_p50_h", "time_to_claim_p95_h")
"""The outcomes a what-if prints, in this order."""


def comparison_table(recorded: Scenario, what_if: Scenario) -> str:
    """The outcomes as recorded beside those of the what-if, one line each."""
    from reports.labels import difference, format_value, label

    rows = [("measure", "as recorded", "what-if", "change")]
    for name in SHOWN:
        before, after = recorded.metrics.get(name), what_if.metrics.get(name)
        if before is None and after is None:
            continue
        changed = before is not None and after is not None and name != "operations_stable"  # yes/no has no difference
        change = difference(name, after - before) if changed else "–"
        rows.append((label(name), format_value(name, before), format_value(name, after), change))
    if not what_if.metrics.get("operations_stable", 1.0):
        rows.append(("", "", "", ""))
        rows.append((_unstable(what_if), "", "", ""))
    return _aligned(rows)


def _unstable(scenario: Scenario) -> str:
    metrics = scenario.metrics
    return (f"unstable queue: coders needed {metrics['coder_utilization']:.0%} of their hours; the backlog grows by "
            f"{metrics['backlog_growth_per_day']:.1f} charts a day ({metrics['review_queue_backlog']:.0f} waiting after "
            f"{scenario.operations.working_days} days)")


def curve_table(key: str, scenarios: Sequence[Scenario], recorded: Scenario) -> str:
    """One line per swept value (the recorded settings once): review share, denial and rework, coder time per chart, per
    1,000 charts and a day, the coders that takes, and the time to claim."""
    from harness.operations.what_if import curve
    from reports.labels import format_value

    rows = [(key, "review share", "denial rate", "rework rate", "coder min/chart", "coder h/1,000 charts",
             "coder h/day", "coders needed", "time to claim p95")]
    for shown, scenario in curve(key, recorded, scenarios):
        m, model = scenario.metrics, scenario.operations
        minutes = m["coder_minutes_per_chart"]
        per_day = model.arrivals_per_day * minutes / 60.0
        claim = (format_value("time_to_claim_p95_h", m.get("time_to_claim_p95_h")) if m.get("operations_stable")
                 else f"unstable: +{m['backlog_growth_per_day']:.1f}/day")
        rows.append((shown, format_value("review_rate", m["review_rate"]), format_value("denial_rate", m["denial_rate"]),
                     format_value("rework_rate", m["rework_rate"]), f"{minutes:.2f}", f"{minutes * 1000 / 60:.1f}",
                     f"{per_day:.1f}", f"{per_day / model.hours_per_day:.1f}", claim))
    return _aligned(rows)


def _aligned(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows if len(row) > i and any(row[1:])) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        if not any(row[1:]):  # a note line runs across the columns
            lines.append(row[0])
            continue
        cells = [row[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _known_errors() -> tuple[type[Exception], ...]:
    """Failures that mean "cannot do this what-if" (exit 2); MLflow is imported only once one reaches the handler."""
    from mlflow.exceptions import MlflowException

    return HarnessError, MlflowException, OSError


def parser() -> argparse.ArgumentParser:
    """The options of ``harness operations``."""
    from harness.tracking.run_store import DEFAULT_EXPERIMENT, DEFAULT_URI

    made = argparse.ArgumentParser(prog="harness operations", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    made.add_argument("run_id", metavar="RUN",
                      help="a job run with gold codes: id, 6+ characters of it, name, latest or champion")
    made.add_argument("overrides", nargs="*", metavar="key=value", help="operations.<field>=... or routing.<field>=...")
    made.add_argument("--sweep", metavar="KEY=V1,V2,...",
                      help="one scenario per value, printed as a curve and written as an HTML page (--out)")
    made.add_argument("--out", metavar="FILE", help="the --sweep page (default: operations_<run id prefix>_<key>.html here)")
    made.add_argument("--tracking-uri", default=DEFAULT_URI, metavar="URI", help=f"MLflow store (default {DEFAULT_URI})")
    made.add_argument("--experiment", default=DEFAULT_EXPERIMENT, metavar="NAME",
                      help=f"where latest and champion are looked for (default {DEFAULT_EXPERIMENT})")
    made.add_argument("--no-log", action="store_true", help="print the outcomes without logging child runs")
    return made


def main(argv: Sequence[str]) -> int:
    """Entry point of ``harness operations``; returns the exit status."""
    args = parser().parse_intermixed_args(list(argv))  # options between the overrides
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from harness.operations.what_if import WhatIfError, parse_overrides, parse_sweep, written
    from harness.tracking.run_ids import resolve_run
    from harness.tracking.what_if_runs import what_if
    from reports.what_if_page import write_sweep_page

    try:
        overrides = parse_overrides(args.overrides)
        sweep = parse_sweep(args.sweep) if args.sweep else None
        if not overrides and not sweep:
            raise WhatIfError("nothing to change: give key=value overrides or --sweep KEY=V1,V2,...")
        run_id = resolve_run(args.run_id, args.tracking_uri, args.experiment)
        recorded, scenarios = what_if(run_id, overrides, args.tracking_uri, sweep, log=not args.no_log)
    except _known_errors() as error:
        print(f"harness operations: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    print(f"run {run_id}: {recorded.result.document.get('charts', '?')} charts")
    if sweep:
        fixed = " ".join(f"{key}={written(value)}" for key, value in overrides.items())
        print(f"what-if {fixed}".rstrip() + f", sweeping {sweep[0]} (coder hours a day at "
              f"{scenarios[0].operations.arrivals_per_day} charts a day):\n")
        print(curve_table(sweep[0], scenarios, recorded))
        out = Path(args.out or f"operations_{run_id[:8]}_{sweep[0].rpartition('.')[2]}.html")
        try:
            print(f"\npage: {write_sweep_page(run_id, sweep[0], recorded, scenarios, out)}")
        except OSError as error:
            print(f"harness operations: error: cannot write the page {out}: {error.strerror or error}", file=sys.stderr)
            return USAGE_ERROR
    else:
        print(f"what-if {scenarios[0].label()}:\n")
        print(comparison_table(recorded, scenarios[0]))
    logged = [scenario.run_id for scenario in scenarios if scenario.run_id]
    if logged:
        print(f"\nlogged as child run{'s' if len(logged) > 1 else ''} of {run_id}: {', '.join(logged)}")
    return 0
