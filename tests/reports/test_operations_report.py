"""The "Operations" sections: a run's outcomes for coding leads beside coding by hand, its review queue and assumptions;
two runs' outcomes side by side with the paired intervals and the verdict of the gate's own comparison. Built from real
jobs on the bundled sample."""

from __future__ import annotations

import html
import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from conftest import harness
from test_reports import assert_self_contained

from harness.operations import OperationsConfig, operations, recorded_facts
from harness.tracking.gate_config import GateConfig
from harness.tracking.gate_policy import decide
from reports.compare_report import write_comparison
from reports.gate_summary import reason
from reports.run_data import ReportError, read_folder
from reports.run_report import _page

LENIENT = ["routing.review_unestimated_confidence=false", "routing.review_on_edits=[]"]
"""A routing policy that sends most charts straight to billing: fewer reviews, more denials."""


@pytest.fixture(scope="module")
def jobs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two jobs over the sample's 40 dev charts (no MLflow): ``a`` as configured, ``b`` with the lenient routing."""
    root = tmp_path_factory.mktemp("operations-report")
    for name, overrides in {"a": [], "b": LENIENT}.items():
        harness(root, *overrides, "tracking.enabled=false", "summary=false", f"hydra.run.dir={root / name}")
    return root


def page_of(folder: Path) -> str:
    return _page(read_folder(folder), None, redact=False)


def section_of(page: str, anchor: str) -> str:
    found = re.search(rf'<section id="{anchor}">.*?</section>', page, re.S)
    assert found, f"no {anchor} section"
    return html.unescape(found.group(0))


def operations_section(page: str) -> str:
    return section_of(page, "operations")


def copied(job: Path, to: Path) -> Path:
    """A copy of the job's run folder under ``to`` (``run.json`` with the dataset digest beside ``artifacts/``); returns
    the copy's artifact folder."""
    shutil.copytree(job, to)
    return to / "artifacts"


def copy_with(jobs: Path, tmp_path: Path, **assumptions: object) -> Path:
    """Run a's artifacts, recomputed under other assumptions as a job with them would have recorded them."""
    folder = copied(jobs / "a", tmp_path / "a-again")
    config = yaml.safe_load((folder / "config.yaml").read_text())
    config["operations"] = {**config["operations"], **assumptions}
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    ops = operations(recorded_facts(folder), OperationsConfig.model_validate(config["operations"]), n_resamples=200)
    metrics = {k: v for k, v in json.loads((folder / "metrics.json").read_text()).items() if not k.startswith("time_to_claim")}
    (folder / "metrics.json").write_text(json.dumps(metrics | ops.metrics))
    (folder / "operations.json").write_text(json.dumps(ops.document))
    return folder


def test_run_report_shows_outcomes_beside_manual_coding_the_queue_and_the_assumptions(jobs: Path) -> None:
    page = page_of(jobs / "a" / "artifacts")
    assert_self_contained(page)
    section = operations_section(page)
    document = json.loads((jobs / "a" / "artifacts" / "operations.json").read_text())
    minutes = document["coder_minutes_per_chart"]["all"]
    assert "Beside coding every chart by hand" in section and "Coders needed at 8 hours a day" in section
    assert f"{minutes * 1000 / 60:,.1f} h" in section and "333.3 h" in section  # coder hours per 1,000 charts: 20 min by hand
    assert "Where coder time goes" in section and "<code>low_confidence</code>" in section
    assert "The queue keeps up: the daily 200 charts need" in section and "A claim goes out" in section
    assert "Review backlog at the end of each day" in section and section.count("<svg") == 1
    assert "<code>operations.manual_coding_minutes</code>" in section and "AHIMA best practice" in section
    assert "<code>operations.review_minutes.high_risk</code>" in section and "assumption" in section
    assert page.index('<section id="accuracy-against-review-rate">') < page.index('<section id="operations">')


def test_an_unstable_queue_is_said_in_words_without_time_to_claim(jobs: Path, tmp_path: Path) -> None:
    section = operations_section(page_of(copy_with(jobs, tmp_path, coders=1)))
    assert re.search(r"Unstable queue: the backlog grows by \d+\.\d charts a day", section)
    assert "Time to claim is not reported" in section and "A claim goes out" not in section
    assert "review backlog keeps growing" in section and "time to claim, slowest 5%" not in section
    assert "assumption, set for this run (default 4)" in section


def test_a_run_without_operations_json_has_no_section(jobs: Path, tmp_path: Path) -> None:
    folder = copied(jobs / "a", tmp_path / "a-again")
    (folder / "operations.json").unlink()  # a run recorded before the workload model
    page = page_of(folder)
    assert '<section id="operations">' not in page and "<h2>Headline metrics</h2>" in page


def test_comparison_pairs_the_outcomes_by_chart_and_gives_the_gates_verdict(jobs: Path, tmp_path: Path) -> None:
    a, b = read_folder(jobs / "a" / "artifacts"), read_folder(jobs / "b" / "artifacts")
    page = write_comparison(a, b, tmp_path / "compare.html").read_text()
    assert_self_contained(page)
    section = operations_section(page)
    denial = re.search(r"<tr><td>Claims a payer would deny.*?</tr>", section).group(0)
    assert b.metrics["denial_rate"] > a.metrics["denial_rate"] and ">worse<" in denial
    assert re.search(r'<td class="num">\+[\d.]+ pts to \+[\d.]+ pts</td>', denial), denial  # the paired interval
    assert "Paired intervals (95%, 1000 resamples of charts), run B as the candidate." in section
    assert "under the candidate's workload model (operations=" in section and "other assumptions" not in section
    assert "Review backlog at the end of each day" in section
    assert page.index('<section id="headline-differences">') < page.index('<section id="operations">')

    # the gate's own decision on the same pair (the gate refuses two runs of one id: each folder names its run)
    gate = decide(replace(b, run_id="b"), replace(a, run_id="a"), GateConfig(n_resamples=1000, confidence=0.95))
    verdict = section_of(page, "gate-verdict")
    assert gate.verdict == "regression" and f'<span class="tag bad">{gate.verdict}</span>' in verdict
    assert f" {reason(gate.failing[0], gate)}" in verdict and "default gate's thresholds" in verdict
    assert page.index('<section id="gate-verdict">') < page.index('<section id="headline-differences">')


def test_comparison_costs_both_runs_under_bs_assumptions(jobs: Path, tmp_path: Path) -> None:
    a, other = read_folder(jobs / "a" / "artifacts"), read_folder(copy_with(jobs, tmp_path, coders=8, qa_minutes=4))
    section = operations_section(write_comparison(a, other, tmp_path / "compare.html").read_text())
    assert "the baseline ran with other assumptions for coders, qa_minutes" in section
    minutes = re.search(r"<tr><td>Coder minutes per chart.*?</tr>", section).group(0)
    # the same pipeline's charts, both costed under B's assumptions: the recorded minutes differ, the pipelines do not
    assert "<td class=\"num\">+0 min to +0 min</td>" in minutes, minutes
    assert "no clear difference" in minutes


def test_comparison_without_per_chart_results_shows_values_only(jobs: Path, tmp_path: Path) -> None:
    folder = copied(jobs / "b", tmp_path / "b-again")
    (folder / "chart_results.jsonl").unlink()
    section = operations_section(write_comparison(read_folder(jobs / "a" / "artifacts"), read_folder(folder),
                                                  tmp_path / "compare.html").read_text())
    assert "No paired intervals: the candidate run" in section and "cannot be costed: no chart_results.jsonl" in section
    assert "tag bad" not in section


def test_comparison_refuses_runs_not_shown_to_be_the_same_charts(jobs: Path, tmp_path: Path) -> None:
    a = read_folder(jobs / "a" / "artifacts")
    other = copied(jobs / "b", tmp_path / "b-again")
    summary = json.loads((other.parent / "run.json").read_text())
    (other.parent / "run.json").write_text(json.dumps(summary | {"dataset_digest": "0000000000000000"}))
    with pytest.raises(ReportError, match="dataset.digest 0000000000000000 .candidate. vs .*same chart ids but different"):
        write_comparison(a, read_folder(other), tmp_path / "compare.html")

    (other.parent / "run.json").unlink()  # an artifact folder on its own: nothing records which charts it scored
    with pytest.raises(ReportError, match="not comparable: no dataset digest for run B") as refused:
        write_comparison(a, read_folder(other), tmp_path / "compare.html")
    assert str(other) in str(refused.value) and not (tmp_path / "compare.html").exists()
