"""``harness report run <id> | sweep <parent id> | compare <a> <b>``: an HTML page of recorded runs, its path printed.

A run is named by its id, 6 or more of its first characters, its name, ``latest`` or ``champion``
(``harness.tracking.run_ids``); in ``compare <a> <b>``, ``champion`` as ``a`` is the champion of ``b``'s dataset/split
and ``latest`` as ``b`` the newest run of ``a``'s, as in ``harness gate``.

Kept free of heavy imports (MLflow, matplotlib and numpy load only once a report is built), so ``--help`` is quick.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from harness.cli import dispatch

REPORTS = {"run": "harness.cli.report:run", "sweep": "harness.cli.report:sweep", "compare": "harness.cli.report:compare"}


def parser(prog: str, description: str) -> argparse.ArgumentParser:
    """A parser with the options every report command takes: ``--tracking-uri``, ``--experiment`` and ``--out``."""
    from harness.tracking.run_store import DEFAULT_EXPERIMENT, DEFAULT_URI

    made = argparse.ArgumentParser(prog=prog, description=description)
    made.add_argument("--tracking-uri", default=DEFAULT_URI, help=f"MLflow tracking URI (default: {DEFAULT_URI})")
    made.add_argument("--experiment", default=DEFAULT_EXPERIMENT,
                      help=f"where latest and champion are looked for (default: {DEFAULT_EXPERIMENT})")
    made.add_argument("--out", type=Path, default=None, help="where to write the page (default: a file named after the run in .)")
    return made


def build_page(made: argparse.ArgumentParser, build: Callable[[argparse.Namespace], Path], argv: Sequence[str]) -> int:
    """Parse ``argv``, build the page, print its path; a bad run id, store or pairing, or a page that cannot be written
    where it goes (checked first), prints one line and returns 2."""
    from harness.errors import USAGE_ERROR, HarnessError  # MLflow itself is imported only when a run is read
    from harness.user_paths import writable_file, writable_folder

    args = made.parse_args(argv)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # stdout/stderr carry only the path or the error
    try:
        if args.out is not None:
            writable_file(args.out, "--out")
        else:
            writable_folder(Path.cwd(), "the current folder (the page goes there without --out)")
        path = build(args)
    except HarnessError as error:  # a run that cannot be named, read or paired; a page that cannot be written
        print(f"{made.prog}: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    print(path)
    return 0


def run(argv: Sequence[str]) -> int:
    """``harness report run <id>``: rebuild a job run's report."""
    made = parser("harness report run", "Rebuild the HTML report of a recorded job run from MLflow.")
    made.add_argument("run_id", metavar="RUN",
                      help="a job run (not a sweep's parent): id, 6+ characters of it, name, latest or champion")

    def build(args: argparse.Namespace) -> Path:
        from harness.tracking.run_ids import resolve_run, short
        from reports.run_report import report_recorded_run

        run_id = resolve_run(args.run_id, args.tracking_uri, args.experiment)
        return report_recorded_run(run_id, args.tracking_uri, args.out or Path(f"report-{short(run_id)}.html"))

    return build_page(made, build, argv)


def sweep(argv: Sequence[str]) -> int:
    """``harness report sweep <parent id>``: compare the job runs of a sweep."""
    made = parser("harness report sweep", "Compare the job runs of a sweep; the page is also logged to the parent run.")
    made.add_argument("parent_run_id", metavar="PARENT_RUN",
                      help="the sweep's parent run: id, 6+ characters of it, name, or latest (the newest finished sweep)")

    def build(args: argparse.Namespace) -> Path:
        from harness.tracking.run_ids import resolve_run, short
        from reports.sweep_report import report_recorded_sweep

        parent = resolve_run(args.parent_run_id, args.tracking_uri, args.experiment, kind="sweep")
        return report_recorded_sweep(parent, args.tracking_uri, args.out or Path(f"sweep-{short(parent)}.html"))

    return build_page(made, build, argv)


def compare(argv: Sequence[str]) -> int:
    """``harness report compare <a> <b>``: run b against run a over the same charts."""
    made = parser("harness report compare", "Compare two recorded job runs over the same charts.")
    made.add_argument("run_a", metavar="A", help="the reference run: id, 6+ characters of it, name, latest or champion")
    made.add_argument("run_b", metavar="B", help="the run compared with it: id, 6+ characters of it, name, latest or champion")

    def build(args: argparse.Namespace) -> Path:
        from harness.tracking.gate_runs import resolve_runs
        from harness.tracking.run_ids import short
        from reports.compare_report import report_recorded_comparison

        run_b, run_a = resolve_runs(args.run_b, args.run_a, args.tracking_uri, args.experiment)  # B is the candidate
        return report_recorded_comparison(run_a, run_b, args.tracking_uri,
                                          args.out or Path(f"compare-{short(run_a)}-{short(run_b)}.html"))

    return build_page(made, build, argv)


def main(argv: Sequence[str]) -> int:
    """``harness report <kind> ...``."""
    return dispatch("report", REPORTS, argv)
