"""The jobs of a sweep as the tracking store knows them: planned, finished, failed or missing.

A sweep's parent run records the jobs the sweep launches (artifact ``sweep_jobs.json``: each job's
command-line overrides). Every job's run carries its overrides (tag ``harness.overrides``) and the
parent's id (tag ``mlflow.parentRunId``). So any process that reaches the store can tell which
jobs are done: a job on another node deciding whether a re-submitted sweep still needs it, the
launching process closing the sweep, or ``harness report sweep`` days later. Nothing depends on
the launching process's memory.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

JOBS_ARTIFACT = "sweep_jobs.json"
JobStatus = Literal["finished", "failed", "running", "missing"]
_STATUS = {"FINISHED": "finished", "FAILED": "failed", "KILLED": "missing", "RUNNING": "running", "SCHEDULED": "running"}
"""A KILLED job was stopped (SIGTERM, Ctrl-C, a pre-empted node) and did not finish: missing, as one never started."""


@dataclass(frozen=True)
class JobState:
    """One job of a sweep, by its overrides."""

    overrides: str
    """The job's command-line overrides, space-separated: its identity within the sweep."""
    status: JobStatus
    """``missing``: planned, but not finished nor failed: no run recorded (not started yet), or its run was killed or
    pre-empted before it finished."""
    run_id: str | None = None
    error: str = ""
    """For a failed job: the error's type, as the job recorded it."""


def job_key(overrides: Sequence[str]) -> str:
    """A job's identity within its sweep; equal to the ``harness.overrides`` tag of its run."""
    return " ".join(overrides)


def planned_jobs(task_overrides: Sequence[str], sweeper_params: Mapping[str, Any] | None = None) -> list[str] | None:
    """The jobs Hydra's basic sweeper launches for these overrides (and ``hydra.sweeper.params``), in launch order;
    None when they cannot be worked out here (another sweeper, or a sweep over a config group's glob)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    arguments = [f"{key}={value}" for key, value in (sweeper_params or {}).items()] + list(task_overrides)
    try:
        parsed = OverridesParser.create().parse_overrides(arguments)
        batches = BasicSweeper.split_arguments(parsed, None)
    except Exception:  # noqa: BLE001 - Hydra raises several kinds here; the sweep itself reports real errors
        return None
    return [job_key(job) for batch in batches for job in batch]


def log_planned_jobs(parent_run_id: str, jobs: Sequence[str], uri: str) -> None:
    from harness.tracking.run_store import client

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / JOBS_ARTIFACT
        path.write_text(json.dumps(list(jobs), indent=1) + "\n")
        client(uri).log_artifact(parent_run_id, str(path))


def _planned(parent_run_id: str, uri: str) -> list[str]:
    from harness.tracking.run_store import client

    with tempfile.TemporaryDirectory() as folder:
        try:
            path = client(uri).download_artifacts(parent_run_id, JOBS_ARTIFACT, folder)
        except Exception:  # noqa: BLE001 - a sweep of another sweeper, or of an older harness, lists no plan
            return []
        return json.loads(Path(path).read_text())


def _children(parent_run_id: str, uri: str) -> list[Any]:
    from harness.tracking.run_store import client, get_run

    parent = get_run(parent_run_id, uri)
    return client(uri).search_runs([parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'",
                                   order_by=["attributes.start_time ASC"])


def job_states(parent_run_id: str, uri: str, ended: bool | None = None) -> list[JobState]:
    """Every job of the sweep: the planned ones in launch order, then any other recorded job. A job recorded more than
    once (re-submitted) counts as finished when one of its runs finished. Once the sweep has ``ended`` (its launcher
    returned; None: its parent run is no longer RUNNING), a job run still RUNNING was killed before it could say so
    (SIGKILL, a lost node): it is missing."""
    if ended is None:
        from harness.tracking.run_store import get_run

        ended = get_run(parent_run_id, uri).info.status != "RUNNING"
    recorded: dict[str, JobState] = {}
    for run in _children(parent_run_id, uri):
        tags = run.data.tags
        if tags.get("harness.kind") != "job":
            continue
        key = tags.get("harness.overrides", "")
        status = _STATUS.get(run.info.status, "failed")
        if ended and status == "running":
            state = JobState(key, "missing", run.info.run_id, "killed before it could end its run")
        else:
            state = JobState(key, status, run.info.run_id, tags.get("harness.error", ""))
        if recorded.get(key, state).status != "finished" or state.status == "finished":
            recorded[key] = state
    planned = _planned(parent_run_id, uri)
    states = [recorded.pop(key, JobState(key, "missing")) for key in planned]
    return states + list(recorded.values())


def finished_run(parent_run_id: str, overrides: Sequence[str], uri: str) -> str | None:
    """The run of this job that finished under the parent already (a re-submitted sweep skips it), else None."""
    key = job_key(overrides)
    for run in _children(parent_run_id, uri):
        tags = run.data.tags
        if run.info.status == "FINISHED" and tags.get("harness.kind") == "job" and tags.get("harness.overrides") == key:
            return run.info.run_id
    return None


def record_failed_job(tracker: Any, parent_run_id: str, overrides: Sequence[str], error: BaseException) -> str:
    """A FAILED run under the parent for a job that raised ``error``: the sweep report lists it, a re-submission re-runs
    it. Only the error's type goes into the tags (a message may quote an input)."""
    key = job_key(overrides)
    run_id = tracker.start_run(f"failed: {key}"[:250], tags={"harness.kind": "job", "harness.overrides": key,
                                                              "harness.error": type(error).__name__},
                               parent_run_id=parent_run_id)
    tracker.finish(run_id, "FAILED")
    return run_id
