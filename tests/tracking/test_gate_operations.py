"""The gate on the coding department's outcomes: a candidate that codes better but lets claims with failed payer edits
go out unreviewed raises denials and coder time, and fails, though F1 rose and fewer charts went to review."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from conftest import store

from coders.routing import RoutingConfig, route
from harness.cli.gate import main
from harness.contracts import ChartResult, CodeAssignment, EditResult, Extraction
from harness.metrics.registry import gated
from harness.operations import OperationsConfig
from harness.tracking.gate_config import GateConfig, load_config
from harness.tracking.gate_policy import decide
from harness.tracking.run_store import RecordedRun
from reports.gate_summary import summary

N_CHARTS = 60
EDIT_FAILED = range(0, 20)
"""Charts whose codes fail Excludes1 (E10.9 with E11.9): a payer edit, so such a claim is denied unless a coder fixes it."""
MISSED = range(20, 25)
"""Charts where the baseline's extractor misses a gold code (I10) that the candidate's finds."""
CHECKS = {"micro_f1", "review_rate", "exact_match", "denial_rate", "coder_minutes_per_chart"}


def chart(i: int, finds_missed: bool, policy: RoutingConfig) -> tuple[ChartResult, dict]:
    """Chart ``c<i>``'s result, routed by the real routing step under ``policy``, and its per-chart scores row."""
    gold = ["E11.9", "I10"]
    found = ["E11.9"] if i in MISSED and not finds_missed else ["E11.9", "I10"]
    codes = [CodeAssignment(code=code, confidence=0.95) for code in found]
    edits = [EditResult(edit="excludes1", passed=i not in EDIT_FAILED, codes=["E10.9", "E11.9"] if i in EDIT_FAILED else [])]
    routed, reasons = route(Extraction(chart_id=f"c{i:02d}", extractor="x"), codes, policy, edits)
    result = ChartResult(chart_id=f"c{i:02d}", codes=codes, route=routed, reasons=reasons, edits=edits)
    tp, fn = len(set(found) & set(gold)), len(set(gold) - set(found))
    row = {"chart_id": result.chart_id, "tp": tp, "fp": 0, "fn": fn, "f1": 2 * tp / (2 * tp + fn), "exact_match": fn == 0,
           "routed_to_review": routed == "review", "latency_s": 0.01}
    return result, row


def recorded(folder: Path, run_id: str, *, finds_missed: bool, policy: RoutingConfig,
             operations: OperationsConfig | None = None) -> RecordedRun:
    """A job's artifact folder as ``harness.recording.write_artifacts`` writes it, read back as the gate reads a run."""
    folder.mkdir(parents=True)
    charts = [chart(i, finds_missed, policy) for i in range(N_CHARTS)]
    (folder / "chart_results.jsonl").write_text("".join(result.model_dump_json() + "\n" for result, _ in charts))
    (folder / "per_chart_scores.jsonl").write_text("".join(json.dumps(row) + "\n" for _, row in charts))
    metrics = {"n_gold_codes": 2.0 * N_CHARTS, "charts_per_s": 100.0}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    config = {"routing": policy.model_dump(), "operations": (operations or OperationsConfig()).model_dump(), "seed": 0,
              "evaluation": {"n_resamples": 200, "confidence": 0.95}}
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    tags = {"dataset": "sample", "dataset.split": "dev", "dataset.digest": "d1"}
    return RecordedRun(run_id=run_id, name=run_id, tags=tags, params={}, metrics=metrics, folder=folder,
                       per_chart=[row for _, row in charts])


REVIEW_EDITS = RoutingConfig(review_on_edits=["excludes1"])
IGNORE_EDITS = RoutingConfig(review_on_edits=[])


def results(report) -> dict[str, str]:
    return {check.metric: check.result for check in report.checks}


def row_of(report, metric: str):
    return next(check for check in report.checks if check.metric == metric)


def test_operations_rules_are_gated_with_their_thresholds_in_the_default_config() -> None:
    rules = {metric.name: metric.gate for metric in gated()}
    assert rules["denial_rate"].test == rules["coder_minutes_per_chart"].test == "paired"
    assert {rules[name].setting for name in ("denial_rate", "coder_minutes_per_chart")} <= set(GateConfig.model_fields)
    config = load_config("default")
    assert (config.max_denial_rate_rise, config.max_coder_minutes_rise) == (0.01, 0.5)
    names = [metric.name for metric in gated()]
    assert names.index("review_rate") < names.index("denial_rate") < names.index("exact_match")  # paired checks first


def test_higher_f1_with_more_denials_fails(tmp_path: Path) -> None:
    baseline = recorded(tmp_path / "base", "base", finds_missed=False, policy=REVIEW_EDITS)
    candidate = recorded(tmp_path / "cand", "cand", finds_missed=True, policy=IGNORE_EDITS)
    report = decide(candidate, baseline, GateConfig(n_resamples=1000))
    assert {name: results(report)[name] for name in CHECKS} == {
        "micro_f1": "pass", "review_rate": "pass", "exact_match": "pass",  # better coding, fewer charts reviewed...
        "denial_rate": "regression",  # ...but claims failing a payer edit go out and are denied,
        "coder_minutes_per_chart": "inconclusive"}  # and come back as rework: +1.4 min a chart, interval [+0.45, +2.3]
    assert report.verdict == "regression" and report.exit_code == 1
    f1, denial = row_of(report, "micro_f1"), row_of(report, "denial_rate")
    assert f1.candidate > f1.baseline
    # baseline: 20 reviewed edit failures (10% each slip through), 5 charts missing I10 (20% denied); candidate: 20 denied
    assert denial.baseline == pytest.approx((20 * 0.1 + 5 * 0.2) / 60)
    assert denial.candidate == pytest.approx(20 / 60)
    assert 0.01 < denial.low <= denial.high
    text = summary(report)
    # the reason first, in the registry's words and units; then what else keeps it from a pass
    assert re.match(r"Regression gate: REGRESSION\. Claims a payer would deny \(.+\): 5\.0% -> 33\.3%, \+28\.3 pts "
                    r"\[\+[.\d]+ pts, \+[.\d]+ pts\]; allowed \+1\.0 pts \(and 1 more below\)\.\n", text), text
    assert "- Coder minutes per chart (review, QA, rework): 3.88 min -> 5.25 min, +1.37 min [" in text
    assert "| 5.0% | 33.3% | +28.3 pts [" in text and "| +1.0 pts | regression |" in text
    assert "under the candidate's workload model (operations=default)" in text
    # the charts behind the rise: a failed payer edit that went out unreviewed is denied (10% of them slipped through review)
    assert "- Claims a payer would deny (failed payer edit or wrong code): `c00` 10.0% -> 100.0%, `c01` 10.0% -> 100.0%" in text


def test_the_json_result_validates_against_the_schema_in_the_repo(tmp_path: Path) -> None:
    import jsonschema

    from reports.gate_summary import SCHEMA, result

    baseline = recorded(tmp_path / "base", "base", finds_missed=False, policy=REVIEW_EDITS)
    candidate = recorded(tmp_path / "cand", "cand", finds_missed=True, policy=IGNORE_EDITS)
    found = json.loads(json.dumps(result(decide(candidate, baseline, GateConfig(n_resamples=200)))))  # as --json writes it
    jsonschema.validate(found, json.loads(SCHEMA.read_text()))
    denial = next(check for check in found["checks"] if check["metric"] == "denial_rate")
    assert denial["result"] == "regression" and denial["threshold"] == {"limit": 0.01, "rule": "rise <= 0.01"}
    assert denial["interval"][0] > 0.01 and denial["unit"] == "share" and found["exit_code"] == 1
    assert {c["metric"] for c in found["worse_charts"]} >= {"denial_rate"} and found["reason"].startswith(
        "Regression gate: REGRESSION. Claims a payer would deny")


def test_the_same_routing_with_better_coding_passes(tmp_path: Path) -> None:
    baseline = recorded(tmp_path / "base", "base", finds_missed=False, policy=REVIEW_EDITS)
    candidate = recorded(tmp_path / "cand", "cand", finds_missed=True, policy=REVIEW_EDITS)
    report = decide(candidate, baseline, GateConfig(n_resamples=1000))
    assert {name: results(report)[name] for name in CHECKS} == dict.fromkeys(CHECKS, "pass")
    assert report.verdict == "pass" and row_of(report, "denial_rate").difference < 0


def test_both_runs_are_costed_under_the_candidates_assumptions(tmp_path: Path) -> None:
    baseline = recorded(tmp_path / "base", "base", finds_missed=False, policy=REVIEW_EDITS)
    # the same pipeline, with assumptions that no payer edit ever denies a claim: the gate must not read that as a change
    lenient = OperationsConfig(edit_denial_probability=0.0, coders=8)
    candidate = recorded(tmp_path / "cand", "cand", finds_missed=False, policy=REVIEW_EDITS, operations=lenient)
    report = decide(candidate, baseline, GateConfig(n_resamples=1000))
    denial = row_of(report, "denial_rate")
    assert denial.result == "pass" and denial.baseline == denial.candidate == pytest.approx(5 * 0.2 / 60)
    assert denial.difference == denial.low == denial.high == 0
    assert "the baseline ran with other assumptions for coders, edit_denial_probability" in summary(report)


def test_runs_without_per_chart_results_skip_the_operations_checks(tmp_path: Path) -> None:
    baseline = recorded(tmp_path / "base", "base", finds_missed=False, policy=REVIEW_EDITS)
    candidate = recorded(tmp_path / "cand", "cand", finds_missed=False, policy=REVIEW_EDITS)
    (baseline.folder / "chart_results.jsonl").unlink()  # a baseline recorded before chart results were kept
    report = decide(candidate, baseline, GateConfig(n_resamples=200))
    assert results(report)["denial_rate"] == results(report)["coder_minutes_per_chart"] == "skipped"
    assert report.verdict == "pass"
    text = summary(report)
    assert "Operations not gated: the baseline run base cannot be costed: no chart_results.jsonl" in text
    assert "| Claims a payer would deny" in text and "not costed" in text


@pytest.mark.slow
def test_auto_routing_failed_edits_fails_the_gate_on_real_jobs(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Real jobs on the bundled sample: a policy that no longer reviews failed edits or codes of unestimated confidence sends
    most charts straight to billing with the same codes (F1 and review rate pass: 65% of charts reviewed -> 8%), and the
    gate fails the candidate on the denials that follow (8% of claims -> 27%)."""
    from conftest import harness

    lenient = ["routing.review_on_edits=[]", "routing.review_unestimated_confidence=false"]
    ids = {}
    for name, overrides in {"baseline": [], "candidate": lenient}.items():
        out = harness(tmp_path, *overrides, store(tmp_path), f"hydra.run.dir={tmp_path / name}")
        ids[name] = re.search(r"mlflow_run: (\w+)", out.stdout).group(1)
    code = main(["--candidate", ids["candidate"], "--baseline", ids["baseline"], "--tracking-uri",
                 f"sqlite:///{tmp_path / 'mlflow.db'}"])
    out = capsys.readouterr().out
    assert code == 1, out
    rows = {re.search(r"`(\w+)` \|", line).group(1): line for line in out.splitlines() if "` | " in line}
    assert rows["micro_f1"].endswith("| pass |") and "+0.0 pts [+0.0 pts, +0.0 pts]" in rows["micro_f1"]
    assert rows["review_rate"].endswith("| pass |") and rows["denial_rate"].endswith("| regression |")
    assert out.startswith("Regression gate: REGRESSION. Claims a payer would deny")
