"""Every job that starts is recorded: its MLflow run is RUNNING from the start and ends FINISHED, FAILED or KILLED; a
store lost mid-run leaves a complete run folder that ``harness record`` records later; a full disk names what was kept."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT, harness, require, runs, store
from waiting import wait_for

from harness.processes import free_port

SLOW_JOB = ("degradation=rendered", "dataset.limit=20", "extraction_cache=false")
"""A job that renders and OCRs 20 charts: long enough to be stopped while its pipeline runs."""


def _start_job(tmp_path: Path, *overrides: str) -> tuple[subprocess.Popen, Path]:
    """The job in the background, its output (stdout and stderr) into a file; the file."""
    out = tmp_path / "job.out"
    job = subprocess.Popen([sys.executable, "-m", "harness", *overrides, f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path,
                           stdout=out.open("w"), stderr=subprocess.STDOUT, text=True, env=os.environ.copy())
    return job, out


def _wait_reading_charts(job: subprocess.Popen, out: Path) -> None:
    """Until the job has read its charts: its MLflow run exists (created before) and the pipeline is about to run."""
    wait_for(lambda: "charts" in out.read_text() and "dataset sample/dev" in out.read_text() or job.poll() is not None, 300,
             "the job to read its charts", detail=out.read_text)
    assert job.poll() is None, out.read_text()


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stopped_job_leaves_a_killed_run_with_its_finished_charts(tmp_path: Path, signum: int, status: int) -> None:
    job, out = _start_job(tmp_path, *SLOW_JOB, store(tmp_path))
    _wait_reading_charts(job, out)
    job.send_signal(signum)
    assert job.wait(timeout=120) == status
    said = out.read_text()
    assert "Traceback" not in said, said
    _, (run,) = runs(tmp_path)
    last = said.strip().splitlines()[-1]
    assert last == (f"stopped by {signal.Signals(signum).name}: MLflow run {run.info.run_id} marked KILLED after "
                    f"{run.data.tags['harness.charts_finished']} charts finished")
    assert run.info.status == "KILLED" and run.data.tags["harness.error"] == "Stopped"
    assert 0 <= int(run.data.tags["harness.charts_finished"]) < 20
    assert run.data.params["dataset.limit"] == "20"  # params and tags from the start
    assert run.data.tags["harness.kind"] == "job" and "audit.head" not in run.data.tags  # results never came


def test_a_store_down_at_start_fails_in_seconds(tmp_path: Path) -> None:
    began = time.monotonic()
    result = harness(tmp_path, "dataset.limit=2", f"tracking.uri=http://127.0.0.1:{free_port()}", check=False)
    took = time.monotonic() - began
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cannot be used" in errors[0] and "Traceback" not in result.stderr
    assert took < 60, f"took {took:.0f} s"  # MLflow's own retries took about 4 minutes


def _server(tmp_path: Path, port: int) -> subprocess.Popen:
    """``harness server`` over the store ``tmp_path/mlflow.db`` on ``port``, once it answers."""
    (tmp_path / "mlflow.db").touch()
    server = subprocess.Popen([sys.executable, "-m", "harness", "server", "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
                               "--port", str(port)], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True, env=os.environ.copy())
    next(line for line in iter(server.stdout.readline, "") if "MLflow UI" in line)  # printed once it answers
    return server


def _stop(server: subprocess.Popen) -> None:
    server.send_signal(signal.SIGTERM)
    server.communicate(timeout=60)


@pytest.mark.slow  # two real MLflow servers and a job
def test_a_store_lost_mid_run_leaves_a_folder_that_harness_record_records_once(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    port = free_port()
    server = _server(tmp_path, port)
    try:
        job, out = _start_job(tmp_path, *SLOW_JOB, f"tracking.uri=http://127.0.0.1:{port}")
        _wait_reading_charts(job, out)
    finally:
        _stop(server)
    stopped = time.monotonic()
    assert job.wait(timeout=300) == 2, out.read_text()
    assert time.monotonic() - stopped < 120  # a bounded retry, not MLflow's 4 minutes
    said = out.read_text()
    folder = tmp_path / "run"
    errors = [line for line in said.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"harness record {folder}" in errors[0] and "Traceback" not in said, said
    summary = json.loads((folder / "run.json").read_text())
    assert summary["recorded"] is False and "cannot be used" in summary["not_recorded_why"]
    assert (folder / "artifacts" / "report.html").is_file() and (folder / "artifacts" / "metrics.json").is_file()
    _, (started,) = runs(tmp_path)
    assert started.info.status == "RUNNING" and started.info.run_id == summary["mlflow_run"]

    server = _server(tmp_path, port)
    try:
        first = harness(tmp_path, "record", str(folder))
        _, (run,) = runs(tmp_path)  # the same run, not a second one
        second = harness(tmp_path, "record", str(folder))
        _, (again,) = runs(tmp_path)
        served = {a.path for a in MlflowClient(f"http://127.0.0.1:{port}").list_artifacts(run.info.run_id)}
    finally:
        _stop(server)
    assert f"as MLflow run {run.info.run_id}" in first.stdout
    assert run.info.run_id == summary["mlflow_run"] and run.info.status == "FINISHED"
    assert "micro_f1" in run.data.metrics and "audit.head" in run.data.tags
    assert "report.html" in served
    assert json.loads((folder / "run.json").read_text())["recorded"] is True
    assert "nothing changed" in second.stdout
    assert again.data.metrics == run.data.metrics and again.info.end_time == run.info.end_time


def test_harness_record_refuses_a_folder_without_run_json(tmp_path: Path) -> None:
    result = harness(tmp_path, "record", str(tmp_path), check=False)
    assert result.returncode == 2 and result.stderr.startswith(f"error: {tmp_path} has no run.json"), result.stderr
    assert len(result.stderr.splitlines()) == 1


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 192 KiB tmpfs: room for a 5-chart job's results, not for its report as well."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=192k", "tmpfs", str(disk)], capture_output=True, text=True)
    require(mounted.returncode == 0, f"a tmpfs cannot be mounted here (root needed): {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_a_full_disk_names_the_outputs_kept_and_marks_the_run_failed(tmp_path: Path, small_disk: Path) -> None:
    result = harness(tmp_path, "dataset.limit=5", store(tmp_path), f"hydra.run.dir={small_disk / 'run'}", check=False)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    kept, missing = errors[0].split("outputs kept: ")[1].split("; missing: ")
    assert kept.split(", ")[:3] == ["predictions.jsonl", "chart_results.jsonl", "per_chart_scores.jsonl"]
    assert "report.html" in missing and "run.json" in missing
    artifacts = small_disk / "run" / "artifacts"
    assert all((artifacts / name).is_file() for name in kept.split(", "))
    assert not any((artifacts / name).exists() for name in missing.split(", "))
    assert "No space left on device" in errors[0]
    _, (run,) = runs(tmp_path)
    assert run.info.status == "FAILED" and run.data.tags["harness.outputs_missing"] == missing
