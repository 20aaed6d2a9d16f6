"""``harness gate --candidate latest`` and ``promote latest``: the newest finished job run, never a running, failed or
sweep run, never the baseline itself.

Runs are recorded as a job records them (``Tracker``: tags, charts_per_s, per_chart_scores.jsonl, real start times)
into one temporary SQLite store, each test in its own experiment, so no harness job has to run first.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from harness.cli.gate import main
from harness.config import TrackingConfig
from harness.tracking.gate_runs import promote
from harness.tracking.mlflow_store import Tracker

N_CHARTS = 40
DEV = {"dataset": "sample", "dataset.split": "dev", "dataset.digest": "d1"}
TEST = {"dataset": "sample", "dataset.split": "test", "dataset.digest": "d2"}


def per_chart(lost: int = 0) -> list[dict]:
    """Rows as a job logs them: two gold codes per chart, the first ``lost`` charts miss one."""
    return [{"chart_id": f"c{i:02d}", "tp": 1 if i < lost else 2, "fp": 0, "fn": 1 if i < lost else 0,
             "f1": 2 / 3 if i < lost else 1.0, "exact_match": i >= lost, "routed_to_review": False} for i in range(N_CHARTS)]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gate-latest")


@pytest.fixture
def experiment(request: pytest.FixtureRequest) -> str:
    """Each test records its runs into an experiment of its own."""
    return request.node.name


@pytest.fixture
def ids(root: Path, experiment: str) -> dict[str, str]:
    """In an experiment named after the test, oldest first: the promoted champion, a job on another split, the
    candidate (a regression: it lost a code on half the charts), then three newer runs ``latest`` must pass over."""
    tracker = Tracker(TrackingConfig(uri=uri(root), experiment=experiment))
    started = time.time() - 3600
    runs = {
        "champion": ({**DEV, "harness.kind": "job"}, per_chart(), "FINISHED"),
        "other_split": ({**TEST, "harness.kind": "job"}, per_chart(), "FINISHED"),
        "candidate": ({**DEV, "harness.kind": "job"}, per_chart(lost=20), "FINISHED"),
        "failed": ({**DEV, "harness.kind": "job"}, per_chart(), "FAILED"),
        "running": ({**DEV, "harness.kind": "job"}, per_chart(), None),
        "sweep": ({"harness.kind": "sweep"}, per_chart(), "FINISHED"),
    }
    recorded = {}
    for i, (name, (tags, rows, status)) in enumerate(runs.items()):
        run_id = tracker.start_run(name, tags=tags, start_time=started + 60 * i)
        folder = root / experiment / name
        folder.mkdir(parents=True)
        (folder / "per_chart_scores.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
        tracker.log(run_id, metrics={"charts_per_s": 100.0})
        tracker.log_artifacts(run_id, folder)
        if status:
            tracker.finish(run_id, status, end_time=started + 60 * i + 30)
        recorded[name] = run_id
    promote(recorded["champion"], uri(root))
    return recorded


def uri(root: Path) -> str:
    return f"sqlite:///{root / 'mlflow.db'}"


def gate(root: Path, capsys: pytest.CaptureFixture, *args: str, experiment: str) -> tuple[int, str, str]:
    """``harness gate`` in this process: its exit status, stdout and stderr."""
    code = main([*args, "--tracking-uri", uri(root), "--experiment", experiment])
    out, err = capsys.readouterr()
    return code, out, err


def tags(root: Path, run_id: str) -> dict[str, str]:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri(root)).get_run(run_id).data.tags


def test_latest_against_the_champion_gates_the_newest_finished_job(root: Path, ids: dict[str, str], experiment: str,
        capsys: pytest.CaptureFixture) -> None:
    code, out, err = gate(root, capsys, "--baseline", "champion", "--candidate", "latest", experiment=experiment)
    assert code == 1 and out.startswith("Regression gate: REGRESSION."), out + err
    assert f"- candidate: `{ids['candidate']}` (candidate)," in out
    assert f"- baseline (the champion): `{ids['champion']}` (champion)," in out
    assert tags(root, ids["candidate"])["gate.baseline"] == ids["champion"]
    assert all("gate.verdict" not in tags(root, ids[name]) for name in ("failed", "running", "sweep"))


def test_latest_against_a_run_id_is_the_newest_of_its_dataset_split(root: Path, ids: dict[str, str], experiment: str,
        capsys: pytest.CaptureFixture) -> None:
    code, out, _ = gate(root, capsys, "--baseline", ids["champion"], "--candidate", "latest", experiment=experiment)
    assert code == 1 and f"- candidate: `{ids['candidate']}`" in out
    code, out, err = gate(root, capsys, "--baseline", ids["other_split"], "--candidate", "latest", experiment=experiment)
    assert code == 2 and not out
    assert (f"cannot gate candidate 'latest' against baseline '{ids['other_split']}': the newest finished job run in "
            f"experiment '{experiment}', {ids['other_split']}, is the baseline itself: there is no newer run") in err


def test_latest_that_is_the_champion_is_refused(root: Path, ids: dict[str, str], experiment: str,
        capsys: pytest.CaptureFixture) -> None:
    code, out, _ = gate(root, capsys, "promote", "latest", experiment=experiment)
    assert code == 0 and out.strip() == f"champion: {ids['candidate']} (replaces {ids['champion']})"
    code, out, err = gate(root, capsys, "--baseline", "champion", "--candidate", "latest", experiment=experiment)
    assert code == 2 and not out and "is the baseline itself: there is no newer run to gate" in err
    assert "gate.verdict" not in tags(root, ids["candidate"])


def test_run_ids_still_gate_as_given(root: Path, ids: dict[str, str], experiment: str,
        capsys: pytest.CaptureFixture) -> None:
    code, out, _ = gate(root, capsys, "--baseline", ids["candidate"], "--candidate", ids["champion"], experiment=experiment)
    assert code == 0 and out.startswith("Regression gate: PASS.") and f"- candidate: `{ids['champion']}`" in out


def test_nothing_to_resolve_exits_2_naming_what_was_looked_for(root: Path, capsys: pytest.CaptureFixture) -> None:
    sweeps_only = Tracker(TrackingConfig(uri=uri(root), experiment="sweeps only"))
    sweeps_only.finish(sweeps_only.start_run("sweep", tags={"harness.kind": "sweep"}))
    unpromoted = Tracker(TrackingConfig(uri=uri(root), experiment="no champion"))
    unpromoted.finish(unpromoted.start_run("job", tags={**DEV, "harness.kind": "job"}))
    code, _, err = gate(root, capsys, "--baseline", "champion", "--candidate", "latest", experiment="nowhere")
    assert code == 2 and f"no experiment 'nowhere' in {uri(root)}" in err
    code, _, err = gate(root, capsys, "promote", "latest", experiment="sweeps only")
    assert code == 2 and err.startswith("error: no finished run with harness.kind=job in experiment 'sweeps only' at ")
    code, _, err = gate(root, capsys, "--baseline", "champion", "--candidate", "latest", experiment="no champion")
    assert code == 2 and "no champion run for sample/dev: promote one first" in err
