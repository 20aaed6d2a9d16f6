"""The sweep report as a decision page, on real jobs in a real SQLite MLflow store: a sweep of four designs on the
bundled sample (rule pack v1/v2 by review threshold), each job's verdict on the page and in the terminal table equal to
what ``harness gate`` decides for the same pair, and a promoted champion taking the baseline's place."""

from __future__ import annotations

import html
import os
import re
import subprocess
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT, harness

from harness.tracking.gate_policy import EXIT_CODES

pytestmark = pytest.mark.slow  # four jobs and three gate processes (a minute on 2 cores)


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false", "PYTHONPATH": str(PROJECT_ROOT)}
    return harness(cwd, *args, check=False, env=env)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, subprocess.CompletedProcess]:
    root = tmp_path_factory.mktemp("decision")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    out = run(root, "run", "-m", "rules=icd10cm_2026_v1,icd10cm_2026_v2", "routing.min_code_confidence=0.5,0.9",
                  "dataset.limit=15", "summary=false", f"tracking.uri={uri}", f"hydra.sweep.dir={root / 'sweep'}")
    assert out.returncode == 0, out.stderr[-3000:]
    return root, uri, out


def overrides_to_ids(uri: str) -> dict[str, str]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("coding-harness").experiment_id],
                              filter_string="tags.`harness.kind` = 'job'")
    return {run.data.tags["harness.overrides"]: run.info.run_id for run in runs}


def job_id(ids: dict[str, str], design: str) -> str:
    """The run id of the job whose overrides start with ``design``."""
    return next(run_id for key, run_id in ids.items() if key.startswith(design + " "))


def page_verdicts(page: Path) -> dict[str, str]:
    """Design (its distinguishing overrides) -> the gate verdict in the decision table's last column."""
    text = page.read_text(encoding="utf-8")
    decision = text[text.index('id="decision"'):text.index("Designs no other design beats")]
    found = {}
    for row in re.findall(r"<tr>(.*?)</tr>", decision, re.S)[1:]:
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        design = html.unescape(re.search(r"<code>(.*?)</code>", cells[0]).group(1))
        found[design] = re.sub(r"<[^>]+>", " ", cells[-1]).split()[0]
    return found


def test_each_verdict_in_the_sweep_report_is_the_gates_for_the_same_pair(sweep) -> None:
    from mlflow.tracking import MlflowClient

    root, uri, out = sweep
    ids = overrides_to_ids(uri)
    verdicts = page_verdicts(root / "sweep" / "sweep_report.html")
    baseline = "rules=icd10cm_2026_v1 routing.min_code_confidence=0.5"
    assert verdicts.pop(baseline) == "baseline" and len(verdicts) == 3
    terminal = out.stdout[out.stdout.index("against the baseline"):]
    for design, verdict in verdicts.items():
        candidate = job_id(ids, design)
        gate = run(root, "gate", "--candidate", candidate, "--baseline", job_id(ids, baseline), "--tracking-uri", uri)
        recorded = MlflowClient(tracking_uri=uri).get_run(candidate).data.tags["gate.verdict"]
        assert (recorded, gate.returncode) == (verdict, EXIT_CODES[verdict]), design + gate.stdout + gate.stderr
        assert re.search(rf"^  {re.escape(design)} .* {verdict}$", terminal, re.M), terminal


def test_the_page_shows_the_outcomes_the_front_and_a_recommendation(sweep) -> None:
    root, _, out = sweep
    text = html.unescape(re.sub(r"<[^>]+>", " ", (root / "sweep" / "sweep_report.html").read_text(encoding="utf-8")))
    for label in ("Claims a payer would deny", "Charts that come back for correction", "Coder minutes per chart",
                  "Time from arrival to claim", "Charts sent to a coder"):
        assert label in text
    assert re.search(r"\+86\.3 pts \[[-+0-9.]+, [-+0-9.]+\]\s+better", text)  # v2's F1 gain over v1, with its interval
    assert "Designs no other design beats on every axis" in text and "not recorded by every job: cost_per_1k_charts_usd" in text
    assert re.search(r"^recommended: rules=icd10cm_2026_v2 ", out.stdout, re.M)


def test_a_promoted_champion_becomes_the_baseline(sweep) -> None:
    from reports.sweep_report import report_recorded_sweep

    root, uri, _ = sweep
    ids = overrides_to_ids(uri)
    champion = job_id(ids, "rules=icd10cm_2026_v2 routing.min_code_confidence=0.9")
    assert run(root, "gate", "promote", champion, "--tracking-uri", uri).returncode == 0
    parent = (root / "sweep" / ".mlflow_parent_run_id").read_text().strip()
    page = report_recorded_sweep(parent, uri, root / "again.html").read_text(encoding="utf-8")
    assert "Baseline: the champion of this dataset split" in html.unescape(page)
    assert page_verdicts(root / "again.html")["rules=icd10cm_2026_v2 routing.min_code_confidence=0.9"] == "baseline"


def test_the_rule_upgrade_sweep_shows_v2s_denial_rise(data_dir: Path, tmp_path: Path) -> None:
    """The README's rule upgrade: v2 codes far better, but a payer would deny more of its claims; the page and the
    terminal say so, and v2 is not the recommended design."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = run(tmp_path, "run", "-m", "+experiment=rule_upgrade", "dataset.split=dev", "dataset.limit=20", "summary=false",
                  f"tracking.uri={uri}", f"hydra.sweep.dir={tmp_path / 'sweep'}")
    assert out.returncode == 0, out.stderr[-3000:]
    row = next(line for line in out.stdout.splitlines() if line.startswith("  rules=icd10cm_2026_v2 "))
    assert re.search(r"\+[0-9.]+ pts \[\+[0-9.]+, \+[0-9.]+\] worse", row) and row.endswith("regression"), row
    assert "recommended: rules=icd10cm_2026_v1 " in out.stdout
    page = html.unescape((tmp_path / "sweep" / "sweep_report.html").read_text(encoding="utf-8"))
    assert page_verdicts(tmp_path / "sweep" / "sweep_report.html")["rules=icd10cm_2026_v2"] == "regression"
    assert "Charts failing a validation edit" in page  # report.metrics of the rule_upgrade preset
    raw = (tmp_path / "sweep" / "sweep_report.html").read_text(encoding="utf-8")
    assert '<p class="note">Left out: <code>rules=icd10cm_2026_v2</code> (denial_rate regression).</p>' in raw  # markup
