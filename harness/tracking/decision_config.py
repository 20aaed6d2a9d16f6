"""The sweep report's decision settings (the ``report`` group of a job's config): the baseline, the gate, the metrics an
experiment is about, the axes of the non-dominated designs and the objective of the recommendation."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from harness.metrics.registry import find


def registered_metric(name: str) -> str:
    """``name`` when the metric registry knows it; else a ``ValueError`` that says where the names are listed."""
    if find(name) is None:
        raise ValueError(f"{name!r} is not a registered metric (harness metrics lists them)")
    return name


class Objective(BaseModel):
    """How the sweep report recommends a design (``report.objective``)."""

    model_config = ConfigDict(extra="forbid")

    best: str = "coder_minutes_per_chart"
    """Metric the recommended design is best on (its registered direction says whether lowest or highest)."""
    guarded: list[str] = Field(default_factory=lambda: ["denial_rate", "micro_f1"])
    """Metrics whose gate check against the baseline must pass (the change shown to stay within the gate's tolerance)."""

    @field_validator("best")
    @classmethod
    def _best_registered(cls, name: str) -> str:
        return registered_metric(name)

    @field_validator("guarded")
    @classmethod
    def _guarded_registered(cls, names: list[str]) -> list[str]:
        return [registered_metric(name) for name in names]


class ReportConfig(BaseModel):
    """What the sweep report compares and recommends (``report.*``; set ``report.baseline=<override value>``)."""

    model_config = ConfigDict(extra="forbid")

    baseline: str | None = None
    """The baseline job: a value of its overrides (``icd10cm_2026_v1``), a whole override (``rules=icd10cm_2026_v1``) or
    its run id; None: the champion of the dataset split when it scored the same charts, else the sweep's first job."""
    gate: str = "default"
    """Gate config (``conf/gate/<name>.yaml`` or a YAML path) whose tolerances, bootstrap and verdict the report uses."""
    metrics: list[str] = Field(default_factory=list)
    """Metrics this experiment is about (an experiment preset lists them): the sweep report shows them beside the
    headline figures."""
    axes: list[str] = Field(default_factory=lambda: ["micro_f1", "denial_rate", "coder_minutes_per_chart",
                                                     "cost_per_1k_charts_usd"])
    """Axes of the non-dominated designs; an axis some job does not record is left out (and the page says so)."""
    objective: Objective = Field(default_factory=Objective)
    """How the recommended design is chosen."""

    @field_validator("metrics", "axes")
    @classmethod
    def _registered(cls, names: list[str]) -> list[str]:
        return [registered_metric(name) for name in names]
