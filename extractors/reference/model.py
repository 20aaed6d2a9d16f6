"""The learned reference coder: candidate codes from three sources, scored by a cross-fitted re-ranker.

Candidates for one chart come from

- the span lexicon (``extractors.reference.span_lexicon``): training evidence spans (the pieces of a
  discontinuous mention also as one compound term), ICD-10-CM terms (English charts), Spanish
  ICD-10 titles (``extractors.reference.cie10_titles``, Spanish charts) and, for charts coded without
  evidence, phrases induced from co-occurrence;
- span retrieval (``extractors.reference.span_retrieval``): the nearest learned term (evidence span or induced
  phrase) of each chart phrase;
- the chart classifier (``extractors.reference.chart_classifier``): codes of the chart as a whole.

Each (chart, code) candidate becomes a row of re-ranker features (``extractors.reference.candidates``).

The re-ranker, the average of ``reranker_members`` histogram gradient-boosting classifiers, each
with isotonic calibration, learns P(code is gold | features). Its training rows are out of fold: the training charts are split
into ``folds`` parts, and each part's features come from sources fitted on the other parts, so the
re-ranker sees features as they look on unseen charts. The sources are then refitted on all
training charts for prediction.

Without the re-ranker (``use_reranker: false``, for ablations) a candidate scores the best of its
sources' own estimates: term precision, similarity times the nearest span's precision, probability.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from extractors.dictionary.assertion import AssertionDetector
from extractors.reference.candidates import FEATURES, Candidate, chart_candidates
from extractors.reference.chart_classifier import ChartClassifier, chart_words
from extractors.reference.code_context import CodeProfiles
from extractors.reference.settings import ReferenceSettings
from extractors.reference.span_lexicon import (
    KeyToken,
    LabelledChart,
    SpanLexicon,
    TermPrecision,
    evidence_terms,
    icd_terms,
    induced_terms,
    key_tokens,
    term_key,
)
from extractors.reference.span_retrieval import SpanRetriever
from harness.contracts import Assertion, Chart, CodeSystem


@dataclass
class Sources:
    """The candidate sources, fitted on one set of charts."""

    lexicon: SpanLexicon
    precision: TermPrecision
    retriever: SpanRetriever | None
    classifier: ChartClassifier | None
    profiles: CodeProfiles
    code_charts: Counter[str]
    n_charts: int

    @classmethod
    def assemble(cls, settings: ReferenceSettings, lexicon: SpanLexicon, precision: TermPrecision,
                 classifier: ChartClassifier | None, code_charts: Counter[str], n_charts: int) -> Sources:
        """The sources around what was learned from the charts: the retrieval index and the code profiles follow from
        the lexicon (on fitting, and on loading a saved model, ``extractors.reference.model_format``)."""
        retriever = None
        if settings.use_retrieval:
            # Terms learned from these charts (evidence spans, else induced phrases); ICD terms are too many to search.
            learned = [term for term, source in lexicon.sources.items() if source in ("evidence", "induced")]
            retriever = SpanRetriever(settings.retrieval_max_words, settings.retrieval_min_similarity).fit(learned)
        return cls(lexicon, precision, retriever, classifier, CodeProfiles(lexicon), code_charts, n_charts)


def new_lexicon(settings: ReferenceSettings) -> SpanLexicon:
    """An empty lexicon shaped by the settings."""
    return SpanLexicon(max_words=settings.max_term_words, compound_window=settings.compound_window)


def new_classifier(settings: ReferenceSettings) -> ChartClassifier:
    """An unfitted chart classifier shaped by the settings."""
    return ChartClassifier(settings.classifier_min_charts, settings.classifier_c, settings.seed)


def new_reranker(settings: ReferenceSettings) -> Any:
    """The unfitted re-ranker: ``reranker_members`` gradient-boosting classifiers, each isotonic-calibrated, averaged."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import HistGradientBoostingClassifier, VotingClassifier

    s = settings
    members = [
        (f"member{k}", CalibratedClassifierCV(HistGradientBoostingClassifier(
            max_iter=s.reranker_iterations, learning_rate=s.reranker_learning_rate, max_leaf_nodes=s.reranker_leaves,
            min_samples_leaf=20, l2_regularization=1.0, max_features=s.reranker_max_features, random_state=s.seed + k),
            method="isotonic", cv=3))
        for k in range(s.reranker_members)
    ]
    return VotingClassifier(members, voting="soft")


def gold_codes(chart: Chart, system: CodeSystem) -> frozenset[str]:
    return frozenset(g.code for g in chart.gold if g.system == system)


def evidence_mentions(chart: Chart, system: CodeSystem, join_parts: bool = True) -> list[tuple[list[str], str]]:
    """``(span texts, code)`` of each gold evidence mention; the parts of a discontinuous mention together."""
    found = []
    for g in chart.gold:
        if g.system != system:
            continue
        texts = [span.text or chart.text[span.start : span.end] for span in g.evidence]
        joined = g.discontinuous if join_parts else []
        pieces = {k for parts in joined for k in parts}
        found.extend(([texts[k] for k in parts], g.code) for parts in joined)
        found.extend(([text], g.code) for k, text in enumerate(texts) if k not in pieces)
    return found


def _evidence(chart: Chart, system: CodeSystem) -> dict[str, list[tuple[int, int]]]:
    return {g.code: [(s.start, s.end) for s in g.evidence] for g in chart.gold if g.system == system and g.evidence}


class ReferenceModel:
    """Fit on labelled charts of one language and code system; score candidate codes of any chart."""

    def __init__(self, settings: ReferenceSettings, language: str, system: CodeSystem):
        self.settings = settings
        self.language = language
        self.system = system
        self.sources: Sources | None = None
        self.reranker: Any = None
        self.timings: dict[str, float] = {}
        self._detector: AssertionDetector | None = None

    # ------------------------------------------------------------------------------ fitting

    def fit(self, charts: Sequence[Chart]) -> ReferenceModel:
        """Cross-fit the re-ranker's training rows, fit it, then refit the sources on every chart."""
        from sklearn.model_selection import KFold

        s = self.settings
        tokens = {c.id: key_tokens(c.text) for c in charts}
        rows: list[list[float]] = []
        labels: list[int] = []
        started = time.perf_counter()
        if s.use_reranker:
            folds = KFold(n_splits=min(s.folds, len(charts)), shuffle=True, random_state=s.seed)
            for fit_idx, held_idx in folds.split(np.arange(len(charts))):
                sources = self._fit_sources([charts[i] for i in fit_idx], tokens)
                held = [charts[i] for i in held_idx]
                for chart, cands in zip(held, self._candidates(held, [tokens[c.id] for c in held], sources)):
                    gold = gold_codes(chart, self.system)
                    for cand in cands:
                        rows.append([cand.features[f] for f in FEATURES])
                        labels.append(int(cand.code in gold))
        self.timings["cross_fit_s"] = time.perf_counter() - started
        started = time.perf_counter()
        self.sources = self._fit_sources(charts, tokens)
        self.timings["sources_s"] = time.perf_counter() - started
        started = time.perf_counter()
        if s.use_reranker:
            self.reranker = self._fit_reranker(np.array(rows), np.array(labels))
        self.timings["reranker_s"] = time.perf_counter() - started
        self.timings["reranker_rows"] = float(len(rows))
        return self

    def _fit_sources(self, charts: Sequence[Chart], tokens: dict[str, list[KeyToken]]) -> Sources:
        s = self.settings
        labelled = [LabelledChart(tokens[c.id], gold_codes(c, self.system), _evidence(c, self.system)) for c in charts]
        lexicon = new_lexicon(s)
        mentions = [m for c in charts for m in evidence_mentions(c, self.system, s.use_compounds)]
        evidence_terms(lexicon, mentions)
        if self.language in s.icd_term_languages and self.system == "icd10cm":
            icd_terms(lexicon, _icd_index(s.code_set_year, s.max_term_words))
        if self.language in s.cie_term_languages and self.system == "icd10cm":
            for key, code in _cie_title_keys(s.code_set_year):  # as ``title_terms`` does, keyed once per process
                lexicon.add(key, code, "icd")
        if s.induce_terms and not mentions:
            induced_terms(lexicon, labelled, max_words=s.induce_max_words, min_charts=s.induce_min_charts,
                          min_precision=s.induce_min_precision)
        precision = TermPrecision.measure(lexicon, labelled, s.term_prior, s.term_prior_weight)
        classifier = None
        if s.use_classifier:
            # words tokenized afresh, not the tokens' keys: the vocabulary then shares no string object with the
            # lexicon's statistics, and the model pickles (``harness bench reference --fit`` compares fits so) to the same
            # bytes as before candidates were batched
            classifier = new_classifier(s).fit([chart_words(c.text) for c in charts], [chart.gold for chart in labelled])
        code_charts = Counter(code for chart in labelled for code in chart.gold)
        return Sources.assemble(s, lexicon, precision, classifier, code_charts, len(charts))

    def _fit_reranker(self, x: np.ndarray, y: np.ndarray) -> Any:
        if len(set(y.tolist())) < 2:
            raise ValueError(f"the re-ranker needs positive and negative candidates; got {len(y)} rows of one class")
        return new_reranker(self.settings).fit(x, y)

    # ------------------------------------------------------------------------------ scoring

    def predict(self, chart: Chart) -> list[Candidate]:
        """Candidates scored at least ``min_confidence``, most probable first (ties by code)."""
        return self.predict_many([chart])[0]

    def predict_many(self, charts: Sequence[Chart]) -> list[list[Candidate]]:
        """``predict`` of each chart, calling each scikit-learn model once for all of them.

        Candidates are built chart by chart, but the classifier, the retrieval index, the re-ranker and
        the classifier's sentence evidence each score the rows of every chart in one call. Every row is
        computed on its own (sparse products row by row, trees and isotonic calibrators sample by sample),
        so the results are those of ``predict`` on each chart, bit for bit; only the number of calls into
        the libraries (each a parallel region of OpenMP, costly when other processes share the cores) falls.
        """
        if self.sources is None:
            raise RuntimeError("the reference model is not fitted")
        candidates = self._candidates(charts, [key_tokens(chart.text) for chart in charts], self.sources)
        flat = [cand for cands in candidates for cand in cands]
        if self.reranker is not None and flat:
            scores = self.reranker.predict_proba(np.array([[c.features[f] for f in FEATURES] for c in flat]))[:, 1]
        else:
            scores = [_source_estimate(c.features) for c in flat]
        for cand, score in zip(flat, scores):
            cand.score = round(float(score), 6)  # rounded so that a reloaded model ranks identically
        kept = [[c for c in cands if c.score >= self.settings.min_confidence] for cands in candidates]
        self._attach_sentences(charts, [[c for c in cands if not c.mentions] for cands in kept])
        return [sorted(cands, key=lambda c: (-c.score, c.code)) for cands in kept]

    def _candidates(self, charts: Sequence[Chart], tokens: Sequence[list[KeyToken]], sources: Sources) -> list[list[Candidate]]:
        return chart_candidates(charts, tokens, sources, self.settings.classifier_min_probability, self._assertions)

    def _assertions(self, text: str, spans: list[tuple[int, int]]) -> dict[tuple[int, int], Assertion]:
        if self._detector is None:
            self._detector = AssertionDetector(self.language, max_scope=self.settings.assertion_scope)
        return dict(zip(spans, self._detector.assertions(text, spans)))

    def _attach_sentences(self, charts: Sequence[Chart], cands: Sequence[list[Candidate]]) -> None:
        """Codes without a mention get the classifier's strongest sentence as evidence, where one supports them.

        ``cands[i]``: the mentionless candidates of ``charts[i]``; the sentences of all charts are scored in one call.
        """
        classifier = self.sources.classifier
        wanted = [(chart, chart_cands) for chart, chart_cands in zip(charts, cands) if chart_cands]
        if classifier is None or not wanted:
            return
        found = classifier.evidence([(chart.text, [c.code for c in chart_cands]) for chart, chart_cands in wanted])
        for (_, chart_cands), chart_found in zip(wanted, found):
            for cand in chart_cands:
                if cand.code in chart_found:
                    cand.mentions = [chart_found[cand.code]]
                    cand.evidence_kind = "sentence"

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_detector": None}  # compiled cue patterns are rebuilt on load


@contextlib.contextmanager
def model_threads(threads: int | None) -> Iterator[None]:
    """Cap the OpenMP and BLAS thread pools of the scikit-learn calls inside at ``threads`` (None: leave them as they are).

    ``threadpoolctl`` limits the libraries loaded when the block starts, so scikit-learn's OpenMP runtime is loaded first.
    """
    if threads is None:
        yield
        return
    import sklearn.ensemble  # noqa: F401  loads scikit-learn's OpenMP runtime, so that the limit reaches it
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads):
        yield


def _source_estimate(f: dict[str, float]) -> float:
    return max(f["lex_precision"], f["ret_precision"], f["clf_probability"])


@functools.cache
def _cie_title_keys(year: int) -> tuple[tuple[str, str], ...]:
    """``(term_key(title), code)`` of the Spanish ICD-10 titles: every fold's lexicon adds them."""
    from extractors.reference.cie10_titles import cie10_titles

    return tuple((term_key(title), code) for title, code in cie10_titles(year))


def _icd_index(year: int, max_words: int) -> dict[str, str]:
    from extractors.dictionary.extractor import load_icd_index
    from harness.config import cache_root

    return load_icd_index(year, max_words, 2, str(cache_root()))
