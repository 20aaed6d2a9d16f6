"""The workload model on six hand-made charts, each outcome worked out by hand below."""

from __future__ import annotations

import pytest

from harness.operations import ChartFacts, OperationsConfig, operations, workload
from harness.operations.config import ReviewMinutes

CONFIG = OperationsConfig(
    review_minutes=ReviewMinutes(low_confidence=6, high_risk=10, edit_failed=8, intake=20, no_codes=20),
    manual_coding_minutes=20, qa_sample_rate=0.1, qa_minutes=5, rework_minutes=15,
    edit_denial_probability=1.0, wrong_code_denial_probability=0.2, error_found_probability=0.5, review_catches_errors=0.9,
    coders=4, hours_per_day=8, working_days=5, arrivals_per_day=50,
)
# Notation: c = review_catches_errors (0.9 reviewed, 0 auto), pe = 1.0, pw = 0.2, q = 0.5;
# e = code_error (1 - c), f = failed payer edit (1 - c); denial d = 1 - (1 - f pe)(1 - e pw);
# rework r = d + e (1 - pw)(1 - f pe) q; minutes = review (max family) or QA 0.1 x 5 = 0.5, plus r x 15.
CHARTS = [
    # A: auto, right codes, no failed edit: d = 0, r = 0, minutes = 0.5 (QA only)
    ChartFacts("A", "auto", (), False, (), 1.0),
    # B: auto, wrong code: e = 1: d = 0.2; r = 0.2 + 1 x 0.8 x 1 x 0.5 = 0.6; minutes = 0.5 + 0.6 x 15 = 9.5
    ChartFacts("B", "auto", (), True, (), 2.0),
    # C: auto, right codes, failed payer edit (use_additional does not route here): f = 1: d = 1; r = 1; minutes = 0.5 + 15
    ChartFacts("C", "auto", (), False, ("use_additional",), 1.0),
    # D: reviewed (max(6, 10) = 10 min), wrong code: e = 0.1: d = 0.1 x 0.2 = 0.02; r = 0.02 + 0.1 x 0.8 x 0.5 = 0.06;
    #    minutes = 10 + 0.06 x 15 = 10.9
    ChartFacts("D", "review", ("low_confidence", "high_risk"), True, (), 3.0),
    # E: reviewed (8 min), wrong code and failed payer edit: e = f = 0.1: d = 1 - 0.9 x (1 - 0.02) = 0.118;
    #    r = 0.118 + 0.1 x 0.8 x 0.9 x 0.5 = 0.154; minutes = 8 + 0.154 x 15 = 10.31
    ChartFacts("E", "review", ("edit_failed",), True, ("non_billable",), 1.0),
    # F: reviewed (intake: 20 min), right codes; demographics_missing is not a payer edit: d = 0, r = 0, minutes = 20
    ChartFacts("F", "review", ("intake",), False, ("demographics_missing",), 1.0),
]
EXPECTED = {  # (denial, rework, minutes)
    "A": (0.0, 0.0, 0.5), "B": (0.2, 0.6, 9.5), "C": (1.0, 1.0, 15.5),
    "D": (0.02, 0.06, 10.9), "E": (0.118, 0.154, 10.31), "F": (0.0, 0.0, 20.0),
}


def test_each_chart_outcome_is_the_hand_computed_one() -> None:
    for chart in CHARTS:
        got = workload(chart, CONFIG)
        assert (got.denial, got.rework, got.minutes) == pytest.approx(EXPECTED[chart.chart_id], abs=1e-12), chart.chart_id
    assert workload(CHARTS[3], CONFIG).review_minutes == 10 and workload(CHARTS[3], CONFIG).qa_minutes == 0  # no QA after review


def test_run_metrics_are_the_means_over_charts_with_intervals_around_them() -> None:
    ops = operations(CHARTS, CONFIG, n_resamples=200, seed=1)
    m = ops.metrics
    # denial (0 + 0.2 + 1 + 0.02 + 0.118 + 0) / 6 = 1.338 / 6; rework (0 + 0.6 + 1 + 0.06 + 0.154 + 0) / 6 = 1.814 / 6
    assert m["denial_rate"] == pytest.approx(1.338 / 6) and m["rework_rate"] == pytest.approx(1.814 / 6)
    # minutes (0.5 + 9.5 + 15.5 + 10.9 + 10.31 + 20) / 6 = 66.71 / 6 = 11.118...
    minutes = 66.71 / 6
    assert m["coder_minutes_per_chart"] == pytest.approx(minutes)
    assert m["coder_throughput_charts_per_hour"] == pytest.approx(60 / minutes)
    assert m["coder_time_saved"] == pytest.approx(1 - minutes / 20)
    for name in ("denial_rate", "rework_rate", "coder_minutes_per_chart", "coder_throughput_charts_per_hour", "coder_time_saved"):
        assert m[f"{name}_ci_low"] <= m[name] <= m[f"{name}_ci_high"], name
    # 50 charts a day x 11.118 min over 4 coders x 8 h x 60 = 1,920 min: 29% busy, the queue keeps up
    assert m["coder_utilization"] == pytest.approx(50 * minutes / 1920) and m["operations_stable"] == 1.0
    assert m["time_to_claim_p50_h"] <= m["time_to_claim_p95_h"]
    assert ops.document["queue"]["charts_claimed"] == 5 * 50 and ops.document["assumptions"]["qa_sample_rate"] == 0.1
    assert ops.document["reviewed_by_family"] == {"low_confidence": 0, "high_risk": 1, "edit_failed": 1, "intake": 1,
                                                  "no_codes": 0}
    assert operations(CHARTS, CONFIG, n_resamples=200, seed=1).metrics == m  # seeded


def test_review_that_catches_everything_leaves_reviewed_charts_without_denial_or_rework() -> None:
    perfect = CONFIG.model_copy(update={"review_catches_errors": 1.0})
    for chart in CHARTS[3:]:
        assert (workload(chart, perfect).denial, workload(chart, perfect).rework) == (0.0, 0.0)


def test_a_run_without_gold_codes_has_no_workload() -> None:
    with pytest.raises(ValueError, match="needs gold codes"):
        workload(ChartFacts("X", "auto", (), None, (), 0.0), CONFIG)
    assert operations([], CONFIG).metrics == {}


def test_facts_refuse_what_cannot_be() -> None:
    with pytest.raises(ValueError, match="routed review has reason families"):
        ChartFacts("X", "review", (), False, (), 0.0)
    with pytest.raises(ValueError, match="latency_s"):
        ChartFacts("X", "auto", (), False, (), float("nan"))
