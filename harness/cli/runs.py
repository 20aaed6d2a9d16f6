"""``harness runs``: an experiment's recent job runs, one line each, named as every other command takes them.

    harness runs [--limit N] [--experiment NAME] [--tracking-uri URI]

Newest first, the finished job runs with: the id's first 8 characters (gate, report, operations and merge take 6 or
more), when the run started, its name, dataset/split, the figures the gate judges by paired intervals (labelled as the
metric registry labels them), the gate's last verdict on it and against which baseline, and, marked *, whether it is
the champion of its dataset/split (``harness gate promote``).

Exit codes: 0 listed (an experiment without finished job runs says so); 2 no store or no such experiment.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from collections.abc import Sequence
from datetime import datetime

from harness.errors import USAGE_ERROR

NAME_WIDTH = 48
"""Widest name shown; a longer one is cut at a space where it can be (the id names the run either way)."""
HEADER_WIDTH = 14
"""Width a figure's label wraps at in the header."""


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of runs above 0")
    return int(text)


def parser() -> argparse.ArgumentParser:
    """The options of ``harness runs``."""
    from harness.tracking.run_store import DEFAULT_EXPERIMENT, DEFAULT_URI

    made = argparse.ArgumentParser(prog="harness runs", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    made.add_argument("--limit", type=_positive, default=20, metavar="N", help="how many runs, newest first (default 20)")
    made.add_argument("--experiment", default=DEFAULT_EXPERIMENT, metavar="NAME", help=f"default {DEFAULT_EXPERIMENT}")
    made.add_argument("--tracking-uri", default=DEFAULT_URI, metavar="URI", help=f"MLflow store (default {DEFAULT_URI})")
    return made


def shown_name(name: str, width: int = NAME_WIDTH) -> str:
    """``name`` in at most ``width`` characters: cut at the last space that keeps half of it (separators before it
    dropped), else at the width, with …"""
    if len(name) <= width:
        return name
    cut = name[:width - 1]
    space = cut.rfind(" ")
    return (re.sub(r"[\W_]+$", "", cut[:space]) if space >= width // 2 else cut) + "…"


def figures() -> list[str]:
    """The metrics each line shows: those the gate judges by a paired interval (F1, review, denials, coder minutes)."""
    from harness.metrics.registry import gated

    return [metric.name for metric in gated() if metric.gate.test == "paired"]


def table(runs: Sequence) -> str:
    """The runs (MLflow ``Run`` records), one line each under a header of their figures' labels."""
    from harness.tracking.gate_policy import CHAMPION
    from harness.tracking.run_ids import short
    from reports.labels import format_value, label

    names = figures()
    leads = [re.split(r" \(|: ", label(name))[0] for name in names]  # "F1 (all codes)": "F1"
    header = [[""], ["id"], ["started"], ["name"], ["dataset"], *[textwrap.wrap(lead, HEADER_WIDTH) for lead in leads], ["gate"]]
    rows = []
    for run in runs:
        tags, metrics = run.data.tags, run.data.metrics
        verdict = tags.get("gate.verdict")
        baseline = tags.get("gate.baseline")
        rows.append(["*" if tags.get(CHAMPION) == "true" else "", short(run.info.run_id),
                     datetime.fromtimestamp(run.info.start_time / 1000).strftime("%Y-%m-%d %H:%M"),
                     shown_name(run.info.run_name or ""), f"{tags.get('dataset', '?')}/{tags.get('dataset.split', '?')}",
                     *[format_value(name, metrics.get(name)) for name in names],
                     (f"{verdict} vs {short(baseline)}" if baseline else verdict) if verdict else "–"])
    return _aligned(header, rows, figures_from=5)


def _aligned(header: list[list[str]], rows: list[list[str]], figures_from: int) -> str:
    """Columns padded to their widest cell, figures right-aligned; a header cell may hold several lines."""
    widths = [max([len(line) for line in head] + [len(row[i]) for row in rows]) for i, head in enumerate(header)]
    depth = max(len(head) for head in header)
    stacked = [[""] * (depth - len(head)) + head for head in header]  # header lines sit on the table
    lines = [[stacked[i][level] for i in range(len(header))] for level in range(depth)] + rows

    def cell(i: int, text: str) -> str:
        return text.rjust(widths[i]) if figures_from <= i < len(header) - 1 else text.ljust(widths[i])

    return "\n".join("  ".join(cell(i, text) for i, text in enumerate(line)).rstrip() for line in lines)


def main(argv: Sequence[str]) -> int:
    """List the runs; returns the exit status (see the module docstring)."""
    args = parser().parse_args(list(argv))
    from mlflow.exceptions import MlflowException

    from harness.errors import HarnessError
    from harness.tracking.run_store import job_runs

    try:
        runs = job_runs(args.tracking_uri, args.experiment, args.limit)
    except (HarnessError, MlflowException) as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    if not runs:
        print(f"no finished job runs in experiment {args.experiment!r} at {args.tracking_uri}")
        return 0
    print(f"newest finished job runs in experiment {args.experiment!r} at {args.tracking_uri}:\n")
    print(table(runs))
    print("\n* champion of its dataset/split · gate, report, operations and merge take an id (6+ characters), a name, "
          "latest or champion")
    return 0
