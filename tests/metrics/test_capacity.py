"""Capacity figures from measured throughput: charts per hour of one engine, engines for a daily target."""

from __future__ import annotations

import math

import pytest

from harness.config import EvaluationConfig
from harness.metrics import registry
from harness.metrics.capacity import capacity


def test_charts_per_hour_and_engines_round_up() -> None:
    # 0.1 charts/s = 360 charts/h; 10,000 a day round the clock needs 10,000 / 8,640 = 1.16 -> 2 engines
    assert capacity(0.1, 10_000, 24) == {"charts_per_hour_per_engine": pytest.approx(360.0), "engines_for_target": 2.0}
    # 8 working hours a day: 10,000 / 2,880 = 3.47 -> 4
    assert capacity(0.1, 10_000, 8)["engines_for_target"] == 4.0


def test_an_exact_fit_is_not_rounded_up_by_float_error() -> None:
    # 1/30 charts/s = 120 charts/h = 2,880 a day: exactly 3 engines for 8,640 (not 4 from 3.0000000001)
    assert capacity(1 / 30, 8_640, 24)["engines_for_target"] == 3.0
    assert capacity(0.1, 0, 24)["engines_for_target"] == 0.0  # no volume, no engine


@pytest.mark.parametrize("throughput", [0.0, math.nan, math.inf, -1.0])
def test_no_usable_throughput_gives_nan_not_an_error(throughput: float) -> None:
    figures = capacity(throughput, 10_000, 24)
    assert math.isnan(figures["engines_for_target"])
    assert figures["charts_per_hour_per_engine"] == 0.0 if throughput == 0 else math.isnan(figures["charts_per_hour_per_engine"])


@pytest.mark.parametrize(("target", "hours"), [(10_000, 0), (10_000, 25), (-1, 24), (math.nan, 24)])
def test_impossible_assumptions_are_refused(target: float, hours: float) -> None:
    with pytest.raises(ValueError):
        capacity(1.0, target, hours)


def test_defaults_and_config_bounds() -> None:
    evaluation = EvaluationConfig()
    assert (evaluation.capacity_target_charts_per_day, evaluation.capacity_hours_per_day) == (10_000, 24)
    for bad in ({"capacity_hours_per_day": 0}, {"capacity_hours_per_day": 30}, {"capacity_target_charts_per_day": -5},
                {"capacity_target_charts_per_day": float("inf")}):
        with pytest.raises(ValueError):
            EvaluationConfig.model_validate(bad)


def test_capacity_metrics_are_registered_throughput_figures() -> None:
    per_hour, engines = registry.get("charts_per_hour_per_engine"), registry.get("engines_for_target")
    assert (per_hour.group, per_hour.higher_is_better, per_hour.unit) == ("throughput", True, "per_hour")
    assert (engines.group, engines.higher_is_better, engines.unit) == ("throughput", False, "count")
    assert not per_hour.needs_gold and not engines.needs_gold and per_hour.gate is None and engines.gate is None
    assert set(capacity(1.0, 10_000, 24)) == {"charts_per_hour_per_engine", "engines_for_target"}
