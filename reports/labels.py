"""How metrics are shown to coding leads: a plain name, a unit, and which way is better.

Metric names are the harness's stable interface (``micro_f1``, ``stage_extract_s``, ...); pages show
``label(name)`` and keep the name itself in small print, so an engineer can find it in MLflow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Unit = Literal["share", "seconds", "per_second", "usd", "count", "score", "megabytes", "number"]


@dataclass(frozen=True)
class MetricInfo:
    label: str
    unit: Unit
    higher_is_better: bool | None = True
    """None where neither direction is better (counts, memory)."""


METRICS: dict[str, MetricInfo] = {
    "micro_f1": MetricInfo("F1 (all codes)", "share"),
    "micro_precision": MetricInfo("Precision: assigned codes that are right", "share"),
    "micro_recall": MetricInfo("Recall: gold codes that were found", "share"),
    "macro_f1": MetricInfo("F1 averaged over distinct codes", "share"),
    "map": MetricInfo("Ranking quality (MAP)", "share"),
    "exact_match": MetricInfo("Charts coded exactly right", "share"),
    "review_rate": MetricInfo("Charts sent to a coder", "share", False),
    "automation_rate": MetricInfo("Codes accepted without a coder", "share"),
    "auto_precision": MetricInfo("Precision of codes accepted without a coder", "share"),
    "automation_rate_at_p95": MetricInfo("Codes that could be automated at 95% precision", "share"),
    "automation_rate_at_p99": MetricInfo("Codes that could be automated at 99% precision", "share"),
    "aurc": MetricInfo("Area under the risk-coverage curve", "score", False),
    "ece": MetricInfo("Calibration error", "score", False),
    "ece_raw": MetricInfo("Calibration error before calibration", "score", False),
    "evidence_f1_exact": MetricInfo("Evidence spans matching the coders' exactly", "share"),
    "evidence_f1_overlap": MetricInfo("Evidence spans overlapping the coders'", "share"),
    "evidence_supported_rate": MetricInfo("Cited evidence found in the chart", "share"),
    "unsupported_evidence_rate": MetricInfo("Quoted evidence not found in the chart", "share", False),
    "edit_failure_rate": MetricInfo("Charts failing a validation edit", "share", False),
    "billing_valid_rate": MetricInfo("Claims that pass billing checks", "share"),
    "schema_valid_rate": MetricInfo("Extractor answers in the expected format", "share"),
    "micro_f1_recoverable": MetricInfo("F1 on codes whose evidence survived intake", "share"),
    "ocr_cer": MetricInfo("OCR character error rate", "share", False),
    "intake_review_rate": MetricInfo("Charts flagged by intake (unreadable, missing pages)", "share", False),
    "quality_auroc": MetricInfo("Intake quality score predicts errors (AUROC)", "share"),
    "charts_per_s": MetricInfo("Charts per second", "per_second"),
    "pages_per_s": MetricInfo("Pages read per second (OCR)", "per_second"),
    "input_tokens_per_s": MetricInfo("Model input tokens per second", "per_second"),
    "output_tokens_per_s": MetricInfo("Model output tokens per second", "per_second"),
    "chart_latency_p50_s": MetricInfo("Time per chart, median", "seconds", False),
    "chart_latency_p95_s": MetricInfo("Time per chart, slowest 5%", "seconds", False),
    "wall_s": MetricInfo("Pipeline time, whole run", "seconds", False),
    "cost_per_1k_charts_usd": MetricInfo("Machine cost per 1,000 charts", "usd", False),
    "n_charts": MetricInfo("Charts", "count", None),
    "n_gold_codes": MetricInfo("Gold codes", "count", None),
    "n_gold_codes_recoverable": MetricInfo("Gold codes with evidence after intake", "count", None),
    "n_predicted_codes": MetricInfo("Codes assigned", "count", None),
    "extraction_cache_hits": MetricInfo("Extractions reused from the cache", "count", None),
    "gpu_count": MetricInfo("GPUs", "count", None),
    "gpu_memory_peak_mb": MetricInfo("GPU memory, peak", "megabytes", None),
    "gpu_utilization_mean_pct": MetricInfo("GPU busy, mean (%)", "number", None),
    "system_memory_peak_mb": MetricInfo("Memory, peak", "megabytes", None),
}

HEADLINE = ("micro_f1", "micro_precision", "micro_recall", "macro_f1", "map", "exact_match", "review_rate")
"""The accuracy and review figures every report leads with (all carry bootstrap intervals)."""


def info(name: str) -> MetricInfo:
    """What is known about metric ``name``; families (``stage_*_s``, ``edit_*_failure_rate``) are named by pattern."""
    if name in METRICS:
        return METRICS[name]
    if name.startswith("stage_") and name.endswith("_s"):
        return MetricInfo(f"Time in stage '{name[6:-2]}'", "seconds", False)
    if name.startswith("edit_") and name.endswith("_failure_rate"):
        return MetricInfo(f"Charts failing edit '{name[5:-13]}'", "share", False)
    if name.endswith("_rate"):
        return MetricInfo(name.replace("_", " "), "share", None)
    if name.endswith("_s"):
        return MetricInfo(name.replace("_", " "), "seconds", None)
    if name.endswith("_mb"):
        return MetricInfo(name.replace("_", " "), "megabytes", None)
    return MetricInfo(name.replace("_", " "), "number", None)


def label(name: str) -> str:
    return info(name).label


def format_value(name: str, value: float | None) -> str:
    """``value`` of metric ``name`` in its unit: ``84.0%``, ``0.54 ms``, ``976 /s``, ``$1.14``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    unit = info(name).unit
    if unit == "share":
        return f"{value * 100:.1f}%"
    if unit == "seconds":
        return _seconds(value)
    if unit == "per_second":
        return f"{_significant(value)} /s"
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
    sign = "+" if delta >= 0 else "−"
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
