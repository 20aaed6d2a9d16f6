"""The team tracking server: ``harness server`` on PostgreSQL 15 with served artifacts, used as SQLite is used.

A throw-away PostgreSQL cluster (tests/services/postgres.py: Debian's initdb and pg_ctl, run as the
``postgres`` user) and the real ``harness server`` command over it, with ``--artifacts-destination``
in a temp folder. Eight processes record job-like runs at once (the harness's Tracker, through the
tracking benchmark's jobs); real harness jobs are recorded to it and then gated and reported exactly
as on SQLite. Without PostgreSQL the tests skip (fail under CI=true).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import psutil
import pytest
import yaml
from conftest import PROJECT_ROOT, harness, require
from services.postgres import PASSWORD, HarnessServer, PostgresCluster, missing_programs

from harness.metrics.registry import measures_the_machine
from harness.processes import free_port
from harness.tracking.server import artifacts_destination, mask_uri, split_password, with_driver

# --- URIs: pure functions ---

@pytest.mark.parametrize("uri,bare,password,masked", [
    ("postgresql://mlflow:s3cr%3At%40pw@db:5432/mlflow", "postgresql://mlflow@db:5432/mlflow", "s3cr:t@pw",
     "postgresql://mlflow:***@db:5432/mlflow"),
    ("postgresql+psycopg2://u@h/db?password=abc&sslmode=require", "postgresql+psycopg2://u@h/db?sslmode=require", "abc",
     "postgresql+psycopg2://u@h/db?password=***&sslmode=require"),
    ("postgresql://u@h/db", "postgresql://u@h/db", None, "postgresql://u@h/db"),
    ("sqlite:////tmp/mlflow.db", "sqlite:////tmp/mlflow.db", None, "sqlite:////tmp/mlflow.db"),
])
def test_a_password_is_split_off_and_masked(uri: str, bare: str, password: str | None, masked: str) -> None:
    assert split_password(uri) == (bare, password)
    assert mask_uri(uri) == masked


def test_a_bare_postgresql_uri_gets_the_installed_driver() -> None:
    """SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3; the harness installs psycopg2."""
    assert with_driver("postgresql://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert with_driver("postgres://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert with_driver("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"


def test_artifacts_default_beside_a_sqlite_store(tmp_path: Path) -> None:
    assert artifacts_destination(None, f"sqlite:///{tmp_path / 'mlflow.db'}") == (tmp_path / "mlartifacts").as_uri()
    assert artifacts_destination(str(tmp_path / "a"), "postgresql://h/db") == (tmp_path / "a").as_uri()
    assert (tmp_path / "a").is_dir()
    assert artifacts_destination("s3://bucket/mlflow", "postgresql://h/db") == "s3://bucket/mlflow"


# --- the command's refusals: no server is started ---

def _server_command(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", "server", *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=60, env=os.environ.copy())


def test_an_unreachable_postgresql_store_fails_at_once_naming_it_without_its_password() -> None:
    port = free_port()  # nothing listens there
    started = time.monotonic()
    out = _server_command("--backend-store-uri", f"postgresql://mlflow:hunter2-secret@127.0.0.1:{port}/mlflow", "--port", "0")
    assert out.returncode == 2, out.stdout + out.stderr
    assert time.monotonic() - started < 20
    assert f"cannot reach the backend store postgresql://mlflow:***@127.0.0.1:{port}/mlflow" in out.stderr
    assert "hunter2" not in out.stdout + out.stderr and "Traceback" not in out.stderr
    assert out.stderr.startswith("error: ") and "MLflow UI" not in out.stdout  # and no warning: 127.0.0.1 by default


def test_another_host_than_loopback_warns_that_mlflow_has_no_authentication(tmp_path: Path) -> None:
    (tmp_path / "mlflow.db").touch()
    with socket.socket() as other:  # the port is taken: the command stops after the warning, before mlflow starts
        other.bind(("0.0.0.0", 0))
        other.listen()
        port = other.getsockname()[1]
        out = _server_command("--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}", "--host", "0.0.0.0", "--port", str(port))
    assert out.returncode == 2 and f"port {port} on 0.0.0.0" in out.stderr
    warning = out.stderr.split("\n")[0]
    assert warning.startswith("warning: binding to 0.0.0.0: MLflow has no authentication of its own")
    assert "reverse proxy with TLS and basic auth" in warning and "--app-name basic-auth" in warning


# --- PostgreSQL and a server on it, one for the module ---

@pytest.fixture(scope="module")
def postgres():
    require(not missing_programs(), f"PostgreSQL 15 programs missing: {', '.join(missing_programs())} "
                                    "(apt-get install postgresql)")
    require(os.geteuid() != 0 or shutil.which("runuser") is not None, "runuser (util-linux) to run initdb as postgres")
    require(_has_postgres_user() or os.geteuid() != 0, "a postgres user (apt-get install postgresql creates it)")
    cluster = PostgresCluster.start()
    yield cluster
    cluster.stop()


def _has_postgres_user() -> bool:
    import pwd

    try:
        pwd.getpwnam("postgres")
        return True
    except KeyError:
        return False


@pytest.fixture(scope="module")
def team_server(postgres: PostgresCluster, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("team-server")
    with HarnessServer.start(postgres.uri, folder / "artifacts", log=folder / "server.log") as server:
        yield server, folder


def test_the_password_stays_off_mlflow_command_line_and_out_of_the_log(team_server) -> None:
    server, _ = team_server
    started = psutil.Process(server.process.pid).children(recursive=True)
    mlflow = next(p for p in started if "mlflow" in p.cmdline() and "server" in p.cmdline())
    line = " ".join(mlflow.cmdline())
    assert "postgresql+psycopg2://postgres@127.0.0.1:" in line and "--serve-artifacts" in line
    assert PASSWORD not in line and quote(PASSWORD, safe="") not in line
    log = server.log()
    assert "MLflow UI: http://127.0.0.1:" in log and "postgres:***@127.0.0.1" in log
    assert PASSWORD not in log and quote(PASSWORD, safe="") not in log and "warning: binding" not in log


def test_a_wrong_password_is_refused_at_once_and_masked(postgres: PostgresCluster) -> None:
    uri = postgres.uri.replace(quote(PASSWORD, safe=""), "wrong-password")
    out = _server_command("--backend-store-uri", uri, "--port", "0")
    assert out.returncode == 2, out.stdout + out.stderr
    assert f"cannot reach the backend store postgresql://postgres:***@127.0.0.1:{postgres.port}/mlflow" in out.stderr
    assert "password authentication failed" in out.stderr and "wrong-password" not in out.stderr


def test_eight_parallel_jobs_record_every_run_metric_and_artifact_through_the_server(team_server) -> None:
    from mlflow.tracking import MlflowClient

    from harness.benchmarks.tracking import ARTIFACTS, job_artifacts, run_round

    server, folder = team_server
    work = folder / "eight"
    work.mkdir()
    result = run_round(server.url, 8, lock=True, experiment="eight-at-once", folder=work, timeout_s=300)
    assert result.errors == [] and result.problems == []  # read back: FINISHED, every param, metric, sample, artifact
    assert (result.started, result.recorded) == (8, 8)

    client = MlflowClient(tracking_uri=server.url)
    experiment = client.get_experiment_by_name("eight-at-once")
    assert experiment.artifact_location.startswith("mlflow-artifacts:")  # clients upload through the server
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 8
    for run in runs:  # ... which wrote them under its --artifacts-destination
        stored = folder / "artifacts" / experiment.experiment_id / run.info.run_id / "artifacts"
        expected = job_artifacts(int(run.data.tags["bench.job"]))
        assert {name: (stored / name).read_bytes() for name in ARTIFACTS} == expected


DROPPED = ["N18", "G47", "I42", "J44"]
"""Categories the dictionary codes right on many sample dev charts: dropping them is a regression (as in test_gate)."""


def _jobs(root: Path, stores: dict[str, str], jobs: dict[str, list[str]]) -> dict[tuple[str, str], str]:
    """Every job into every store, all at once; their run ids by (store, job)."""
    running = {(store, name): subprocess.Popen([sys.executable, "-m", "harness", *overrides, f"tracking.uri={uri}",
                                                f"hydra.run.dir=runs/{store}-{name}"],
                                               cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for store, uri in stores.items() for name, overrides in jobs.items()}
    ids = {}
    for key, job in running.items():
        out, err = job.communicate(timeout=600)
        assert job.returncode == 0, f"job {key} failed:\n{err[-3000:]}"
        ids[key] = re.search(r"mlflow_run: (\w+)", out).group(1)
    return ids


def _harness(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    return harness(root, *args, check=False, env=env, timeout=300)


def _checks(result_file: Path) -> dict[str, dict]:
    """The gate result's checks by metric (``--json``); those that measure the machine (timing) left out."""
    checks = json.loads(result_file.read_text())["checks"]
    return {check["metric"]: check for check in checks if not measures_the_machine(check["metric"])}


@pytest.mark.slow  # four real jobs, the gate and a report (about a minute on two cores)
def test_real_jobs_gate_and_report_against_the_server_as_on_sqlite(team_server) -> None:
    from harness.tracking.run_store import load_run

    server, folder = team_server
    root = folder / "jobs"
    root.mkdir()
    pack = yaml.safe_load((PROJECT_ROOT / "coders" / "packs" / "icd10cm_2026_v2.yaml").read_text())
    pack.update(name="icd10cm_2026_v2_drop", version=3)
    pack["rules"].append({"id": "drop_family", "type": "drop_codes", "codes": DROPPED})
    dropped = root / "icd10cm_2026_v2_drop.yaml"
    dropped.write_text(yaml.safe_dump(pack, sort_keys=False))
    stores = {"server": server.url, "sqlite": f"sqlite:///{root / 'mlflow.db'}"}
    ids = _jobs(root, stores, {"baseline": ["extraction_cache=false"], "dropped": [f"rules.pack={dropped}"]})

    gated = {}
    for store, uri in stores.items():
        result = root / f"gate-{store}.json"
        out = _harness(root, "gate", "--candidate", ids[store, "dropped"], "--baseline", ids[store, "baseline"],
                       "--tracking-uri", uri, "--json", str(result))
        assert out.returncode == 1 and out.stdout.startswith("Regression gate: REGRESSION"), out.stdout + out.stderr
        gated[store] = _checks(result)
    assert gated["server"] == gated["sqlite"] and gated["server"]["micro_f1"]["result"] == "regression"

    # the run store reads the same per-chart results back from both
    server_run = load_run(ids["server", "dropped"], server.url, into=root / "read-server")
    sqlite_run = load_run(ids["sqlite", "dropped"], stores["sqlite"], into=root / "read-sqlite")
    assert _timeless(server_run.per_chart) == _timeless(sqlite_run.per_chart) and len(server_run.per_chart) == 40
    assert server_run.tags["gate.verdict"] == "regression" and (server_run.folder / "gate_summary.md").is_file()

    # champion: promoted and found again by a tag search on PostgreSQL
    out = _harness(root, "gate", "promote", ids["server", "baseline"], "--tracking-uri", server.url)
    assert out.returncode == 0 and f"champion: {ids['server', 'baseline']}" in out.stdout, out.stderr
    out = _harness(root, "gate", "--candidate", ids["server", "dropped"], "--baseline", "champion", "--tracking-uri", server.url)
    assert out.returncode == 1 and "baseline (the champion)" in out.stdout, out.stdout + out.stderr

    out = _harness(root, "report", "run", ids["server", "dropped"], "--tracking-uri", server.url, "--out", "report.html")
    assert out.returncode == 0, out.stderr
    assert "<svg" in (root / "report.html").read_text()

    experiment = _experiment_of(server.url, server_run.run_id)
    for name in ids["server", "baseline"], ids["server", "dropped"]:  # the jobs uploaded through the server
        assert (folder / "artifacts" / experiment / name / "artifacts" / "per_chart_scores.jsonl").is_file()


def _timeless(rows: list[dict]) -> list[dict]:
    return [{key: value for key, value in row.items() if key != "latency_s"} for row in rows]


def _experiment_of(uri: str, run_id: str) -> str:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri).get_run(run_id).info.experiment_id
