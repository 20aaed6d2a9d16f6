"""How metrics are shown to coding leads: a plain name, a unit, and which way is better.

Metric names are the harness's stable interface (``micro_f1``, ``stage_extract_s``, ...); pages show
``label(name)`` and keep the name itself in small print, so an engineer can find it in MLflow. Labels,
units and directions come from ``harness.metrics.registry``; this module only formats them.
"""

from __future__ import annotations

import math

from harness.metrics.registry import Metric, Unit, find

_GUESSED_UNITS: tuple[tuple[str, Unit], ...] = (("_rate", "share"), ("_s", "seconds"), ("_mb", "megabytes"))
"""Unit of an unregistered name, by its ending."""

def info(name: str) -> Metric:
    """What the registry (``harness.metrics.registry``) says of metric ``name``; for a name it does not know
    (a run recorded by another version), a guess from the name, with no better direction."""
    found = find(name)
    if found is not None:
        return found
    unit = next((unit for suffix, unit in _GUESSED_UNITS if name.endswith(suffix)), "number")
    return Metric(name, name.replace("_", " "), unit, None, None)


def label(name: str) -> str:
    return info(name).label


def format_value(name: str, value: float | None) -> str:
    """``value`` of metric ``name`` in its unit: ``84.0%``, ``0.54 ms``, ``6.5 min``, ``18.2 h`` (under an hour in
    minutes), ``976 /s``, ``3,510 /h``, ``$1.14``, ``yes``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    unit = info(name).unit
    if unit == "share":
        return f"{value * 100:.1f}%"
    if unit == "seconds":
        return _seconds(value)
    if unit == "minutes":
        return f"{_significant(value)} min"
    if unit == "hours":
        return f"{_significant(value)} h" if abs(value) >= 1 else _seconds(value * 3600)  # 20 min, not 0.333 h
    if unit == "yes_no":
        return "yes" if value >= 0.5 else "no"
    if unit == "per_second":
        return f"{_significant(value)} /s"
    if unit == "per_hour":
        return f"{_significant(value)} /h"
    if unit == "usd":
        return f"${value:,.2f}" if value >= 0.01 else f"${value:.2g}"
    if unit == "count":
        return f"{round(value):,}"
    if unit == "megabytes":
        return f"{value:,.0f} MB"
    if unit == "score":
        return f"{value:.3f}"
    return _significant(value)


def difference(name: str, delta: float) -> str:
    """A change of metric ``name`` with its sign: ``+2.1 pts`` for shares, else the unit's own format."""
    if math.isnan(delta):
        return "–"
    if info(name).unit == "share":
        return f"{delta * 100:+.1f} pts"
    sign = "+" if delta >= 0 else "-"  # ASCII, as shares print: CI logs and terminals copy it as typed
    return sign + format_value(name, abs(delta))


def verdict(name: str, low: float, high: float) -> str:
    """``better``, ``worse`` or ``no clear difference`` for an interval of the change ``b - a`` of ``name``."""
    direction = info(name).higher_is_better
    if direction is None or low <= 0 <= high:
        return "no clear difference"
    return "better" if (low > 0) == direction else "worse"


def _seconds(value: float) -> str:
    if value < 1:
        return f"{_significant(value * 1000)} ms"
    if value < 120:
        return f"{value:.2f} s"
    return f"{value / 60:.1f} min"


def _significant(value: float) -> str:
    """Three significant digits, thousands separated, no exponent for everyday magnitudes."""
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"
