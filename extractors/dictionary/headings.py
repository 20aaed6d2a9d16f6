"""Section headings: lines that name a part of the note ("PAST MEDICAL HISTORY", "Diabetes management:").

A heading is a line holding only a short label (no list marker, nothing after a trailing colon) that
ends with a colon or is written in capitals. A term inside one names what a section or a template
field is about, not a condition the note documents: a coder codes the body, which names the
condition again when the patient has it. Capitals mark a heading only in a chart written in mixed
case; a chart in capitals throughout (older systems, some faxes) writes every line that way.
"""

from __future__ import annotations

import bisect
import re

MAX_HEADING_WORDS = 6
"""Longest label, in words, still read as a heading; a longer line is prose."""

_LABEL = re.compile(r"^[ \t]*([^\W\d_][^\r\n:.;!?]*?)[ \t]*(:?)[ \t\r]*$", re.MULTILINE)
"""A whole line: a label that starts with a letter and holds no sentence punctuation, then an optional colon."""
_WORD = re.compile(r"\w+")


def heading_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of every heading label of ``text``, in order."""
    mixed_case = sum(c.islower() for c in text) > sum(c.isupper() for c in text)
    spans = []
    for line in _LABEL.finditer(text):
        label = line.group(1)
        if len(_WORD.findall(label)) > MAX_HEADING_WORDS:
            continue
        if line.group(2) or (mixed_case and label.upper() == label):
            spans.append((line.start(1), line.end(1)))
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
