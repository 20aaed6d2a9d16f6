"""What reports read from a run: its composed config, metrics, and each chart's scored codes.

A job's artifact folder and a run downloaded from MLflow (``harness.tracking.run_store.load_run``) hold the same files
(``harness.run_record``), so both are read as a ``RecordedRun``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.contracts import ReviewReason
from harness.errors import HarnessError
from harness.run_record import (
    CONFIG_FILE,
    METRICS_FILE,
    PREDICTIONS_FILE,
    RUN_FILE,
    SCORES_FILE,
    RunArtifacts,
    RunFolder,
)
from harness.tracking.run_store import RecordedRun


class ReportError(HarnessError, ValueError):
    """Runs that a report cannot be built from (two runs over different charts, a folder without results)."""


def read_folder(folder: Path) -> RecordedRun:
    """A job's artifact folder as a ``RecordedRun`` (no MLflow: metrics from ``metrics.json``, params from the config,
    and the tags that scope a comparison from the config and the job's ``run.json`` beside the folder; without it the
    dataset digest is empty and a comparison refuses the run)."""
    from harness.tracking.gate_statistics import scope_tags
    from harness.tracking.mlflow_store import flatten

    artifacts = RunArtifacts(folder)
    if not artifacts.has(METRICS_FILE):
        raise ReportError(f"{folder} has no {METRICS_FILE}: it is not a job's artifact folder")
    config = run_config(folder)
    name = "-".join(str(config.get(group, {}).get("name", "?")) for group in ("dataset", "extractor", "rules"))
    dataset = config.get("dataset", {})
    summary = RunFolder(folder.parent).summary() if (folder.parent / RUN_FILE).is_file() else {}
    digest = str(summary.get("dataset_digest", ""))
    tags = scope_tags(str(dataset.get("name", "")), str(dataset.get("split", "")), digest)
    return RecordedRun(run_id="", name=name, tags=tags, params={k: str(v) for k, v in flatten(config).items()},
                       metrics=artifacts.metrics(), folder=folder,
                       per_chart=artifacts.per_chart_scores() if artifacts.has(SCORES_FILE) else [],
                       predictions=artifacts.predictions() if artifacts.has(PREDICTIONS_FILE) else [])


def run_config(folder: Path) -> dict[str, Any]:
    """The composed config the job ran with (``config.yaml``); empty when the folder has none."""
    artifacts = RunArtifacts(folder)
    return artifacts.config() if artifacts.has(CONFIG_FILE) else {}


@dataclass(frozen=True)
class ChartCodes:
    """One chart's gold codes next to the codes the pipeline assigned (scored code systems only)."""

    chart_id: str
    gold: frozenset[str]
    predicted: Mapping[str, Mapping[str, Any]]
    """Code -> its prediction row entry (``confidence``, ``evidence`` spans); a repeated code keeps its highest confidence."""
    route: str
    reasons: tuple[ReviewReason, ...]

    @property
    def correct(self) -> frozenset[str]:
        return self.gold & self.predicted.keys()

    @property
    def false_positives(self) -> frozenset[str]:
        return frozenset(self.predicted.keys() - self.gold)

    @property
    def false_negatives(self) -> frozenset[str]:
        return self.gold - self.predicted.keys()


def chart_codes(run: RecordedRun) -> list[ChartCodes]:
    """Each chart's codes, scored as the harness scores them: only the dataset's code systems count."""
    systems = set(run_config(run.folder).get("dataset", {}).get("code_systems", ["icd10cm"]))
    charts = []
    for row in run.predictions:
        predicted: dict[str, Mapping[str, Any]] = {}
        for code in row["codes"]:
            kept = predicted.get(code["code"])
            if code.get("system", "icd10cm") in systems and (kept is None or code["confidence"] > kept["confidence"]):
                predicted[code["code"]] = code
        charts.append(ChartCodes(chart_id=row["chart_id"], gold=frozenset(row["gold"]), predicted=predicted,
                                 route=row["route"], reasons=tuple(map(ReviewReason.parse, row["reasons"]))))
    return charts


def differing_params(runs: Sequence[RecordedRun]) -> list[str]:
    """Params whose values differ between ``runs`` (missing counts as a value): what a sweep varied.

    Where a config group's ``<group>.name`` differs, the group's other keys are implied by that choice
    and left out, so ``degradation=clean,fax_light`` yields ``degradation.name`` alone.
    """
    names = sorted({name for run in runs for name in run.params})
    differing = [n for n in names if len({run.params.get(n) for run in runs}) > 1]
    chosen_groups = {n.rsplit(".", 1)[0] for n in differing if n.endswith(".name")}
    return [n for n in differing if n.endswith(".name") or not any(n.startswith(f"{group}.") for group in chosen_groups)]


def param_label(name: str) -> str:
    """``degradation.name`` -> ``degradation``: a group choice reads as the group's name."""
    return name.removesuffix(".name")


def identity(run: RecordedRun) -> dict[str, str]:
    """Who a run is, in a coding lead's words: dataset, extractor, rules, degradation, charts, and the MLflow run."""
    config = run_config(run.folder)
    dataset = config.get("dataset", {})
    facts = {
        "Charts": f"{dataset.get('name', '?')} / {dataset.get('split', '?')}, {len(run.per_chart)} charts",
        "Extractor": str(config.get("extractor", {}).get("name", "?")),
        "Rule pack": str(config.get("rules", {}).get("pack", "?")),
        "Degradation": str(config.get("degradation", {}).get("name", "?")),
        "Routing": str(config.get("routing", {}).get("name", "?")),
    }
    if run.run_id:
        facts["MLflow run"] = f"{run.name} ({run.run_id})"
    return facts
