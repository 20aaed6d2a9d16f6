"""Multi-label linear classifiers over the whole chart: one logistic regression per frequent code.

Some codes are coded from the chart as a whole rather than from one phrase (a syndrome spread
over several findings, a translation that rephrases the evidence). Word uni- and bigrams of
stemmed tokens (``extractors.reference.span_lexicon.key_tokens``), TF-IDF weighted, feed one-vs-rest
logistic regressions for every code with at least ``min_charts`` training charts.

The same TF-IDF vectors give a nearest-charts vote: how much of the chart's most similar training
charts hold each code (case series and reports on one condition share codes).

A code's evidence is the sentence its model scores highest (coefficients times the sentence's
TF-IDF), or none when no sentence scores above zero.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from extractors.reference.span_lexicon import key_tokens, sentences

_DENSE_ROWS = 256
"""Charts per dense similarity block of ``neighbour_votes`` (256 x training charts floats)."""


def chart_words(text: str) -> list[str]:
    """The classifier's tokens: stemmed words."""
    return [t.key for t in key_tokens(text)]


def _identity(words: list[str]) -> list[str]:
    return words


def _new_vectorizer() -> Any:
    """The unfitted TF-IDF vectorizer of chart words: ``fit`` fits it, ``restore`` gives it a saved vocabulary."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(analyzer=_identity, sublinear_tf=True, min_df=2, ngram_range=(1, 1))


class ChartClassifier:
    """One-vs-rest logistic regression on TF-IDF of the chart text."""

    def __init__(self, min_charts: int = 3, c: float = 10.0, seed: int = 0, neighbours: int = 10):
        self.min_charts = min_charts
        self.neighbours = neighbours
        self.c = c
        self.seed = seed
        self.codes: list[str] = []
        self._column: dict[str, int] = {}

    def fit(self, words: Sequence[list[str]], gold: Sequence[frozenset[str]]) -> ChartClassifier:
        """Fit on the charts' words (``chart_words`` of each text) and gold codes."""
        from sklearn.linear_model import LogisticRegression

        counts = Counter(code for codes in gold for code in codes)
        self.codes = sorted(code for code, n in counts.items() if n >= self.min_charts)
        self._column = {code: j for j, code in enumerate(self.codes)}
        self._vectorizer = _new_vectorizer()
        x = self._vectorizer.fit_transform([self._ngrams(w) for w in words])
        self._charts = x.T.tocsr()
        self._gold = [sorted(codes) for codes in gold]
        y = np.array([[code in codes for code in self.codes] for codes in gold], dtype=np.int8)
        # Fitted per code, kept as one weight matrix: scoring is then one product, not a loop over estimators.
        weights, bias = [], []
        for j in range(len(self.codes)):
            model = LogisticRegression(C=self.c, solver="liblinear", class_weight="balanced", random_state=self.seed)
            model.fit(x, y[:, j])
            weights.append(model.coef_.ravel())
            bias.append(float(model.intercept_[0]))
        self._weights = np.array(weights, dtype=np.float64).reshape(len(weights), x.shape[1]).T
        self._bias = np.array(bias, dtype=np.float64)
        return self

    def state(self) -> tuple[dict[str, list], dict[str, np.ndarray]]:
        """What ``fit`` learned, for ``extractors.reference.model_format``: the codes, the vocabulary (in column order)
        and the training charts' gold codes, and as arrays the idf, the weights and bias, and the training charts'
        TF-IDF (vocabulary x charts, CSR)."""
        vocabulary = self._vectorizer.vocabulary_
        charts = self._charts
        return ({"codes": list(self.codes), "vocabulary": sorted(vocabulary, key=vocabulary.__getitem__), "gold": self._gold},
                {"idf": self._vectorizer.idf_, "weights": self._weights, "bias": self._bias,
                 "charts_data": charts.data, "charts_indices": charts.indices, "charts_indptr": charts.indptr})

    def restore(self, codes: list[str], vocabulary: list[str], gold: list[list[str]],
                arrays: dict[str, np.ndarray]) -> ChartClassifier:
        """The classifier ``fit`` left, from its ``state`` (checked by ``extractors.reference.model_format``)."""
        import scipy.sparse as sp

        self.codes = list(codes)
        self._column = {code: j for j, code in enumerate(self.codes)}
        self._vectorizer = _new_vectorizer()
        self._vectorizer.vocabulary_ = {term: j for j, term in enumerate(vocabulary)}
        self._vectorizer.fixed_vocabulary_ = False
        self._vectorizer.idf_ = arrays["idf"]  # the setter builds the fitted TF-IDF transformer, as fitting does
        self._vectorizer._tfidf.n_features_in_ = len(vocabulary)
        self._charts = sp.csr_matrix((arrays["charts_data"], arrays["charts_indices"], arrays["charts_indptr"]),
                                     shape=(len(vocabulary), len(gold)))
        self._gold = [list(codes) for codes in gold]
        self._weights, self._bias = arrays["weights"], arrays["bias"]
        return self

    @staticmethod
    def _ngrams(words: list[str]) -> list[str]:
        return words + [f"{a} {b}" for a, b in zip(words, words[1:])]

    def features(self, words: Sequence[list[str]]) -> Any:
        """TF-IDF rows of texts given by their words (``chart_words``), for ``predict`` and ``neighbour_votes``."""
        return self._vectorizer.transform([self._ngrams(w) for w in words])

    def predict(self, features: Any) -> list[dict[str, float]]:
        """Probability of every modelled code for each chart, from one sparse product of its ``features`` rows.

        Each row of a CSR-times-dense product is summed on its own, in the same order whatever the other rows,
        and the logistic runs row by row: each chart's probabilities are the same, bit for bit, scored alone or with others.
        """
        if not self.codes:
            return [{} for _ in range(features.shape[0])]
        product = np.asarray(features @ self._weights)
        out = []
        for row in product:
            z = row + self._bias
            out.append(dict(zip(self.codes, (1.0 / (1.0 + np.exp(-z))).tolist())))
        return out

    def neighbour_votes(self, features: Any) -> list[dict[str, float]]:
        """Per chart (a ``features`` row): similarity-weighted share of its ``neighbours`` nearest training charts with each code.

        One sparse product for all charts; its rows are summed independently, so a chart's votes do not depend on the others.
        """
        out = []
        for lo in range(0, features.shape[0], _DENSE_ROWS):  # a dense block of charts x training charts at a time
            block = (features[lo : lo + _DENSE_ROWS] @ self._charts).toarray()
            out.extend(self._votes(sims) for sims in block)
        return out

    def _votes(self, sims: np.ndarray) -> dict[str, float]:
        nearest = np.argsort(-sims, kind="stable")[: self.neighbours]
        total = float(sims[nearest].sum())
        votes: dict[str, float] = {}
        if total <= 0:
            return votes
        for i in nearest:
            for code in self._gold[i]:
                votes[code] = votes.get(code, 0.0) + float(sims[i]) / total
        return votes

    def evidence(self, wanted: Sequence[tuple[str, Sequence[str]]]) -> list[dict[str, tuple[int, int]]]:
        """For each ``(text, codes)``: ``(start, end)`` of the sentence that supports each code most (codes no
        sentence supports are left out). The sentences of all texts are vectorised in one call."""
        jobs = []
        for text, codes in wanted:
            columns = [(code, self._column[code]) for code in codes if code in self._column]
            parts = sentences(text)
            jobs.append((columns, parts) if columns and parts else None)
        texts = [text[s:e] for (text, _), job in zip(wanted, jobs) if job is not None for s, e in job[1]]
        x = self.features([chart_words(text) for text in texts]) if texts else None
        out, row = [], 0
        for job in jobs:
            if job is None:
                out.append({})
                continue
            columns, parts = job
            scores = np.asarray(x[row : row + len(parts)] @ self._weights[:, [j for _, j in columns]])
            row += len(parts)
            found = {}
            for k, (code, _) in enumerate(columns):
                best = int(np.argmax(scores[:, k]))
                if scores[best, k] > 0:
                    found[code] = parts[best]
            out.append(found)
        return out
