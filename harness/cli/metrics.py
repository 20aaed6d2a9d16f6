"""``harness metrics``: the metric registry as a Markdown table (name, label, unit, direction, interval, group),
plugins' metrics included (``harness.metrics.registry``)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def main(argv: Sequence[str]) -> int:
    """Print the table; 0."""
    parser = argparse.ArgumentParser(prog="harness metrics", description="List every registered metric as a Markdown table.")
    parser.parse_args(argv)
    from harness.metrics.registry import markdown

    print(markdown())
    return 0
