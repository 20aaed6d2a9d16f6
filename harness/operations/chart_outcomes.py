"""A recorded run's settings and each chart's expected outcome, read back from its artifact folder: what compares two
runs chart by chart (the CI gate, the comparison report) and what ``harness operations`` starts from.

``denial_rate``, ``rework_rate`` and ``coder_minutes_per_chart`` are means over charts of each chart's expected
outcome (``harness.operations.workload``), so two runs over the same charts pair chart by chart, as F1 does: the
per-chart values are recomputed from ``chart_results.jsonl`` and ``per_chart_scores.jsonl`` under one workload model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coders.routing import CODE_SET_YEAR, RoutingConfig
from harness.contracts import DEFAULT_CODE_SET_YEAR
from harness.operations.config import OperationsConfig
from harness.operations.facts import ChartFacts, load_recorded
from harness.operations.workload import workload
from harness.run_record import CONFIG_FILE, METRICS_FILE, RESULTS_FILE, SCORES_FILE, RunArtifacts

CHART_MEANS: dict[str, str] = {"denial_rate": "denial", "rework_rate": "rework", "coder_minutes_per_chart": "minutes"}
"""Run metric -> the ``ChartWorkload`` attribute whose mean over charts it is."""


@dataclass(frozen=True)
class RecordedSettings:
    """What a recorded job ran with, as far as its operations go."""

    operations: OperationsConfig
    """The workload model (the defaults for a run recorded before there was one)."""
    routing: RoutingConfig
    seed: int
    n_resamples: int
    confidence: float
    recorded_operations: bool
    """The run's config names a workload model (False: recorded before it existed; ``operations`` are the defaults)."""
    code_set_year: int = DEFAULT_CODE_SET_YEAR
    """The ICD-10-CM year the job validated against (``edits.year``): routing's code lists are checked in it."""


def read_config(folder: Path) -> dict[str, Any]:
    """``config.yaml`` of a job's artifact folder; ``FileNotFoundError`` when it has none."""
    artifacts = RunArtifacts(folder)
    if not artifacts.has(CONFIG_FILE):
        raise FileNotFoundError(f"{folder} has no {CONFIG_FILE}: not the artifact folder of a job")
    return artifacts.config()


def recorded_settings(folder: Path) -> RecordedSettings:
    """The workload model, routing policy, seed and bootstrap settings of the job recorded in ``folder``
    (``pydantic.ValidationError`` when its config does not validate under this version)."""
    config = read_config(folder)
    evaluation = config.get("evaluation") or {}
    year = int((config.get("edits") or {}).get("year", DEFAULT_CODE_SET_YEAR))
    return RecordedSettings(
        operations=OperationsConfig.model_validate(config.get("operations") or {}),
        routing=RoutingConfig.model_validate(config.get("routing") or {}, context={CODE_SET_YEAR: year}),
        seed=int(config.get("seed", 0)),
        n_resamples=int(evaluation.get("n_resamples", 1000)),
        confidence=float(evaluation.get("confidence", 0.95)),
        recorded_operations="operations" in config,
        code_set_year=year,
    )


def chart_outcomes(facts: Sequence[ChartFacts], config: OperationsConfig) -> list[dict[str, Any]]:
    """One row per chart: ``chart_id`` and its expected value of each metric in :data:`CHART_MEANS` (the rows pair with
    ``per_chart_scores.jsonl`` rows by chart id; ``harness.metrics.paired_stats`` resamples them)."""
    rows = []
    for chart in facts:
        load = workload(chart, config)
        rows.append({"chart_id": chart.chart_id, **{name: float(getattr(load, attribute)) for name, attribute in
                                                      CHART_MEANS.items()}})
    return rows


def costable(folder: Path) -> str | None:
    """Why the charts of the run in ``folder`` cannot be costed (no per-chart results, no gold codes); None when they can."""
    artifacts = RunArtifacts(folder)
    missing = artifacts.missing(RESULTS_FILE, SCORES_FILE, METRICS_FILE)
    if missing:
        return f"no {', '.join(missing)} (a run recorded without per-chart results)"
    if "n_gold_codes" not in artifacts.metrics():
        return "no gold codes (the workload model needs to know which codes are wrong)"
    return None


def recorded_chart_outcomes(folder: Path, config: OperationsConfig) -> list[dict[str, Any]]:
    """:func:`chart_outcomes` of the run recorded in ``folder`` (as it was routed), costed under ``config``."""
    return chart_outcomes(load_recorded(Path(folder)).facts(), config)


def assumptions_differ(a: OperationsConfig, b: OperationsConfig) -> list[str]:
    """The workload-model settings (dotted, ``name`` left out) whose values differ between ``a`` and ``b``."""
    def flat(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in values.items():
            if isinstance(value, Mapping):
                out |= flat(value, f"{prefix}{key}.")
            else:
                out[f"{prefix}{key}"] = value
        return out

    left, right = flat(a.model_dump(exclude={"name"})), flat(b.model_dump(exclude={"name"}))
    return sorted(key for key in left.keys() | right.keys() if left.get(key) != right.get(key))
