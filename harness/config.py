"""Typed settings of the groups the harness itself owns (dataset, rules, tracking, evaluation), and shared defaults.

Hydra composes YAML from ``conf/`` over these models' defaults (an option's YAML holds only its differences); the
models check types and reject unknown keys with an error that names the field, so a typo never runs silently. The
root model of a whole job, which composes these with the stages' own groups, is ``harness.job_config.JobConfig``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from harness.contracts import DEFAULT_CODE_SET_YEAR, Chart, CodeSystem
from harness.registry import DATASETS, READERS

Split = Literal["train", "dev", "test"]
DEFAULT_TRACKING_URI = "sqlite:///outputs/mlflow.db"
"""Where runs are recorded unless ``tracking.uri`` (or a command's ``--tracking-uri``) says otherwise."""


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetConfig(_Config):
    """Which charts a run reads."""

    name: str
    """Registry name of the chart source (equals the Hydra option)."""
    split: Split = "dev"
    """Split to evaluate on."""
    limit: int | None = Field(default=None, ge=1)
    """Evaluate only the first ``limit`` charts (by id) of the split; None = all."""
    num_shards: int = Field(default=1, ge=1)
    """Split the evaluated charts (after ``limit``) into this many disjoint shards by a hash of the chart id, for a sweep
    over ``shard`` (a SLURM job array); ``harness merge <parent run>`` combines them (``harness.sources.shards``)."""
    shard: int = Field(default=0, ge=0)
    """Which shard this job evaluates, from 0 to ``num_shards - 1``."""
    data_dir: str | None = None
    """Root of external data (CodiEsp lives in ``<data_dir>/codiesp/<split>/``); defaults to ``$HARNESS_DATA_DIR``."""
    path: str | None = None
    """File of user charts (JSONL, Parquet, CSV: ``harness.sources.readers``); ``{split}`` is replaced by the split (one
    file per split)."""
    format: str | None = None
    """Format of ``path``, the name of a registered reader (``jsonl``, ``parquet``, ``csv`` or a plugin's); None: the one
    whose suffix the file has."""
    columns: dict[str, str] = Field(default_factory=dict)
    """Chart field -> the column (or JSON key) of ``path`` that holds it, for files that name fields otherwise
    (``{text: note}``); columns not named keep their names."""
    on_bad_line: Literal["stop", "skip"] = "stop"
    """A line of ``path`` that is not a valid chart: ``stop`` with an error naming file, line and field, or ``skip``
    it and go on (the run lists and counts the skipped lines)."""
    allow_outside_paths: bool = False
    """Accept page image paths that resolve outside the chart file's folder (absolute, ``..``, or a symlink out)."""
    max_image_bytes: int = Field(default=50_000_000, ge=1)
    """Largest page image file accepted, in bytes (50 MB); a chart naming a bigger one is a bad line."""
    max_line_bytes: int = Field(default=2_000_000, ge=1)
    """Longest JSONL line accepted, in bytes (2 MB), and longest CSV cell, in characters; a longer one is a bad line.
    The default keeps one chart to seconds of extraction (``harness bench chart-size``); raise it for bigger charts."""
    max_id_chars: int = Field(default=256, ge=1)
    """Longest chart id accepted, in characters (after NFC normalisation); a chart with a longer one is a bad line. Ids
    are copied into every artifact and MLflow, so a paragraph pasted into the id column must not be."""
    code_systems: list[CodeSystem] = Field(default_factory=lambda: ["icd10cm"])
    """Code systems whose gold codes are loaded and scored (CodiEsp: icd10cm = task D, icd10pcs = task P)."""
    unknown_gold_codes: Literal["keep", "error"] = "error"
    """What to do with a gold code that is well formed but absent from the code set of ``code_set_year``."""
    code_set_year: int = DEFAULT_CODE_SET_YEAR
    """Code-set year the gold codes are checked against."""
    cache_dir: str | None = None
    """Hugging Face datasets cache for parsed charts; defaults to ``$HARNESS_CACHE_DIR/datasets``."""
    labelled: bool | None = None
    """Whether the charts carry gold codes to score against; None: labelled when any evaluated chart has a gold code.
    An unlabelled (evaluation-only) run records what needs no gold (review rate and reasons, codes per chart, edits,
    throughput) and no accuracy metric at all."""

    def is_labelled(self, charts: Sequence[Chart]) -> bool:
        """``labelled``, or whether any of ``charts`` has a gold code when it is None."""
        return self.labelled if self.labelled is not None else any(chart.gold for chart in charts)

    @field_validator("name")
    @classmethod
    def _registered(cls, name: str) -> str:
        return DATASETS.check(name)

    @field_validator("format")
    @classmethod
    def _readable(cls, file_format: str | None) -> str | None:
        return file_format if file_format is None else READERS.check(file_format)

    @field_validator("columns")
    @classmethod
    def _chart_fields(cls, columns: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(columns) - set(Chart.model_fields))
        if unknown:
            raise ValueError(f"{', '.join(unknown)}: not a chart field ({', '.join(Chart.model_fields)})")
        return columns

    @model_validator(mode="after")
    def _shard_in_range(self) -> DatasetConfig:
        if self.shard >= self.num_shards:
            raise ValueError(f"dataset.shard={self.shard} is not below dataset.num_shards={self.num_shards} "
                             f"(shards are numbered 0 to {self.num_shards - 1})")
        return self

    def resolved_data_dir(self) -> Path:
        root = self.data_dir or os.environ.get("HARNESS_DATA_DIR")
        if not root:
            raise FileNotFoundError(f"dataset {self.name!r} needs external data: set HARNESS_DATA_DIR or dataset.data_dir")
        return Path(root).expanduser()


class RulesConfig(_Config):
    """Which rule pack codes the findings."""

    name: str
    """Hydra option name, e.g. ``icd10cm_2026_v2``."""
    pack: str
    """Pack name under ``coders/packs/`` or a path to a pack YAML file."""


class TrackingConfig(_Config):
    """Where and how runs are recorded in MLflow."""

    uri: str = DEFAULT_TRACKING_URI
    """MLflow tracking URI; a relative SQLite path is resolved against the directory the harness was started in."""
    experiment: str = "coding-harness"
    """MLflow experiment name."""
    artifact_root: str | None = None
    """Artifact location for a new experiment; defaults to ``mlartifacts/`` beside a SQLite store."""
    redact: bool = False
    """Replace evidence text in artifacts with ``[REDACTED]`` (offsets are kept)."""
    enabled: bool = True
    """Record the run in MLflow; off only for quick local checks."""
    system_metrics: bool = True
    """Sample CPU, memory and NVIDIA GPU use during the pipeline (MLflow's ``system/*`` metrics)."""
    system_metrics_interval_s: float = Field(default=2.0, gt=0)
    """Seconds between system-metric samples."""


class EvaluationConfig(_Config):
    """How metrics and their intervals are computed."""

    n_resamples: int = Field(default=1000, ge=10)
    """Bootstrap resamples (by chart) for every interval."""
    confidence: float = Field(default=0.95, gt=0, lt=1)
    """Coverage of the bootstrap intervals."""
    machine_usd_per_hour: float | None = Field(default=None, ge=0)
    """Price of the machine the run used, for ``cost_per_1k_charts_usd``; None leaves cost out."""
    capacity_target_charts_per_day: float = Field(default=10_000, ge=0, allow_inf_nan=False)
    """Charts a day production must code, for ``engines_for_target``. An assumption, not a measurement: set it to the
    real volume."""
    capacity_hours_per_day: float = Field(default=24, gt=0, le=24)
    """Hours a day each engine works, for ``engines_for_target``; engines run round the clock unless told."""


CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


def config_option(group: str, name: str) -> dict:
    """One option of a config group as written in ``conf/<group>/<name>.yaml`` (for tools outside Hydra): only what
    differs from the group's model, whose validation fills in the rest (an option of defaults only is ``{}``)."""
    import yaml

    path = CONF_DIR / group / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml")))
        raise FileNotFoundError(f"no {group} option {name!r} (known: {known})")
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def cache_root() -> Path:
    """Root of the harness's caches (``$HARNESS_CACHE_DIR`` or ``~/.cache/coding-harness``)."""
    return Path(os.environ.get("HARNESS_CACHE_DIR") or Path.home() / ".cache" / "coding-harness")
