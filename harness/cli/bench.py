"""``harness bench pages | llm | pipeline | reference | tracking | chart-size``: the benchmarks, one per module of
``harness.benchmarks``.

A benchmark is a measuring program, not domain code: each module keeps its own options and table beside the procedure
they drive, and this command only picks one.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.cli import dispatch

BENCHES = {"pages": "harness.benchmarks.pages:main", "llm": "harness.benchmarks.llm:main",
           "pipeline": "harness.benchmarks.pipeline:main", "reference": "harness.benchmarks.reference:main",
           "tracking": "harness.benchmarks.tracking:main", "chart-size": "harness.benchmarks.chart_size:main"}


def main(argv: Sequence[str]) -> int:
    """``harness bench <name> ...``."""
    return dispatch("bench", BENCHES, argv)
