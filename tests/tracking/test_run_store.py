"""Reading runs back from MLflow: a sweep of two real jobs on the bundled sample, read through harness.tracking.run_store."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import harness, runs, store

from harness.run_record import FORMAT_VERSION
from harness.tracking.run_store import RunStoreError, child_runs, load_run


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, list[str]]:
    """(store uri, parent run id, child run ids oldest first) of ``-m dataset.limit=3,4``."""
    root = tmp_path_factory.mktemp("run_store")
    harness(root, "-m", "dataset.limit=3,4", store(root))
    _, found = runs(root)
    (parent,) = [r.info.run_id for r in found if r.data.tags.get("harness.kind") == "sweep"]
    children = [r.info.run_id for r in found if r.data.tags.get("harness.kind") == "job"]
    return f"sqlite:///{root / 'mlflow.db'}", parent, children


@pytest.mark.slow
def test_load_run_returns_per_chart_rows(sweep: tuple[str, str, list[str]], tmp_path: Path) -> None:
    uri, parent, children = sweep
    run = load_run(children[1], uri, into=tmp_path)
    assert run.run_id == children[1] and run.folder == tmp_path
    assert run.tags["harness.kind"] == "job" and run.tags["mlflow.parentRunId"] == parent and run.params["dataset.limit"] == "4"
    assert run.metrics["n_charts"] == 4 and len(run.per_chart) == 4 and len(run.predictions) == 4
    assert {"chart_id", "tp", "fp", "fn", "exact_match", "routed_to_review", "latency_s"} <= set(run.per_chart[0])
    assert [r["chart_id"] for r in run.per_chart] == [p["chart_id"] for p in run.predictions]
    assert run.artifacts.metrics()["n_charts"] == 4 and run.artifacts.format_version == FORMAT_VERSION


@pytest.mark.slow
def test_child_runs_lists_the_sweep_jobs(sweep: tuple[str, str, list[str]]) -> None:
    uri, parent, children = sweep
    assert child_runs(parent, uri) == children and len(children) == 2
    with pytest.raises(RunStoreError, match=f"run '{children[0]}' has no finished child runs"):
        child_runs(children[0], uri)


@pytest.mark.slow
@pytest.mark.parametrize(
    "which,message",
    [
        ("parent", "has no per_chart_scores.jsonl: it is not a harness job run (a sweep parent?)"),
        ("missing", "run '0123456789abcdef0123456789abcdef' not found in sqlite:///"),
        ("no_store", "no MLflow store at sqlite:///"),
    ],
)
def test_unreadable_runs_raise_a_clear_error(sweep: tuple[str, str, list[str]], tmp_path: Path, which: str, message: str) -> None:
    uri, parent, _ = sweep
    run_id = {"parent": parent, "missing": "0123456789abcdef0123456789abcdef", "no_store": parent}[which]
    with pytest.raises(RunStoreError, match=re.escape(message)) as error:
        load_run(run_id, f"sqlite:///{tmp_path / 'none.db'}" if which == "no_store" else uri, into=tmp_path)
    assert which == "no_store" or repr(run_id) in str(error.value)
