"""Which runs the regression gate compares, and what it leaves on them: ``latest`` and ``champion`` resolved, the verdict
recorded on the candidate, a run promoted to champion.

``latest`` is the newest finished job run (tag harness.kind=job, by start time) in the experiment; against a baseline run
id, the newest of the baseline's dataset and dataset.split. ``champion`` is the run promoted for the candidate's
dataset/split in the candidate's experiment. A ``latest`` that is the baseline itself is refused: there is no newer run
to gate.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from harness.tracking.gate_config import GateError
from harness.tracking.gate_policy import CHAMPION, GateReport
from harness.tracking.gate_statistics import SPLIT_TAGS
from harness.tracking.run_ids import LATEST, resolve_run
from harness.tracking.run_store import DEFAULT_EXPERIMENT, DEFAULT_URI, client, get_run, load_run, newest_job_run, tag_filter

if TYPE_CHECKING:
    from harness.tracking.run_store import RecordedRun


def split_of(run_id: str, tags: dict[str, str]) -> dict[str, str]:
    """The run's dataset and dataset.split tags; a run without them is no harness job run."""
    split = {tag: tags.get(tag, "") for tag in SPLIT_TAGS}
    if not all(split.values()):
        raise GateError(f"run {run_id!r} has no dataset/dataset.split tags: not a harness job run")
    return split


def _champions(uri: str, experiment_id: str, split: dict[str, str]) -> list[str]:
    """Ids of the runs tagged champion for the dataset split in the experiment."""
    found = client(uri).search_runs([experiment_id], filter_string=tag_filter({CHAMPION: "true", **split}))
    return [run.info.run_id for run in found]


def resolve_champion(candidate_id: str, uri: str) -> str:
    """The champion run for the candidate's dataset/split, in the candidate's experiment."""
    candidate = get_run(candidate_id, uri)
    split = split_of(candidate_id, candidate.data.tags)
    found = _champions(uri, candidate.info.experiment_id, split)
    shown = "/".join(split.values())
    if not found:
        raise GateError(f"no champion run for {shown}: promote one first (harness gate promote <run_id>)")
    if len(found) > 1:
        raise GateError(f"several champion runs for {shown} ({', '.join(found)}): promote one again")
    return found[0]


def resolve_runs(candidate_id: str, baseline_id: str, uri: str = DEFAULT_URI,
                 experiment: str = DEFAULT_EXPERIMENT) -> tuple[str, str]:
    """The run ids to compare: ``latest`` and ``champion`` resolved as the module docstring says, any other id, id prefix
    or name by ``run_ids.resolve_run``."""
    latest = candidate_id == LATEST
    if not latest:
        candidate_id = resolve_run(candidate_id, uri, experiment)
    if baseline_id != CHAMPION:
        baseline_id = resolve_run(baseline_id, uri, experiment)
    if latest:
        scope = {} if baseline_id == CHAMPION else split_of(baseline_id, get_run(baseline_id, uri).data.tags)
        candidate_id = newest_job_run(uri, experiment, scope)
    if baseline_id == CHAMPION:
        baseline_id = resolve_champion(candidate_id, uri)
    if latest and candidate_id == baseline_id:
        raise GateError(f"the newest finished job run in experiment {experiment!r}, {candidate_id}, is the baseline itself: "
                        "there is no newer run to gate")
    return candidate_id, baseline_id


def load_runs(candidate_id: str, baseline_id: str, into: Path, uri: str = DEFAULT_URI,
              experiment: str = DEFAULT_EXPERIMENT) -> tuple[RecordedRun, RecordedRun]:
    """The candidate and baseline runs (``candidate_id`` may be ``latest``, ``baseline_id`` ``champion``), their artifacts
    downloaded under ``into``."""
    candidate_id, baseline_id = resolve_runs(candidate_id, baseline_id, uri, experiment)
    return (load_run(candidate_id, uri, into=_subfolder(into, "candidate")),
            load_run(baseline_id, uri, into=_subfolder(into, "baseline")))


def record(report: GateReport, uri: str, attachments: Path) -> None:
    """Tag the candidate run with the verdict and the baseline, and log the files in ``attachments`` (the summary, the JSON
    result, the comparison report: ``reports.gate_summary.publish``) to it."""
    from harness.config import TrackingConfig
    from harness.tracking.mlflow_store import Tracker

    tracker = Tracker(TrackingConfig(uri=uri))
    tracker.log(report.candidate.run_id, tags={"gate.verdict": report.verdict, "gate.baseline": report.baseline.run_id})
    tracker.log_artifacts(report.candidate.run_id, attachments)


def promote(run_id: str, uri: str = DEFAULT_URI) -> list[str]:
    """Tag ``run_id`` champion for its dataset/split; returns the runs that lost the tag."""
    from harness.config import TrackingConfig
    from harness.tracking.mlflow_store import Tracker

    with tempfile.TemporaryDirectory() as folder:
        run = load_run(run_id, uri, into=_subfolder(folder, "run"))  # only a job with per-chart results can be a baseline
    mlflow = client(uri)
    previous = _champions(uri, mlflow.get_run(run_id).info.experiment_id, split_of(run_id, run.tags))
    Tracker(TrackingConfig(uri=uri)).log(run_id, tags={CHAMPION: "true"})
    demoted = [other for other in previous if other != run_id]
    for other in demoted:
        mlflow.delete_tag(other, CHAMPION)
    return demoted


def _subfolder(root: str | Path, name: str) -> Path:
    path = Path(root) / name
    path.mkdir()
    return path
