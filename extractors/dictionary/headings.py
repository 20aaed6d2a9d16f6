"""Section headings: lines that name a part of the note ("PAST MEDICAL HISTORY", "Diabetes management:").

A heading is a line holding only a short label (no list marker, nothing after a trailing colon) that
ends with a colon or is written in capitals. A term inside one names what a section or a template
field is about, not a condition the note documents: a coder codes the body, which names the
condition again when the patient has it. Capitals mark a heading only in a chart written in mixed
case; a chart in capitals throughout (older systems, some faxes) writes every line that way.

Lines are cut with string operations, one pass each, never by one regular expression over the whole line:
a label followed by optional blanks and an optional colon backtracks, and a line padded with thousands of
spaces (fax tables, column layouts) then took minutes.
"""

from __future__ import annotations

import bisect
import re

MAX_HEADING_WORDS = 6
"""Longest label, in words, still read as a heading; a longer line is prose."""

_LABEL = re.compile(r"[^\W\d_][^\r\n:.;!?]*")
"""A label: starts with a letter and holds no sentence punctuation (one character class: no backtracking)."""
_WORD = re.compile(r"\w+")


def _label(line: str) -> tuple[int, int, bool] | None:
    """``(start, end, colon)`` of the label that is the whole ``line`` (blanks and one trailing colon around it)."""
    body = line.rstrip(" \t\r")
    colon = body.endswith(":")
    if colon:
        body = body[:-1]
    end = len(body.rstrip(" \t"))
    start = len(body) - len(body.lstrip(" \t"))
    if start >= end or not _LABEL.fullmatch(line, start, end):
        return None
    return start, end, colon


def heading_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of every heading label of ``text``, in order."""
    mixed_case = sum(map(str.islower, text)) > sum(map(str.isupper, text))
    spans = []
    offset = 0
    for line in text.split("\n"):
        found = _label(line)
        if found is not None:
            start, end, colon = found
            label = line[start:end]
            if len(_WORD.findall(label)) <= MAX_HEADING_WORDS and (colon or (mixed_case and label.upper() == label)):
                spans.append((offset + start, offset + end))
        offset += len(line) + 1
    return spans


class Headings:
    """The heading labels of one text, to ask whether a mention lies inside one."""

    def __init__(self, text: str):
        self._spans = heading_spans(text)
        self._starts = [start for start, _ in self._spans]

    def contain(self, start: int, end: int) -> bool:
        """Whether ``text[start:end]`` lies inside a heading label."""
        i = bisect.bisect_right(self._starts, start) - 1
        return i >= 0 and end <= self._spans[i][1]
