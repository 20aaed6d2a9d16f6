"""Which codes go wrong: the most frequent false positives and negatives of a run, and per-code changes between two runs.

Results name codes and chart ids only, never chart text, so they are safe on any page.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from reports.run_data import ChartCodes

EXAMPLES = 3
"""Chart ids listed per code: enough to open a few charts, short enough for a table cell."""


@dataclass(frozen=True)
class CodeCount:
    code: str
    count: int
    charts: tuple[str, ...]
    """A few of the charts where it happened."""


@dataclass(frozen=True)
class CodeChange:
    """How often a code was coded correctly by run a and by run b, and where that changed."""

    code: str
    correct_a: int
    correct_b: int
    gained: tuple[str, ...]
    """Charts where only b got the code right (a few)."""
    lost: tuple[str, ...]
    """Charts where only a got the code right (a few)."""

    @property
    def change(self) -> int:
        return self.correct_b - self.correct_a


def most_frequent(charts: Sequence[ChartCodes], kind: Literal["false_positives", "false_negatives"],
                  top: int = 15) -> list[CodeCount]:
    """The ``top`` codes by how many charts had them as ``kind``; ties by code."""
    where: dict[str, list[str]] = defaultdict(list)
    for chart in charts:
        for code in getattr(chart, kind):
            where[code].append(chart.chart_id)
    ranked = sorted(where.items(), key=lambda item: (-len(item[1]), item[0]))[:top]
    return [CodeCount(code, len(ids), tuple(ids[:EXAMPLES])) for code, ids in ranked]


def code_changes(a: Sequence[ChartCodes], b: Sequence[ChartCodes]) -> list[CodeChange]:
    """Per code, correct assignments in ``a`` and ``b`` (charts paired by id), largest gains first, then largest losses.

    Codes whose count did not change are left out.
    """
    by_id = {chart.chart_id: chart for chart in a}
    correct_a, correct_b = Counter(), Counter()
    gained: dict[str, list[str]] = defaultdict(list)
    lost: dict[str, list[str]] = defaultdict(list)
    for chart_b in b:
        chart_a = by_id[chart_b.chart_id]
        correct_a.update(chart_a.correct)
        correct_b.update(chart_b.correct)
        for code in chart_b.correct - chart_a.correct:
            gained[code].append(chart_b.chart_id)
        for code in chart_a.correct - chart_b.correct:
            lost[code].append(chart_b.chart_id)
    changes = [CodeChange(code, correct_a[code], correct_b[code], tuple(gained[code][:EXAMPLES]), tuple(lost[code][:EXAMPLES]))
               for code in set(correct_a) | set(correct_b) if correct_a[code] != correct_b[code]]
    return sorted(changes, key=lambda c: (-c.change, c.code))
