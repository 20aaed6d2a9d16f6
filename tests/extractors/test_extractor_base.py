"""The extractor base: defaults for what an extractor does not state, capabilities declared and tested by type, and a
wrapper that states only its change and keeps exactly the wrapped extractor's capabilities (streaming included)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest
from pydantic import BaseModel

from extractors.base import Extractor, LearnsFromCharts, ReportsEngine, StreamingExtractor
from extractors.wrapping import WrappingConfig, WrappingExtractor
from harness.contracts import Chart, Extraction, GoldCode
from harness.pipeline.chart_steps import PipelineDesign
from harness.pipeline.config import PipelineConfig
from harness.pipeline.extraction_cache import ExtractionCache, extractor_fingerprint
from harness.pipeline.streaming import run_pipeline
from harness.run import engine_params


class ConfidentOnlyConfig(WrappingConfig):
    name: str = "confident_only"
    min_confidence: float = 0.5


class ConfidentOnly(WrappingExtractor):
    """A whole wrapper: drops findings below a confidence, whatever extractor it wraps."""

    name, version, config_model = "confident_only", "1", ConfidentOnlyConfig

    def transform(self, extraction: Extraction) -> Extraction:
        kept = [f for f in extraction.findings if f.confidence >= self.config.min_confidence]
        return extraction.model_copy(update={"findings": kept})


FAST_DEVICE = {"prefill_tokens_per_s": 1e6, "step_fixed_s": 0.0005, "weights_read_s": 0.0, "kv_read_s_per_token": 0.0,
               "output_tokens_mean": 20, "output_tokens_sigma": 0.0, "max_num_seqs": 4, "max_num_batched_tokens": 8192}


def around_accelerator(min_confidence: float, oracle_confidence: float) -> ConfidentOnly:
    """The wrapper around a streaming engine (the simulated accelerator, serving the oracle's findings)."""
    return ConfidentOnly({"min_confidence": min_confidence, "wraps": "simulated_accelerator",
                          "wrapped": {**FAST_DEVICE, "wraps": "oracle", "wrapped": {"confidence": oracle_confidence}}})


def around_oracle(min_confidence: float, oracle_confidence: float) -> ConfidentOnly:
    return ConfidentOnly({"min_confidence": min_confidence, "wraps": "oracle", "wrapped": {"confidence": oracle_confidence}})


def charts(n: int = 6) -> list[Chart]:
    return [Chart(id=f"c{i}", text=f"Chart {i}: essential hypertension.", gold=[GoldCode(code="I10")]) for i in range(n)]


def design(extractor: Extractor, cache: ExtractionCache | None = None) -> PipelineDesign:
    from coders.engine import RuleEngine
    from coders.routing import RoutingConfig, route

    engine, routing = RuleEngine("icd10cm_2026_v2"), RoutingConfig(name="default")
    return PipelineDesign(extractor=extractor, code=engine.code, coder_id=engine.version, router_id="default",
                          route=lambda e, c, edits: route(e, c, routing, edits), cache=cache)


def test_an_extractor_states_only_what_differs_and_gets_the_rest() -> None:
    class _Settings(BaseModel):
        confidence: float = 1.0

    class Minimal(Extractor):
        name, version, config_model = "minimal", "1", _Settings

        def extract(self, charts: Sequence[Chart]) -> list[Extraction]:
            return [Extraction(chart_id=chart.id, extractor=self.name) for chart in charts]

    minimal = Minimal({"confidence": 0.5})
    assert minimal.config == _Settings(confidence=0.5)
    assert (minimal.calibrated, minimal.runs_untrained, minimal.model_id, minimal.model_revision, minimal.prompt_version) == \
        (False, True, None, None, None)
    assert minimal.fit(charts()) is None and minimal.close() is None
    assert not isinstance(minimal, StreamingExtractor | ReportsEngine | LearnsFromCharts) and engine_params(minimal) == {}
    assert minimal.cache_identity() == {"name": "minimal", "version": "1", "config": {"confidence": 0.5}, "model_id": None,
                                        "model_revision": None, "prompt_version": None}

    class NoExtract(Extractor):
        name, version, config_model = "no_extract", "1", _Settings

    with pytest.raises(TypeError, match="extract"):
        NoExtract({})


def test_capabilities_are_declared_by_the_extractors_that_have_them() -> None:
    from extractors.dictionary.extractor import DictionaryExtractor
    from extractors.llm.transformers_backend import TransformersExtractor
    from extractors.llm.vllm_backend import VllmExtractor
    from extractors.oracle import OracleExtractor
    from extractors.reference.extractor import ReferenceExtractor
    from extractors.simulated_accelerator import SimulatedAcceleratorExtractor
    from harness.pipeline.recorded_run import RecordedExtractor

    declared = {cls: {cap for cap in (StreamingExtractor, ReportsEngine, LearnsFromCharts) if issubclass(cls, cap)}
                for cls in (DictionaryExtractor, ReferenceExtractor, OracleExtractor, TransformersExtractor, VllmExtractor,
                            SimulatedAcceleratorExtractor)}
    assert declared == {DictionaryExtractor: {LearnsFromCharts}, ReferenceExtractor: {LearnsFromCharts},
                        OracleExtractor: set(), TransformersExtractor: set(),
                        VllmExtractor: {StreamingExtractor, ReportsEngine},
                        SimulatedAcceleratorExtractor: {StreamingExtractor, ReportsEngine}}
    assert all(issubclass(cls, Extractor) for cls in declared)
    assert isinstance(RecordedExtractor(name="vllm", version="1"), ReportsEngine)  # a merged run records its engine


def test_a_wrapper_around_a_streaming_engine_streams_through_the_pipeline_and_reports_its_engine(monkeypatch) -> None:
    wrapper = around_accelerator(min_confidence=0.5, oracle_confidence=0.7)
    engine = wrapper.wrapped
    submitted: list[str] = []
    submit = engine.submit
    monkeypatch.setattr(engine, "submit", lambda batch: (submitted.extend(c.id for c in batch), submit(batch))[1])
    monkeypatch.setattr(engine, "extract", lambda batch: pytest.fail("a streaming wrapper must not extract in groups"))
    assert isinstance(wrapper, StreamingExtractor) and isinstance(wrapper, ReportsEngine)
    assert not isinstance(wrapper, LearnsFromCharts)
    try:
        run = run_pipeline(charts(), design(wrapper), PipelineConfig(queue_size=4), progress=False)
    finally:
        wrapper.close()
    assert sorted(submitted) == [c.id for c in charts()]
    assert [(e.chart_id, e.extractor, [f.code for f in e.findings]) for e in run.extractions] == \
        [(c.id, "confident_only", ["I10"]) for c in charts()]
    params = engine_params(wrapper)
    assert params == engine_params(engine) and params["engine.device"].startswith("simulated accelerator")
    assert wrapper.model_id == "simulated:oracle"  # attributes are the wrapped extractor's


def test_the_change_applies_to_streamed_and_grouped_extractions_alike() -> None:
    for wrapper in (around_accelerator(0.9, 0.7), around_oracle(0.9, 0.7)):
        try:
            for policy in ("streaming", "stop_and_go"):
                run = run_pipeline(charts(3), design(wrapper), PipelineConfig(policy=policy), progress=False)
                assert [e.findings for e in run.extractions] == [[], [], []], (wrapper.wrapped.name, policy)
        finally:
            wrapper.close()


def test_a_wrapper_around_an_extractor_that_does_not_stream_does_not_claim_to() -> None:
    wrapper = around_oracle(min_confidence=0.5, oracle_confidence=0.7)
    assert not isinstance(wrapper, StreamingExtractor | ReportsEngine | LearnsFromCharts) and engine_params(wrapper) == {}
    with pytest.raises(TypeError, match="oracle is no StreamingExtractor"):
        wrapper.submit(charts(1))
    run = run_pipeline(charts(), design(wrapper), PipelineConfig(queue_size=4), progress=False)
    assert [[f.confidence for f in e.findings] for e in run.extractions] == [[0.7]] * len(charts())


def test_a_wrapper_passes_on_learning_and_the_declared_attributes() -> None:
    wrapper = ConfidentOnly({"wraps": "reference", "train_split": "train", "wrapped": {"artifact": "not-loaded-yet"}})
    assert isinstance(wrapper, LearnsFromCharts) and not isinstance(wrapper, StreamingExtractor)
    assert wrapper.calibrated and not wrapper.runs_untrained


def test_a_wrapper_that_overrides_extract_stops_streaming_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    class OwnExtract(ConfidentOnly):
        def extract(self, charts: Sequence[Chart]) -> list[Extraction]:
            return super().extract(charts)

    with caplog.at_level(logging.WARNING, logger="extractors.wrapping"):
        wrapper = OwnExtract({"wraps": "simulated_accelerator", "wrapped": {**FAST_DEVICE, "wraps": "oracle"}})
    assert not isinstance(wrapper, StreamingExtractor) and isinstance(wrapper, ReportsEngine)
    assert any("not streamed" in record.getMessage() for record in caplog.records)
    wrapper.close()


def test_a_wrappers_extractions_are_cached_apart_from_the_wrapped_extractors(tmp_path) -> None:
    from extractors.oracle import OracleExtractor

    cache = ExtractionCache(tmp_path)
    inner_alone = OracleExtractor({"name": "oracle", "confidence": 0.7})
    wrapper = around_oracle(min_confidence=0.9, oracle_confidence=0.7)
    fingerprints = {extractor_fingerprint(e) for e in (inner_alone, wrapper, around_oracle(0.9, 0.8), around_oracle(0.8, 0.7))}
    assert len(fingerprints) == 4  # the wrapped extractor's settings and the wrapper's both count

    first = run_pipeline(charts(), design(inner_alone, cache), progress=False)
    wrapped = run_pipeline(charts(), design(wrapper, cache), progress=False)
    again = run_pipeline(charts(), design(wrapper, cache), progress=False)
    assert (first.cache_hits, wrapped.cache_hits, again.cache_hits) == (0, 0, len(charts()))
    assert all(not e.findings for e in wrapped.extractions) and all(e.findings for e in first.extractions)
