"""The gate's exit codes through a real ``python -m harness gate``: 1 on a regression, 2 on input it cannot
use (an unknown run id, promoting an unknown run). Exit 0 and 3 on real jobs: tests/tracking/test_gate.py.

The two runs are recorded straight into a temporary SQLite MLflow store (tags, charts_per_s and the
per-chart scores a harness job logs), so no harness job has to run first.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from conftest import PROJECT_ROOT, harness

pytestmark = pytest.mark.slow  # each gate process imports mlflow (seconds)

N_CHARTS = 40


def per_chart(lost: int = 0) -> list[dict]:
    """Rows as a job logs them: two gold codes per chart, the first ``lost`` charts miss one."""
    return [{"chart_id": f"c{i:02d}", "tp": 1 if i < lost else 2, "fp": 0, "fn": 1 if i < lost else 0,
             "f1": 2 / 3 if i < lost else 1.0, "exact_match": i >= lost, "routed_to_review": False} for i in range(N_CHARTS)]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, str]]:
    """A store holding a baseline run and a candidate that lost a code on half the charts."""
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("gate-cli")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("coding-harness", artifact_location=(root / "artifacts").as_uri())
    ids = {}
    for name, rows in {"baseline": per_chart(), "candidate": per_chart(lost=20)}.items():
        tags = {"dataset": "sample", "dataset.split": "dev", "dataset.digest": "d1"}
        run = client.create_run(experiment, run_name=name, tags=tags)
        folder = root / name
        folder.mkdir()
        (folder / "per_chart_scores.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
        client.log_artifact(run.info.run_id, str(folder / "per_chart_scores.jsonl"))
        client.log_metric(run.info.run_id, "charts_per_s", 100.0)
        client.set_terminated(run.info.run_id)
        ids[name] = run.info.run_id
    return uri, ids


def gate(uri: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    return harness(PROJECT_ROOT, "gate", *args, "--tracking-uri", uri, check=False, env=env, timeout=300)


def test_regression_exits_1_with_the_failing_check_and_tags_the_candidate(store) -> None:
    from mlflow.tracking import MlflowClient

    uri, ids = store
    out = gate(uri, "--candidate", ids["candidate"], "--baseline", ids["baseline"])
    assert out.returncode == 1, out.stdout + out.stderr
    assert out.stdout.startswith("Regression gate: REGRESSION. F1 (all codes): 100.0% -> 85.7%, -14.3 pts [")
    f1_row = next(line for line in out.stdout.splitlines() if "`micro_f1` |" in line)
    assert f1_row.endswith("| regression |")
    assert "- F1 per chart: `c00` 100.0% -> 66.7%, `c01` 100.0% -> 66.7%," in out.stdout  # the charts that lost a code
    tags = MlflowClient(tracking_uri=uri).get_run(ids["candidate"]).data.tags
    assert tags["gate.verdict"] == "regression" and tags["gate.baseline"] == ids["baseline"]


def test_unknown_run_id_exits_2_naming_it(store) -> None:
    uri, ids = store
    out = gate(uri, "--candidate", "no-such-run", "--baseline", ids["baseline"])
    assert out.returncode == 2 and out.stdout == ""
    assert "run 'no-such-run' not found" in out.stderr and "Traceback" not in out.stderr


def test_promoting_an_unknown_run_exits_2_naming_it(store) -> None:
    from mlflow.tracking import MlflowClient

    uri, ids = store
    out = gate(uri, "promote", "no-such-run")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "no-such-run" in out.stderr and out.stderr.startswith("error: ") and "Traceback" not in out.stderr
    client = MlflowClient(tracking_uri=uri)
    assert all("champion" not in client.get_run(run_id).data.tags for run_id in ids.values())  # nothing was promoted
