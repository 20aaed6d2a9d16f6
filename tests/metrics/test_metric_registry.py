"""The metric registry covers every metric a run records, and every metric registered with an interval gets its bounds.

Metrics are computed in-process from a few hand-made charts (no pipeline run); the keys the pipeline writes itself
(``wall_s``, ``stage_<stage>_s``, ...) are read from the source, wherever a mapping named ``metrics`` is filled.
"""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT

from harness.contracts import Chart, ChartResult, CodeAssignment, EditResult, Extraction, Finding, GoldCode, ReviewReason, Span
from harness.metrics import registry
from harness.metrics.coding import ChartOutcome

TEXT = "Chest pain. Hypertension.\fType 2 diabetes. Asthma, mild."


def charts() -> list[Chart]:
    gold = [GoldCode(code="I10", evidence=[Span(start=12, end=24)]), GoldCode(code="E11.9", evidence=[Span(start=26, end=41)])]
    return [Chart(id=f"c{i}", text=TEXT, gold=gold if i % 2 else gold[:1]) for i in range(4)]


def results() -> list[ChartResult]:
    def code(code: str, confidence: float, start: int, end: int) -> CodeAssignment:
        return CodeAssignment(code=code, confidence=confidence, raw_confidence=confidence / 2,
                              evidence=[Span(start=start, end=end, text=TEXT[start:end])])

    edits = [EditResult(edit="excludes1", passed=False, codes=["E11.9", "I10"]), EditResult(edit="invalid_code", passed=True)]
    return [
        ChartResult(chart_id="c0", codes=[code("I10", 0.9, 12, 24)], edits=edits[1:], stage_seconds={"extract": 0.1}),
        ChartResult(chart_id="c1", codes=[code("I10", 0.8, 12, 24), code("E11.9", 0.4, 26, 40)], route="review",
                    reasons=[ReviewReason("low_confidence", "E11.9 0.40 < 0.5")], edits=edits, stage_seconds={"extract": 0.2}),
        ChartResult(chart_id="c2", codes=[code("J45.909", 0.7, 43, 49)], edits=edits[1:], stage_seconds={"extract": 0.1}),
        ChartResult(chart_id="c3", route="review", reasons=[ReviewReason("no_codes")], stage_seconds={"extract": 0.1}),
    ]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, float]:
    """What the metric modules compute for the charts above, merged as a run merges them."""
    from harness.metrics.coding import evaluate
    from harness.metrics.extraction import extraction_metrics
    from harness.metrics.robustness import ChartIntake, robustness_metrics
    from harness.metrics.trust import trust_metrics
    from harness.operations import OperationsConfig, live_facts, operations
    from harness.tracking.system_metrics import SystemSampler
    from harness.trust.artifacts import write_trust_artifacts
    from harness.trust.audit import RunMeta

    given, made = charts(), results()
    outcomes = [ChartOutcome(c.id, frozenset(g.code for g in c.gold), tuple((a.code, a.confidence) for a in r.codes),
                             r.route == "review", sum(r.stage_seconds.values())) for c, r in zip(given, made, strict=True)]
    intake = [ChartIntake(kept_ranges=((0, 25 if i == 2 else len(TEXT)),), source_chars=50, edit_distance=i, pages_read=2,
                          intake_s=0.5, quality=1.0 - i / 10, reasons=(ReviewReason("page_gap", "2"),) if i == 2 else ())
              for i in range(len(given))]
    finding = Finding(text="asthma", attributes={"evidence_supported": False})
    extractions = [Extraction(chart_id=c.id, extractor="x", findings=[finding], input_tokens=40, output_tokens=10, latency_s=0.5)
                   for c in given]
    metrics = evaluate(outcomes, 1.0, n_resamples=50)
    metrics |= robustness_metrics(given, outcomes, intake, n_resamples=50, confidence=0.95, seed=0)
    metrics |= extraction_metrics(extractions)
    trust, curves = trust_metrics(given, made, ["icd10cm"])
    metrics |= trust
    billing, _ = write_trust_artifacts(tmp_path_factory.mktemp("trust"), given, made, {}, RunMeta(extractor="x"), curves, True)
    metrics |= billing
    metrics |= operations(live_facts(made, outcomes, True), OperationsConfig(), n_resamples=50).metrics
    with SystemSampler(interval_s=60) as sampler:
        pass
    metrics |= sampler.summary() | {sample.name: sample.value for sample in sampler.samples}
    return metrics


Key = tuple[str, ...]
"""A key written in the source: a literal, or an f-string as its fields filled with ``x`` and left empty."""


def keys_written_in_source() -> set[Key]:
    """Literal keys stored into a mapping named ``metrics`` under harness/."""
    def key(node: ast.expr) -> Key | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return (node.value,)
        if isinstance(node, ast.JoinedStr):
            return tuple("".join(part.value if isinstance(part, ast.Constant) else fill for part in node.values)
                         for fill in ("x", ""))
        return None

    def keys(built: ast.expr) -> list[Key | None]:
        if isinstance(built, ast.Dict):
            return [key(k) for k in built.keys if k is not None]
        return [key(built.key)] if isinstance(built, ast.DictComp) else []

    def is_metrics(node: ast.expr) -> bool:
        return isinstance(node, ast.Name) and node.id == "metrics"

    found: set[Key | None] = set()
    for path in (PROJECT_ROOT / "harness").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store) and is_metrics(node.value):
                found.add(key(node.slice))  # metrics["wall_s"] = ...
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "update" \
                    and is_metrics(node.func.value) and node.args:
                found.update(keys(node.args[0]))  # metrics.update({f"stage_{stage}_s": ...})
            elif isinstance(node, ast.Assign) and any(is_metrics(target) for target in node.targets):
                found.update(keys(node.value))  # metrics = {"schema_valid_rate": ...}
    return {k for k in found if k is not None}


def test_every_recorded_key_is_registered(recorded: dict[str, float]) -> None:
    assert {"micro_f1", "quality_auroc", "unsupported_evidence_rate", "edit_excludes1_failure_rate", "billing_valid_rate",
            "system_memory_peak_mb", "denial_rate", "time_to_claim_p95_h"} <= recorded.keys(), \
        "the hand-made run should reach every metric module"
    assert [key for key in sorted(recorded) if not registry.is_registered(key)] == []


def test_every_key_the_pipeline_writes_itself_is_registered() -> None:
    written = keys_written_in_source()
    assert {("wall_s",), ("stage_x_s", "stage__s"), ("extraction_cache_hits",), ("ocr_cer",)} <= written, written
    assert [key for key in sorted(written) if not any(map(registry.is_registered, key))] == []


def test_recorded_runs_hold_only_registered_metrics() -> None:
    """Every key of the golden records is registered, so the registry decides which of them a rerun must reproduce
    (the records themselves stay as recorded: ``extraction_cache_hits`` there is the machine's and left out)."""
    for path in sorted((PROJECT_ROOT / "tests" / "golden").glob("*/metrics.json")):
        recorded = json.loads(path.read_text())
        assert [key for key in recorded if not registry.is_registered(key)] == [], path
    assert registry.measures_the_machine("extraction_cache_hits")


def test_what_measures_the_machine() -> None:
    machine = ["wall_s", "charts_per_s", "charts_per_s_ci_low", "chart_latency_p95_s_ci_high", "stage_extract_s",
               "system/cpu_utilization_percentage", "system_memory_peak_mb", "gpu_count", "pages_per_s",
               "cost_per_1k_charts_usd", "engines_for_target", "charts_per_hour_per_engine", "extract_busy_share",
               "extraction_cache_hits", "output_tokens_per_s", "time_to_claim_p95_h"]
    decisions = ["micro_f1", "micro_f1_ci_low", "review_rate_ci_high", "ocr_cer", "edit_excludes1_failure_rate", "n_charts",
                 "schema_valid_rate", "evidence_f1_overlap", "charts_skipped", "coder_minutes_per_chart",
                 "coder_throughput_charts_per_hour_ci_low", "not_a_metric"]
    assert [name for name in machine if not registry.measures_the_machine(name)] == []
    assert [name for name in decisions if registry.measures_the_machine(name)] == []
    assert registry.decisions(dict.fromkeys(machine + decisions, 1.0)) == dict.fromkeys(decisions, 1.0)


def test_each_metric_with_an_interval_comes_with_its_bounds(recorded: dict[str, float]) -> None:
    for name in registry.names(interval=True):
        assert {name, f"{name}_ci_low", f"{name}_ci_high"} <= recorded.keys(), name
        assert recorded[f"{name}_ci_low"] <= recorded[f"{name}_ci_high"]
    bounded = {key.removesuffix(suffix) for key in recorded for suffix in registry.BOUNDS if key.endswith(suffix)}
    assert bounded == set(registry.names(interval=True))


def test_registry_is_consistent() -> None:
    from harness.metrics.paired_stats import STATISTICS
    from harness.tracking.gate_config import GateConfig

    names = [metric.name for metric in registry.registered()]
    assert len(names) == len(set(names))
    assert registry.find("stage_extract_s").label == "Time in stage 'extract'"
    assert registry.find("edit_excludes1_failure_rate").group == "edits" and registry.find("edit_failure_rate").is_family is False
    assert registry.find("micro_f1_ci_low") is None and registry.is_registered("micro_f1_ci_low")
    assert not registry.is_registered("ece_ci_low") and not registry.is_registered("no_such_metric")
    assert registry.headline() == ("micro_f1", "micro_precision", "micro_recall", "macro_f1", "map", "exact_match", "review_rate")
    for metric in registry.gated():
        assert metric.gate.setting in GateConfig.model_fields, metric
        assert metric.higher_is_better is not None, f"{metric.name}: the gate needs a direction"
        assert metric.gate.test not in ("paired", "mcnemar") or metric.name in STATISTICS, metric.name
    assert [m.name for m in registry.gated()] == ["micro_f1", "review_rate", "denial_rate", "coder_minutes_per_chart",
                                                  "exact_match", "schema_valid_rate", "charts_per_s"]


def test_present_keeps_registry_order_and_expands_families() -> None:
    recorded = {"stage_route_s": 1.0, "wall_s": 2.0, "stage_code_s": 3.0, "micro_f1": 0.5, "micro_f1_ci_low": 0.4, "custom": 1.0}
    assert registry.present(recorded, "throughput") == ["wall_s", "stage_code_s", "stage_route_s"]
    assert registry.present(recorded) == ["micro_f1", "wall_s", "stage_code_s", "stage_route_s"]


def test_gate_reads_its_direction_from_the_registry() -> None:
    from harness.tracking.gate_config import GateConfig
    from harness.tracking.gate_policy import _run_check
    from harness.tracking.run_store import RecordedRun

    def run(**metrics: float) -> RecordedRun:
        return RecordedRun(run_id="r", name="r", tags={}, params={}, metrics=metrics, folder=Path("."), per_chart=[])

    lower = dataclasses.replace(registry.get("charts_per_s"), higher_is_better=False)  # as if charts_per_s were a cost
    slower, faster = run(charts_per_s=10.0), run(charts_per_s=100.0)
    assert _run_check(registry.get("charts_per_s"), 0.5, slower, faster, 50, GateConfig()).result == "regression"
    assert _run_check(lower, 0.5, slower, faster, 50, GateConfig()).result == "pass"


def test_a_run_without_gold_keeps_only_what_needs_none() -> None:
    from harness.metrics.registry import without_gold

    recorded = {"micro_f1": 0.0, "micro_f1_ci_low": 0.0, "micro_f1_ci_high": 0.0, "exact_match": 0.9, "auto_precision": 0.0,
                "review_rate": 0.5, "review_rate_ci_low": 0.4, "review_rate_ci_high": 0.6, "edit_failure_rate": 0.1,
                "stage_extract_s": 1.0, "n_charts": 20, "n_gold_codes": 0, "charts_skipped": 1}
    assert without_gold(recorded) == {"review_rate": 0.5, "review_rate_ci_low": 0.4, "review_rate_ci_high": 0.6,
                                      "edit_failure_rate": 0.1, "stage_extract_s": 1.0, "n_charts": 20, "charts_skipped": 1}
