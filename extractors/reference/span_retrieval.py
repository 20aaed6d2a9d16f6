"""Nearest training evidence span of each chart phrase, by character n-gram TF-IDF cosine.

Catches phrasings the lexicon never saw: word order, a typo, another inflection, an extra
modifier ("neumonía bilateral basal" near "neumonía basal bilateral"). Queries are the chart's
content n-grams (``extractors.reference.span_lexicon.content_ngrams``); every query whose nearest span is
at least ``min_similarity`` away proposes that span's codes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from extractors.reference.span_lexicon import KeyToken, content_ngrams

_QUERY_ROWS = 20_000
"""Phrases per sparse product of ``neighbours`` (bounds the memory of one block of similarities)."""


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

    def neighbours(self, charts: Sequence[list[KeyToken]]) -> list[list[Neighbour]]:
        """Per chart (its tokens): for each content n-gram with a close enough training span, that span.

        The distinct phrases of all charts are vectorised and searched at once.
        A phrase's row of the sparse product is summed on its own, whatever the other rows, so each phrase
        finds the same span with the same similarity as when its chart is searched alone.
        """
        if self._index is None:
            return [[] for _ in charts]
        places = [list(content_ngrams(tokens, self.max_words)) for tokens in charts]
        queries = [[" ".join(t.key for t in tokens[i : i + n]) for i, n in chart] for tokens, chart in zip(charts, places)]
        unique = sorted({q for chart in queries for q in chart})
        best: dict[str, tuple[int, float]] = {}
        for lo in range(0, len(unique), _QUERY_ROWS):
            block = unique[lo : lo + _QUERY_ROWS]
            sims = (self.features(block) @ self._index).tocsr()
            for row, (span, similarity) in self._nearest(sims).items():
                best[block[row]] = (span, similarity)
        found: list[list[Neighbour]] = []
        for tokens, chart, chart_queries in zip(charts, places, queries):
            found.append([Neighbour(tokens[i].start, tokens[i + n - 1].end, i, n, self.spans[best[q][0]], best[q][1])
                          for (i, n), q in zip(chart, chart_queries) if q in best])
        return found

    def features(self, phrases: Sequence[str]) -> Any:
        """TF-IDF rows of the phrases: ``self._vectorizer.transform(phrases)``, the same matrix, built faster.

        Character n-grams within word boundaries (``char_wb``) never span two words, so a phrase's n-gram counts are
        the sums of its words' counts: each distinct word is analysed once (by the vectorizer's own analyzer), the
        phrases' counts are summed with numpy (small integers: exact in any order), and the counts go through the
        vectorizer's own TF-IDF step. A chart's phrases share most of their words.
        """
        import scipy.sparse as sp

        vectorizer = self._vectorizer
        vocabulary = vectorizer.vocabulary_
        preprocess = vectorizer.build_preprocessor()
        word_ids: dict[str, int] = {}
        grams: list[int] = []
        gram_counts: list[int] = []
        word_ptr = [0]
        phrase_words: list[int] = []
        lengths: list[int] = []
        for phrase in phrases:
            words = preprocess(phrase).split()
            for word in words:
                w = word_ids.get(word)
                if w is None:
                    w = word_ids[word] = len(word_ids)
                    found: dict[int, int] = {}
                    for gram in vectorizer._char_wb_ngrams(word):
                        j = vocabulary.get(gram)
                        if j is not None:
                            found[j] = found.get(j, 0) + 1
                    grams.extend(found)
                    gram_counts.extend(found.values())
                    word_ptr.append(len(grams))
                phrase_words.append(w)
            lengths.append(len(words))
        ptr = np.array(word_ptr, dtype=np.int64)
        pairs = np.array(phrase_words, dtype=np.int64)
        sizes = (ptr[1:] - ptr[:-1])[pairs]
        # entry e of the result: gram k of word pairs[p], for p in the phrase's words and k over that word's grams
        source = np.repeat(ptr[pairs] - (np.cumsum(sizes) - sizes), sizes) + np.arange(int(sizes.sum()))
        rows = np.repeat(np.repeat(np.arange(len(phrases)), lengths), sizes)
        x = sp.csr_array((np.array(gram_counts, dtype=vectorizer.dtype)[source], (rows, np.array(grams, dtype=np.int64)[source])),
                         shape=(len(phrases), len(vocabulary)))
        x.sum_duplicates()  # the words' shared grams summed, indices sorted: the vectorizer's own layout
        x.indices, x.indptr = x.indices.astype(np.int32), x.indptr.astype(np.int32)
        return vectorizer._tfidf.transform(x, copy=False)

    def _nearest(self, sims: Any) -> dict[int, tuple[int, float]]:
        """Row -> (span, similarity) of each row's most similar span, where that is at least ``min_similarity``.

        The rows' largest values come from one pass over the matrix; ``np.argmax`` (the first largest value in the
        row's order) runs only on the few rows close enough.
        """
        counts = np.diff(sims.indptr)
        rows = np.flatnonzero(counts)
        if not rows.size:
            return {}
        top = np.maximum.reduceat(sims.data, sims.indptr[rows])
        found = {}
        for row in rows[top >= self.min_similarity].tolist():
            lo, hi = sims.indptr[row], sims.indptr[row + 1]
            k = lo + int(np.argmax(sims.data[lo:hi]))
            found[row] = (int(sims.indices[k]), float(sims.data[k]))
        return found
