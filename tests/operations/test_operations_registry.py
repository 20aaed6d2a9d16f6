"""The operations metrics in the registry: which measure the machine, and that a run without gold records none."""

from __future__ import annotations

from harness.metrics import registry
from harness.metrics.registry import measures_the_machine

OPERATIONS = ("denial_rate", "rework_rate", "coder_minutes_per_chart", "coder_throughput_charts_per_hour", "coder_time_saved",
              "coder_utilization", "operations_stable", "review_queue_backlog", "backlog_growth_per_day",
              "time_to_claim_p50_h", "time_to_claim_p95_h")


def test_the_operations_group_is_registered_as_the_reports_read_it() -> None:
    assert registry.names("operations") == OPERATIONS
    assert set(registry.names("operations", interval=True)) == {"denial_rate", "rework_rate", "coder_minutes_per_chart",
                                                                "coder_throughput_charts_per_hour", "coder_time_saved"}


def test_only_time_to_claim_measures_the_machine() -> None:
    # coder throughput is charts per coder hour (a per_hour unit like the engines'), coder minutes are the model's
    assert [name for name in OPERATIONS if measures_the_machine(name)] == ["time_to_claim_p50_h", "time_to_claim_p95_h"]
    assert not measures_the_machine("coder_throughput_charts_per_hour_ci_low")


def test_a_run_without_gold_records_no_operations_metric() -> None:
    recorded = {name: 1.0 for name in OPERATIONS} | {"denial_rate_ci_low": 0.5, "review_rate": 0.4}
    assert registry.without_gold(recorded) == {"review_rate": 0.4}


def test_coder_minutes_and_hours_read_in_their_unit() -> None:
    from reports.labels import format_value

    assert format_value("coder_minutes_per_chart", 6.885) == "6.88 min" and format_value("time_to_claim_p95_h", 18.24) == "18.2 h"
    assert format_value("coder_time_saved", 0.6557) == "65.6%" and format_value("review_queue_backlog", 540.0) == "540"
    assert format_value("time_to_claim_p50_h", 1 / 3) == "20.0 min"  # under an hour in minutes, not 0.333 h
    assert format_value("time_to_claim_p50_h", 0.25 / 60) == "15.00 s" and format_value("time_to_claim_p50_h", 1.0) == "1 h"
    assert (format_value("operations_stable", 1.0), format_value("operations_stable", 0.0)) == ("yes", "no")
