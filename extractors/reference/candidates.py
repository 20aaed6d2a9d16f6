"""Candidate codes of a chart and their re-ranker features: what the span lexicon, span retrieval and the chart
classifier propose for it (``extractors.reference.model`` fits those sources and scores the candidates).

Each (chart, code) candidate becomes a row of ``FEATURES``: how reliable its best term is (per
chart and per mention) and how reliable any term of the code is, whether its mentions sit inside
a longer term of another code, how well the words around its mentions fit the code's training
evidence (``extractors.reference.code_context``), retrieval similarity, classifier probability and
nearest-charts vote, the code's prior, its rivals of the same category, where it is first
mentioned and the assertion of its best mention.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from extractors.reference.span_lexicon import KeyToken
from extractors.reference.span_retrieval import Neighbour
from harness.contracts import Assertion, Chart

if TYPE_CHECKING:
    from extractors.reference.model import Sources

Assertions = Callable[[str, list[tuple[int, int]]], dict[tuple[int, int], Assertion]]
"""The assertion of each given span (start, end) of a chart text."""

_ASSERTIONS: tuple[Assertion, ...] = ("negated", "possible", "historical", "family")
FEATURES: tuple[str, ...] = (
    "lex_mentions", "lex_precision", "lex_mention_precision", "lex_share", "lex_term_charts", "lex_annotations",
    "lex_words", "lex_nested", "lex_conflict", "lex_free_mentions", "lex_code_precision",
    "lex_evidence", "lex_icd", "lex_induced", "lex_compound", "lex_context", "lex_context_margin",
    "ret_similarity", "ret_precision", "ret_mentions", "ret_context",
    "clf_probability", "clf_modelled", "neighbour_vote",
    "prior_rate", "code_length", "first_position", "chart_words",
    "sibling_candidates", "sibling_rank", "chart_candidates",
    *(f"assertion_{a}" for a in _ASSERTIONS),
)
"""Re-ranker features of one (chart, code) candidate, in column order."""


@dataclass
class Candidate:
    """A code proposed for a chart: its features, the mentions behind it and their assertion."""

    code: str
    features: dict[str, float] = field(default_factory=dict)
    mentions: list[tuple[int, int]] = field(default_factory=list)
    """Evidence offsets, best first; empty for a code with no supporting text."""
    evidence_kind: str = "none"
    """``mention`` (lexicon or retrieval hit), ``sentence`` (classifier's strongest sentence) or ``none``."""
    assertion: Assertion = "present"
    score: float = 0.0


def chart_candidates(charts: Sequence[Chart], tokens: Sequence[list[KeyToken]], sources: Sources, min_probability: float,
                     assertions_of: Assertions) -> list[list[Candidate]]:
    """The candidates of each chart (``tokens[i]``: the key tokens of ``charts[i]``), every one with all of ``FEATURES``
    set, sorted by code; retrieval and classifier scores of all charts are computed at once.

    ``min_probability``: the classifier probability at which a code becomes a candidate with no text behind it;
    ``assertions_of``: the assertion of each given span of a chart text."""
    if not charts:
        return []
    neighbours = sources.retriever.neighbours(tokens) if sources.retriever is not None else [[] for _ in charts]
    probabilities: list[dict[str, float]] = [{} for _ in charts]
    votes: list[dict[str, float]] = [{} for _ in charts]
    if sources.classifier is not None:
        x = sources.classifier.features([[t.key for t in chart_tokens] for chart_tokens in tokens])  # chart_words
        probabilities = sources.classifier.predict(x)
        votes = sources.classifier.neighbour_votes(x)
    return [_candidates(chart, chart_tokens, sources, near, p, v, min_probability, assertions_of)
            for chart, chart_tokens, near, p, v in zip(charts, tokens, neighbours, probabilities, votes)]


def _candidates(chart: Chart, tokens: list[KeyToken], sources: Sources, neighbours: list[Neighbour],
                probabilities: dict[str, float], votes: dict[str, float], min_probability: float,
                assertions_of: Assertions) -> list[Candidate]:
    """Every code some source proposes for the chart, with all of ``FEATURES`` set, sorted by code.

    ``neighbours``, ``probabilities`` and ``votes``: the chart's retrieval hits, classifier probabilities and
    nearest-charts votes (``chart_candidates`` computes them for many charts at once).
    """
    cands: dict[str, Candidate] = {}
    best = _lexicon_candidates(tokens, sources, cands)
    _retrieval_candidates(tokens, neighbours, sources, cands, best)
    for code, p in probabilities.items():
        if p >= min_probability:
            cands.setdefault(code, Candidate(code))
    for code, cand in cands.items():  # the best lexicon mention first: it carries the assertion
        cand.mentions.sort(key=lambda m: (m != best[code], m) if code in best else (False, m))
    assertions = assertions_of(chart.text, [c.mentions[0] for c in cands.values() if c.mentions])
    # codes of one category compete (C34.90 or C34.91): how many rivals, and where this one stands among them
    categories: dict[str, list[tuple[float, str]]] = {}
    for code, cand in cands.items():
        estimate = max(cand.features.get("lex_precision", 0.0), cand.features.get("ret_precision", 0.0),
                       probabilities.get(code, 0.0))
        categories.setdefault(code[:3], []).append((-estimate, code))
    sibling_rank = {code: rank for group in categories.values() for rank, (_, code) in enumerate(sorted(group))}
    starts = [t.start for t in tokens]
    for code, cand in cands.items():
        f = cand.features
        f["clf_probability"] = probabilities.get(code, 0.0)
        f["clf_modelled"] = float(code in probabilities)
        f["neighbour_vote"] = votes.get(code, 0.0)
        f["prior_rate"] = sources.code_charts[code] / max(sources.n_charts, 1)
        f["code_length"] = float(len(code))
        f["chart_words"] = math.log1p(len(tokens))
        f["sibling_candidates"] = float(len(categories[code[:3]]) - 1)
        f["sibling_rank"] = float(sibling_rank[code])
        f["chart_candidates"] = math.log1p(len(cands))
        first = min((start for start, _ in cand.mentions), default=None)
        f["first_position"] = _position(starts, first) / max(len(tokens), 1) if first is not None else 1.0
        cand.assertion = assertions[cand.mentions[0]] if cand.mentions else "present"
        cand.evidence_kind = "mention" if cand.mentions else "none"
        for a in _ASSERTIONS:
            f[f"assertion_{a}"] = float(cand.assertion == a)
        for name in FEATURES:
            f.setdefault(name, 0.0)
    return sorted(cands.values(), key=lambda c: c.code)


def _lexicon_candidates(tokens: list[KeyToken], sources: Sources, cands: dict[str, Candidate]) -> dict[str, tuple[int, int]]:
    """Add the codes of every lexicon hit; returns each code's best mention (highest term precision)."""
    best: dict[str, tuple[float, tuple[int, int]]] = {}
    hits = sources.lexicon.find(tokens)
    for hit in hits:
        codes = sources.lexicon.codes[hit.term]
        # codes of the longer terms this mention sits inside: a code none of them carries loses the mention to them
        outer = [sources.lexicon.codes[h.term] for h in hits if not h.compound
                 and h.first <= hit.first and hit.first + hit.words <= h.first + h.words
                 and h.words > hit.words] if hit.nested else []
        total = sum(codes.values())
        # the codes of one term compete for the mention: how much better its context fits this code than the rest
        window = sources.profiles.words_around(tokens, hit.first, hit.words)
        context = {code: sources.profiles.mass(code, window) for code in codes}
        for code, count in codes.items():
            cand = cands.setdefault(code, Candidate(code))
            f = cand.features
            precision = sources.precision.precision(hit.term, code)
            f["lex_mentions"] = f.get("lex_mentions", 0.0) + 1.0
            conflict = any(code not in o for o in outer)
            f["lex_free_mentions"] = f.get("lex_free_mentions", 0.0) + float(not conflict)
            f["lex_compound"] = max(f.get("lex_compound", 0.0), float(hit.compound))
            rivals = max((v for c, v in context.items() if c != code), default=0.0)
            f["lex_context"] = max(f.get("lex_context", 0.0), context[code])
            f["lex_context_margin"] = max(f.get("lex_context_margin", -1.0), context[code] - rivals)
            cand.mentions.append((hit.start, hit.end))
            if precision > best.get(code, (-1.0,))[0]:
                best[code] = (precision, (hit.start, hit.end))
                source = sources.lexicon.sources[hit.term]
                f.update(lex_precision=precision, lex_share=count / total,
                         lex_mention_precision=sources.precision.mention_precision(hit.term, code),
                         lex_term_charts=sources.precision.log_charts(hit.term), lex_annotations=math.log1p(count),
                         lex_words=float(hit.words), lex_nested=float(hit.nested), lex_conflict=float(conflict),
                         lex_code_precision=sources.precision.code_precision(code),
                         lex_evidence=float(source == "evidence"), lex_icd=float(source == "icd"),
                         lex_induced=float(source == "induced"))
    return {code: span for code, (_, span) in best.items()}


def _retrieval_candidates(tokens: list[KeyToken], neighbours: list[Neighbour], sources: Sources,
                          cands: dict[str, Candidate], lexicon_best: dict[str, tuple[int, int]]) -> None:
    """Add the codes of each phrase's nearest learned term; their phrases are evidence only where the lexicon found none."""
    for near in neighbours:
        for code in sources.lexicon.codes[near.span]:
            cand = cands.setdefault(code, Candidate(code))
            f = cand.features
            estimate = near.similarity * sources.precision.precision(near.span, code)
            f["ret_mentions"] = f.get("ret_mentions", 0.0) + 1.0
            f["ret_context"] = max(f.get("ret_context", 0.0), sources.profiles.score(code, tokens, near.first, near.words))
            if estimate > f.get("ret_precision", -1.0):
                f.update(ret_similarity=near.similarity, ret_precision=estimate)
            if code not in lexicon_best:
                cand.mentions.append((near.start, near.end))


def _position(starts: list[int], start: int) -> int:
    """Index of the first token starting at or after ``start`` (``starts``: the chart's token starts, increasing)."""
    return bisect.bisect_left(starts, start)
