"""The pipeline keeps every chart: empty, failing and uncodable charts end in review with a reason."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from types import SimpleNamespace

import pytest

from coders.engine import RuleEngine
from coders.routing import RoutingConfig, route
from harness.contracts import Chart, Extraction, Finding, Span
from harness.pipeline import chart_steps, streaming
from harness.pipeline.chart_steps import PipelineDesign
from harness.pipeline.config import PipelineConfig
from harness.pipeline.streaming import run_pipeline

TEXT = "Assessment: essential hypertension, on lisinopril."


class StubExtractor:
    """Finds hypertension; fails the whole batch when a chart says FAIL (a crashing backend)."""

    name = "stub"
    version = "0"

    def fit(self, train_charts: Sequence[Chart]) -> None:
        pass

    def extract(self, charts: Sequence[Chart]) -> list[Extraction]:
        if any("FAIL" in c.text for c in charts):
            raise RuntimeError("backend crashed")
        out = []
        for chart in charts:
            start = chart.text.find("hypertension")
            findings = []
            if start >= 0:
                span = Span(start=start, end=start + 12, text="hypertension")
                findings.append(Finding(text="hypertension", code="I10", spans=[span], confidence=0.9))
            out.append(Extraction(chart_id=chart.id, extractor=self.name, findings=findings))
        return out


class TimedStubExtractor(StubExtractor):
    """The stub, each call moving the pipeline's clock on by ``call_s``; nothing else moves it, so the run's wall and
    extraction times are exact (a wall time that missed a call would be short of it) and nothing is slept."""

    call_s = 1.0

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now, self.calls = 0.0, 0
        clock = SimpleNamespace(perf_counter=lambda: self.now)
        for module in (streaming, chart_steps):  # the modules that time the run and its extractor calls
            monkeypatch.setattr(module, "time", clock)

    def extract(self, charts: Sequence[Chart]) -> list[Extraction]:
        self.now += self.call_s
        self.calls += 1
        return super().extract(charts)


def design(code=None, prepare=None) -> PipelineDesign:
    engine = RuleEngine("icd10cm_2026_v2")
    routing = RoutingConfig(name="default")
    return PipelineDesign(
        extractor=StubExtractor(),
        code=code or engine.code,
        coder_id=engine.version,
        route=lambda e, c, edits: route(e, c, routing, edits),
        router_id="default",
        prepare=prepare,
    )


@pytest.mark.parametrize("policy", ["streaming", "stop_and_go"])
def test_every_chart_gets_exactly_one_result(policy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    charts = [
        Chart(id="a-coded", text=TEXT),
        Chart(id="b-empty", text="   \n"),
        Chart(id="c-nothing", text="Well child visit, no complaints."),
        Chart(id="d-fails", text="FAIL"),
        Chart(id="e-coded", text=TEXT),
    ]
    # batch_size=3 puts the failing chart in a call with a good one: retried alone, only the failing chart goes to review.
    config = PipelineConfig(policy=policy, batch_size=3)
    extractor = TimedStubExtractor(monkeypatch)
    run = run_pipeline(charts, replace(design(), extractor=extractor), config, progress=False)
    results, wall = run.results, run.wall_s
    assert [r.chart_id for r in results] == [c.id for c in charts] and run.policy == policy
    by_id = {r.chart_id: r for r in results}
    assert by_id["a-coded"].route == "auto" and [c.code for c in by_id["a-coded"].codes] == ["I10"]
    assert by_id["b-empty"].reasons == ["empty_chart"]
    assert by_id["c-nothing"].reasons == ["no_codes"]
    assert by_id["d-fails"].route == "review" and by_id["d-fails"].reasons[0].startswith("extraction_failed: RuntimeError")
    assert by_id["e-coded"].route == "auto" and [c.code for c in by_id["e-coded"].codes] == ["I10"]
    # the wall time spans every extractor call (retries of a failed call included), and only extraction took time
    assert wall == run.extract_busy_s == extractor.calls * extractor.call_s and extractor.calls >= run.extract_calls
    assert sum(r.stage_seconds["extract"] for r in results if "extract" in r.stage_seconds) == pytest.approx(run.extract_busy_s)
    assert [e.chart_id for e in run.extractions] == ["a-coded", "c-nothing", "d-fails", "e-coded"]


def test_rule_engine_failure_routes_the_chart() -> None:
    def broken(chart, extraction):
        raise KeyError("boom")

    results = run_pipeline([Chart(id="x", text=TEXT)], design(code=broken), progress=False).results
    assert results[0].route == "review" and results[0].reasons[0] == "coding_failed: KeyError"


def test_audit_trail_and_stage_times() -> None:
    results = run_pipeline([Chart(id="a", text=TEXT)], design(), progress=False).results
    result = results[0]
    assert [e.stage for e in result.audit] == ["extract", "code", "route"]
    assert result.audit[1].actor_version == "icd10cm_2026_v2@2"
    assert result.audit[0].output_hash == result.audit[1].input_hash
    assert set(result.stage_seconds) == {"extract", "code", "route"}
    assert "hypertension" not in str([e.detail for e in result.audit])  # no chart text in the audit details


def test_intake_failure_and_intake_reasons_route_to_review() -> None:
    from harness.metrics.robustness import ChartIntake
    from harness.pipeline.preparation import Prepared

    def prepare(chart: Chart) -> Prepared:
        if chart.id == "broken":
            raise OSError("page image vanished")
        facts = ChartIntake(kept_ranges=((0, 10),), quality=0.3, reasons=("missing_pages: expected 2, got 1",))
        return Prepared(chart, facts, 0.01, 0.02)

    run = run_pipeline([Chart(id="broken", text=TEXT), Chart(id="partial", text=TEXT)], design(prepare=prepare), progress=False)
    broken, partial = run.results
    assert broken.route == "review" and broken.reasons[0] == "intake_failed: OSError: page image vanished"
    assert partial.route == "review" and partial.reasons[0].startswith("missing_pages")
    assert [c.code for c in partial.codes] == ["I10"]  # still coded, as a draft for the reviewer
    assert partial.intake_quality == 0.3 and partial.stage_seconds["intake"] == 0.02
    assert [f.kept_ranges for f in run.intake] == [(), ((0, 10),)]


def test_edits_run_between_coding_and_routing_and_a_failing_edit_step_routes_the_chart() -> None:
    from harness.contracts import EditResult

    def edit(chart: Chart, codes: list) -> list[EditResult]:
        if chart.id == "bad":
            raise ValueError("demographics age must be an integer from 0 to 124, got 200")
        return [EditResult(edit="non_billable", passed=False, codes=[c.code for c in codes])]

    charts = [Chart(id="a", text=TEXT), Chart(id="bad", text=TEXT)]
    results = run_pipeline(charts, replace(design(), edit=edit), progress=False).results
    assert [e.stage for e in results[0].audit] == ["extract", "code", "edit", "route"]
    assert results[0].edits[0].edit == "non_billable" and "edit" in results[0].stage_seconds
    assert results[1].route == "review" and results[1].reasons[0].startswith("edits_failed: ValueError: demographics age")
