"""What the report commands share: the store option, and one clear error line with exit status 2 for unusable input.

Kept free of heavy imports (MLflow, matplotlib and numpy load only once a command runs), so ``--help`` is quick.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from harness.tracking.run_store import DEFAULT_URI, RunStoreError  # MLflow itself is imported only when a run is read
from reports.run_data import ReportError


def parser(prog: str, description: str) -> argparse.ArgumentParser:
    """A parser with the options every report command takes: ``--tracking-uri`` and ``--out``."""
    made = argparse.ArgumentParser(prog=prog, description=description)
    made.add_argument("--tracking-uri", default=DEFAULT_URI, help=f"MLflow tracking URI (default: {DEFAULT_URI})")
    made.add_argument("--out", type=Path, default=None, help="where to write the page (default: a file named after the run in .)")
    return made


def run(made: argparse.ArgumentParser, build: Callable[[argparse.Namespace], Path], argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, build the page, print its path; a bad run id, store or pairing prints one line and returns 2."""
    args = made.parse_args(argv)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # stdout/stderr carry only the path or the error
    try:
        path = build(args)
    except (RunStoreError, ReportError) as error:
        print(f"{made.prog}: error: {error}", file=sys.stderr)
        return 2
    print(path)
    return 0
