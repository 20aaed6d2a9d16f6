"""A code lexicon matched with accent-, case- and inflection-tolerant keys, nested matches kept.

Terms come from three sources (``TermSource``): the gold evidence spans of training charts,
ICD-10-CM descriptions and inclusion terms (English; ``extractors.dictionary.load_icd_index``),
and, for charts coded per document without evidence (CodiEsp English), phrases induced from
document-level co-occurrence with a code. Each term keeps how often it was annotated with each
code, and ``TermPrecision.measure`` gives every (term, code) pair its precision on labelled
charts, per chart (what CodiEsp scores) and per mention (whether annotators code this mention).

Unlike ``extractors.term_matching.TermMatcher`` (longest match, no overlaps), every known term
at every position is reported, nested ones included: "metastasis pulmonares" and "metastasis"
name different codes, and the re-ranker decides which one the chart supports.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from extractors.term_matching import tokenize

TermSource = Literal["evidence", "icd", "induced"]

_STOPWORDS = frozenset(
    "a al con de del e el en la las lo los o para por que se sin su un una y "
    "and at by for from in of on or the to with without".split()
)
"""Words a term may contain but never start or end with (inducing terms, building retrieval queries)."""


def stopword(key: str) -> bool:
    """Whether a token key is a function word (see ``_STOPWORDS``)."""
    return key in _STOPWORDS


def stem(word: str) -> str:
    """Light stem of a folded, singular word: a final gender/number vowel dropped ("dolorosa", "doloroso" -> "doloros").

    Applied identically to terms and texts, so it only has to be consistent, not linguistic.
    """
    return word[:-1] if len(word) > 4 and word[-1] in "aeo" else word


@dataclass(frozen=True, slots=True)
class KeyToken:
    """A word of a chart as the lexicon sees it."""

    key: str
    start: int
    end: int
    segment: int


def key_tokens(text: str) -> list[KeyToken]:
    """Stemmed tokens of ``text`` with their offsets and clause numbers."""
    return [KeyToken(stem(t.norm), t.start, t.end, t.segment) for t in tokenize(text)]


def term_key(text: str) -> str:
    """Matching key of a phrase: folded, singular, stemmed words joined by spaces."""
    return " ".join(t.key for t in key_tokens(text))


def content_ngrams(tokens: Sequence[KeyToken], max_words: int) -> Iterable[tuple[int, int]]:
    """``(first token, word count)`` of every n-gram inside a clause that neither starts nor ends with a stopword."""
    for i, first in enumerate(tokens):
        if first.key in _STOPWORDS:
            continue
        for n in range(1, max_words + 1):
            last = tokens[i + n - 1] if i + n - 1 < len(tokens) else None
            if last is None or last.segment != first.segment:
                break
            if last.key not in _STOPWORDS:
                yield i, n


@dataclass(frozen=True, slots=True)
class LabelledChart:
    """A training chart as the lexicon learns from it."""

    tokens: Sequence[KeyToken]
    gold: frozenset[str]
    evidence: dict[str, list[tuple[int, int]]]
    """Code -> evidence offsets; empty for charts coded per document."""


@dataclass(frozen=True, slots=True)
class Hit:
    """One occurrence of a lexicon term in a chart."""

    term: str
    start: int
    end: int
    first: int
    """Index of its first token."""
    words: int
    nested: bool
    """Inside a longer hit (of another term) at the same place."""


@dataclass
class SpanLexicon:
    """Term key -> codes it was annotated with (and how often), plus where each term came from."""

    max_words: int = 10
    codes: dict[str, Counter[str]] = field(default_factory=dict)
    sources: dict[str, TermSource] = field(default_factory=dict)
    _longest: dict[str, int] = field(default_factory=dict)

    def add(self, term: str, code: str, source: TermSource, count: int = 1) -> None:
        """Add ``term`` (a key, see ``term_key``) for ``code``; evidence outranks ICD terms outranks induced ones."""
        words = term.split(" ")
        if not term or len(words) > self.max_words:
            return
        self.codes.setdefault(term, Counter())[code] += count
        if term not in self.sources or _RANK[source] < _RANK[self.sources[term]]:
            self.sources[term] = source
        self._longest[words[0]] = max(self._longest.get(words[0], 0), len(words))

    def find(self, tokens: Sequence[KeyToken]) -> list[Hit]:
        """Every known term in the tokens, nested ones included, in text order."""
        found: list[tuple[int, int]] = []
        for i, token in enumerate(tokens):
            for n in range(1, min(self._longest.get(token.key, 0), len(tokens) - i) + 1):
                if tokens[i + n - 1].segment != token.segment:
                    break
                if " ".join(t.key for t in tokens[i : i + n]) in self.codes:
                    found.append((i, n))
        hits = []
        for i, n in found:
            nested = any(j <= i and i + n <= j + m and m > n for j, m in found)
            term = " ".join(t.key for t in tokens[i : i + n])
            hits.append(Hit(term, tokens[i].start, tokens[i + n - 1].end, i, n, nested))
        return hits


_RANK: dict[TermSource, int] = {"evidence": 0, "icd": 1, "induced": 2}


def evidence_terms(lexicon: SpanLexicon, spans: Iterable[tuple[str, str]]) -> None:
    """Add ``(span text, code)`` gold evidence pairs to ``lexicon``."""
    for text, code in spans:
        lexicon.add(term_key(text), code, "evidence")


def icd_terms(lexicon: SpanLexicon, index: dict[str, str]) -> None:
    """Add an ICD term index (normalised term -> code, ``extractors.dictionary.load_icd_index``)."""
    for term, code in index.items():
        lexicon.add(" ".join(stem(w) for w in term.split(" ")), code, "icd")


def induced_terms(lexicon: SpanLexicon, charts: Sequence[LabelledChart], *, max_words: int,
                  min_charts: int, min_precision: float) -> None:
    """Add phrases whose presence in a chart predicts a code: for charts coded per document, without evidence.

    A phrase qualifies for a code when at least ``min_charts`` charts hold both and the share of
    the phrase's charts holding the code is at least ``min_precision``.
    """
    phrase_charts: dict[str, set[int]] = defaultdict(set)
    for i, chart in enumerate(charts):
        for start, n in content_ngrams(chart.tokens, max_words):
            phrase_charts[" ".join(t.key for t in chart.tokens[start : start + n])].add(i)
    for phrase, holders in phrase_charts.items():
        if len(holders) < min_charts:
            continue
        together = Counter(code for i in holders for code in charts[i].gold)
        for code, both in together.items():
            if both >= min_charts and both / len(holders) >= min_precision:
                lexicon.add(phrase, code, "induced", both)


@dataclass
class TermPrecision:
    """How reliably a term means a code, measured on labelled charts and smoothed towards a prior.

    Two views: per chart (share of charts containing the term whose gold holds the code: what
    CodiEsp scores) and per occurrence (share of the term's occurrences that lie inside an evidence
    span of the code: whether annotators code *this* mention; charts without evidence spans count
    a chart-level hit for each occurrence).
    """

    charts: Counter[str] = field(default_factory=Counter)
    """Term -> charts it occurs in."""
    hits: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(term, code) -> charts where the term occurs and the code is gold."""
    occurrences: Counter[str] = field(default_factory=Counter)
    """Term -> occurrences."""
    annotated: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(term, code) -> occurrences inside an evidence span of the code."""
    prior: float = 0.3
    weight: float = 1.0

    @classmethod
    def measure(cls, lexicon: SpanLexicon, charts: Iterable[LabelledChart], prior: float, weight: float) -> TermPrecision:
        stats = cls(prior=prior, weight=weight)
        for chart in charts:
            hits = lexicon.find(chart.tokens)
            terms = {hit.term for hit in hits}
            stats.charts.update(terms)
            stats.hits.update((term, code) for term in terms for code in lexicon.codes[term] if code in chart.gold)
            for hit in hits:
                stats.occurrences[hit.term] += 1
                for code in lexicon.codes[hit.term]:
                    spans = chart.evidence.get(code)
                    if code in chart.gold and (not chart.evidence or any(s < hit.end and hit.start < e for s, e in spans or ())):
                        stats.annotated[(hit.term, code)] += 1
        return stats

    def precision(self, term: str, code: str) -> float:
        return (self.hits[(term, code)] + self.weight * self.prior) / (self.charts[term] + self.weight)

    def mention_precision(self, term: str, code: str) -> float:
        return (self.annotated[(term, code)] + self.weight * self.prior) / (self.occurrences[term] + self.weight)

    def log_charts(self, term: str) -> float:
        return math.log1p(self.charts[term])


_SENTENCE = re.compile(r"[^.;!?\n]+")


def sentences(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence or clause of ``text`` (stripped of surrounding blanks)."""
    spans = []
    for m in _SENTENCE.finditer(text):
        chunk = m.group()
        left = len(chunk) - len(chunk.lstrip())
        right = len(chunk.rstrip())
        if right > left:
            spans.append((m.start() + left, m.start() + right))
    return spans
