"""One vLLM engine per process: reuse across the jobs of a sweep, release on a settings change, device-aware defaults.

The engine here is a stand-in (``vllm`` is not imported): these tests check the plumbing of
``extractors.llm.engine_pool`` and ``VllmExtractor.load``/``close``. The real engine's reuse and release is
``test_llm_extraction.py::test_real_vllm_engine_is_reused_across_jobs_and_replaced_on_new_settings``.
"""

from __future__ import annotations

import logging
import sys
import types

import pytest

from extractors.llm import engine_pool, vllm_config
from extractors.llm.vllm_backend import VllmExtractor
from extractors.llm.vllm_config import GIB, VllmConfig, engine_args, resolve_enforce_eager

pytestmark = pytest.mark.usefixtures("empty_engine_pool")


class FakeEngine:
    def __init__(self, label: str, stopped: list[str]):
        self.label, self.stopped = label, stopped


def test_pool_reuses_an_engine_for_the_same_key_and_replaces_it_for_another(caplog) -> None:
    started: list[str] = []
    stopped: list[str] = []

    def start(label):
        def make():
            started.append(label)
            return FakeEngine(label, stopped)
        return make

    def stop(engine):
        stopped.append(engine.label)

    before = engine_pool.starts()
    with caplog.at_level(logging.INFO, logger="extractors.llm.engine_pool"):
        first = engine_pool.acquire(("m", 1024), start("a"), stop)
        engine_pool.release(first)  # job 1 ends: the engine stays
        second = engine_pool.acquire(("m", 1024), start("b"), stop)
        engine_pool.release(second)
        assert second is first and started == ["a"] and stopped == []
        assert engine_pool.starts() == before + 1 and engine_pool.loaded_key() == ("m", 1024)
        third = engine_pool.acquire(("m", 2048), start("c"), stop)  # other engine settings: the old engine goes first
        assert third.label == "c" and started == ["a", "c"] and stopped == ["a"]
        assert engine_pool.starts() == before + 2
    messages = [r.getMessage() for r in caplog.records]
    assert f"vllm engine started ({engine_pool.ordinal(before + 1)} in this process)" in messages
    assert any(m.startswith("reusing the loaded vllm engine") for m in messages)
    assert f"vllm engine started ({engine_pool.ordinal(before + 2)} in this process)" in messages
    engine_pool.shutdown()
    engine_pool.shutdown()  # idempotent
    assert stopped == ["a", "c"] and engine_pool.loaded_key() is None


def test_a_failed_start_leaves_the_pool_empty() -> None:
    stopped = []
    engine_pool.acquire("k1", lambda: "engine 1", stopped.append)
    before = engine_pool.starts()

    def broken():
        raise RuntimeError("no memory")

    with pytest.raises(RuntimeError, match="no memory"):
        engine_pool.acquire("k2", broken, stopped.append)
    assert stopped == ["engine 1"] and engine_pool.loaded_key() is None and engine_pool.starts() == before
    assert engine_pool.acquire("k1", lambda: "engine 1 again", stopped.append) == "engine 1 again"


@pytest.mark.parametrize("n, text", [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"), (12, "12th"),
                                     (13, "13th"), (21, "21st"), (102, "102nd"), (111, "111th")])
def test_ordinal(n, text) -> None:
    assert engine_pool.ordinal(n) == text


# -- device-aware settings --------------------------------------------------------------------------------


@pytest.mark.parametrize("setting, device, eager", [("auto", "cpu", True), ("auto", "cuda", False), ("auto", "xpu", True),
                                                    (True, "cuda", True), (False, "cpu", False), (True, "cpu", True)])
def test_enforce_eager_resolves_by_device(setting, device, eager) -> None:
    assert resolve_enforce_eager(setting, device) is eager


def test_config_defaults_to_auto_and_rejects_other_words() -> None:
    from pydantic import ValidationError

    assert VllmConfig().enforce_eager == "auto" and VllmConfig().max_num_seqs is None
    assert VllmConfig(enforce_eager=False).enforce_eager is False
    with pytest.raises(ValidationError):
        VllmConfig(enforce_eager="eager")
    with pytest.raises(ValidationError):
        VllmConfig(max_num_seqs=0)


def test_engine_args_by_device_and_only_the_limits_that_are_set() -> None:
    cfg = VllmConfig(cpu_kvcache_gib=2)
    cpu, cuda = engine_args(cfg, "/m", "cpu"), engine_args(cfg, "/m", "cuda")
    assert cpu["enforce_eager"] is True and cpu["kv_cache_memory_bytes"] == 2 * GIB
    assert cuda["enforce_eager"] is False and "kv_cache_memory_bytes" not in cuda
    assert cuda["gpu_memory_utilization"] == 0.9 and cuda["generation_config"] == "vllm"
    for absent in ("max_num_seqs", "max_num_batched_tokens", "limit_mm_per_prompt"):
        assert absent not in cpu  # vLLM's own default for the device
    limits = {"max_num_seqs": 256, "max_num_batched_tokens": 8192, "limit_mm_per_prompt": {"image": 4}}
    limited = engine_args(VllmConfig(**limits), "/m", "cuda")
    assert {name: limited[name] for name in limits} == limits
    # sampling settings are per request: they never change the engine
    sampling = VllmConfig(max_new_tokens=64, temperature=0.7, prompt="findings_v1", chunk_chars=1000, cpu_kvcache_gib=2)
    assert engine_args(sampling, "/m", "cpu") == cpu


# -- the extractor over the pool, with a stand-in engine -------------------------------------------------


@pytest.fixture
def fake_vllm(monkeypatch, model_folder):
    """A model folder, the device fixed to ``cpu`` and ``vllm.LLM`` replaced by a recorder (nothing real is started)."""
    record = types.SimpleNamespace(started=[], stopped=[])

    class LLM:
        def __init__(self, **kwargs):
            record.started.append(kwargs)
            core = types.SimpleNamespace(shutdown=lambda: record.stopped.append(self))
            self.llm_engine = types.SimpleNamespace(engine_core=core)

    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(LLM=LLM))
    monkeypatch.setattr(vllm_config, "engine_device", lambda: "cpu")
    record.model = str(model_folder)
    return record


def test_sweep_jobs_share_one_engine_until_engine_settings_change(fake_vllm) -> None:
    def job(**settings) -> VllmExtractor:
        """One job of a sweep: load, (extract,) close, and the run record's params."""
        extractor = VllmExtractor({"name": "vllm", "model": fake_vllm.model, **settings})
        extractor.load()
        engine = extractor._model
        extractor.close()
        extractor.engine = engine
        return extractor

    before = engine_pool.starts()
    first = job(max_new_tokens=32)
    second = job(max_new_tokens=64, temperature=0.5)  # sampling settings only
    assert second.engine is first.engine and len(fake_vllm.started) == 1 and fake_vllm.stopped == []
    assert second.run_params()["engine_starts_in_process"] == str(before + 1)
    third = job(max_new_tokens=64, max_model_len=1024)  # an engine setting: the old engine is shut down first
    assert fake_vllm.stopped == [first.engine] and third.engine is not first.engine and len(fake_vllm.started) == 2
    assert fake_vllm.started[1]["max_model_len"] == 1024 and fake_vllm.started[0]["max_model_len"] == 4096
    params = third.run_params()
    assert params["engine_starts_in_process"] == str(before + 2)
    assert (params["device"], params["enforce_eager"], params["max_num_seqs"], params["cpu_kvcache_gib"]) == (
        "cpu", "True", "vllm default", "1")
    engine_pool.shutdown()  # what a caller that needs the engine gone does (also run at interpreter exit)
    assert fake_vllm.stopped == [first.engine, third.engine]


def test_another_model_backend_frees_the_device(fake_vllm, monkeypatch) -> None:
    """A local OpenAI server started in the same process first stops a vLLM engine an earlier job left loaded."""
    from extractors.llm import local_server, openai_server

    extractor = VllmExtractor({"name": "vllm", "model": fake_vllm.model})
    extractor.load()
    extractor.close()
    assert fake_vllm.stopped == []

    class Refused(Exception):
        pass

    def no_server(*args, **kwargs):
        raise Refused

    monkeypatch.setattr(local_server.subprocess, "Popen", no_server)
    server = openai_server.OpenAIServerExtractor({"name": "openai_server", "model": fake_vllm.model})
    with pytest.raises(Refused):
        server._start_local_server()
    assert len(fake_vllm.stopped) == 1 and engine_pool.loaded_key() is None


def test_only_the_vllm_backend_reports_an_engine() -> None:
    from extractors.base import ReportsEngine
    from extractors.llm.transformers_backend import TransformersExtractor

    assert issubclass(VllmExtractor, ReportsEngine)
    assert not isinstance(TransformersExtractor({"name": "transformers"}), ReportsEngine)
