"""``harness merge <parent run>``: the shards of a sharded sweep as one run (``harness.merge``).

The parent is named by its id, 6 or more of its first characters, its name, or ``latest`` (the newest finished sweep in
``--experiment``, default the jobs' experiment) (``harness.tracking.run_ids``).

Exits 0 when merged (the run id, folder and report are printed), 2 when refused (the message says why: a store or
parent that cannot be read, shards that do not fit, an --output-dir that cannot be written, checked first).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.errors import USAGE_ERROR, HarnessError


def parser() -> argparse.ArgumentParser:
    """The options of ``harness merge``."""
    from harness.config import DEFAULT_TRACKING_URI

    made = argparse.ArgumentParser(
        prog="harness merge", description="Combine the shard runs of a sweep over dataset.shard (dataset.num_shards=N) into "
        "one run scored on all their charts: metrics, intervals and report as an unsharded run's, timing aside.")
    made.add_argument("parent", metavar="PARENT_RUN",
                      help="the sweep's parent run (printed as mlflow_parent_run): id, 6+ characters of it, name, or latest")
    made.add_argument("--tracking-uri", default=DEFAULT_TRACKING_URI,
                      help=f"the store holding the sweep; the merged run is recorded there (default {DEFAULT_TRACKING_URI})")
    made.add_argument("--experiment", default=None,
                      help="experiment to record the merged run in (default: the shards' tracking.experiment), and where "
                      "latest is looked for (default: the jobs' default experiment)")
    made.add_argument("--output-dir", type=Path, default=None,
                      help="folder for the merged run's artifacts and report (default outputs/merges/<time>_<parent>)")
    return made


def main(argv: Sequence[str]) -> int:
    """Merge and print where the run went: 0 when merged, 2 when refused."""
    args = parser().parse_args(argv)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from harness.merge import merge
    from harness.tracking.run_ids import resolve_run
    from harness.tracking.run_store import DEFAULT_EXPERIMENT
    from harness.user_paths import writable_folder

    try:
        if args.output_dir is not None:
            writable_folder(args.output_dir, "--output-dir")
        parent = resolve_run(args.parent, args.tracking_uri, args.experiment or DEFAULT_EXPERIMENT, kind="sweep")
        merged = merge(parent, args.tracking_uri, args.experiment, args.output_dir)
    except (HarnessError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    print(f"merged_run: {merged.run_id or '(tracking off)'}\nmerged_folder: {merged.run_folder}\nreport: {merged.report}",
          flush=True)
    return 0
