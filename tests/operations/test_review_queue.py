"""The review queue simulation: seeded, sane when it keeps up, and reported as unstable when it cannot."""

from __future__ import annotations

import pytest

from harness.operations import ChartFacts, OperationsConfig, operations, workload
from harness.operations.config import ReviewMinutes
from harness.operations.queue import growth, simulate

BASE = OperationsConfig(review_minutes=ReviewMinutes(low_confidence=10), qa_sample_rate=0.0, coders=2, hours_per_day=8,
                        working_days=10, arrivals_per_day=40)


def auto(latency_s: float = 36.0) -> ChartFacts:
    return ChartFacts("a", "auto", (), False, (), latency_s)


def reviewed(latency_s: float = 36.0) -> ChartFacts:
    return ChartFacts("r", "review", ("low_confidence",), False, (), latency_s)


def run(facts: list[ChartFacts], config: OperationsConfig = BASE, seed: int = 0, drain: bool = True):
    return simulate(facts, [workload(chart, config) for chart in facts], config, seed, drain=drain)


def test_same_seed_same_queue_another_seed_another() -> None:
    facts = [auto(), reviewed(), reviewed(72.0)]
    assert run(facts, seed=3) == run(facts, seed=3)
    assert run(facts, seed=3).time_to_claim_h != run(facts, seed=4).time_to_claim_h


def test_without_review_every_claim_goes_out_after_the_pipeline_latency() -> None:
    ops = operations([auto(36.0)], BASE.model_copy(update={"qa_sample_rate": 0.2, "qa_minutes": 5}))
    assert ops.metrics["time_to_claim_p50_h"] == ops.metrics["time_to_claim_p95_h"] == pytest.approx(0.01)  # 36 s
    assert ops.metrics["review_queue_backlog"] == 0 and ops.metrics["operations_stable"] == 1.0


def test_a_light_review_load_waits_little() -> None:
    # 10% of 40 charts a day to review, 10 minutes each: 40 of 960 coder minutes a day
    facts = [reviewed()] + [auto()] * 9
    result = run(facts)
    assert result.charts_claimed == result.charts_arrived == 400 and max(result.backlog_per_day) <= 1
    ops = operations(facts, BASE)
    assert ops.metrics["coder_utilization"] == pytest.approx(40 * 1.0 / 960)
    assert ops.metrics["time_to_claim_p95_h"] < 0.2 and ops.metrics["time_to_claim_p50_h"] == pytest.approx(0.01)


def test_work_left_at_the_end_of_the_day_waits_for_the_next_morning() -> None:
    # one coder, 7 one-hour reviews arriving at random in an 8-hour day: 88% busy, but a chart arriving late waits
    # through the 16 hours of night
    config = BASE.model_copy(update={"review_minutes": ReviewMinutes(low_confidence=60), "coders": 1, "arrivals_per_day": 7})
    result = run([reviewed(0.0)], config)
    assert result.charts_claimed == result.charts_arrived
    assert max(result.time_to_claim_h) > 16 and min(result.time_to_claim_h) >= 1.0


def test_an_overloaded_queue_is_unstable_and_its_backlog_grows_by_the_excess() -> None:
    # 150 reviews a day x 10 min = 1,500 coder minutes; 2 coders x 8 h x 60 = 960 available: (1,500 - 960) / 10 = 54 more
    # charts waiting each day. 480 / 10 is a whole number of charts, so no coder works past the end of a shift, and from
    # day 2 on the queue never empties: the backlog is exactly 54 more each day; day 1 loses only the minutes the coders
    # wait for the first arrivals (a few charts: delta), which moves a least-squares slope through day 0 by delta / 22.
    config = BASE.model_copy(update={"arrivals_per_day": 150})
    ops = operations([reviewed()], config)
    m = ops.metrics
    assert m["operations_stable"] == 0.0 and m["coder_utilization"] == pytest.approx(1500 / 960)
    assert "time_to_claim_p50_h" not in m and "time_to_claim_p95_h" not in m  # no meaningless percentile
    assert 54 * 10 <= m["review_queue_backlog"] <= 54 * 10 + 5
    assert m["backlog_growth_per_day"] == pytest.approx(54, abs=0.5)
    backlog = ops.document["queue"]["backlog_per_day"]
    assert len(backlog) == 10 and [b - a for a, b in zip(backlog[1:], backlog[2:])] == [54] * 8
    assert ops.document["queue"]["stable"] is False and ops.document["queue"]["drained"] is False


def test_the_backlog_does_not_depend_on_the_machine() -> None:
    slow, fast = [auto(600.0), reviewed(900.0)], [auto(0.01), reviewed(0.02)]
    config = BASE.model_copy(update={"arrivals_per_day": 120})
    assert run(slow, config).backlog_per_day == run(fast, config).backlog_per_day
    assert run(slow, config).time_to_claim_h != run(fast, config).time_to_claim_h


def test_round_the_clock_coders_and_the_growth_of_a_series() -> None:
    result = run([reviewed()], BASE.model_copy(update={"hours_per_day": 24}))
    assert result.charts_claimed == result.charts_arrived
    assert growth([]) == 0.0 and growth([5]) == 5.0 and growth([2, 4, 6]) == pytest.approx(2.0)


def test_the_default_model_keeps_up_with_a_mixed_load_and_claims_every_chart() -> None:
    facts = [auto(), reviewed(), ChartFacts("e", "review", ("edit_failed",), True, ("non_billable",), 0.1), auto()] * 50
    ops = operations(facts, OperationsConfig())
    assert ops.metrics["operations_stable"] == 1.0 and ops.document["queue"]["drained"] is True
    assert ops.metrics["review_queue_backlog"] == 0.0 and ops.metrics["time_to_claim_p95_h"] > 0


def test_an_unstable_queue_is_warned_about_once_per_process(caplog: pytest.LogCaptureFixture,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A sweep's jobs share the workload model's assumptions: its warning is said once, not once per job."""
    from harness.operations import metrics

    monkeypatch.setattr(metrics, "_said", set())  # as in a fresh process
    config = BASE.model_copy(update={"arrivals_per_day": 150})
    with caplog.at_level("DEBUG", logger="harness"):
        for _ in range(3):  # three jobs of a sweep
            assert operations([reviewed()], config).metrics["operations_stable"] == 0.0
    said = [record.levelname for record in caplog.records if "does not keep up" in record.getMessage()]
    assert said == ["WARNING", "DEBUG", "DEBUG"]
