"""Recoverable gold and the intake metrics, against hand-computed cases."""

from __future__ import annotations

import pytest

from harness.contracts import Chart, GoldCode, Span
from harness.metrics.coding import ChartOutcome
from harness.metrics.robustness import ChartIntake, recoverable_gold, robustness_metrics

TEXT = "page one: hypertension.\fpage two: asthma and diabetes."


def chart() -> Chart:
    gold = [
        GoldCode(code="I10", evidence=[Span(start=10, end=22)]),  # page 1 only
        GoldCode(code="J45.909", evidence=[Span(start=34, end=40)]),  # page 2 only
        GoldCode(code="E11.9", evidence=[Span(start=10, end=22), Span(start=45, end=53)]),  # both pages
        GoldCode(code="Z00.00"),  # document-level label, no offsets
    ]
    return Chart(id="c", text=TEXT, gold=gold)


def test_dropped_page_makes_its_only_evidence_unrecoverable() -> None:
    page_two = [(24, len(TEXT))]
    assert recoverable_gold(chart(), page_two) == {"J45.909", "E11.9", "Z00.00"}
    assert recoverable_gold(chart(), [(0, 23)]) == {"I10", "E11.9", "Z00.00"}
    assert recoverable_gold(chart(), [(0, len(TEXT))]) == {"I10", "J45.909", "E11.9", "Z00.00"}
    assert recoverable_gold(chart(), []) == frozenset()


def test_robustness_metrics_by_hand() -> None:
    charts = [chart(), chart().model_copy(update={"id": "d"})]
    outcomes = [
        # predicts 2 of the 3 recoverable codes (page one dropped): P=1, R=2/3 against recoverable
        ChartOutcome("c", frozenset(g.code for g in charts[0].gold), (("J45.909", 0.9), ("E11.9", 0.8)), True, 1.0),
        # everything right
        ChartOutcome("d", frozenset(g.code for g in charts[1].gold), tuple((g.code, 0.9) for g in charts[1].gold), False, 1.0),
    ]
    intake = [
        ChartIntake(kept_ranges=((24, len(TEXT)),), source_chars=100, edit_distance=10, pages_read=1, intake_s=0.5,
                    quality=0.4, reasons=("missing_pages: expected 2, got 1",)),
        ChartIntake(kept_ranges=((0, len(TEXT)),), source_chars=300, edit_distance=2, pages_read=2, intake_s=0.5, quality=0.9),
    ]
    metrics = robustness_metrics(charts, outcomes, intake, n_resamples=50, confidence=0.95, seed=0)
    # recoverable gold: 3 + 4 = 7 codes; predicted 2 + 4 = 6, all right -> P=1, R=6/7, F1=12/13
    assert metrics["micro_f1_recoverable"] == pytest.approx(12 / 13)
    assert metrics["n_gold_codes_recoverable"] == 7
    assert metrics["ocr_cer"] == pytest.approx(12 / 400)
    assert metrics["pages_per_s"] == pytest.approx(3 / 1.0)
    assert metrics["intake_review_rate"] == 0.5
    # the low-quality chart is the one with an error: perfect ranking
    assert metrics["quality_auroc"] == 1.0


def test_text_only_runs_have_no_page_metrics() -> None:
    c = chart()
    outcome = ChartOutcome("c", frozenset(g.code for g in c.gold), (("I10", 0.9),), False, 1.0)
    metrics = robustness_metrics([c], [outcome], [ChartIntake(kept_ranges=((0, len(TEXT)),))], n_resamples=20, confidence=0.9,
                                 seed=1)
    assert metrics["ocr_cer"] == 0.0 and "pages_per_s" not in metrics and "quality_auroc" not in metrics
