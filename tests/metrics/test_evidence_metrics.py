"""Evidence metrics against hand-made spans."""

from __future__ import annotations

import math
import random

import pytest

from harness.contracts import CodeAssignment, GoldCode, Span
from harness.metrics.evidence import evidence_f1_exact, evidence_f1_overlap, evidence_supported_rate


def gold(code: str, *spans: tuple[int, int]) -> GoldCode:
    return GoldCode(code=code, evidence=[Span(start=s, end=e) for s, e in spans])


def predicted(code: str, *spans: tuple[int, int], texts: tuple[str, ...] = ()) -> CodeAssignment:
    texts = texts or ("",) * len(spans)
    return CodeAssignment(code=code, confidence=0.9, evidence=[Span(start=s, end=e, text=t) for (s, e), t in zip(spans, texts)])


# Chart A: I10 exact, E11.9 overlapping only (14 of 17 characters), N18.9 on I10's span (wrong code)
CHART_A = (
    [gold("I10", (10, 22)), gold("E11.9", (27, 44))],
    [predicted("I10", (10, 22)), predicted("E11.9", (30, 44)), predicted("N18.9", (10, 22))],
)
# Chart B: two predictions overlap the one gold span (by 7 and by 5): only the larger overlap matches
CHART_B = ([gold("J44.9", (0, 10))], [predicted("J44.9", (5, 10)), predicted("J44.9", (0, 7))])
# Chart C: one prediction overlaps both gold spans of its code: it matches one of them only
CHART_C = ([gold("R07.9", (0, 5), (8, 12))], [predicted("R07.9", (3, 10))])
# Chart D: document-level gold labels only: skipped, its prediction counts nowhere
CHART_D = ([gold("I10")], [predicted("I10", (0, 3))])


def test_exact_match_by_hand() -> None:
    score = evidence_f1_exact([CHART_A])
    # gold 2, predicted 3, matched 1 (I10): P 1/3, R 1/2, F1 2*1/(3+2)
    assert (score.matched, score.predicted, score.gold) == (1, 3, 2)
    assert (score.precision, score.recall, score.f1) == pytest.approx((1 / 3, 1 / 2, 2 / 5))


def test_overlap_match_by_hand() -> None:
    score = evidence_f1_overlap([CHART_A])
    # I10 (exact is an overlap too) and E11.9 match; N18.9 has the wrong code: P 2/3, R 2/2, F1 4/5
    assert (score.matched, score.predicted, score.gold) == (2, 3, 2)
    assert (score.precision, score.recall, score.f1) == pytest.approx((2 / 3, 1.0, 4 / 5))


def test_a_gold_span_is_matched_once_and_a_prediction_once() -> None:
    assert evidence_f1_overlap([CHART_B]).matched == 1
    assert evidence_f1_overlap([CHART_C]).matched == 1
    assert evidence_f1_exact([CHART_B]).matched == 0


def test_greedy_overlap_prefers_the_larger_overlap() -> None:
    # predicted [0,7) overlaps gold [0,10) by 7, predicted [5,10) by 5; gold [8,20) only overlaps [5,10).
    # Largest first: ([0,7), [0,10)) then ([5,10), [8,20)) -> both gold spans matched
    chart = ([gold("J44.9", (0, 10), (8, 20))], [predicted("J44.9", (5, 10)), predicted("J44.9", (0, 7))])
    assert evidence_f1_overlap([chart]).matched == 2


def test_micro_average_over_charts_skips_charts_without_gold_spans() -> None:
    charts = [CHART_A, CHART_B, CHART_C, CHART_D]
    exact, overlap = evidence_f1_exact(charts), evidence_f1_overlap(charts)
    # predicted units 3 + 2 + 1 = 6, gold units 2 + 1 + 2 = 5; D skipped
    # exact matched 1 + 0 + 0 = 1; overlap matched 2 + 1 + 1 = 4
    assert (exact.charts_scored, exact.charts_skipped) == (3, 1)
    assert (exact.matched, exact.predicted, exact.gold) == (1, 6, 5)
    assert (exact.precision, exact.recall, exact.f1) == pytest.approx((1 / 6, 1 / 5, 2 / 11))
    assert (overlap.precision, overlap.recall, overlap.f1) == pytest.approx((4 / 6, 4 / 5, 8 / 11))


def test_order_and_duplicates_do_not_change_scores() -> None:
    gold_codes, codes = CHART_A
    shuffled = list(codes) + [predicted("I10", (10, 22))]  # the same unit twice counts once
    random.Random(0).shuffle(shuffled)
    assert evidence_f1_overlap([(gold_codes, shuffled)]) == evidence_f1_overlap([CHART_A])
    assert evidence_f1_exact([(gold_codes, shuffled)]) == evidence_f1_exact([CHART_A])


def test_undefined_scores_are_nan() -> None:
    empty = evidence_f1_exact([CHART_D])
    assert (empty.charts_scored, empty.charts_skipped, empty.gold) == (0, 1, 0)
    assert math.isnan(empty.precision) and math.isnan(empty.recall) and math.isnan(empty.f1)
    silent = evidence_f1_overlap([([gold("I10", (0, 3))], [predicted("I10")])])  # a code without evidence
    assert math.isnan(silent.precision) and (silent.recall, silent.f1) == (0.0, 0.0)


def test_supported_rate_by_hand() -> None:
    text = "Patient has hypertension."  # "hypertension" is text[12:24]
    codes = [
        predicted("I10", (12, 24), texts=("hypertension",)),  # supported
        predicted("I10", (12, 24)),  # supported: no quoted text to check
        predicted("I10", (12, 24), texts=("Hypertension",)),  # quote differs from the chart text
        predicted("I10", (20, 40)),  # runs past the end of the text
        predicted("I10"),  # no evidence at all
        predicted("I10", (12, 24), (0, 7), texts=("hypertension", "Patiens")),  # one bad span spoils the code
    ]
    assert evidence_supported_rate([(text, code) for code in codes]) == pytest.approx(2 / 6)
    assert math.isnan(evidence_supported_rate([]))
