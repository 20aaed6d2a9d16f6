"""The CI regression gate: decision rules on constructed runs, then real jobs on the bundled sample, one per exit code
(0 pass, 1 regression, 2 refused, 3 inconclusive), with the JSON result validated against its schema."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import PROJECT_ROOT, harness, store

from harness.cli.gate import main
from harness.tracking.gate_config import GateConfig, GateError, load_config
from harness.tracking.gate_policy import decide
from harness.tracking.gate_statistics import check_comparable
from harness.tracking.run_store import RecordedRun

DROPPED = ["N18", "G47", "I42", "J44"]
"""Categories the dictionary codes right on many sample dev charts: dropping them must show."""


# --- decision rules on constructed runs (no store) ---

def recorded(run_id: str, rows: list[dict], **metrics: float) -> RecordedRun:
    tags = {"dataset": "sample", "dataset.split": "dev", "dataset.digest": "d1"}
    return RecordedRun(run_id=run_id, name=run_id, tags=tags, params={}, metrics={"charts_per_s": 100.0, **metrics},
                       folder=Path("."), per_chart=rows)


def rows(n: int = 40, lost: int = 0, reviewed: int = 0) -> list[dict]:
    """``n`` charts with two gold codes; the first ``lost`` miss one, the first ``reviewed`` go to review."""
    return [{"chart_id": f"c{i}", "tp": 1 if i < lost else 2, "fp": 0, "fn": 1 if i < lost else 0,
             "exact_match": i >= lost, "routed_to_review": i < reviewed} for i in range(n)]


def results(report) -> dict[str, str]:
    return {check.metric: check.result for check in report.checks}


def test_default_config_file_is_the_documented_one() -> None:
    assert load_config("default") == load_config(str(PROJECT_ROOT / "conf" / "gate" / "default.yaml"))
    assert load_config("default").max_micro_f1_drop == 0.01 and load_config("default").min_charts == 30


def test_config_rejects_unknown_keys(tmp_path: Path) -> None:
    (tmp_path / "gate.yaml").write_text("max_micro_f1_dorp: 0.02\n")
    with pytest.raises(GateError, match="max_micro_f1_dorp: Extra inputs are not permitted"):
        load_config(str(tmp_path / "gate.yaml"))
    with pytest.raises(GateError, match="no gate option 'strict'"):
        load_config("strict")


@pytest.mark.parametrize(
    "candidate,metrics,expected,verdict",
    [
        (rows(), {}, {"micro_f1": "pass", "review_rate": "pass", "exact_match": "pass", "charts_per_s": "pass"}, "pass"),
        (rows(lost=20), {}, {"micro_f1": "regression", "exact_match": "regression"}, "regression"),
        (rows(lost=1), {}, {"micro_f1": "inconclusive", "exact_match": "pass"}, "inconclusive"),  # interval straddles -0.01
        (rows(reviewed=12), {}, {"review_rate": "regression", "micro_f1": "pass"}, "regression"),
        (rows(reviewed=2), {}, {"review_rate": "inconclusive"}, "inconclusive"),
        (rows(), {"charts_per_s": 40.0}, {"charts_per_s": "regression"}, "regression"),  # a 60% drop
        (rows(), {"charts_per_s": 55.0}, {"charts_per_s": "pass"}, "pass"),
        (rows(), {"charts_per_s": 40.0, "wall_s": 0.2}, {"charts_per_s": "skipped"}, "pass"),  # too short a run to time
        (rows(), {"charts_per_s": 40.0, "wall_s": 30.0}, {"charts_per_s": "regression"}, "regression"),
        (rows(), {"schema_valid_rate": 0.9}, {"schema_valid_rate": "regression"}, "regression"),
        (rows(), {"schema_valid_rate": 0.99}, {"schema_valid_rate": "pass"}, "pass"),
        (rows(n=29), {}, {"n_charts": "inconclusive", "micro_f1": "pass"}, "inconclusive"),
        (rows(n=29), {"charts_per_s": 10.0}, {"charts_per_s": "inconclusive"}, "inconclusive"),  # timing of few charts is noise
    ],
)
def test_decision_rules(candidate: list[dict], metrics: dict, expected: dict, verdict: str) -> None:
    baseline_rows = rows(n=len(candidate))
    report = decide(recorded("cand", candidate, **metrics), recorded("base", baseline_rows), GateConfig(n_resamples=1000))
    assert {name: results(report)[name] for name in expected} == expected
    assert report.verdict == verdict and report.exit_code == {"pass": 0, "regression": 1, "inconclusive": 3}[verdict]
    assert results(report)["schema_valid_rate"] == expected.get("schema_valid_rate", "skipped")  # only when recorded


@pytest.mark.parametrize(
    "change,message",
    [
        ({"tags": {"dataset": "codiesp_en"}}, "different datasets: dataset is 'codiesp_en' in the candidate and 'sample'"),
        ({"tags": {"dataset.split": "test"}}, "different datasets: dataset.split is 'test'"),
        ({"tags": {"dataset.digest": "d2"}}, "dataset.digest d2 (candidate) vs d1 (baseline)"),
        ({"per_chart": rows(n=41)}, "different chart sets: the runs scored different charts: 1 only in the candidate"),
        ({"run_id": "base"}, "the same run"),
    ],
)
def test_incomparable_runs_are_refused(change: dict, message: str) -> None:
    candidate, baseline = recorded("cand", rows()), recorded("base", rows())
    for field, value in change.items():
        setattr(candidate, field, {**candidate.tags, **value} if field == "tags" else value)
    with pytest.raises(GateError, match=re.escape(message)):
        check_comparable(candidate, baseline)


# --- real jobs on the bundled sample, one store for the module ---

def start_jobs(cwd: Path, jobs: dict[str, list[str]]) -> dict[str, str]:
    """Run harness jobs at once (each in its own run dir); returns their MLflow run ids by name."""
    running = {name: subprocess.Popen([sys.executable, "-m", "harness", *overrides, store(cwd), f"hydra.run.dir=runs/{name}"],
                                      cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for name, overrides in jobs.items()}
    ids = {}
    for name, job in running.items():
        out, err = job.communicate(timeout=600)
        assert job.returncode == 0, f"job {name} failed:\n{err[-3000:]}"
        ids[name] = re.search(r"mlflow_run: (\w+)", out).group(1)
    return ids


@pytest.fixture(scope="module")
def jobs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("gate")
    pack = yaml.safe_load((PROJECT_ROOT / "coders" / "packs" / "icd10cm_2026_v2.yaml").read_text())
    pack.update(name="icd10cm_2026_v2_drop", version=3)
    pack["rules"].append({"id": "drop_family", "type": "drop_codes", "codes": DROPPED})
    (root / "icd10cm_2026_v2_drop.yaml").write_text(yaml.safe_dump(pack, sort_keys=False))
    # The two runs of one configuration skip the extraction cache, so their throughputs compare like for like;
    # the baseline shares the machine with more jobs than the candidate, so noise cannot fail the pass case.
    ids = start_jobs(root, {"baseline": ["extraction_cache=false"], "small": ["dataset.limit=5"],
                            "small_again": ["dataset.limit=5"], "ten": ["dataset.limit=10"], "twelve": ["dataset.limit=12"]})
    ids |= start_jobs(root, {"same": ["extraction_cache=false"], "dropped": [f"rules.pack={root / 'icd10cm_2026_v2_drop.yaml'}"]})
    return root, ids


def gate(root: Path, capsys: pytest.CaptureFixture, *args: str, db: str = "mlflow.db") -> tuple[int, str, str]:
    """``harness gate`` in this process: its exit status, stdout and stderr."""
    code = main([*args, "--tracking-uri", f"sqlite:///{root / db}"])
    out, err = capsys.readouterr()
    return code, out, err


def tags(root: Path, run_id: str) -> dict[str, str]:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}").get_run(run_id).data.tags


def row(summary: str, metric: str) -> str:
    """The summary's table row of ``metric``."""
    return next(line for line in summary.splitlines() if line.startswith("| ") and f"`{metric}` |" in line)


def validated(path: Path) -> dict:
    """The gate's JSON result at ``path``, validated against the schema in the repo."""
    import jsonschema

    from reports.gate_summary import SCHEMA

    result = json.loads(path.read_text())
    jsonschema.validate(result, json.loads(SCHEMA.read_text()))
    return result


@pytest.mark.slow
def test_same_configuration_passes(jobs: tuple[Path, dict[str, str]]) -> None:
    from mlflow.tracking import MlflowClient

    root, ids = jobs
    out = harness(root, "gate", "--candidate", ids["same"], "--baseline", ids["baseline"],
                  "--tracking-uri", f"sqlite:///{root / 'mlflow.db'}", "--out", "summary.md", "--json", "result.json",
                  check=False, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.match(r"Regression gate: PASS\. \d+ checks on \d+ paired charts, none worse than its tolerance allows\.\n",
                    out.stdout) and f"`{ids['baseline']}`" in out.stdout
    candidate = tags(root, ids["same"])
    assert f"commit {candidate['git_commit'][:12]} on branch {candidate['git_branch']}" in out.stdout
    assert "- charts: sample/dev, " in out.stdout
    assert "+0.0 pts [+0.0 pts, +0.0 pts]" in row(out.stdout, "micro_f1") and row(out.stdout, "micro_f1").startswith(
        "| F1 (all codes) `micro_f1` | ")
    assert "0 charts lost, 0 gained" in row(out.stdout, "exact_match")
    assert "Charts that got worse most:\n- F1 per chart: none\n" in out.stdout
    assert candidate["gate.verdict"] == "pass" and candidate["gate.baseline"] == ids["baseline"]

    result = validated(root / "result.json")
    assert (result["verdict"], result["exit_code"]) == ("pass", 0) and result["reason"] == out.stdout.splitlines()[0]
    assert result["candidate"]["run_id"] == ids["same"] and result["candidate"]["commit"] == candidate["git_commit"]
    f1 = next(check for check in result["checks"] if check["metric"] == "micro_f1")
    assert f1["result"] == "pass" and f1["interval"] == [0.0, 0.0] and f1["threshold"]["limit"] == 0.01

    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    logged = Path(client.download_artifacts(ids["same"], "gate_summary.md", str(root)))
    assert logged.read_text() == (root / "summary.md").read_text() and out.stdout.startswith(logged.read_text())
    assert json.loads(Path(client.download_artifacts(ids["same"], "gate_result.json", str(root))).read_text()) == result
    assert "Run comparison" in Path(client.download_artifacts(ids["same"], "gate_comparison.html", str(root))).read_text()
    assert "comparison report: `gate_comparison.html`" in out.stdout


@pytest.mark.slow
def test_dropped_code_family_is_a_regression(jobs: tuple[Path, dict[str, str]], capsys: pytest.CaptureFixture) -> None:
    root, ids = jobs
    code, out, _ = gate(root, capsys, "--candidate", ids["dropped"], "--baseline", ids["baseline"],
                        "--json", str(root / "dropped.json"))
    assert code == 1
    # the reason first, in the registry's words and units: F1 fell by more than the tolerance, the whole interval
    first = re.match(r"Regression gate: REGRESSION\. F1 \(all codes\): [.\d]+% -> [.\d]+%, -[.\d]+ pts "
                     r"\[(-[.\d]+) pts, (-[.\d]+) pts\]; allowed -1\.0 pts", out)
    assert first, out.splitlines()[0]
    assert float(first.group(1)) <= float(first.group(2)) < -1.0 and row(out, "micro_f1").endswith("| regression |")
    lost, gained = map(int, re.search(r"(\d+) charts lost, (\d+) gained", row(out, "exact_match")).groups())
    assert lost > gained
    assert tags(root, ids["dropped"])["gate.verdict"] == "regression"

    result = validated(root / "dropped.json")
    assert (result["verdict"], result["exit_code"]) == ("regression", 1)
    assert result["baseline"]["run_id"] == ids["baseline"] and result["candidate"]["run_id"] == ids["dropped"]
    worse = [c["code"] for c in result["worse_codes"]]
    assert worse and worse[0].split(".")[0].upper() in DROPPED  # a dropped family lost most
    f1 = [c for c in result["worse_charts"] if c["metric"] == "micro_f1"]
    assert f1 and all(c["candidate"] < c["baseline"] for c in f1)
    failing = {k["metric"] for k in result["checks"] if k["result"] != "pass"}  # codes missed also raise the denials
    assert {c["metric"] for c in result["worse_charts"]} - {"micro_f1"} <= failing & {"denial_rate", "coder_minutes_per_chart"}
    assert f"`{worse[0]}`" in next(line for line in out.splitlines() if line.startswith("Codes that got worse most"))


@pytest.mark.slow
def test_too_few_charts_is_inconclusive(jobs: tuple[Path, dict[str, str]], capsys: pytest.CaptureFixture) -> None:
    root, ids = jobs
    code, out, _ = gate(root, capsys, "--candidate", ids["small_again"], "--baseline", ids["small"],
                        "--json", str(root / "small.json"))
    assert code == 3
    assert out.startswith("Regression gate: INCONCLUSIVE, not a pass. Paired charts: 5; at least 30 needed for a verdict")
    assert "| Paired charts | 5 | 5 | – | at least 30 | inconclusive |" in out and row(out, "micro_f1").endswith("| pass |")
    assert tags(root, ids["small_again"])["gate.verdict"] == "inconclusive"
    result = validated(root / "small.json")
    assert (result["verdict"], result["exit_code"], result["n_charts"]) == ("inconclusive", 3, 5)


@pytest.mark.slow
def test_unusable_runs_are_refused(jobs: tuple[Path, dict[str, str]], capsys: pytest.CaptureFixture) -> None:
    from mlflow.tracking import MlflowClient

    root, ids = jobs
    code, out, err = gate(root, capsys, "--candidate", "no-such-run", "--baseline", ids["baseline"],
                          "--json", str(root / "refused.json"))
    assert code == 2 and not out and not (root / "refused.json").exists()
    assert f"cannot gate candidate 'no-such-run' against baseline '{ids['baseline']}': run 'no-such-run' not found" in err

    code, _, err = gate(root, capsys, "--candidate", ids["twelve"], "--baseline", ids["ten"])
    assert code == 2 and "different chart sets: the runs scored different charts: 2 only in the candidate" in err
    assert "gate.verdict" not in tags(root, ids["twelve"])

    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    bare = client.create_run(client.get_run(ids["baseline"]).info.experiment_id,
                             tags={"dataset": "sample", "dataset.split": "dev"}).info.run_id
    code, _, err = gate(root, capsys, "--candidate", ids["same"], "--baseline", bare)
    assert code == 2 and f"run {bare!r}" in err and "no per_chart_scores.jsonl" in err

    code, _, err = gate(root, capsys, "--candidate", ids["same"], "--baseline", ids["baseline"], db="elsewhere.db")
    assert code == 2 and "no MLflow store at" in err


@pytest.mark.slow
def test_promote_and_gate_against_the_champion(jobs: tuple[Path, dict[str, str]], capsys: pytest.CaptureFixture) -> None:
    from mlflow.tracking import MlflowClient

    root, ids = jobs
    code, _, err = gate(root, capsys, "--candidate", ids["same"], "--baseline", "champion")
    assert code == 2 and "no champion run for sample/dev" in err

    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    other_split = client.create_run(client.get_run(ids["baseline"]).info.experiment_id,
                                    tags={"dataset": "sample", "dataset.split": "test", "champion": "true"}).info.run_id
    assert gate(root, capsys, "promote", ids["small"])[0] == 0
    code, out, _ = gate(root, capsys, "promote", ids["baseline"])
    assert code == 0 and f"replaces {ids['small']}" in out
    assert tags(root, ids["baseline"])["champion"] == "true" and "champion" not in tags(root, ids["small"])
    assert tags(root, other_split)["champion"] == "true"  # another split keeps its champion

    code, out, _ = gate(root, capsys, "--candidate", ids["same"], "--baseline", "champion")
    assert code == 0 and f"- baseline (the champion): `{ids['baseline']}`" in out
    assert tags(root, ids["same"])["gate.baseline"] == ids["baseline"]
    code, _, err = gate(root, capsys, "--candidate", ids["baseline"], "--baseline", "champion")
    assert code == 2 and "the same run" in err


def test_help_documents_exit_codes_without_importing_mlflow() -> None:
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "harness", "gate", "--help"], cwd=PROJECT_ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "0  pass" in out.stdout and "1  regression" in out.stdout
    assert "2  usage or data error" in out.stdout and "3  inconclusive" in out.stdout and "--json" in out.stdout
    assert "promote <run_id|latest>" in out.stdout and "--candidate <run_id|latest>" in out.stdout and " mlflow" not in out.stderr
