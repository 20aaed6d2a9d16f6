"""A code lexicon matched with accent-, case- and inflection-tolerant keys, nested matches kept.

Terms come from four sources (``TermSource``): the gold evidence spans of training charts; the
pieces of a discontinuous evidence mention together as one compound term (found when all its
pieces lie within ``compound_window`` words: "hígado ... esteatosis"); code titles: ICD-10-CM
descriptions and inclusion terms (English; ``extractors.dictionary.extractor.load_icd_index``) or the Spanish
ICD-10 titles (``extractors.reference.cie10_titles``); and, for charts coded
per document without evidence (CodiEsp English), phrases induced from document-level
co-occurrence with a code. Each term keeps how often it was annotated with each
code, and ``TermPrecision.measure`` gives every (term, code) pair its precision on labelled
charts, per chart (what CodiEsp scores) and per mention (whether annotators code this mention).

Unlike ``extractors.dictionary.term_matching.TermMatcher`` (longest match, no overlaps), every known term
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

from extractors.dictionary.term_matching import tokenize

TermSource = Literal["evidence", "compound", "icd", "induced"]

COMPOUND_JOIN = " + "
"""Joins the part keys of a compound term ("higad + esteatosis"); never inside a word key."""

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
    compound: bool = False
    """A compound term: its parts found near each other, the hit covering all of them."""


@dataclass
class SpanLexicon:
    """Term key -> codes it was annotated with (and how often), plus where each term came from."""

    max_words: int = 10
    compound_window: int = 25
    """Most words from a compound's first part to its last."""
    codes: dict[str, Counter[str]] = field(default_factory=dict)
    sources: dict[str, TermSource] = field(default_factory=dict)
    _longest: dict[str, int] = field(default_factory=dict)
    _compounds: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Compound key -> its part keys."""
    _part_of: dict[str, set[str]] = field(default_factory=dict)
    """Part key -> compound keys holding it."""

    def add(self, term: str, code: str, source: TermSource, count: int = 1) -> None:
        """Add ``term`` (a key, see ``term_key``) for ``code``; evidence outranks ICD terms outranks induced ones."""
        words = term.split(" ")
        if not term or len(words) > self.max_words:
            return
        self._register(term, code, source, count)
        self._longest[words[0]] = max(self._longest.get(words[0], 0), len(words))

    def _register(self, term: str, code: str, source: TermSource, count: int) -> None:
        self.codes.setdefault(term, Counter())[code] += count
        if term not in self.sources or _RANK[source] < _RANK[self.sources[term]]:
            self.sources[term] = source

    def add_compound(self, parts: Sequence[str], code: str, count: int = 1) -> None:
        """Add a discontinuous mention ("hígado ... esteatosis"): part keys that name ``code`` together."""
        distinct = tuple(sorted({p for p in parts if p}))
        if len(distinct) < 2 or any(len(p.split(" ")) > self.max_words for p in distinct):
            return
        key = COMPOUND_JOIN.join(distinct)
        self._register(key, code, "compound", count)
        self._compounds[key] = distinct
        for part in distinct:
            self._part_of.setdefault(part, set()).add(key)
            first = part.split(" ")
            self._longest[first[0]] = max(self._longest.get(first[0], 0), len(first))

    def find(self, tokens: Sequence[KeyToken]) -> list[Hit]:
        """Every known term in the tokens, nested ones included, in text order; compounds after them."""
        found: list[tuple[int, int]] = []
        parts: dict[str, list[tuple[int, int]]] = {}
        for i, token in enumerate(tokens):
            for n in range(1, min(self._longest.get(token.key, 0), len(tokens) - i) + 1):
                if tokens[i + n - 1].segment != token.segment:
                    break
                key = " ".join(t.key for t in tokens[i : i + n])
                if key in self.codes:
                    found.append((i, n))
                if key in self._part_of:
                    parts.setdefault(key, []).append((i, n))
        hits = []
        for i, n in found:
            nested = any(j <= i and i + n <= j + m and m > n for j, m in found)
            term = " ".join(t.key for t in tokens[i : i + n])
            hits.append(Hit(term, tokens[i].start, tokens[i + n - 1].end, i, n, nested))
        return hits + self._compound_hits(tokens, parts)

    def _compound_hits(self, tokens: Sequence[KeyToken], parts: dict[str, list[tuple[int, int]]]) -> list[Hit]:
        """Compounds whose parts all occur within ``compound_window`` words: the tightest such occurrence of each."""
        hits = []
        for key in sorted({key for part in parts for key in self._part_of[part]}):
            wanted = self._compounds[key]
            if any(p not in parts for p in wanted):
                continue
            anchor = min(wanted, key=lambda p: len(parts[p]))
            best: tuple[int, int] | None = None
            for i, _n in parts[anchor]:
                chosen = [min(parts[p], key=lambda o: (abs(o[0] - i), o[0])) for p in wanted]
                lo, hi = min(o[0] for o in chosen), max(o[0] + o[1] for o in chosen)
                if hi - lo <= self.compound_window and (best is None or hi - lo < best[1] - best[0]):
                    best = (lo, hi)
            if best is not None:
                lo, hi = best
                hits.append(Hit(key, tokens[lo].start, tokens[hi - 1].end, lo, hi - lo, False, compound=True))
        return hits


_RANK: dict[TermSource, int] = {"evidence": 0, "compound": 1, "icd": 2, "induced": 3}


def term_words(term: str) -> list[str]:
    """Content word keys of a term or compound (no stopwords, no joiner)."""
    return [w for part in term.split(COMPOUND_JOIN) for w in part.split(" ") if not stopword(w)]


def evidence_terms(lexicon: SpanLexicon, mentions: Iterable[tuple[list[str], str]]) -> None:
    """Add gold evidence mentions (``(span texts, code)``) to ``lexicon``.

    Every span is a term; the spans of a discontinuous mention are also one compound term.
    """
    for texts, code in mentions:
        keys = [term_key(text) for text in texts]
        for key in keys:
            lexicon.add(key, code, "evidence")
        lexicon.add_compound(keys, code)


def icd_terms(lexicon: SpanLexicon, index: dict[str, str]) -> None:
    """Add an ICD term index (normalised term -> code, ``extractors.dictionary.extractor.load_icd_index``)."""
    for term, code in index.items():
        lexicon.add(" ".join(stem(w) for w in term.split(" ")), code, "icd")


def title_terms(lexicon: SpanLexicon, titles: Iterable[tuple[str, str]]) -> None:
    """Add code titles (``(title, code)``, e.g. ``extractors.reference.cie10_titles``) as ICD terms."""
    for title, code in titles:
        lexicon.add(term_key(title), code, "icd")


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
    code_charts: Counter[str] = field(default_factory=Counter)
    """Code -> charts where some term of the code occurs."""
    code_hits: Counter[str] = field(default_factory=Counter)
    """Code -> charts where some term of the code occurs and the code is gold."""
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
            proposed = {code for term in terms for code in lexicon.codes[term]}
            stats.code_charts.update(proposed)
            stats.code_hits.update(proposed & chart.gold)
            for hit in hits:
                stats.occurrences[hit.term] += 1
                for code in lexicon.codes[hit.term]:
                    spans = chart.evidence.get(code)
                    if code in chart.gold and (not chart.evidence or any(s < hit.end and hit.start < e for s, e in spans or ())):
                        stats.annotated[(hit.term, code)] += 1
        return stats

    def precision(self, term: str, code: str) -> float:
        return (self.hits[(term, code)] + self.weight * self.prior) / (self.charts[term] + self.weight)

    def code_precision(self, code: str) -> float:
        """Share of charts where any term of ``code`` occurs whose gold holds it (smoothed like ``precision``)."""
        return (self.code_hits[code] + self.weight * self.prior) / (self.code_charts[code] + self.weight)

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
