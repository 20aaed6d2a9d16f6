"""What reading a split gives back: its charts, and the lines skipped on the way with the problem found in each."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.contracts import Chart

Purpose = Literal["evaluate", "learn"]
"""Why a split is read: to ``evaluate`` on it (charts without ``meta.split`` count), or for an extractor to ``learn``
from it (only charts that name the split)."""


class LineProblem(ValueError):
    """What makes one line (or Parquet row) unusable: ``<field>: <problem>``, never a quote of the chart's text."""


class SkippedLine(BaseModel):
    """A line of a chart file that gave no chart, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    where: str
    """File and line (``charts.jsonl:7``) or Parquet row, counted from 0 (``charts.parquet row 6``)."""
    problem: str
    """The field and what is wrong with it; never quotes chart text."""

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}"


class LoadedCharts(BaseModel):
    """The charts of one split, and the lines of its file that were skipped."""

    model_config = ConfigDict(extra="forbid")

    charts: list[Chart] = Field(default_factory=list)
    """The split's charts."""
    skipped: list[SkippedLine] = Field(default_factory=list)
    """Lines that gave no chart (``dataset.on_bad_line=skip``) or named no known split, in file order."""
