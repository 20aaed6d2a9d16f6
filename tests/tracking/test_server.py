"""The team's MLflow UI command starts a real server over the project's store, serves a run, and stops."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import psutil
import pytest
from conftest import PROJECT_ROOT, harness, runs, store
from waiting import wait_for

from harness.processes import free_port


def _gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE  # dead, waiting for its new parent to reap it
    except psutil.NoSuchProcess:
        return True


@pytest.mark.slow
def test_server_serves_a_recorded_run_and_stops_with_its_workers(tmp_path: Path) -> None:
    harness(tmp_path, "dataset.limit=5", store(tmp_path))
    _, (run,) = runs(tmp_path)
    said = _serve_run(tmp_path, run.info.run_id)
    assert "runs/get" not in said  # MLflow's line per request stays out of the terminal ...
    assert "runs/get" in _serve_run(tmp_path, run.info.run_id, "--access-log")  # ... unless asked for


def _serve_run(tmp_path: Path, run_id: str, *options: str) -> str:
    """Start ``harness server`` over the store, fetch ``run_id`` through it, stop it; what it printed."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "harness", "server",
                               "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}", "--port", str(port), *options],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ.copy())
    try:
        lines = iter(server.stdout.readline, "")  # mlflow's own start-up lines come first
        line = next(line for line in lines if "MLflow UI" in line)  # printed once the server answers /health
        assert f"MLflow UI: http://127.0.0.1:{port}" in line
        url = f"http://127.0.0.1:{port}/api/2.0/mlflow/runs/get?run_id={run_id}"
        with urllib.request.urlopen(url, timeout=10) as answer:
            served = json.load(answer)["run"]
        assert served["info"]["run_id"] == run_id
        assert any(m["key"] == "micro_f1" for m in served["data"]["metrics"])
        mlflow = psutil.Process(server.pid).children()
        assert mlflow
    finally:
        server.send_signal(signal.SIGTERM)
        said = server.communicate(timeout=30)[0]
    assert server.returncode == 0
    wait_for(lambda: all(_gone(p) for p in mlflow), 30, "the server's mlflow processes to exit after its SIGTERM")
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
    return said


def test_server_refuses_a_missing_store(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "harness", "server", "--tracking-uri", f"sqlite:///{tmp_path / 'none.db'}"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "no MLflow store at" in out.stderr


def test_server_refuses_a_file_that_is_no_database_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "notes.db").write_text("not a database\n")
    out = subprocess.run([sys.executable, "-m", "harness", "server", "--tracking-uri", f"sqlite:///{tmp_path / 'notes.db'}",
                          "--port", "0"], capture_output=True, text=True, timeout=120)
    store = f"sqlite:///{tmp_path / 'notes.db'}"
    assert out.returncode == 2 and out.stderr.splitlines() == [
        f"error: tracking store '{store}' cannot be used: (sqlite3.DatabaseError) file is not a database"]


def _server(tmp_path: Path, port: int, **popen) -> subprocess.Popen:
    """``harness server`` over an empty store (MLflow creates its tables on start)."""
    (tmp_path / "mlflow.db").touch()
    return subprocess.Popen([sys.executable, "-m", "harness", "server", "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
                             "--port", str(port)], cwd=PROJECT_ROOT, text=True, env=os.environ.copy(), **popen)


def test_a_port_another_service_listens_on_is_refused(tmp_path: Path) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        server = _server(tmp_path, port, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = server.communicate(timeout=60)  # refused before mlflow starts: no wait for a health check
    assert server.returncode == 2, err
    assert f"port {port}" in err and "Traceback" not in err and "MLflow UI" not in out


@pytest.mark.slow  # starts a real mlflow server (about 15 s on a fresh store)
def test_sigkill_of_the_server_takes_mlflow_and_uvicorn_with_it(tmp_path: Path) -> None:
    server = _server(tmp_path, free_port(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        next(line for line in iter(server.stdout.readline, "") if "MLflow UI" in line)  # serving: uvicorn is up
        started = psutil.Process(server.pid).children(recursive=True)
        assert any("mlflow" in p.cmdline() for p in started) and any("uvicorn" in p.cmdline() for p in started)
    finally:
        server.kill()  # SIGKILL: the server cannot stop anything itself
        server.wait(timeout=30)
    try:  # generous: mlflow passes SIGTERM on to uvicorn, which shuts down
        wait_for(lambda: all(_gone(p) for p in started), 60, "mlflow and uvicorn to exit after the server's SIGKILL",
                 detail=lambda: f"still running: {[p.cmdline() for p in started if not _gone(p)]}")
    finally:
        for process in started:  # leave nothing running whatever the outcome
            if not _gone(process):
                process.kill()
