"""What reading a split gives back: its charts, and the lines skipped on the way with the problem found in each."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler
from pydantic_core import CoreSchema, core_schema

from harness.contracts import Chart
from harness.trust.redaction import REDACTED

Purpose = Literal["evaluate", "learn"]
"""Why a split is read: to ``evaluate`` on it (charts without ``meta.split`` count), or for an extractor to ``learn``
from it (only charts that name the split)."""


_QUOTED = 24
"""At most this many characters of a value are quoted in a problem (codes and splits, never chart text)."""


class FileValue(str):
    """Text a problem takes from the line itself (an id, a code, a split, an image path): its redacted form leaves it out."""


def quoted(value: Any) -> FileValue:
    """``repr`` of a short value from the line, cut so that a misplaced paragraph is not copied into a message."""
    text = repr(value)
    return FileValue(text if len(text) <= _QUOTED else f"{text[:_QUOTED]}...")


class Problem(str):
    """What is wrong with a line, as text, built from parts: plain text and :class:`FileValue` s.

    ``redacted`` is the same text with each value from the line replaced by ``[REDACTED]``: what a run writes with
    ``tracking.redact`` (file, line and field names stay). A ``str`` subclass, so it compares and prints as its text.
    """

    redacted: str

    def __new__(cls, *parts: str) -> Problem:
        problem = super().__new__(cls, "".join(parts))
        problem.redacted = "".join(REDACTED if isinstance(part, FileValue) else part for part in parts)
        return problem

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        # a Problem stays itself (a plain str schema would copy it to a str, dropping the redacted form); other text
        # becomes one that quotes no value
        return core_schema.union_schema(
            [core_schema.is_instance_schema(cls), core_schema.no_info_after_validator_function(cls, core_schema.str_schema())],
            mode="left_to_right",
            serialization=core_schema.plain_serializer_function_ser_schema(str, return_schema=core_schema.str_schema()))


class LineProblem(ValueError):
    """What makes one line (or Parquet row) unusable: ``<field>: <problem>``, never a quote of the chart's text.

    Built from the parts of a :class:`Problem`: a value taken from the line goes in as a :class:`FileValue` (``quoted``).
    """

    def __init__(self, *parts: str) -> None:
        self.problem = Problem(*parts)
        super().__init__(str(self.problem))


class SkippedLine(BaseModel):
    """A line of a chart file that gave no chart, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    where: str
    """File and line (``charts.jsonl:7``) or Parquet row, counted from 0 (``charts.parquet row 6``)."""
    problem: Problem
    """The field and what is wrong with it; never quotes chart text (``problem.redacted`` quotes no value of the line)."""

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}"

    def redacted(self) -> SkippedLine:
        """This line with no value from the chart file in its problem (``tracking.redact``)."""
        return SkippedLine(where=self.where, problem=self.problem.redacted)


class LoadedCharts(BaseModel):
    """The charts of one split, and the lines of its file that were skipped."""

    model_config = ConfigDict(extra="forbid")

    charts: list[Chart] = Field(default_factory=list)
    """The split's charts."""
    skipped: list[SkippedLine] = Field(default_factory=list)
    """Lines that gave no chart (``dataset.on_bad_line=skip``) or named no known split, in file order."""
