"""Facts from a recorded run equal the live run's, and recorded results can be routed again under another policy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import harness, runs, store

from coders.routing import RoutingConfig
from harness.api import measures
from harness.contracts import ChartResult, CodeAssignment, EditResult, ReviewReason
from harness.operations import DOCUMENT, facts_of, load_recorded, operations, recorded_facts, reroute


@pytest.fixture(scope="module")
def sample_job(tmp_path_factory: pytest.TempPathFactory):
    """A real job on 20 charts of the bundled sample, run and recorded in process (tracking off) by the Python API."""
    from harness.api import evaluate

    run = evaluate(["tracking.enabled=false", "summary=false", "extraction_cache=false", "dataset.limit=20"],
                   output_dir=tmp_path_factory.mktemp("operations"))
    return run.config, run, run.metrics, run.artifacts.path


def test_recorded_facts_are_the_live_facts(sample_job) -> None:
    job, run, metrics, out = sample_job
    live = facts_of(run.chart_results, run.per_chart, run.labelled)  # the job's results and scores, held in memory
    assert recorded_facts(out) == live
    assert {chart.route for chart in live} == {"auto", "review"} and any(chart.code_error for chart in live)
    again = operations(recorded_facts(out), job.operations, n_resamples=job.evaluation.n_resamples,
                       confidence=job.evaluation.confidence, seed=job.seed)
    recomputed = measures(again.metrics)
    assert recomputed == {name: metrics[name] for name in recomputed}  # what a later command recomputes


def test_the_job_records_operations_metrics_and_document(sample_job) -> None:
    job, _, metrics, out = sample_job
    assert {"denial_rate", "rework_rate", "coder_minutes_per_chart", "coder_throughput_charts_per_hour", "coder_time_saved",
            "coder_utilization", "operations_stable", "review_queue_backlog", "backlog_growth_per_day"} <= set(metrics)
    written = json.loads((out / "metrics.json").read_text())
    assert written["denial_rate"] == metrics["denial_rate"].value
    document = json.loads((out / "operations.json").read_text())
    assert document["assumptions"] == job.operations.model_dump(mode="json") and document["seed"] == job.seed
    assert len(document["queue"]["backlog_per_day"]) == job.operations.working_days
    assert ("time_to_claim_p95_h" in metrics) == document["queue"]["stable"]


def test_rerouting_under_the_recorded_policy_gives_the_recorded_routes(sample_job) -> None:
    job, run, _, out = sample_job
    recorded = load_recorded(out)
    again = reroute(recorded.results, job.routing)
    assert [(r.route, list(r.reasons)) for r in again] == [(r.route, list(r.reasons)) for r in run.chart_results]
    assert recorded.facts(job.routing) == recorded.facts()


def test_rerouting_under_a_lenient_policy_sends_fewer_charts_to_review(sample_job) -> None:
    job, _, _, out = sample_job
    recorded = load_recorded(out)
    lenient = RoutingConfig(name="lenient", min_code_confidence=0.0, review_unestimated_confidence=False)
    facts, before = recorded.facts(lenient), recorded.facts()
    assert sum(f.route == "review" for f in facts) < sum(f.route == "review" for f in before)
    assert [f.code_error for f in facts] == [f.code_error for f in before]  # codes unchanged: same errors
    assert all(set(f.families) <= {"no_codes", "intake"} for f in facts)


def test_reroute_keeps_what_routing_did_not_decide() -> None:
    codes = [CodeAssignment(code="A41.9", confidence=0.4), CodeAssignment(code="I10", confidence=0.9)]
    edits = [EditResult(edit="excludes1", passed=False, codes=["I10", "A41.9"])]
    intake = ChartResult(chart_id="a", codes=codes, edits=edits, route="review",
                         reasons=[ReviewReason("page_gap", "2"), ReviewReason("low_confidence", "A41.9 0.40 < 0.5")])
    failed = ChartResult(chart_id="b", route="review", reasons=[ReviewReason("extraction_failed", "TimeoutError: 30 s")])
    empty = ChartResult(chart_id="c", route="review", reasons=[ReviewReason("unreadable_page", "0"), ReviewReason("empty_chart")])
    strict = RoutingConfig(min_code_confidence=0.5, high_risk_codes=["A41"], review_on_edits=["excludes1"])
    a, b, c = reroute([intake, failed, empty], strict)
    assert a.reasons == ["page_gap: 2", "low_confidence: A41.9 0.40 < 0.5", "high_risk: A41.9",
                         "edit_failed: excludes1 I10 A41.9"]
    assert (b.route, b.reasons) == ("review", ["extraction_failed: TimeoutError: 30 s"])  # and no "no_codes" after it
    assert (c.route, c.reasons) == ("review", empty.reasons)
    loose = RoutingConfig(min_code_confidence=0.3)
    assert reroute([intake], loose)[0].reasons == ["page_gap: 2"]  # intake still sends it to review
    assert reroute([intake.model_copy(update={"reasons": intake.reasons[1:]})], loose)[0].route == "auto"
    assert intake.reasons[1] == "low_confidence: A41.9 0.40 < 0.5"  # the input is left as it was


@pytest.mark.slow
def test_a_recorded_mlflow_run_recomputes_to_the_metrics_it_logged(tmp_path: Path) -> None:
    """Through the real command and store: the artifacts MLflow hands back give the live run's operations metrics."""
    from harness.job_config import JobConfig
    from harness.metrics import registry
    from harness.tracking.run_store import load_run

    harness(tmp_path, "dataset.limit=25", "summary=false", store(tmp_path), f"hydra.run.dir={tmp_path / 'job'}")
    _, (run,) = runs(tmp_path)
    recorded = load_run(run.info.run_id, f"sqlite:///{tmp_path / 'mlflow.db'}", into=tmp_path / "download")
    assert recorded.artifacts.curve(DOCUMENT) and run.data.params["operations.coders"] == "4"
    job = JobConfig.from_composed(recorded.artifacts.config())
    again = operations(recorded_facts(recorded.folder), job.operations, n_resamples=job.evaluation.n_resamples,
                       confidence=job.evaluation.confidence, seed=job.seed).metrics
    assert set(registry.present(again, "operations")) == set(registry.present(run.data.metrics, "operations"))
    assert again == {name: run.data.metrics[name] for name in again}
