"""Evidence quality: do predicted codes point at the text the gold annotators marked for them?

Units
-----
Per chart, a gold unit is ``(code, start, end)`` for each evidence span of each
:class:`~harness.contracts.GoldCode` (CodiEsp-X gives one offset pair per gold
code mention); a predicted unit is ``(code, start, end)`` for each evidence span
of each :class:`~harness.contracts.CodeAssignment`. A unit repeated within a chart
counts once. Span ``text`` and ``page`` play no part in matching. Codes compare
as given (both sides are canonical codes).

Matching
--------
- exact: same code, same start, same end.
- overlap: same code and the half-open ranges share at least one character
  (``min(end) - max(start) > 0``; an empty span overlaps nothing). Matching is one
  to one: each gold unit and each predicted unit is used at most once, greedily by
  largest overlap in characters, ties broken by the units' (code, start, end)
  order, gold first, so the result does not depend on input order. Greedy is not
  a maximum matching; in rare crossing cases it may pair fewer units.

Counting
--------
Micro-averaged over the charts that have at least one gold evidence span:
precision = TP / predicted units, recall = TP / gold units,
F1 = 2 TP / (predicted units + gold units). Charts without any gold span
(document-level labels only) are skipped whole, their predictions included, and
counted in ``charts_skipped``. A zero denominator gives NaN.

Relation to MDACE (3mcloud/MDACE, ``mdace/metrics.py``): exact matching is its
span exact match (set-based per chart). Its "position-independent" span match
keys on the lower-cased covered text and code instead of positions; the overlap
match here is a different, positional leniency.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from harness.contracts import CodeAssignment, GoldCode

ChartEvidence = tuple[Sequence[GoldCode], Sequence[CodeAssignment]]
"""Gold codes and predicted codes of one chart, e.g. ``(chart.gold, result.codes)``."""

_Unit = tuple[str, int, int]


@dataclass(frozen=True)
class EvidenceScore:
    """Micro-averaged span-level evidence scores."""

    precision: float
    """Matched / predicted units; NaN without predicted units."""
    recall: float
    """Matched / gold units; NaN without scored charts."""
    f1: float
    """2 matched / (predicted + gold units); NaN without scored charts."""
    matched: int
    """Matched pairs (true positives)."""
    predicted: int
    """Predicted units on the scored charts."""
    gold: int
    """Gold units on the scored charts."""
    charts_scored: int
    """Charts with at least one gold evidence span."""
    charts_skipped: int
    """Charts without any gold evidence span (left out of every count above)."""


def evidence_f1_exact(charts: Iterable[ChartEvidence]) -> EvidenceScore:
    """Span F1 where a predicted unit matches a gold unit with the same code, start and end."""
    return _score(charts, lambda gold, predicted: len(set(gold) & set(predicted)))


def evidence_f1_overlap(charts: Iterable[ChartEvidence]) -> EvidenceScore:
    """Span F1 where a predicted unit matches a gold unit with the same code and an overlapping range (one to one)."""
    return _score(charts, _overlap_matches)


def evidence_supported_rate(assignments: Iterable[tuple[str, CodeAssignment]]) -> float:
    """Share of predicted codes whose evidence is grounded in their chart text; NaN for none.

    Input: one ``(chart_text, assignment)`` per predicted code. A code is supported
    when it has at least one span, every span ends within ``chart_text``, and every
    span carrying text quotes ``chart_text[start:end]`` exactly (an empty ``text``,
    as in redacted artifacts, is not checked). A code without evidence is unsupported.
    """
    flags = [
        bool(assignment.evidence)
        and all(
            span.end <= len(text) and (not span.text or text[span.start : span.end] == span.text)
            for span in assignment.evidence
        )
        for text, assignment in assignments
    ]
    return sum(flags) / len(flags) if flags else math.nan


def _units(codes: Sequence[GoldCode] | Sequence[CodeAssignment]) -> list[_Unit]:
    return sorted({(code.code, span.start, span.end) for code in codes for span in code.evidence})


def _overlap_matches(gold: list[_Unit], predicted: list[_Unit]) -> int:
    candidates = sorted(
        (-overlap, g, p)
        for g, (gold_code, gold_start, gold_end) in enumerate(gold)
        for p, (code, start, end) in enumerate(predicted)
        if code == gold_code and (overlap := min(end, gold_end) - max(start, gold_start)) > 0
    )
    used_gold: set[int] = set()
    used_predicted: set[int] = set()
    for _, g, p in candidates:
        if g not in used_gold and p not in used_predicted:
            used_gold.add(g)
            used_predicted.add(p)
    return len(used_gold)


def _score(charts: Iterable[ChartEvidence], count_matches: Callable[[list[_Unit], list[_Unit]], int]) -> EvidenceScore:
    matched = n_predicted = n_gold = scored = skipped = 0
    for gold_codes, predicted_codes in charts:
        gold = _units(gold_codes)
        if not gold:
            skipped += 1
            continue
        predicted = _units(predicted_codes)
        scored += 1
        matched += count_matches(gold, predicted)
        n_predicted += len(predicted)
        n_gold += len(gold)
    return EvidenceScore(
        precision=matched / n_predicted if n_predicted else math.nan,
        recall=matched / n_gold if n_gold else math.nan,
        f1=2 * matched / (n_predicted + n_gold) if n_gold else math.nan,
        matched=matched,
        predicted=n_predicted,
        gold=n_gold,
        charts_scored=scored,
        charts_skipped=skipped,
    )
