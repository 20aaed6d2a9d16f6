"""Review and automation metrics against a hand-computed case with ties."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.metrics.coding import ChartOutcome
from harness.metrics.review import (
    aurc,
    auto_precision,
    automation_rate,
    automation_rate_at_p95,
    automation_rate_at_p99,
    automation_rate_at_precision,
    code_outcomes,
    review_rate,
    risk_coverage_curve,
    threshold_sweep,
)

# Chart X (review): A 0.9 correct, E 0.4 wrong
# Chart Y (auto):   B 0.8 correct, C 0.8 wrong, D 0.6 correct
# Chart Z (auto):   F 0.4 wrong (predicted twice, highest confidence kept)
# Chart W (review): no codes
CHARTS = [
    ChartOutcome("X", frozenset({"A"}), (("A", 0.9), ("E", 0.4)), True, 1.0),
    ChartOutcome("Y", frozenset({"B", "D", "G"}), (("B", 0.8), ("C", 0.8), ("D", 0.6)), False, 1.0),
    ChartOutcome("Z", frozenset({"H"}), (("F", 0.3), ("F", 0.4)), False, 1.0),
    ChartOutcome("W", frozenset({"K"}), (), True, 1.0),
]
CODES = code_outcomes(CHARTS)
CONFIDENCE = [c for c, _, _ in CODES]
CORRECT = [ok for _, ok, _ in CODES]

# Steps by confidence descending (n = 6); the 0.8 tie {B, C} and the 0.4 tie {E, F} are single steps:
#   t=0.9: accept {A}          -> 1 accepted, 1 correct: coverage 1/6, precision 1,   risk 0
#   t=0.8: accept {A,B,C}      -> 3 accepted, 2 correct: coverage 3/6, precision 2/3, risk 1/3
#   t=0.6: accept {A,B,C,D}    -> 4 accepted, 3 correct: coverage 4/6, precision 3/4, risk 1/4
#   t=0.4: accept all six      -> 6 accepted, 3 correct: coverage 6/6, precision 1/2, risk 1/2
# AURC = 1/6*0 + 2/6*(1/3) + 1/6*(1/4) + 2/6*(1/2) = 0 + 8/72 + 3/72 + 12/72 = 23/72


def test_code_outcomes_flatten_charts() -> None:
    assert CODES == [
        (0.9, True, True),
        (0.4, False, True),
        (0.8, True, False),
        (0.8, False, False),
        (0.6, True, False),
        (0.4, False, False),
    ]


def test_routing_metrics_by_hand() -> None:
    assert review_rate([c.routed_to_review for c in CHARTS]) == 2 / 4  # X and W
    assert automation_rate(CODES) == pytest.approx(4 / 6)  # B, C, D, F sit on auto charts
    assert auto_precision(CODES) == pytest.approx(2 / 4)  # B and D of B, C, D, F


def test_risk_coverage_curve_by_hand() -> None:
    curve = risk_coverage_curve(CONFIDENCE, CORRECT)
    np.testing.assert_allclose(curve.thresholds, [0.9, 0.8, 0.6, 0.4])
    np.testing.assert_allclose(curve.coverage, [1 / 6, 3 / 6, 4 / 6, 1.0])
    np.testing.assert_allclose(curve.risk, [0.0, 1 / 3, 1 / 4, 1 / 2])
    assert aurc(CONFIDENCE, CORRECT) == pytest.approx(23 / 72)


def test_ties_are_one_step_whatever_the_input_order() -> None:
    for seed in range(5):
        order = np.random.default_rng(seed).permutation(len(CODES))
        confidence, correct = np.array(CONFIDENCE)[order], np.array(CORRECT)[order]
        assert aurc(confidence, correct) == pytest.approx(23 / 72)
        np.testing.assert_allclose(risk_coverage_curve(confidence, correct).risk, [0.0, 1 / 3, 1 / 4, 1 / 2])


def test_aurc_without_ties_is_the_mean_selective_risk() -> None:
    rng = np.random.default_rng(0)
    confidence, correct = rng.random(200), rng.random(200) < 0.6
    ranked = correct[np.argsort(-confidence)]
    risks = [1 - ranked[:i].mean() for i in range(1, 201)]
    assert aurc(confidence, correct) == pytest.approx(np.mean(risks))


def test_automation_rate_at_precision_by_hand() -> None:
    # precision per step: 1, 2/3, 3/4, 1/2 -> not monotone, so the best qualifying step is searched
    assert automation_rate_at_precision(CONFIDENCE, CORRECT, 0.75) == pytest.approx(4 / 6)  # t=0.6 has exactly 3/4
    assert automation_rate_at_precision(CONFIDENCE, CORRECT, 0.8) == pytest.approx(1 / 6)  # only t=0.9
    assert automation_rate_at_p95(CONFIDENCE, CORRECT) == pytest.approx(1 / 6)
    assert automation_rate_at_precision(CONFIDENCE, CORRECT, 0.5) == 1.0
    assert automation_rate_at_precision([0.9, 0.5], [False, False], 0.5) == 0.0  # no threshold qualifies
    assert automation_rate_at_precision([0.9] * 20, [True] * 19 + [False], 0.95) == 1.0  # 19/20 == 0.95 exactly
    with pytest.raises(ValueError, match="target"):
        automation_rate_at_precision(CONFIDENCE, CORRECT, 1.5)


def test_all_correct_is_fully_automatable() -> None:
    confidence = [0.2, 0.5, 0.5, 0.9]
    assert automation_rate_at_p99(confidence, [True] * 4) == 1.0
    assert aurc(confidence, [True] * 4) == 0.0


def test_threshold_sweep_by_hand() -> None:
    rows = threshold_sweep(CONFIDENCE, CORRECT, [0.0, 0.5, 0.8, 0.85, 1.0])
    # 0.0: all 6, 3 correct; 0.5: A,B,C,D, 3 correct; 0.8: A,B,C (>= keeps the tie), 2 correct; 0.85: A; 1.0: none
    expected = [(0.0, 1.0, 0.5), (0.5, 4 / 6, 3 / 4), (0.8, 3 / 6, 2 / 3), (0.85, 1 / 6, 1.0)]
    for row, want in zip(rows, expected):
        assert row == pytest.approx(want)
    assert rows[4][:2] == (1.0, 0.0) and math.isnan(rows[4].precision)
    default = threshold_sweep(CONFIDENCE, CORRECT)
    assert len(default) == 101 and default[0].threshold == 0.0 and default[-1].threshold == 1.0
    assert default[60] == pytest.approx((0.6, 4 / 6, 3 / 4))  # 0.60 accepts D at exactly 0.6


def test_empty_inputs_are_nan() -> None:
    assert math.isnan(review_rate([]))
    assert math.isnan(automation_rate([]))
    assert math.isnan(auto_precision([]))
    assert math.isnan(auto_precision([(0.9, True, True)]))  # nothing accepted without review
    assert math.isnan(aurc([], []))
    assert math.isnan(automation_rate_at_p95([], []))
    curve = risk_coverage_curve([], [])
    assert curve.thresholds.size == curve.coverage.size == curve.risk.size == 0
    row = threshold_sweep([], [], [0.5])[0]
    assert row.threshold == 0.5 and math.isnan(row.coverage) and math.isnan(row.precision)


def test_bad_inputs_raise() -> None:
    with pytest.raises(ValueError, match="equal length"):
        aurc([0.5, 0.6], [True])
    with pytest.raises(ValueError, match="finite"):
        aurc([math.nan], [True])
    with pytest.raises(ValueError, match="booleans"):
        aurc([0.5], [2])
