"""A sweep's decision on constructed runs: the baseline each split gets, each pair judged by the gate's own ``decide``,
the designs nothing beats and the recommendation under the configured objective."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from harness.tracking.decision import decide_sweep, non_dominated, pick_baseline
from harness.tracking.decision_config import Objective, ReportConfig
from harness.tracking.gate_config import GateConfig
from harness.tracking.gate_policy import decide
from harness.tracking.run_store import RecordedRun


def rows(n: int = 40, lost: int = 0, reviewed: int = 0) -> list[dict]:
    """``n`` charts with two gold codes; the first ``lost`` miss one, the first ``reviewed`` go to review."""
    return [{"chart_id": f"c{i}", "tp": 1 if i < lost else 2, "fp": 0, "fn": 1 if i < lost else 0,
             "exact_match": i >= lost, "routed_to_review": i < reviewed} for i in range(n)]


def run(run_id: str, overrides: str, per_chart: list[dict] | None = None, split: str = "dev", **metrics: float) -> RecordedRun:
    tags = {"dataset": "sample", "dataset.split": split, "dataset.digest": "d1", "harness.overrides": overrides}
    return RecordedRun(run_id=run_id, name=run_id, tags=tags, params={}, metrics={"charts_per_s": 100.0, **metrics},
                       folder=Path("."), per_chart=per_chart if per_chart is not None else rows())


def test_each_pair_gets_the_gates_own_verdict_and_the_paired_differences() -> None:
    base, same, worse = run("a", "rules=v1"), run("b", "rules=v2"), run("c", "rules=v3", rows(lost=20))
    decision = decide_sweep([base, same, worse], config=ReportConfig(axes=["micro_f1"]))
    assert [b.run.run_id for b in decision.baselines] == ["a"] and decision.baselines[0].why == "the sweep's first job"
    verdicts = {pair.candidate.run_id: pair.verdict for pair in decision.pairs}
    assert verdicts == {"b": decide(same, base, GateConfig()).verdict, "c": decide(worse, base, GateConfig()).verdict}
    assert verdicts["c"] == "regression"
    drop = next(p for p in decision.pairs if p.candidate.run_id == "c").comparison.differences["micro_f1"]
    assert drop.high < 0 and drop.n_charts == 40


def test_the_baseline_is_the_named_job_else_a_comparable_champion_else_the_first() -> None:
    jobs = [run("a", "rules=v1 seed=1"), run("b", "rules=v2 seed=1")]
    assert pick_baseline(jobs, ReportConfig(baseline="v2"), None).run.run_id == "b"
    assert pick_baseline(jobs, ReportConfig(baseline="rules=v2"), None).run.run_id == "b"
    ambiguous = pick_baseline(jobs, ReportConfig(baseline="seed=1"), None)
    assert ambiguous.run.run_id == "a" and "names 2 jobs" in ambiguous.why
    champion = run("champ", "", per_chart=rows())
    assert pick_baseline(jobs, ReportConfig(), champion).run.run_id == "champ"
    elsewhere = run("champ", "", per_chart=rows(n=10))  # scored other charts: not a baseline for these jobs
    chosen = pick_baseline(jobs, ReportConfig(), elsewhere)
    assert chosen.run.run_id == "a" and "not comparable" in chosen.why


def test_each_split_has_its_own_baseline() -> None:
    decision = decide_sweep([run("a", "x=1"), run("b", "x=2"), run("c", "x=1", split="test"), run("d", "x=2", split="test")],
                            config=ReportConfig(axes=["micro_f1"]))
    assert [b.run.run_id for b in decision.baselines] == ["a", "c"]
    assert {(p.candidate.run_id, p.baseline.run_id) for p in decision.pairs} == {("b", "a"), ("d", "c")}
    assert decision.recommended is None


def test_non_dominated_keeps_every_design_no_other_beats_on_every_axis() -> None:
    axes = ["micro_f1", "denial_rate"]
    best_f1 = run("f1", "", micro_f1=0.9, denial_rate=0.10)
    fewest_denials = run("den", "", micro_f1=0.8, denial_rate=0.05)
    beaten = run("bad", "", micro_f1=0.7, denial_rate=0.10)
    tie = run("tie", "", micro_f1=0.9, denial_rate=0.10)
    assert [r.run_id for r in non_dominated([best_f1, fewest_denials, beaten, tie], axes)] == ["f1", "den", "tie"]


def test_the_recommendation_is_the_best_on_the_objective_among_designs_whose_guarded_checks_pass() -> None:
    base = run("a", "r=1", rows(reviewed=40), micro_f1=1.0, review_rate=1.0)
    fewer_reviews = run("b", "r=2", rows(reviewed=10), micro_f1=1.0, review_rate=0.25)
    cheaper_but_worse = run("c", "r=3", rows(lost=20), micro_f1=0.83, review_rate=0.0)
    objective = Objective(best="review_rate", guarded=["micro_f1"])
    decision = decide_sweep([base, fewer_reviews, cheaper_but_worse],
                            config=ReportConfig(axes=["micro_f1", "review_rate"], objective=objective))
    assert decision.recommended.run_id == "b"
    assert [(r.run_id, why) for r, why in decision.left_out] == [("c", "micro_f1 regression")]
    assert "lowest charts sent to a coder" in decision.recommendation


def test_a_metric_the_registry_does_not_know_is_refused() -> None:
    with pytest.raises(ValidationError, match="'micro_f2' is not a registered metric"):
        ReportConfig(metrics=["micro_f2"])
    with pytest.raises(ValidationError, match="not a registered metric"):
        Objective(best="coder_minutes")
