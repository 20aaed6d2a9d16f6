"""The ids users see work everywhere: an id prefix, ``latest``, ``champion`` and a run name name a run in ``gate``,
``gate promote``, ``report run | sweep | compare``, ``operations`` and ``merge``; ``harness runs`` lists them.

Real jobs of the bundled sample (``harness.api.evaluate``, a few charts each) recorded in one temporary SQLite store. In
the default experiment: a sweep over the two rule packs (v1, then v2), with a rerun of the v1 job between them outside the
sweep (so its name matches two runs); v1 is promoted champion, v2 is ``latest``. In experiment ``shards``: a sweep over
``dataset.shard`` for ``harness merge``. The sweeps' parent runs are opened and closed as ``harness.sweep`` opens them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import pytest

from harness.cli.gate import main as gate
from harness.cli.merge import main as merge
from harness.cli.operations import main as operations
from harness.cli.report import main as report
from harness.cli.runs import main as runs
from harness.cli.runs import shown_name
from harness.tracking import run_ids
from harness.tracking.run_ids import resolve_run
from harness.tracking.run_store import RunStoreError

pytestmark = pytest.mark.slow  # real jobs recorded in a real store (about a minute)

JOB = ("dataset.limit=6", "extractor=dictionary", "summary=false")
SHARDS = "shards"


class Store(NamedTuple):
    root: Path
    uri: str
    v1: str
    rerun: str
    v2: str
    sweep: str
    shard_sweep: str

    def name(self, run_id: str) -> str:
        from mlflow.tracking import MlflowClient

        return MlflowClient(tracking_uri=self.uri).get_run(run_id).info.run_name

    def tags(self, run_id: str) -> dict[str, str]:
        from mlflow.tracking import MlflowClient

        return MlflowClient(tracking_uri=self.uri).get_run(run_id).data.tags

    def untag(self, run_id: str, tag: str) -> None:
        from mlflow.tracking import MlflowClient

        MlflowClient(tracking_uri=self.uri).delete_tag(run_id, tag)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    import harness
    from harness.config import TrackingConfig
    from harness.tracking.gate_runs import promote
    from harness.tracking.mlflow_store import Tracker

    root = tmp_path_factory.mktemp("run-ids")
    uri = f"sqlite:///{root / 'mlflow.db'}"

    def sweep(experiment: str | None, name: str) -> tuple[Tracker, str]:
        tracker = Tracker(TrackingConfig(uri=uri, **({"experiment": experiment} if experiment else {})))
        return tracker, tracker.start_run(f"sweep {name}", tags={"harness.kind": "sweep", "harness.overrides": name})

    def job(folder: str, *overrides: str, parent: str | None = None) -> str:
        run = harness.evaluate([*JOB, f"tracking.uri={uri}", *overrides], output_dir=root / folder, parent_run_id=parent)
        return run.run_id

    tracker, rules = sweep(None, "rules=icd10cm_2026_v1,icd10cm_2026_v2")
    v1 = job("v1", "rules=icd10cm_2026_v1", parent=rules)
    rerun = job("rerun", "rules=icd10cm_2026_v1")
    v2 = job("v2", "rules=icd10cm_2026_v2", parent=rules)
    tracker.finish(rules)
    promote(v1, uri)
    tracker, shards = sweep(SHARDS, "dataset.shard=0,1")
    for shard in (0, 1):
        job(f"shard{shard}", f"tracking.experiment={SHARDS}", "dataset.num_shards=2", f"dataset.shard={shard}", parent=shards)
    tracker.finish(shards)
    return Store(root, uri, v1, rerun, v2, rules, shards)


def call(command, capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    """A command's ``main`` in this process: its exit status, stdout and stderr."""
    code = command(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# -- the resolver -----------------------------------------------------------------------------------------------------


def test_an_id_its_prefix_its_name_latest_and_champion_resolve(store: Store) -> None:
    assert resolve_run(store.v2, store.uri) == store.v2
    assert resolve_run(store.v2[:6], store.uri) == store.v2
    assert resolve_run(store.v2[:8].upper(), store.uri) == store.v2
    assert resolve_run(store.name(store.v2), store.uri) == store.v2
    assert resolve_run("latest", store.uri) == store.v2
    assert resolve_run("champion", store.uri) == store.v1
    assert resolve_run("latest", store.uri, kind="sweep") == store.sweep
    assert resolve_run("latest", store.uri, SHARDS, kind="sweep") == store.shard_sweep


def test_the_python_api_loads_a_run_by_prefix_latest_and_champion(store: Store) -> None:
    import harness

    assert harness.load_run(store.v2[:8], tracking_uri=store.uri).run_id == store.v2
    assert harness.load_run("champion", tracking_uri=store.uri).run_id == store.v1
    assert harness.load_run("latest", tracking_uri=store.uri).tags["dataset.digest"]  # scoped as a tracked run is


def test_a_name_of_several_runs_is_refused_naming_them(store: Store) -> None:
    name = store.name(store.v1)
    assert store.name(store.rerun) == name
    with pytest.raises(RunStoreError) as refused:
        resolve_run(name, store.uri)
    message = str(refused.value)
    assert message.startswith(f"run name {name!r} matches 2 runs in {store.uri}: ")
    assert store.v1[:8] in message and store.rerun[:8] in message and "give one's id" in message


def test_a_prefix_of_several_runs_is_refused_naming_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two runs never share 6 characters by chance: with the minimum lowered to 1, 17 runs share a first character."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("bare")
    ids = [client.create_run(experiment, run_name=f"run {i}").info.run_id for i in range(17)]
    first = next(c for c in "0123456789abcdef" if sum(run_id.startswith(c) for run_id in ids) >= 2)
    sharing = [run_id for run_id in ids if run_id.startswith(first)]
    monkeypatch.setattr(run_ids, "MIN_PREFIX", 1)
    with pytest.raises(RunStoreError) as refused:
        resolve_run(first, uri)
    message = str(refused.value)
    assert message.startswith(f"run id prefix {first!r} matches {len(sharing)} runs in {uri}: ")
    assert all(run_id[:8] in message for run_id in sharing[:5])


def test_a_short_prefix_and_an_unknown_id_are_refused(store: Store) -> None:
    with pytest.raises(RunStoreError, match=f"run id prefix '{store.v2[:1]}' is too short: give at least 6 characters"):
        resolve_run(store.v2[:1], store.uri)
    typo = store.v2[:7] + ("0" if store.v2[7] != "0" else "1")
    with pytest.raises(RunStoreError) as refused:
        resolve_run(typo, store.uri)
    assert str(refused.value).startswith(f"run {typo!r} not found in {store.uri}: no run has that name or an id starting with it")
    assert f"closest: {store.v2[:8]} (" in str(refused.value)
    v1, v2 = store.name(store.v1), store.name(store.v2)
    same = next(i for i, (one, two) in enumerate(zip(v1, v2)) if one == two)
    misspelt = v2[:same] + v2[same + 1:]  # a letter dropped where v1's name has it too: nearer v2's name than v1's
    with pytest.raises(RunStoreError, match=f"closest: {store.v2[:8]} "):
        resolve_run(misspelt, store.uri)


def test_champion_of_an_experiment_with_several_is_refused(tmp_path: Path) -> None:
    from harness.config import TrackingConfig
    from harness.tracking.mlflow_store import Tracker

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = Tracker(TrackingConfig(uri=uri))
    ids = [tracker.start_run(split, tags={"champion": "true", "dataset": "sample", "dataset.split": split})
           for split in ("dev", "test")]
    with pytest.raises(RunStoreError, match="has a champion per dataset/split: ") as refused:
        resolve_run("champion", uri)
    assert all(f"{run_id[:8]} (" in str(refused.value) for run_id in ids) and "sample/test" in str(refused.value)
    with pytest.raises(RunStoreError, match="champion names a job run, not a sweep"):
        resolve_run("champion", uri, kind="sweep")


# -- every command ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["prefix", "latest", "champion", "name"])
def test_report_run_and_operations_take_every_form(store: Store, form: str, capsys: pytest.CaptureFixture) -> None:
    ref, expected = {"prefix": (store.v2[:6], store.v2), "latest": ("latest", store.v2), "champion": ("champion", store.v1),
                     "name": (store.name(store.v2), store.v2)}[form]
    code, out, err = call(report, capsys, "run", ref, "--tracking-uri", store.uri, "--out", str(store.root / f"{form}.html"))
    assert code == 0 and out.strip() == str(store.root / f"{form}.html"), err
    code, out, err = call(operations, capsys, ref, "operations.coders=3", "--no-log", "--tracking-uri", store.uri)
    assert code == 0 and out.startswith(f"run {expected}: "), err


def test_report_compare_pairs_champion_latest_prefixes_and_names(store: Store, tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the page's default name holds both runs' short ids
    for a, b in (("champion", "latest"), (store.v1[:6], store.name(store.v2))):
        code, out, err = call(report, capsys, "compare", a, b, "--tracking-uri", store.uri)
        assert code == 0 and out.strip() == f"compare-{store.v1[:8]}-{store.v2[:8]}.html", err
        assert (tmp_path / out.strip()).is_file()


def test_report_sweep_takes_latest_a_prefix_and_a_name(store: Store, capsys: pytest.CaptureFixture) -> None:
    for ref in ("latest", store.sweep[:6], store.name(store.sweep)):
        out_file = store.root / "sweep.html"
        code, out, err = call(report, capsys, "sweep", ref, "--tracking-uri", store.uri, "--out", str(out_file))
        assert code == 0 and out.strip() == str(out_file), err
    code, _, err = call(report, capsys, "sweep", "champion", "--tracking-uri", store.uri)
    assert code == 2 and err.startswith("harness report sweep: error: champion names a job run, not a sweep")


def test_gate_and_promote_take_prefixes_and_names(store: Store, capsys: pytest.CaptureFixture) -> None:
    for candidate, baseline in ((store.name(store.v2), store.v1[:8]), (store.v2[:6], "champion")):
        code, _, err = call(gate, capsys, "--candidate", candidate, "--baseline", baseline, "--tracking-uri", store.uri)
        assert "error:" not in err, err  # judged (the verdict on six charts is not the point)
        assert store.tags(store.v2)["gate.baseline"] == store.v1
        store.untag(store.v2, "gate.baseline")
    code, out, _ = call(gate, capsys, "promote", store.v1[:6], "--tracking-uri", store.uri)
    assert code == 0 and out.strip() == f"champion: {store.v1}"


def test_an_ambiguous_or_unknown_run_is_one_error_line_exit_2_in_every_command(store: Store,
                                                                               capsys: pytest.CaptureFixture) -> None:
    name = store.name(store.v1)  # the v1 job and its rerun
    commands = [(report, ["run", name]), (report, ["compare", name, store.v2[:8]]), (operations, [name, "operations.coders=3"]),
                (gate, ["--candidate", store.v2[:8], "--baseline", name]), (gate, ["promote", name]),
                (report, ["sweep", "abc"]), (merge, ["abc"])]
    for command, args in commands:
        code, out, err = call(command, capsys, *args, "--tracking-uri", store.uri)
        assert code == 2 and not out and len(err.strip().splitlines()) == 1, (args, err)
        assert "error: " in err and ("matches 2 runs" in err or "is too short" in err), (args, err)


def test_merge_takes_latest_and_a_prefix(store: Store, capsys: pytest.CaptureFixture) -> None:
    for i, ref in enumerate(("latest", store.shard_sweep[:6])):
        code, out, err = call(merge, capsys, ref, "--tracking-uri", store.uri, "--experiment", SHARDS,
                              "--output-dir", str(store.root / f"merged{i}"))
        merged = re.search(r"^merged_run: (\w+)$", out, re.MULTILINE)
        assert code == 0 and merged, out + err
        assert store.tags(merged.group(1))["harness.merge_of"] == store.shard_sweep


# -- harness runs -----------------------------------------------------------------------------------------------------


def test_runs_lists_short_ids_names_figures_verdict_and_champion(store: Store, capsys: pytest.CaptureFixture) -> None:
    code, _, err = call(gate, capsys, "--candidate", "latest", "--baseline", "champion", "--tracking-uri", store.uri)
    assert "error:" not in err
    verdict = store.tags(store.v2)["gate.verdict"]
    code, out, err = call(runs, capsys, "--tracking-uri", store.uri)
    assert code == 0, err
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.lstrip().startswith("id "))
    assert "F1" in lines[header] and "Charts sent to" in lines[header - 1] and "a coder" in lines[header]
    rows = {line.split()[1] if line.startswith("*") else line.split()[0]: line for line in lines[header + 1:header + 4]}
    assert list(rows) == [store.v2[:8], store.rerun[:8], store.v1[:8]]  # newest first; sweeps' parents are no job runs
    assert rows[store.v1[:8]].startswith("*") and not rows[store.v2[:8]].startswith("*")
    assert rows[store.v2[:8]].rstrip().endswith(f"{verdict} vs {store.v1[:8]}")
    assert "sample/" in rows[store.v2[:8]] and "%" in rows[store.v2[:8]] and " min" in rows[store.v2[:8]]
    code, out, _ = call(runs, capsys, "--tracking-uri", store.uri, "--limit", "1")
    assert store.v2[:8] in out and store.rerun[:8] not in out
    code, out, err = call(runs, capsys, "--tracking-uri", store.uri, "--experiment", "nowhere")
    assert code == 2 and not out and err.startswith(f"error: no experiment 'nowhere' in {store.uri}")
    assert "coding-harness" in err and SHARDS in err


def test_a_long_name_is_cut_at_a_space() -> None:
    name = "sample-dictionary-icd10cm_2026_v2 dataset.limit=4 extractor=dictionary tracking.uri=sqlite:///x.db"
    assert shown_name(name, 40) == "sample-dictionary-icd10cm_2026_v2…"
    assert shown_name("x" * 50, 40) == "x" * 39 + "…"
    assert shown_name("short name", 40) == "short name"
