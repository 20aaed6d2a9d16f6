"""The team's MLflow UI command starts a real server over the project's store, serves a run, and stops."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import harness, runs, store

from harness.processes import free_port


def _children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.slow
def test_server_serves_a_recorded_run_and_stops_with_its_workers(tmp_path: Path) -> None:
    harness(tmp_path, "dataset.limit=5", store(tmp_path))
    _, (run,) = runs(tmp_path)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "harness.tracking.server",
                               "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}", "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=os.environ.copy())
    try:
        lines = iter(server.stdout.readline, "")  # mlflow's own start-up lines come first
        line = next(line for line in lines if "MLflow UI" in line)  # printed once the server answers /health
        assert f"MLflow UI: http://127.0.0.1:{port}" in line
        url = f"http://127.0.0.1:{port}/api/2.0/mlflow/runs/get?run_id={run.info.run_id}"
        with urllib.request.urlopen(url, timeout=10) as answer:
            served = json.load(answer)["run"]
        assert served["info"]["run_id"] == run.info.run_id
        assert any(m["key"] == "micro_f1" for m in served["data"]["metrics"])
        mlflow_pids = _children_of(server.pid)
        assert mlflow_pids
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    time.sleep(0.5)
    assert server.returncode == 0
    assert all(not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text() for pid in mlflow_pids)
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)


def test_server_refuses_a_missing_store(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "harness.tracking.server", "--tracking-uri", f"sqlite:///{tmp_path / 'none.db'}"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "no MLflow store at" in out.stderr
