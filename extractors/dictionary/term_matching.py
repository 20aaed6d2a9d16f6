"""Text normalisation and longest-match term lookup with exact character offsets.

Matching works on tokens of a *folded* copy of the text (lower case, accents removed).
Folding keeps every character in place, so token offsets found in the folded copy are
offsets into the original text, and a match maps back to the exact surface it covers.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from functools import cache

_WORD = re.compile(r"\w+")
# A term never crosses a sentence or clause end; ':' and ',' do not end one (lists, headers).
_BREAK = re.compile(r"[;!?\n]|\.\s")


@cache
def _accent_table() -> dict[int, str]:
    """Accented Latin letters -> base letter (one character each, so lengths never change).

    'ñ' is a letter of its own in Spanish, not an accented 'n': folding it would make
    "años" (years) read "anos" (anus).
    """
    table: dict[int, str] = {}
    for code in range(0xC0, 0x250):
        if chr(code) in "ñÑ":
            continue
        base = unicodedata.normalize("NFD", chr(code))[0]
        if base != chr(code) and len(base) == 1:
            table[code] = base
    return table


def fold(text: str) -> str:
    """Lower-cased, accent-free copy of ``text`` with every character at the same offset."""
    lowered = text.lower()
    if len(lowered) != len(text):  # a few characters (e.g. 'İ') lower to two: keep those as they are
        lowered = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    return lowered.translate(_accent_table())


def singular(word: str) -> str:
    """Plural ending folded away, for Spanish and English alike ("infecciones" -> "infeccion", "cysts" -> "cyst").

    Not a stemmer: the same rule runs on terms and texts, so it only has to be consistent.
    Short words (and so most abbreviations) are left alone.
    """
    if len(word) >= 5 and word.endswith("es") and word[-3] in "lnrdj":
        return word[:-2]
    if len(word) >= 4 and word.endswith("s") and word[-2] in "aeiout":
        return word[:-1]
    return word


@dataclass(frozen=True, slots=True)
class Token:
    """A word of the text: its folded form and where it sits in the original text."""

    norm: str
    start: int
    end: int
    segment: int
    """Sentence/clause number; a term match stays inside one segment."""


def tokenize(text: str) -> list[Token]:
    """Words of ``text`` (folded), with character offsets and clause segments."""
    folded = fold(text)
    tokens: list[Token] = []
    segment = 0
    previous_end = 0
    for m in _WORD.finditer(folded):
        if tokens and _BREAK.search(text, previous_end, m.start()):
            segment += 1
        tokens.append(Token(singular(m.group()), m.start(), m.end(), segment))
        previous_end = m.end()
    return tokens


def normalize_term(text: str) -> str:
    """Canonical key of a term: folded, singular words joined by single spaces (punctuation dropped)."""
    return " ".join(singular(w) for w in _WORD.findall(fold(text)))


@dataclass(frozen=True, slots=True)
class Match:
    """One occurrence of a known term in a text."""

    term: str
    """Normalised term that matched."""
    start: int
    """First character of the match in the original text."""
    end: int
    """One past its last character."""


class TermMatcher:
    """Finds known normalised terms in texts; the longest match wins and overlaps are dropped."""

    def __init__(self, terms: Collection[str], max_tokens: int):
        """``terms``: normalised terms (see ``normalize_term``); terms over ``max_tokens`` words never match."""
        self._terms = terms
        # Longest term per first word: bounds the n-grams tried at each position.
        self._longest: dict[str, int] = {}
        for term in terms:
            words = term.split(" ")
            self._longest[words[0]] = max(self._longest.get(words[0], 0), min(len(words), max_tokens))

    def find(self, text: str) -> list[Match]:
        """Non-overlapping matches in ``text``, in text order."""
        tokens = tokenize(text)
        candidates: list[tuple[int, int]] = []  # (first token, token count) of the longest match at each position
        for i, token in enumerate(tokens):
            longest = self._longest.get(token.norm, 0)
            for n in range(min(longest, len(tokens) - i), 0, -1):
                if tokens[i + n - 1].segment != token.segment:
                    continue
                if " ".join(t.norm for t in tokens[i : i + n]) in self._terms:
                    candidates.append((i, n))
                    break
        # Longer matches first, so a shorter term inside (or across) a longer one is dropped.
        candidates.sort(key=lambda c: (-c[1], -(tokens[c[0] + c[1] - 1].end - tokens[c[0]].start), c[0]))
        taken = [False] * len(tokens)
        kept: list[tuple[int, int]] = []
        for i, n in candidates:
            if not any(taken[i : i + n]):
                taken[i : i + n] = [True] * n
                kept.append((i, n))
        kept.sort()
        return [
            Match(" ".join(t.norm for t in tokens[i : i + n]), tokens[i].start, tokens[i + n - 1].end) for i, n in kept
        ]

