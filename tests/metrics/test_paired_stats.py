"""Paired bootstrap and exact McNemar test: hand-computed values and constructed differences."""

from __future__ import annotations

import random

import pytest

from harness.metrics.paired_stats import CHART_MEANS, STATISTICS, align, mcnemar, paired_bootstrap


def row(chart_id: str, tp: int = 2, fp: int = 0, fn: int = 0, review: bool = False) -> dict:
    """A per-chart scores row, with the chart's expected operational outcome as the gate adds it (an error that went
    auto risks a denial; a review costs coder minutes)."""
    error = fp > 0 or fn > 0
    return {"chart_id": chart_id, "tp": tp, "fp": fp, "fn": fn, "exact_match": not error, "routed_to_review": review,
            "denial_rate": 0.2 * error * (0.1 if review else 1.0), "rework_rate": 0.3 * error * (0.1 if review else 1.0),
            "coder_minutes_per_chart": 6.0 if review else 0.25}


@pytest.mark.parametrize(
    "baseline,candidate,b,c,p",
    [
        ([True] * 6, [False] * 6, 6, 0, 0.03125),  # 2 * (1/2)^6
        ([False] * 6, [True] * 6, 0, 6, 0.03125),
        ([True, False] * 3, [False, True] * 3, 3, 3, 1.0),  # b = c: 2 * 42/64 > 1, capped
        ([True] * 9 + [False], [False] * 9 + [True], 9, 1, 0.021484375),  # 2 * (C(10,0) + C(10,1)) / 2^10 = 22/1024
        ([True, False], [True, False], 0, 0, 1.0),  # no discordant chart: no evidence either way
    ],
)
def test_mcnemar_hand_computed(baseline: list[bool], candidate: list[bool], b: int, c: int, p: float) -> None:
    result = mcnemar(candidate, baseline)
    assert (result.b, result.c) == (b, c)
    assert result.p_value == pytest.approx(p, abs=1e-15)


def test_mcnemar_matches_scipy_binomial_test() -> None:
    from scipy import stats  # installed with scikit-learn: a missing scipy is a broken install, not a skip
    rng = random.Random(0)
    for _ in range(30):
        baseline = [rng.random() < 0.5 for _ in range(60)]
        candidate = [rng.random() < 0.4 for _ in range(60)]
        result = mcnemar(candidate, baseline)
        expected = stats.binomtest(result.b, result.b + result.c, 0.5).pvalue if result.b + result.c else 1.0
        assert result.p_value == pytest.approx(expected, rel=1e-12)


def test_mcnemar_needs_paired_charts() -> None:
    with pytest.raises(ValueError, match="pair them first"):
        mcnemar([True], [True, False])


@pytest.mark.parametrize("statistic", STATISTICS)
def test_identical_runs_differ_by_exactly_zero(statistic: str) -> None:
    rows = [row(f"c{i}", tp=i % 3, fp=i % 2, fn=i % 4, review=i % 5 == 0) for i in range(40)]
    result = paired_bootstrap(rows, list(reversed(rows)), statistic, n_resamples=500, seed=1)
    assert (result.difference, result.low, result.high) == (0.0, 0.0, 0.0)
    assert result.n_charts == 40 and result.baseline == result.candidate


def test_constructed_drop_is_measured_with_an_interval_below_zero() -> None:
    baseline = [row(f"c{i}") for i in range(50)]
    candidate = [row(f"c{i}", tp=1, fn=1) if i < 20 else row(f"c{i}") for i in range(50)]
    f1 = paired_bootstrap(candidate, baseline, "micro_f1", n_resamples=2000, confidence=0.95, seed=3)
    assert f1.baseline == 1.0 and f1.candidate == pytest.approx(160 / 180)  # tp 80, fn 20: 2*80 / (2*80 + 20)
    assert f1.low <= f1.difference <= f1.high < -0.05
    exact = paired_bootstrap(candidate, baseline, "exact_match", n_resamples=2000, seed=3)
    assert exact.difference == pytest.approx(-0.4) and exact.high < 0
    # deterministic for a seed; another seed draws other resamples
    assert paired_bootstrap(candidate, baseline, "micro_f1", n_resamples=2000, seed=3) == f1
    assert paired_bootstrap(candidate, baseline, "micro_f1", n_resamples=2000, seed=4) != f1


def test_review_rate_rise() -> None:
    baseline = [row(f"c{i}", review=i < 5) for i in range(50)]
    candidate = [row(f"c{i}", review=i < 15) for i in range(50)]
    result = paired_bootstrap(candidate, baseline, "review_rate", n_resamples=1000, seed=0)
    assert (result.baseline, result.candidate) == (0.1, 0.3) and result.difference == pytest.approx(0.2)
    assert 0 < result.low <= result.difference <= result.high


def test_rows_are_paired_by_chart_id_not_position() -> None:
    baseline = [row("a"), row("b", tp=0, fn=2)]
    candidate = [row("b", tp=0, fn=2), row("a")]
    assert paired_bootstrap(candidate, baseline, "micro_f1", n_resamples=100).high == 0.0
    aligned_candidate, aligned_baseline = align(candidate, baseline)
    assert [r["chart_id"] for r in aligned_baseline] == [r["chart_id"] for r in aligned_candidate] == ["b", "a"]


@pytest.mark.parametrize(
    "candidate,baseline,message",
    [
        ([row("a"), row("b")], [row("a"), row("c")], "different charts: 1 only in the candidate"),
        ([row("a"), row("a")], [row("a")], "candidate has repeated chart ids"),
        ([], [], "no charts"),
    ],
)
def test_unpairable_rows_are_refused(candidate: list, baseline: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        paired_bootstrap(candidate, baseline, "micro_f1")


def test_unknown_statistic() -> None:
    with pytest.raises(ValueError, match="unknown statistic 'macro_f1'"):
        paired_bootstrap([row("a")], [row("a")], "macro_f1")


def test_operational_outcomes_are_means_of_the_rows_own_values() -> None:
    baseline = [row(f"c{i}", tp=1, fn=1, review=i < 20) for i in range(50)]  # every chart has an error; 20 reviewed
    candidate = [row(f"c{i}", tp=1, fn=1, review=i < 5) for i in range(50)]  # 15 more of them go out unreviewed
    denial = paired_bootstrap(candidate, baseline, "denial_rate", n_resamples=1000, seed=0)
    assert denial.baseline == pytest.approx((20 * 0.02 + 30 * 0.2) / 50)
    assert denial.difference == pytest.approx(15 * (0.2 - 0.02) / 50) and 0 < denial.low <= denial.difference <= denial.high
    minutes = paired_bootstrap(candidate, baseline, "coder_minutes_per_chart", n_resamples=1000, seed=0)
    assert minutes.difference == pytest.approx(15 * (0.25 - 6.0) / 50) and minutes.high < 0
    assert set(CHART_MEANS) <= set(STATISTICS)


def test_a_row_without_its_outcome_is_refused_by_chart() -> None:
    bare = {key: value for key, value in row("b").items() if key != "denial_rate"}
    with pytest.raises(ValueError, match="baseline's row of chart 'b' has no per-chart denial_rate"):
        paired_bootstrap([row("a"), row("b")], [row("a"), bare], "denial_rate")


def test_chart_means_agree_with_the_operations_model() -> None:
    from harness.operations.chart_outcomes import CHART_MEANS as COSTED

    assert tuple(COSTED) == CHART_MEANS
