"""Reading recorded runs back from MLflow: what reports, comparisons and the gate start from.

``load_run(run_id, uri)`` downloads a job's artifacts (``metrics.json``, ``per_chart_scores.jsonl``,
``predictions.jsonl``, curves, ...) and returns them with the run's tags and params. A run id that
does not exist, a store that cannot be reached or opened (a file that is no database), or a run without
per-chart results raises ``RunStoreError`` with a message that names the run or the store and what is wrong.

``newest_job_run(uri, experiment, tags)`` finds the id of the last finished job run (tag ``harness.kind=job``),
optionally with given tags (a dataset and split): what ``harness gate --candidate latest`` gates; ``newest_run`` does
the same for another kind (a sweep's parent). ``job_runs`` lists an experiment's finished job runs, newest first.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.config import DEFAULT_TRACKING_URI, TrackingConfig
from harness.errors import HarnessError
from harness.run_record import PREDICTIONS_FILE, SCORES_FILE, RunArtifacts
from harness.tracking.mlflow_store import resolve_uri, store_problem
from harness.tracking.server import mask_uri

DEFAULT_URI = DEFAULT_TRACKING_URI
"""The tracking store a job writes to by default (``conf/tracking/mlflow.yaml``)."""
DEFAULT_EXPERIMENT = TrackingConfig.model_fields["experiment"].default
"""The experiment a job records into by default."""


class RunStoreError(HarnessError, RuntimeError):
    """A run or store that cannot be read, or a run that lacks what the caller needs."""


@dataclass
class RecordedRun:
    """One job's run as recorded: identity, tags, params, metrics and its artifact folder."""

    run_id: str
    name: str
    tags: dict[str, str]
    params: dict[str, str]
    metrics: dict[str, float]
    folder: Path
    """Local copy of the run's artifacts."""
    per_chart: list[dict[str, Any]] = field(default_factory=list)
    """``per_chart_scores.jsonl`` rows: chart_id, tp, fp, fn, exact_match, routed_to_review, latency_s, ..."""
    predictions: list[dict[str, Any]] = field(default_factory=list)
    """``predictions.jsonl`` rows: chart_id, route, reasons, codes (with evidence), gold."""

    @property
    def artifacts(self) -> RunArtifacts:
        """The run's artifact files (``harness.run_record``)."""
        return RunArtifacts(self.folder)

    def curve(self, name: str) -> list[dict[str, Any]]:
        """Rows of ``<name>.json`` (``reliability``, ``risk_coverage``); empty when the run has none."""
        return self.artifacts.curve(name)


def client(uri: str = DEFAULT_URI):
    """An MLflow client on ``uri`` (a relative SQLite path is taken from the current directory); ``RunStoreError`` naming
    the URI (password masked) when there is no store there or it cannot be opened (a file that is no database)."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no bars in CI logs
    from mlflow.tracking import MlflowClient

    resolved = resolve_uri(uri)
    if resolved.startswith("sqlite:///") and not Path(resolved[len("sqlite:///"):]).is_file():
        raise RunStoreError(f"no MLflow store at {mask_uri(uri)} (run a job first, or pass --tracking-uri)")
    try:  # the client opens a SQL store at once
        return MlflowClient(tracking_uri=resolved)
    except Exception as error:  # noqa: BLE001 - see store_problem
        raise RunStoreError(store_problem(uri, error)) from None


def get_run(run_id: str, uri: str = DEFAULT_URI):
    """The run's MLflow record (info, tags, params, metrics), without its artifacts."""
    mlflow = client(uri)
    try:
        return mlflow.get_run(run_id)
    except Exception as error:  # noqa: BLE001 - MlflowException or a store error: both mean "cannot read it"
        raise RunStoreError(f"run {run_id!r} not found in {uri}: {str(error).splitlines()[0]}") from None


def tag_filter(tags: Mapping[str, str]) -> str:
    """An MLflow search filter matching runs that carry every one of ``tags``."""
    return " and ".join(f"tags.`{name}` = '{value}'" for name, value in tags.items())


def load_run(run_id: str, uri: str = DEFAULT_URI, into: Path | None = None) -> RecordedRun:
    """Download run ``run_id`` from the store at ``uri`` (artifacts into ``into``, else a fresh temp folder
    that the caller owns and may delete)."""
    from mlflow.exceptions import MlflowException

    mlflow = client(uri)
    run = get_run(run_id, uri)
    folder = into or Path(tempfile.mkdtemp(prefix=f"harness-run-{run_id[:8]}-"))
    try:
        local = Path(mlflow.download_artifacts(run_id, "", str(folder)))
    except (MlflowException, OSError) as error:
        raise RunStoreError(f"run {run_id!r}: artifacts cannot be read: {error}") from None
    recorded = RecordedRun(run_id=run_id, name=run.info.run_name or run_id, tags=dict(run.data.tags),
                           params=dict(run.data.params), metrics=dict(run.data.metrics), folder=local)
    artifacts = recorded.artifacts
    if not artifacts.has(SCORES_FILE):
        raise RunStoreError(f"run {run_id!r} ({recorded.name}) has no {SCORES_FILE}: "
                            "it is not a harness job run (a sweep parent?) or its artifacts were deleted")
    recorded.per_chart = artifacts.per_chart_scores()
    if artifacts.has(PREDICTIONS_FILE):
        recorded.predictions = artifacts.predictions()
    return recorded


def child_runs(parent_id: str, uri: str = DEFAULT_URI, required: bool = True) -> list[str]:
    """Ids of the finished job runs under a sweep's parent run, oldest first (failed jobs have no results to compare);
    with ``required``, none is an error."""
    mlflow = client(uri)
    parent = get_run(parent_id, uri)
    found = mlflow.search_runs([parent.info.experiment_id],
                               filter_string=f"tags.mlflow.parentRunId = '{parent_id}' and attributes.status = 'FINISHED'",
                               order_by=["attributes.start_time ASC"])
    if not found and required:
        raise RunStoreError(f"run {parent_id!r} has no finished child runs: pass a sweep's parent run")
    return [run.info.run_id for run in found]


def experiment_id(uri: str, experiment: str) -> str:
    """The id of the experiment named ``experiment`` in the store at ``uri``; an unknown name is a ``RunStoreError`` that
    lists the experiments there."""
    mlflow = client(uri)
    found = mlflow.get_experiment_by_name(experiment)
    if found is None:
        known = ", ".join(sorted(e.name for e in mlflow.search_experiments())) or "none"
        raise RunStoreError(f"no experiment {experiment!r} in {uri} (pass --experiment, or run a job first; "
                            f"experiments there: {known})")
    return found.experiment_id


def newest_run(kind: str, uri: str = DEFAULT_URI, experiment: str = DEFAULT_EXPERIMENT,
               tags: Mapping[str, str] | None = None) -> str:
    """Id of the finished run of ``kind`` (tag ``harness.kind``: ``job``, ``sweep``) that started last in ``experiment``
    among those with ``tags``. Running and failed runs never count."""
    wanted = {"harness.kind": kind, **(tags or {})}
    newest = client(uri).search_runs([experiment_id(uri, experiment)],
                                     filter_string=f"attributes.status = 'FINISHED' and {tag_filter(wanted)}",
                                     order_by=["attributes.start_time DESC"], max_results=1)
    if not newest:
        shown = ", ".join(f"{name}={value}" for name, value in wanted.items())
        raise RunStoreError(f"no finished run with {shown} in experiment {experiment!r} at {uri}")
    return newest[0].info.run_id


def newest_job_run(uri: str = DEFAULT_URI, experiment: str = DEFAULT_EXPERIMENT, tags: Mapping[str, str] | None = None) -> str:
    """Id of the finished job run that started last in ``experiment`` among those with ``tags`` (e.g. a dataset and
    split): what ``latest`` names. What-if runs and sweep parents are other kinds and never count."""
    return newest_run("job", uri, experiment, tags)


def job_runs(uri: str = DEFAULT_URI, experiment: str = DEFAULT_EXPERIMENT, limit: int = 20) -> list:
    """The finished job runs of ``experiment`` (MLflow ``Run`` records: info, tags, params, metrics), newest first, at most
    ``limit``."""
    return client(uri).search_runs([experiment_id(uri, experiment)],
                                   filter_string=f"attributes.status = 'FINISHED' and {tag_filter({'harness.kind': 'job'})}",
                                   order_by=["attributes.start_time DESC"], max_results=limit)
