"""Nearest training evidence span of each chart phrase, by character n-gram TF-IDF cosine.

Catches phrasings the lexicon never saw: word order, a typo, another inflection, an extra
modifier ("neumonía bilateral basal" near "neumonía basal bilateral"). Queries are the chart's
content n-grams (``extractors.reference.span_lexicon.content_ngrams``); every query whose nearest span is
at least ``min_similarity`` away proposes that span's codes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from extractors.reference.span_lexicon import KeyToken, content_ngrams


@dataclass(frozen=True, slots=True)
class Neighbour:
    """A chart phrase and the training span it resembles most."""

    start: int
    end: int
    first: int
    """Index of the phrase's first token."""
    words: int
    span: str
    """Key of the nearest training span."""
    similarity: float


class SpanRetriever:
    """Character n-gram TF-IDF index of training span keys."""

    def __init__(self, max_words: int = 6, min_similarity: float = 0.6, ngrams: tuple[int, int] = (3, 5)):
        self.max_words = max_words
        self.min_similarity = min_similarity
        self.ngrams = ngrams
        self.spans: list[str] = []

    def fit(self, spans: Iterable[str]) -> SpanRetriever:
        """Index training span keys (``extractors.reference.span_lexicon.term_key``)."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.spans = sorted(set(spans))
        self._vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=self.ngrams, sublinear_tf=True, dtype=np.float32)
        self._index = self._vectorizer.fit_transform(self.spans).T.tocsr() if self.spans else None
        return self

    def neighbours(self, tokens: list[KeyToken]) -> list[Neighbour]:
        """For each content n-gram of the chart with a close enough training span: that span."""
        if self._index is None:
            return []
        places = list(content_ngrams(tokens, self.max_words))
        if not places:
            return []
        queries = [" ".join(t.key for t in tokens[i : i + n]) for i, n in places]
        unique = sorted(set(queries))
        sims = (self._vectorizer.transform(unique) @ self._index).tocsr()
        best: dict[str, tuple[int, float]] = {}
        for row, query in enumerate(unique):
            lo, hi = sims.indptr[row], sims.indptr[row + 1]
            if lo == hi:
                continue
            k = lo + int(np.argmax(sims.data[lo:hi]))
            if sims.data[k] >= self.min_similarity:
                best[query] = (int(sims.indices[k]), float(sims.data[k]))
        found = []
        for (i, n), query in zip(places, queries):
            if query in best:
                j, similarity = best[query]
                found.append(Neighbour(tokens[i].start, tokens[i + n - 1].end, i, n, self.spans[j], similarity))
        return found
