"""Capacity planning from a run's measured throughput: charts an engine codes per hour, engines a daily volume needs.

An engine is one copy of the pipeline as the run measured it (one machine, one model server). The figures assume
throughput scales linearly with engines and that the run's charts are like the production ones; they are a first
sizing, not a promise.
"""

from __future__ import annotations

import math

SECONDS_PER_HOUR = 3600.0


def capacity(charts_per_s: float, target_charts_per_day: float, hours_per_day: float) -> dict[str, float]:
    """``charts_per_hour_per_engine`` and ``engines_for_target`` from the measured ``charts_per_s``.

    ``engines_for_target`` is the fewest whole engines that code ``target_charts_per_day`` charts in
    ``hours_per_day`` hours of work a day. A throughput that is zero, negative or not finite (no charts, no time)
    gives NaN for what it cannot tell, never an error: charts per hour is NaN unless finite and not negative,
    engines NaN unless the throughput is positive.
    """
    if not 0 < hours_per_day <= 24:
        raise ValueError(f"hours_per_day must be in (0, 24], got {hours_per_day}")
    if not (target_charts_per_day >= 0 and math.isfinite(target_charts_per_day)):
        raise ValueError(f"target_charts_per_day must be finite and not negative, got {target_charts_per_day}")
    usable = math.isfinite(charts_per_s) and charts_per_s >= 0
    per_hour = charts_per_s * SECONDS_PER_HOUR if usable else math.nan
    if not (usable and charts_per_s > 0):
        return {"charts_per_hour_per_engine": per_hour, "engines_for_target": math.nan}
    needed = target_charts_per_day / (per_hour * hours_per_day)
    engines = math.ceil(round(needed, 9))  # 2.0000000001 engines from rounding error is two, not three
    return {"charts_per_hour_per_engine": per_hour, "engines_for_target": float(engines)}
