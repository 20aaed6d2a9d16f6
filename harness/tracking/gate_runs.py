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

from harness.tracking.gate_config import GateConfig, GateError
from harness.tracking.gate_policy import CHAMPION, GateReport, decide
from harness.tracking.gate_statistics import SPLIT_TAGS
from harness.tracking.run_store import DEFAULT_EXPERIMENT, DEFAULT_URI, client, get_run, load_run, newest_job_run, tag_filter

LATEST = "latest"
"""The word for the newest finished job run."""
SUMMARY_ARTIFACT = "gate_summary.md"
"""The artifact of the candidate run holding the gate's Markdown summary."""


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
    """The run ids to compare, with ``latest`` and ``champion`` resolved (see the module docstring)."""
    latest = candidate_id == LATEST
    if latest:
        scope = {} if baseline_id == CHAMPION else split_of(baseline_id, get_run(baseline_id, uri).data.tags)
        candidate_id = newest_job_run(uri, experiment, scope)
    if baseline_id == CHAMPION:
        baseline_id = resolve_champion(candidate_id, uri)
    if latest and candidate_id == baseline_id:
        raise GateError(f"the newest finished job run in experiment {experiment!r}, {candidate_id}, is the baseline itself: "
                        "there is no newer run to gate")
    return candidate_id, baseline_id


def record(report: GateReport, uri: str) -> None:
    """Log the summary to the candidate run and tag it with the verdict and the baseline."""
    from harness.config import TrackingConfig
    from harness.tracking.mlflow_store import Tracker

    tracker = Tracker(TrackingConfig(uri=uri))
    tracker.log(report.candidate.run_id, tags={"gate.verdict": report.verdict, "gate.baseline": report.baseline.run_id})
    with tempfile.TemporaryDirectory() as folder:  # log_artifacts logs a folder: give it just the summary
        (Path(folder) / SUMMARY_ARTIFACT).write_text(report.markdown(), encoding="utf-8")
        tracker.log_artifacts(report.candidate.run_id, Path(folder))


def run_gate(candidate_id: str, baseline_id: str, uri: str = DEFAULT_URI, config: GateConfig | None = None,
             experiment: str = DEFAULT_EXPERIMENT) -> GateReport:
    """Load both runs (``candidate_id`` may be ``latest``, ``baseline_id`` ``champion``), decide and record the result on
    the candidate.

    The downloaded artifacts are deleted on return; the report keeps the runs' rows, tags and metrics.
    """
    candidate_id, baseline_id = resolve_runs(candidate_id, baseline_id, uri, experiment)
    with tempfile.TemporaryDirectory() as folder:
        candidate = load_run(candidate_id, uri, into=_subfolder(folder, "candidate"))
        baseline = load_run(baseline_id, uri, into=_subfolder(folder, "baseline"))
        report = decide(candidate, baseline, config or GateConfig())
        record(report, uri)
    return report


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


def _subfolder(root: str, name: str) -> Path:
    path = Path(root) / name
    path.mkdir()
    return path
