"""``harness report run <id> | sweep <parent id> | compare <a> <b>``: an HTML page of recorded runs, its path printed.

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
    """A parser with the options every report command takes: ``--tracking-uri`` and ``--out``."""
    from harness.tracking.run_store import DEFAULT_URI

    made = argparse.ArgumentParser(prog=prog, description=description)
    made.add_argument("--tracking-uri", default=DEFAULT_URI, help=f"MLflow tracking URI (default: {DEFAULT_URI})")
    made.add_argument("--out", type=Path, default=None, help="where to write the page (default: a file named after the run in .)")
    return made


def build_page(made: argparse.ArgumentParser, build: Callable[[argparse.Namespace], Path], argv: Sequence[str]) -> int:
    """Parse ``argv``, build the page, print its path; a bad run id, store or pairing prints one line and returns 2."""
    from harness.errors import USAGE_ERROR
    from harness.tracking.run_store import RunStoreError  # MLflow itself is imported only when a run is read
    from reports.run_data import ReportError

    args = made.parse_args(argv)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # stdout/stderr carry only the path or the error
    try:
        path = build(args)
    except (RunStoreError, ReportError) as error:
        print(f"{made.prog}: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    print(path)
    return 0


def run(argv: Sequence[str]) -> int:
    """``harness report run <id>``: rebuild a job run's report."""
    made = parser("harness report run", "Rebuild the HTML report of a recorded job run from MLflow.")
    made.add_argument("run_id", help="MLflow run id of a job (not a sweep's parent)")

    def build(args: argparse.Namespace) -> Path:
        from reports.run_report import report_recorded_run

        return report_recorded_run(args.run_id, args.tracking_uri, args.out or Path(f"report-{args.run_id[:8]}.html"))

    return build_page(made, build, argv)


def sweep(argv: Sequence[str]) -> int:
    """``harness report sweep <parent id>``: compare the job runs of a sweep."""
    made = parser("harness report sweep", "Compare the job runs of a sweep; the page is also logged to the parent run.")
    made.add_argument("parent_run_id", help="MLflow run id of the sweep's parent run")

    def build(args: argparse.Namespace) -> Path:
        from reports.sweep_report import report_recorded_sweep

        return report_recorded_sweep(args.parent_run_id, args.tracking_uri,
                                     args.out or Path(f"sweep-{args.parent_run_id[:8]}.html"))

    return build_page(made, build, argv)


def compare(argv: Sequence[str]) -> int:
    """``harness report compare <a> <b>``: run b against run a over the same charts."""
    made = parser("harness report compare", "Compare two recorded job runs over the same charts.")
    made.add_argument("run_a", help="MLflow run id of the reference run (A)")
    made.add_argument("run_b", help="MLflow run id of the run compared with it (B)")

    def build(args: argparse.Namespace) -> Path:
        from reports.compare_report import report_recorded_comparison

        return report_recorded_comparison(args.run_a, args.run_b, args.tracking_uri,
                                          args.out or Path(f"compare-{args.run_a[:8]}-{args.run_b[:8]}.html"))

    return build_page(made, build, argv)


def main(argv: Sequence[str]) -> int:
    """``harness report <kind> ...``."""
    return dispatch("report", REPORTS, argv)
