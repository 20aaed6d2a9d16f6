"""ConText-style assertion detection for English and Spanish clinical text.

A cue is a phrase that changes how a nearby concept applies to the patient: negated
("denies", "no presenta"), possible ("rule out", "descartar"), hypothetical (only talked
about: "risks include", "if", "riesgo de"), historical ("history of", "antecedentes de") or
family ("mother", "madre"). A template field with an empty value ("Alcohol use: none",
"Tabaco: no") negates its label. Pre-cues reach forward to the concept,
post-cues reach backward. A cue's scope stays inside the sentence or clause, stops at a
termination cue ("but", "pero", "sin embargo", ...) and spans at most a few words, except
that a negation cue opening a list negates every item of it ("denies weight gain, swelling,
..., nausea, vomiting, and diarrhea"; "no A, B or C"; "niega A, B ni C"): items are short
and joined by commas or "and", "or", "nor" ("o", "ni"; a Spanish "y" after a negation mostly
opens a new clause: "no refería fiebre y el cuadro se inició tras un dolor en la rodilla",
so it only joins words within one short item). The item holding the concept must be short
as a whole ("no portador de prótesis, fumador desde los 15 años (20 cigarrillos al día)"),
and a list ends at a cue of its own ("sin alergias, con antecedentes de diabetes").
Context cues say the disease is the setting, not the patient's diagnosis: an epidemic or
pandemic, a vaccine, screening or an exposure ("during the COVID-19 pandemic", "COVID-19
vaccine", "exposure to COVID-19"); they reach only the words next to them and make the
concept hypothetical. A code for the exposure itself (Z20.822) comes from a term that
contains the cue ("exposure to COVID-19"): a cue inside a concept does not act on it.
Pseudo-cues ("not only", "sin embargo", "gram negativo") contain a cue word without being
one; they are matched so that the word inside them is not taken as a cue.

Cues are matched on the folded text (lower case, no accents), so "negó" and "nego" are
the same cue; they are listed here with accents for readability and folded on compile.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from extractors.dictionary.assertion_cues import CUES, Category, Direction, compiled
from extractors.dictionary.term_matching import fold
from harness.contracts import Assertion

# When several cues reach a concept, the first category of this list wins.
_PRIORITY: tuple[Assertion, ...] = ("negated", "family", "possible", "hypothetical", "historical")

_CONTEXT_REACH: dict[Direction, int] = {"pre": 2, "post": 1}
"""Most words between a context cue and the concept: "exposure to the COVID-19", "COVID-19 mRNA vaccine", but not
"pneumonia after the vaccine" (a context cue qualifies its neighbour, not the clause)."""

_MAX_ITEM_WORDS = 6
"""Most words in one item of a negated list; a longer stretch is a new statement, not a list item."""
_LIST_JOINS: dict[str, str] = {"en": r"and|or|nor|and/or", "es": r"o|u|ni"}
"""Words that join list items, besides commas and slashes."""


@dataclass(frozen=True, slots=True)
class Cue:
    """A cue found in a text."""

    start: int
    end: int
    category: Category
    direction: Direction


_WORD = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"[;!?\n]|\.\s")


class AssertionDetector:
    """Decides, for concepts found in a text, whether each is present, negated, possible, hypothetical, historical or family.

    Linear in the text: the cues, sentence ends, words and list separators of a text are found once, and each concept
    looks only at the cues a few words around it (a few binary searches), even in a text without sentence breaks.
    """

    def __init__(self, language: str = "en", max_scope: int = 8, max_post_scope: int = 4):
        """``language``: ISO 639-1 code (``es`` or ``en``; others fall back to English).
        ``max_scope``/``max_post_scope``: most words between a pre-/post-cue and the concept."""
        base = language.lower().split("-")[0].split("_")[0]
        self.language = base if base in CUES else "en"
        self.max_scope = max_scope
        self.max_post_scope = max_post_scope
        self._patterns = compiled(self.language)
        # Beyond this many words a pre-cue reaches the concept only as a negation opening a list.
        self._near = max(max_scope, _CONTEXT_REACH["pre"])
        self._post_reach = max(max_post_scope, _CONTEXT_REACH["post"])

    def cues(self, text: str) -> list[Cue]:
        """Cues of ``text`` in order; where cues overlap, the leftmost (then longest) is kept, as a regex would."""
        folded = fold(text)
        found = [
            Cue(m.start(), m.end(), category, direction)
            for category, direction, pattern in self._patterns
            for m in pattern.finditer(folded)
        ]
        kept: list[Cue] = []
        for cue in sorted(found, key=lambda c: (c.start, -c.end)):
            last = kept[-1] if kept else None
            # A cue listed both as pre- and post-cue keeps both readings (same span).
            if last is None or cue.start >= last.end or (cue.start, cue.end) == (last.start, last.end):
                kept.append(cue)
        return kept

    def assertions(self, text: str, spans: Sequence[tuple[int, int]]) -> list[Assertion]:
        """Assertion of each ``(start, end)`` concept span of ``text``."""
        if not spans:
            return []
        index = _TextIndex(text, self.cues(text), self.language)
        return [self._assertion(index, start, end) for start, end in spans]

    def __call__(self, text: str, start: int, end: int) -> Assertion:
        """Assertion of the single concept at ``text[start:end]``."""
        return self.assertions(text, [(start, end)])[0]

    def _assertion(self, index: _TextIndex, start: int, end: int) -> Assertion:
        cues, sentence_ends = index.cues, index.sentence_ends
        i = bisect.bisect_right(sentence_ends, start) - 1
        sentence_start = sentence_ends[i] if i >= 0 else 0
        j = bisect.bisect_left(sentence_ends, end)
        sentence_end = sentence_ends[j] if j < len(sentence_ends) else len(index.text)
        found: set[str] = set()

        first = bisect.bisect_left(index.cue_starts, sentence_start)
        last = bisect.bisect_right(index.cue_ends, start, first)  # cues of the sentence that end before the concept
        near = index.cues_within(self._near, first, last, start)
        pre: list[Cue] = []
        for k in range(near, last):
            cue = cues[k]
            if cue.category == "terminate":
                pre.clear()  # a termination cue closes the scope of every cue before it
            elif cue.direction == "pre" and cue.category != "pseudo":
                pre.append(cue)
        for cue in pre:
            reach = _CONTEXT_REACH["pre"] if cue.category == "context" else self.max_scope
            if index.words(cue.end, start) <= reach:
                found.add(_ASSERTED.get(cue.category, cue.category))
        # Past its scope a negation reaches the concept only through a list it opens, so with no cue in between.
        opener = index.last_opener(last)
        if opener >= max(first, index.last_termination(last) + 1) and cues[opener].category == "negated":
            cue = cues[opener]
            if index.words(cue.end, start) > self.max_scope and index.opens_list(cue, start, end, sentence_end):
                found.add("negated")

        for k in range(bisect.bisect_left(index.cue_starts, end), len(cues)):
            cue = cues[k]
            if cue.start >= sentence_end or cue.category == "terminate":
                break
            words = index.words(end, cue.start)
            if words > self._post_reach:
                break  # so is every later cue
            # a trailing "risk" or "precautions" qualifies the words just before it, not the clause:
            # "stroke risk" is hypothetical, "diabetes with high cardiovascular risk" is not
            reach = {"hypothetical": 0, "context": _CONTEXT_REACH["post"]}.get(cue.category, self.max_post_scope)
            if cue.direction == "post" and words <= reach:
                found.add(_ASSERTED.get(cue.category, cue.category))
        return next((a for a in _PRIORITY if a in found), "present")


_ASSERTED: dict[str, Assertion] = {"context": "hypothetical"}
"""Cue categories that assert something other than their own name."""


class _TextIndex:
    """One text's cues, sentence ends, words and list separators, found once for all its concepts."""

    def __init__(self, text: str, cues: list[Cue], language: str):
        self.text = text
        self.cues = cues
        self.cue_starts = [c.start for c in cues]
        self.cue_ends = [c.end for c in cues]
        self.sentence_ends = [m.end() for m in _SENTENCE_END.finditer(text)]
        self.terminations = [k for k, c in enumerate(cues) if c.category == "terminate"]
        self.openers = [k for k, c in enumerate(cues) if c.direction == "pre" and c.category not in ("terminate", "pseudo")]
        self.word_starts: list[int] = []
        self.word_ends: list[int] = []
        for m in _WORD.finditer(text):
            self.word_starts.append(m.start())
            self.word_ends.append(m.end())
        self.language = language
        self._separators: tuple[list[int], list[int], list[int]] | None = None

    def words(self, start: int, end: int) -> int:
        """How many words ``_WORD.findall(text, start, end)`` finds: those starting in the span, and one cut by it."""
        if start >= end:
            return 0
        k = bisect.bisect_left(self.word_starts, start)
        count = bisect.bisect_left(self.word_starts, end, k) - k
        return count + (k > 0 and self.word_ends[k - 1] > start)

    def cues_within(self, words: int, first: int, last: int, start: int) -> int:
        """Index of the first of cues ``first`` to ``last`` that ends at most ``words`` words before ``start``."""
        k = bisect.bisect_left(self.word_starts, start) - words - 1  # the word too far: cues ending after it are near
        near = bisect.bisect_right(self.cue_ends, self.word_starts[k], first, last) if k >= 0 else first
        # a cue ending inside that word (its folded text read the word differently) is still too far
        while near < last and self.words(self.cue_ends[near], start) > words:
            near += 1
        return near

    def last_termination(self, before: int) -> int:
        """Index of the last termination cue before cue ``before``; -1 if none."""
        k = bisect.bisect_left(self.terminations, before)
        return self.terminations[k - 1] if k else -1

    def last_opener(self, before: int) -> int:
        """Index of the last pre-cue (not a termination or pseudo-cue) before cue ``before``; -1 if none."""
        k = bisect.bisect_left(self.openers, before)
        return self.openers[k - 1] if k else -1

    def opens_list(self, cue: Cue, start: int, end: int, sentence_end: int) -> bool:
        """Whether ``cue`` opens a list that the concept at ``start:end`` is an item of: ``_in_list`` read off the
        separators of the whole text in a few binary searches.

        A separator search from the cue's end finds the same separators as the one over the whole text (the cue
        ends with a word, and separators are spaces, commas, slashes and whole joining words), unless a separator
        can start in the spaces after the cue (then the cue's last word may be a joining word inside the whole
        text's separator: "no A ni y B"), or one of the whole text's separators is cut by ``start``: those few are
        split as written.
        """
        starts, ends, long_items = self._list_separators()
        first = bisect.bisect_left(starts, cue.end)
        count = bisect.bisect_right(ends, start)  # separators that end by the concept
        item_end = self._item_end(end, sentence_end)
        if _joined(self.language).match(self.text, cue.end) or (count < len(starts) and starts[count] < start):
            return _in_list(self.text, self.language, cue.end, start, item_end)
        if count <= first:
            return False
        k = bisect.bisect_left(long_items, first + 1)
        return (
            self.words(cue.end, starts[first]) <= _MAX_ITEM_WORDS
            and (k == len(long_items) or long_items[k] >= count)
            and self.words(ends[count - 1], item_end) <= _MAX_ITEM_WORDS
        )

    def _item_end(self, end: int, sentence_end: int) -> int:
        """Where the list item holding a concept that ends at ``end`` ends: at the next separator, or the sentence
        end, looking only as far as it takes to tell an item too long for a list (a separator cut off by that
        limit would come after more than _MAX_ITEM_WORDS words anyway)."""
        k = bisect.bisect_left(self.word_starts, end) + _MAX_ITEM_WORDS + 1
        limit = min(sentence_end, self.word_ends[k]) if k < len(self.word_ends) else sentence_end
        separator = _list_separator(self.language).search(self.text, end, limit)
        return separator.start() if separator else limit

    def _list_separators(self) -> tuple[list[int], list[int], list[int]]:
        """Starts and ends of the text's list separators, and the indexes of those after an item too long for a list."""
        if self._separators is None:
            starts: list[int] = []
            ends: list[int] = []
            for m in _list_separator(self.language).finditer(self.text):
                starts.append(m.start())
                ends.append(m.end())
            long_items = [k for k in range(1, len(starts)) if self.words(ends[k - 1], starts[k]) > _MAX_ITEM_WORDS]
            self._separators = (starts, ends, long_items)
        return self._separators


def _in_list(text: str, language: str, start: int, end: int, item_end: int) -> bool:
    """Whether ``text[start:end]``, between a cue and a concept, is the head of a list: short items, each closed
    by a comma, slash or joining word ("weight gain, swelling, and "), and the concept's item, to ``item_end``,
    short too."""
    items = _list_separator(language).split(text[start:end])
    return (
        len(items) > 1
        and all(len(_WORD.findall(item)) <= _MAX_ITEM_WORDS for item in items[:-1])
        and len(_WORD.findall(text, end - len(items[-1]), item_end)) <= _MAX_ITEM_WORDS
    )


@cache
def _list_separator(language: str) -> re.Pattern[str]:
    return re.compile(rf"\s*[,/]\s*(?:(?:{_LIST_JOINS[language]})\s+)?|\s+(?:{_LIST_JOINS[language]})\s+", re.IGNORECASE)


@cache
def _joined(language: str) -> re.Pattern[str]:
    """A list separator that can start in the spaces right after a cue: a comma, slash or joining word next."""
    return re.compile(rf"/|\s+(?:[,/]|(?:{_LIST_JOINS[language]})\s)", re.IGNORECASE)
