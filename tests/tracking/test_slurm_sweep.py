"""A sweep through Hydra's submitit launcher on a real one-node SLURM cluster, recorded to a PostgreSQL-backed server."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import require
from services import postgres, slurm


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[slurm.OneNodeCluster]:
    missing = slurm.missing_programs()
    require(not missing, f"SLURM programs missing: {', '.join(missing)} (apt-get install slurm-wlm munge)")
    started = slurm.OneNodeCluster.start(tmp_path_factory.mktemp("slurm"))
    yield started
    started.stop()


@pytest.fixture(scope="module")
def team_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    missing = postgres.missing_programs()
    require(not missing, f"PostgreSQL 15 programs missing: {', '.join(missing)} (apt-get install postgresql)")
    with postgres.PostgresCluster.start() as database, \
            postgres.HarnessServer.start(database.uri, tmp_path_factory.mktemp("artifacts")) as server:
        yield server.url


def test_the_cluster_runs_a_batch_job(cluster: slurm.OneNodeCluster, tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    submitted = subprocess.run(["sbatch", "--wait", "-o", str(out), "--wrap", "echo node=$SLURMD_NODENAME"], env=cluster.env(),
                               capture_output=True, text=True, timeout=120)
    assert submitted.returncode == 0, submitted.stderr
    assert out.read_text().strip() == f"node={cluster.host}"


@pytest.mark.slow
def test_a_sweep_on_slurm_records_every_job_under_one_parent_on_the_team_server(
        cluster: slurm.OneNodeCluster, team_server: str, tmp_path: Path) -> None:
    from harness.tracking.run_store import client
    from harness.tracking.sweep_jobs import job_states

    sweep = tmp_path / "sweep"
    done = subprocess.run([sys.executable, "-m", "harness", "-m", "hydra/launcher=slurm_cpu", "hydra.launcher.cpus_per_task=1",
                           "hydra.launcher.mem_gb=1", "dataset.limit=5", "rules=icd10cm_2026_v1,icd10cm_2026_v2",
                           f"tracking.uri={team_server}", f"hydra.sweep.dir={sweep}"],
                          cwd=tmp_path, env=cluster.env(), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    parent = (sweep / ".mlflow_parent_run_id").read_text().strip()
    states = job_states(parent, team_server)
    assert [s.status for s in states] == ["finished", "finished"]
    assert [s.overrides.split()[1] for s in states] == ["rules=icd10cm_2026_v1", "rules=icd10cm_2026_v2"]
    mlflow = client(team_server)
    assert mlflow.get_run(parent).info.status == "FINISHED"
    assert "sweep_report.html" in {a.path for a in mlflow.list_artifacts(parent)}
    for state in states:  # each job's results went through the server
        assert "per_chart_scores.jsonl" in {a.path for a in mlflow.list_artifacts(state.run_id)}
    # Each job ran as a task of one SLURM job array (submitit keeps a folder per task in the sweep folder).
    tasks = sorted(path.name for path in (sweep / ".submitit").iterdir() if path.name[0].isdigit() and "_" in path.name)
    assert len(tasks) == 2 and {name.split("_")[1] for name in tasks} == {"0", "1"} and len({n.split("_")[0] for n in tasks}) == 1


@pytest.mark.slow
def test_shards_run_as_a_slurm_job_array_and_merge_on_the_team_server(
        cluster: slurm.OneNodeCluster, team_server: str, tmp_path: Path) -> None:
    from harness.tracking.run_store import client, newest_job_run

    sweep = tmp_path / "sweep"
    done = subprocess.run([sys.executable, "-m", "harness", "-m", "hydra/launcher=slurm_cpu", "hydra.launcher.cpus_per_task=1",
                           "hydra.launcher.mem_gb=1", "dataset.limit=6", "dataset.num_shards=2", "dataset.shard=0,1",
                           "summary=false", f"tracking.uri={team_server}", f"hydra.sweep.dir={sweep}"],
                          cwd=tmp_path, env=cluster.env(), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    parent = (sweep / ".mlflow_parent_run_id").read_text().strip()
    merged = subprocess.run([sys.executable, "-m", "harness", "merge", parent, "--tracking-uri", team_server,
                             "--output-dir", str(tmp_path / "merged")], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert merged.returncode == 0, merged.stderr[-3000:]
    run = client(team_server).get_run(newest_job_run(team_server))  # what gate --candidate latest picks
    assert run.data.tags["harness.merge_of"] == parent and run.data.metrics["n_charts"] == 6
    assert "per_chart_scores.jsonl" in {a.path for a in client(team_server).list_artifacts(run.info.run_id)}
