"""A sweep's jobs in the tracking store: a failed job shows in the parent run and its report, a re-submission runs only it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import harness
from waiting import wait_for

from harness.tracking.sweep_jobs import JobState, job_states, planned_jobs


def test_planned_jobs_are_the_basic_sweepers_jobs_in_launch_order() -> None:
    assert planned_jobs(["rules=a,b", "degradation=clean,fax_light", "seed=1"]) == [
        "rules=a degradation=clean seed=1", "rules=a degradation=fax_light seed=1",
        "rules=b degradation=clean seed=1", "rules=b degradation=fax_light seed=1"]
    assert planned_jobs(["seed=1"], {"rules": "a,b"}) == ["rules=a seed=1", "rules=b seed=1"]
    assert planned_jobs(["seed=range(0,3)"]) == ["seed=0", "seed=1", "seed=2"]


def _write_charts(path: Path) -> None:
    from harness.config import DatasetConfig
    from harness.sources import load_charts

    charts = load_charts(DatasetConfig(name="sample", split="dev", limit=3), purpose="learn")
    path.write_text("".join(json.dumps(chart.model_dump(mode="json")) + "\n" for chart in charts))


def _sweep(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    return harness(tmp_path, "-m", "dataset=jsonl", "dataset.path=charts_a.jsonl,charts_b.jsonl", "extractor=oracle",
                   "extractor.train_split=null", "extraction_cache=false", f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
                   f"hydra.sweep.dir={tmp_path / 'sweep'}", *extra, check=False)


@pytest.mark.slow
def test_a_failed_job_is_recorded_and_a_resubmitted_sweep_runs_only_what_is_missing(tmp_path: Path) -> None:
    from harness.tracking.run_store import client

    _write_charts(tmp_path / "charts_a.jsonl")  # charts_b.jsonl does not exist yet: its job fails
    first = _sweep(tmp_path)
    assert first.returncode != 0
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    parent = (tmp_path / "sweep" / ".mlflow_parent_run_id").read_text().strip()
    assert client(uri).get_run(parent).info.status == "FAILED"
    states = job_states(parent, uri)
    assert [(s.overrides.split()[1], s.status, s.error) for s in states] == [
        ("dataset.path=charts_a.jsonl", "finished", ""), ("dataset.path=charts_b.jsonl", "failed", "DataError")]
    assert "jobs_finished: 1 of 2" in first.stdout and f"hydra.sweep.dir={tmp_path / 'sweep'}" in first.stdout
    page = (tmp_path / "sweep" / "sweep_report.html").read_text()
    assert "Jobs that did not finish" in page and "dataset.path=charts_b.jsonl" in page

    _write_charts(tmp_path / "charts_b.jsonl")
    second = _sweep(tmp_path)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "finished before as run" in second.stdout and second.stdout.count("finished before as run") == 1
    assert client(uri).get_run(parent).info.status == "FINISHED"
    after = job_states(parent, uri)
    assert [s.status for s in after] == ["finished", "finished"]
    assert after[0].run_id == states[0].run_id  # the finished job was not run again
    page = (tmp_path / "sweep" / "sweep_report.html").read_text()
    assert "Jobs that did not finish" not in page and all(s.run_id[:8] in page for s in after)


def test_a_job_recorded_twice_counts_as_finished_when_one_run_finished(tmp_path: Path) -> None:
    from harness.config import TrackingConfig
    from harness.tracking.mlflow_store import Tracker
    from harness.tracking.sweep_jobs import finished_run, log_planned_jobs, record_failed_job

    tracker = Tracker(TrackingConfig(uri=f"sqlite:///{tmp_path / 'mlflow.db'}"))
    parent = tracker.start_run("sweep", tags={"harness.kind": "sweep"})
    log_planned_jobs(parent, ["seed=0", "seed=1", "seed=2"], tracker.uri)
    record_failed_job(tracker, parent, ["seed=0"], ValueError("boom"))
    done = tracker.start_run("job", tags={"harness.kind": "job", "harness.overrides": "seed=0"}, parent_run_id=parent)
    tracker.finish(done)
    record_failed_job(tracker, parent, ["seed=1"], KeyError("x"))
    assert job_states(parent, tracker.uri) == [JobState("seed=0", "finished", done), JobState("seed=1", "failed",
                                               job_states(parent, tracker.uri)[1].run_id, "KeyError"),
                                               JobState("seed=2", "missing")]
    assert finished_run(parent, ["seed=0"], tracker.uri) == done
    assert finished_run(parent, ["seed=1"], tracker.uri) is None


def _job_pids(sweep: Path) -> set[int]:
    """submitit's local executor names each job's folder after the job's process id."""
    folder = sweep / ".submitit"
    return {int(path.name) for path in folder.iterdir() if path.name.isdigit()} if folder.is_dir() else set()


@pytest.mark.slow
def test_a_killed_job_is_missing_from_the_sweep_and_a_resubmission_runs_only_it(tmp_path: Path) -> None:
    """Each job in a process of its own (submitit), as on SLURM; one is killed mid-run, as a pre-empted job is."""
    import os
    import signal

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    # The second job's step time comes from the environment: slow (minutes) now, fast when re-submitted. Its overrides,
    # and so its identity in the sweep, stay the same.
    command = [sys.executable, "-m", "harness", "-m", "hydra/launcher=slurm_local", "dataset.limit=3",
               "extractor=simulated_accelerator", "extractor.wraps=oracle", "extractor.train_split=null",
               "extractor.step_fixed_s=0.0001,${oc.env:STEP_FIXED_S}", "extraction_cache=false",
               f"tracking.uri={uri}", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    sweep = subprocess.Popen(command, cwd=tmp_path, env={**os.environ, "STEP_FIXED_S": "2"},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    parent_file = tmp_path / "sweep" / ".mlflow_parent_run_id"

    def fast_job_recorded() -> bool:
        return parent_file.is_file() and any(s.status == "finished" for s in job_states(parent_file.read_text().strip(), uri))

    try:  # wait until the fast job is recorded, then kill the slow one
        wait_for(fast_job_recorded, 300, "the sweep's fast job to be recorded as finished")
    except TimeoutError:
        sweep.kill()
        raise
    for pid in _job_pids(tmp_path / "sweep"):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:  # the fast job's process has exited
            pass
    out, err = sweep.communicate(timeout=300)
    assert sweep.returncode != 0
    parent = parent_file.read_text().strip()
    states = job_states(parent, uri)
    assert [s.status for s in states] == ["finished", "missing"], states
    assert "jobs_finished: 1 of 2" in out and "missing: " in out
    assert "Jobs that did not finish" in (tmp_path / "sweep" / "sweep_report.html").read_text()

    again = subprocess.run(command, cwd=tmp_path, env={**os.environ, "STEP_FIXED_S": "0.0001"}, capture_output=True,
                           text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    after = job_states(parent, uri)
    assert [s.status for s in after] == ["finished", "finished"], after
    assert after[0].run_id == states[0].run_id
    assert "jobs_finished: 2 of 2" in again.stdout
