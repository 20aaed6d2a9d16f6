"""Does the text around a mention look like the code's training evidence? Word profiles of codes.

A generic head word ("masa", "dolor", "carcinoma") is annotated with many codes; the words
around it (site, laterality, type: "cervical", "rodilla izquierda", "suelo de boca") decide which.
Each code gets a profile: the words of its learned lexicon terms, weighted by how often they were
annotated with it and by how few codes share them (IDF over codes), normalised to sum 1. A
mention's context score for a code is the profile mass its window (the mention and a few words
either side, inside the clause) covers.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence

from extractors.reference.span_lexicon import KeyToken, SpanLexicon, term_words


class CodeProfiles:
    """Code -> normalised word weights, from a lexicon's learned terms."""

    def __init__(self, lexicon: SpanLexicon, window: int = 4):
        self.window = window
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        for term, codes in lexicon.codes.items():
            if lexicon.sources[term] in ("icd", "compound"):  # ICD wording is not evidence; compounds repeat their parts
                continue
            words = term_words(term)
            for code, n in codes.items():
                counts[code].update({w: n for w in words})
        df = Counter(w for profile in counts.values() for w in profile)
        self.profiles: dict[str, dict[str, float]] = {}
        for code, profile in counts.items():
            weights = {w: n * math.log(1 + len(counts) / df[w]) for w, n in profile.items()}
            total = sum(weights.values())
            self.profiles[code] = {w: v / total for w, v in weights.items()}

    def score(self, code: str, tokens: Sequence[KeyToken], first: int, words: int) -> float:
        """Profile mass of ``code`` covered by the window around ``tokens[first : first + words]``."""
        return self.mass(code, self.words_around(tokens, first, words))

    def words_around(self, tokens: Sequence[KeyToken], first: int, words: int) -> list[str]:
        """The distinct words of the window around ``tokens[first : first + words]`` (inside its clause), in text order."""
        segment = tokens[first].segment
        lo, hi = max(0, first - self.window), min(len(tokens), first + words + self.window)
        # distinct words in text order: a float sum over a set would vary with the string hash seed
        return list(dict.fromkeys(t.key for t in tokens[lo:hi] if t.segment == segment))

    def mass(self, code: str, window: Sequence[str]) -> float:
        """Profile mass of ``code`` covered by ``window`` (``words_around``): one window serves every code of a mention."""
        profile = self.profiles.get(code)
        if not profile:
            return 0.0
        return sum(profile.get(w, 0.0) for w in window)
