"""``harness record <run folder>``: record in MLflow a job's run whose tracking store could not take it.

A job that lost its store mid-run (a tracking server stopped or unreachable) completes its run folder anyway, says so in
``run.json`` (``recorded: false``, ``not_recorded_why``) and exits 2 naming the folder. This command records it later
(``harness.recording.record_folder``): as the run the job created at its start where the store holds it, else as a new
run. A second call changes nothing and says so.

Exits 0 when the folder is recorded (now or before), 2 when it cannot be (the message says why: no job's run folder, a
job run without tracking, a store that cannot be used).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.errors import USAGE_ERROR, HarnessError


def parser() -> argparse.ArgumentParser:
    """The options of ``harness record``."""
    made = argparse.ArgumentParser(prog="harness record",
                                   description="Record a job's run folder in MLflow when its store could not take it.")
    made.add_argument("folder", type=Path, metavar="RUN_FOLDER", help="the job's run folder (run.json beside artifacts/)")
    made.add_argument("--tracking-uri", default=None, help="the store to record it in (default: the one the job ran with)")
    return made


def main(argv: Sequence[str]) -> int:
    """``harness record``: 0 when the folder's run is recorded, 2 when it cannot be."""
    from harness.recording import record_folder

    args = parser().parse_args(argv)
    try:
        done = record_folder(args.folder, args.tracking_uri)
    except HarnessError as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    if done.changed:
        print(f"recorded {args.folder} as MLflow run {done.run_id} in {done.uri}")
    else:
        print(f"{args.folder} is recorded already as MLflow run {done.run_id} in {done.uri}; nothing changed")
    return 0
