"""The ``simulated_accelerator`` extractor: a SIMULATION of a model on an accelerator, for tests and benchmarks.

It returns the findings of another extractor (``wraps``, the dictionary unless told) and spends the time an
accelerator serving them would, step by engine step, as vLLM's scheduler runs them. In each step every decoding
sequence advances one token, and prompts share what is left of the step's token budget
(``max_num_batched_tokens``: chunked prefill), running ones first, then waiting ones admitted while the batch
has room (``max_num_seqs``). A step takes::

    step_s = step_fixed_s + weights_read_s + kv_read_s_per_token * (context tokens of the decoding sequences)
             + (prompt tokens prefilled in the step) / prefill_tokens_per_s

so the rate of each sequence falls as the batch grows while the total keeps rising, a new chart joins the next
step (no cost per admission beyond its prompt's share of the steps), and a batch waits for its longest answer:
each chart's output length is drawn from a lognormal distribution (``output_tokens_mean``,
``output_tokens_sigma``, capped at ``output_tokens_max``), seeded by ``seed`` and the chart's id, so the same
chart gets the same length under any schedule. ``preset`` names fitted step-time parameters (``PRESETS``);
any of them set in the config replaces the preset's.

The time is slept in the device's own thread against the device's own clock (a step that the GIL delays is made
up by the next), as vLLM's engine core runs apart from the host process; ``time.sleep`` releases the GIL, so a
machine with two cores can measure how well a pipeline overlaps intake and coding with a busy device, and which
batching pays off, without a GPU.

It is a measuring instrument, never a default and never a result: its findings are the wrapped extractor's, and
its speed is whatever the config says. Nothing in ``conf/config.yaml`` selects it.

Charts reach the device two ways: ``extract`` (one call, returns when all its charts are done; several threads
may call at once and share the device) and ``submit``/``collect`` (charts join while others decode; the
streaming pipeline's way). ``DeviceModel.batch_seconds`` is the device time of charts that arrive together on an
idle device, computed without sleeping.

The wrapped extractor's own work is host work: it runs in the caller's thread (holding the GIL, as host code
does) before the charts reach the device, and is not device time.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Literal

from pydantic import Field, model_validator

from extractors.base import ReportsEngine, StreamingExtractor
from extractors.wrapping import WrappingConfig, WrappingExtractor
from harness.contracts import Chart, Extraction
from harness.registry import EXTRACTORS

log = logging.getLogger(__name__)

NAME = "simulated_accelerator"


@dataclass(eq=False)
class _Sequence:
    """One chart on the device: its extraction (host work done), its prompt and answer lengths, its progress."""

    extraction: Extraction | None
    prompt_tokens: int
    output_tokens: int
    streamed: bool = False
    """Submitted with ``submit``: handed back by ``collect`` (else the ``extract`` call waits for it)."""
    prefilled: int = 0
    generated: int = 0
    submitted: float = field(default_factory=time.perf_counter)
    finished: bool = False
    finished_at: float = 0.0


@dataclass(frozen=True)
class DeviceModel:
    """Step-time parameters of one model on one accelerator, and its scheduler's limits."""

    step_fixed_s: float
    """Seconds of every step whatever its batch: scheduling, kernel launches, sampling, host overhead."""
    weights_read_s: float
    """Seconds to read the model's weights from device memory, once per step."""
    kv_read_s_per_token: float
    """Seconds to read one context token's KV cache, per decoding sequence and step."""
    prefill_tokens_per_s: float
    """Prompt tokens prefilled per second (compute bound), added to the step they share."""
    max_num_seqs: int
    """Sequences in the running batch at most; more wait and join as running ones finish."""
    max_num_batched_tokens: int
    """Tokens one step processes at most (one per decoding sequence, the rest prompt chunks)."""
    batching: Literal["continuous", "static"]
    """``continuous``: waiting sequences join any step (vLLM); ``static``: only an idle device takes a new batch
    (HF ``generate``)."""

    def step_seconds(self, context_tokens: int, prefill_tokens: int) -> float:
        """Seconds of one step whose decoding sequences hold ``context_tokens`` and which prefills ``prefill_tokens``."""
        return (self.step_fixed_s + self.weights_read_s + context_tokens * self.kv_read_s_per_token
                + prefill_tokens / self.prefill_tokens_per_s)

    def step(self, waiting: deque[_Sequence], running: list[_Sequence]) -> tuple[float, list[_Sequence]]:
        """One engine step, scheduled as vLLM does: every decoding sequence gets a token of the budget, then running
        prompts and the waiting ones admitted (while the batch has room and budget is left) get chunks of what is
        left. Moves the admitted from ``waiting`` to ``running``, advances every sequence (one that finishes its
        prompt samples its first token), removes the finished from ``running``; returns the step's seconds and them."""
        decoding = [s for s in running if s.prefilled == s.prompt_tokens]
        context = sum(s.prompt_tokens + s.generated for s in decoding)
        budget = self.max_num_batched_tokens - len(decoding)
        unprefilled = sum(s.prompt_tokens - s.prefilled for s in running)
        if self.batching == "continuous" or not running:
            while waiting and len(running) < self.max_num_seqs and budget > unprefilled:
                running.append(waiting.popleft())
                unprefilled += running[-1].prompt_tokens
        prefill = 0
        for sequence in running:
            chunk = min(sequence.prompt_tokens - sequence.prefilled, budget - prefill)
            sequence.prefilled += chunk
            prefill += chunk
        for sequence in running:
            sequence.generated += sequence.prefilled == sequence.prompt_tokens
        done = [s for s in running if s.generated >= s.output_tokens]
        running[:] = [s for s in running if s.generated < s.output_tokens]
        return self.step_seconds(context, prefill), done

    def batch_seconds(self, prompt_tokens: Sequence[int], output_tokens: Sequence[int]) -> float:
        """Device seconds to serve sequences of these prompt and output lengths, all arriving on an idle device."""
        waiting = deque(_Sequence(None, p, o) for p, o in zip(prompt_tokens, output_tokens, strict=True))
        running: list[_Sequence] = []
        seconds = 0.0
        while waiting or running:
            seconds += self.step(waiting, running)[0]
        return seconds


H200_HF_GENERATE_MEASURED = {1: 16.0, 8: 112.0, 32: 548.0, 64: 995.0, 128: 1890.0, 256: 3121.0}
"""Output tokens/s by sequences in flight, measured with HF ``generate`` on one H200 (a 1.7B-parameter model,
512-token prompts, 128 new tokens each): the points ``HF_GENERATE_H200`` is fitted to."""

HF_GENERATE_H200 = DeviceModel(step_fixed_s=0.0610, weights_read_s=3.42e9 / 4.8e12, kv_read_s_per_token=196_608 / 4.8e12,
                               prefill_tokens_per_s=93_400.0, max_num_seqs=256, max_num_batched_tokens=1 << 20,
                               batching="static")
"""HF ``generate`` (static batches) of a 1.7B model on one H200, fitted to ``H200_HF_GENERATE_MEASURED``. Memory reads
from the hardware: the weights, 3.42 GB in bf16, and the KV cache, 196,608 bytes a token (SmolLM2-1.7B's shape:
24 layers, 32 KV heads of 64), at 4.8 TB/s of HBM3e. ``step_fixed_s`` and ``prefill_tokens_per_s`` are least
squares on the relative error over the six points (largest error 15%, at 8 sequences; no step model linear in the
batch fits those points exactly: 8 sequences took longer per step than 1 or 32). The fixed 61 ms a step is
``generate``'s host overhead. No chunking: the whole batch prefills in one step; 256 sequences, the most measured."""

VLLM_H100 = DeviceModel(step_fixed_s=0.001, weights_read_s=16e9 / 3.35e12, kv_read_s_per_token=131_072 / 3.35e12,
                        prefill_tokens_per_s=41_900.0, max_num_seqs=1024, max_num_batched_tokens=16_384,
                        batching="continuous")
"""vLLM (continuous batching, chunked prefill) serving an 8B model on one H100 SXM. Weights read: 16 GB of bf16
weights at the H100's ~3.35 TB/s HBM3 bandwidth, 4.8 ms a step. KV read: 131,072 bytes a context token
(Llama-3-8B's shape: 32 layers, 8 KV heads of 128) at the same bandwidth. ``max_num_seqs`` and
``max_num_batched_tokens``: vLLM 0.32's offline (``LLM``) defaults for H100-class GPUs
(``EngineArgs._set_default_max_num_seqs_and_batched_tokens_args``). ``step_fixed_s``: 1 ms, an assumption (scheduling
and sampling with CUDA graphs). ``prefill_tokens_per_s`` is fitted so that 1,024 sequences of 512 prompt and 128 output
tokens arriving together come out at about 8,000 output tokens/s, the published figure for an 8B model on one H100
(41,900 tokens/s: 68% of the H100's 989 dense bf16 TFLOP/s at 16 GFLOP a token)."""

PRESETS: dict[str, DeviceModel] = {"vllm_h100": VLLM_H100, "hf_generate_h200": HF_GENERATE_H200}
"""Fitted device models by ``SimulatedAcceleratorConfig.preset``."""


class SimulatedAcceleratorConfig(WrappingConfig):
    """Settings of the simulated accelerator (``conf/extractor/simulated_accelerator.yaml``)."""

    name: Literal["simulated_accelerator"] = NAME
    """Registry name of the extractor."""
    train_split: str | None = "train"
    """Split the run fits this extractor on; passed to the wrapped extractor, which does the learning (None: none)."""
    wraps: str = "dictionary"
    """Registry name of the extractor whose findings are returned (any but this one)."""
    preset: Literal["vllm_h100", "hf_generate_h200"] = "vllm_h100"
    """Device model (``PRESETS``): vLLM serving an 8B model on one H100, or HF ``generate`` of a 1.7B model on one H200.
    The step fields below, where set, replace the preset's."""
    step_fixed_s: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    """Seconds of every engine step whatever its batch (None: the preset's)."""
    weights_read_s: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    """Seconds to read the weights, once per step (None: the preset's)."""
    kv_read_s_per_token: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    """Seconds to read one context token's KV cache, per decoding sequence and step (None: the preset's)."""
    prefill_tokens_per_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    """Prompt tokens prefilled per second (None: the preset's)."""
    max_num_seqs: int | None = Field(default=None, ge=1)
    """Sequences in the running batch at most (None: the preset's)."""
    max_num_batched_tokens: int | None = Field(default=None, ge=1)
    """Tokens one step processes at most, at least ``max_num_seqs`` (None: the preset's)."""
    chars_per_token: float = Field(default=4.0, gt=0, allow_inf_nan=False)
    """Characters of chart text per prompt token."""
    output_tokens_mean: float = Field(default=200.0, ge=1, allow_inf_nan=False)
    """Mean output tokens of a chart (before the cap)."""
    output_tokens_sigma: float = Field(default=0.5, ge=0, le=3, allow_inf_nan=False)
    """Spread of output lengths: the standard deviation of their logarithm (lognormal; 0: every chart the mean)."""
    output_tokens_max: int = Field(default=1024, ge=1)
    """Output tokens of a chart at most (vLLM's ``max_tokens``)."""
    seed: int = 0
    """Seeds the output lengths, with each chart's id: the same chart gets the same length under any schedule."""

    @model_validator(mode="after")
    def _budget_holds_a_batch(self) -> SimulatedAcceleratorConfig:
        model = self.device_model()
        if model.max_num_batched_tokens < model.max_num_seqs:
            raise ValueError(f"max_num_batched_tokens ({model.max_num_batched_tokens}) must be at least max_num_seqs "
                             f"({model.max_num_seqs}): every running sequence decodes a token each step")
        return self

    def device_model(self) -> DeviceModel:
        """The preset's device model with the step fields this config sets."""
        own = {name: getattr(self, name) for name in DeviceModel.__dataclass_fields__
               if name in type(self).model_fields and getattr(self, name) is not None}
        return replace(PRESETS[self.preset], **own)

    def prompt_tokens(self, chart: Chart) -> int:
        """Simulated prompt length of ``chart`` (at least one token: the prompt's own)."""
        return max(1, math.ceil(len(chart.text) / self.chars_per_token))

    def output_tokens(self, chart: Chart) -> int:
        """Simulated answer length of ``chart``: drawn from the lognormal with ``output_tokens_mean`` as its mean,
        seeded by ``seed`` and the chart's id, between 1 and ``output_tokens_max``."""
        sigma = self.output_tokens_sigma
        drawn = random.Random(f"{self.seed}:{chart.id}").lognormvariate(math.log(self.output_tokens_mean) - sigma**2 / 2,
                                                                        sigma)
        return min(max(1, round(drawn)), self.output_tokens_max)

    def device_seconds(self, charts: Sequence[Chart]) -> float:
        """Device seconds to serve ``charts`` arriving together on an idle device (0 for no charts)."""
        return self.device_model().batch_seconds([self.prompt_tokens(c) for c in charts],
                                                 [self.output_tokens(c) for c in charts])


class SimulatedDevice:
    """A device in a thread of its own, running engine steps (``DeviceModel.step``) while it holds sequences.
    ``busy_s`` adds up the device's time and ``steps`` its steps."""

    def __init__(self, model: DeviceModel):
        self.model = model
        self.busy_s = 0.0
        self.steps = 0
        self._changed = threading.Condition()
        self._waiting: deque[_Sequence] = deque()
        self._running: list[_Sequence] = []
        self._closed = False
        self._thread: threading.Thread | None = None
        self._clock = 0.0
        """When the device's last step ends, on ``time.perf_counter``'s clock."""
        self.streamed_done: list[_Sequence] = []
        """Finished sequences that came by ``submit``, not yet collected (read and cleared under ``wait``)."""

    def add(self, sequences: Sequence[_Sequence]) -> None:
        """Queue ``sequences``; they join the running batch at the next step with room."""
        with self._changed:
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="simulated-accelerator", daemon=True)
                self._thread.start()
            self._waiting.extend(sequences)
            self._changed.notify_all()

    def wait_finished(self, sequences: Sequence[_Sequence]) -> None:
        """Block until every one of ``sequences`` has finished."""
        with self._changed:
            self._changed.wait_for(lambda: all(s.finished for s in sequences))

    def take_streamed(self, timeout: float) -> list[_Sequence]:
        """The finished ``submit`` sequences, waiting up to ``timeout`` for the first."""
        with self._changed:
            self._changed.wait_for(lambda: self.streamed_done, timeout)
            done, self.streamed_done = self.streamed_done, []
            return done

    def close(self) -> None:
        """Stop the device's thread (sequences still on it are dropped)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._closed = False

    def _serve(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._closed or self._waiting or self._running)
                if self._closed:
                    return
                if not self._running:  # an idle device starts its next step now
                    self._clock = max(self._clock, time.perf_counter())
                seconds, done = self.model.step(self._waiting, self._running)
            self._clock += seconds
            time.sleep(max(0.0, self._clock - time.perf_counter()))  # releases the GIL, like a host waiting on a device
            self.busy_s += seconds
            self.steps += 1
            with self._changed:
                now = time.perf_counter()
                for sequence in done:
                    sequence.finished, sequence.finished_at = True, now
                    if sequence.streamed:
                        self.streamed_done.append(sequence)
                self._changed.notify_all()


@EXTRACTORS.register("simulated_accelerator")
class SimulatedAcceleratorExtractor(WrappingExtractor, StreamingExtractor, ReportsEngine):
    """Another extractor's findings at a simulated accelerator's speed (a measuring instrument, never a default)."""

    name = NAME
    version = "3"
    config_model = SimulatedAcceleratorConfig
    config: SimulatedAcceleratorConfig

    def __init__(self, config: dict):
        super().__init__(config)
        self.device = SimulatedDevice(self.config.device_model())
        self.calls = 0
        """``extract`` and ``submit`` calls that reached the device (calls with no charts do not)."""

    @property
    def model_id(self) -> str:
        return f"simulated:{self.wrapped.model_id or self.wrapped.name}"

    @property
    def busy_s(self) -> float:
        """Simulated device seconds spent so far (host work of the wrapped extractor not included)."""
        return self.device.busy_s

    def close(self) -> None:
        self.device.close()
        super().close()

    def run_params(self) -> dict[str, object]:
        """What the run records of the engine: that it is a simulation, of what, with which step parameters."""
        settings = self.config.model_dump(exclude={"name", "train_split", "wrapped", *DeviceModel.__dataclass_fields__})
        return {"device": "simulated accelerator (not a measurement of real hardware)", **settings,
                **asdict(self.device.model)}

    def extract(self, charts: Sequence[Chart]) -> list[Extraction]:
        """The wrapped extractor's extractions once the device has served every chart of the call; a failed wrapped
        call fails every chart of it (the device time is still spent). ``latency_s`` is each chart's time from
        reaching the device to its last token."""
        sequences = self._on_device(charts, streamed=False)
        self.device.wait_finished(sequences)
        return [self._done(s) for s in sequences]

    def submit(self, charts: Sequence[Chart]) -> None:
        """Send charts to the device now; they join the running batch at its next step with room (``collect`` hands
        them back)."""
        self._on_device(charts, streamed=True)

    def collect(self, wait_s: float) -> list[Extraction]:
        """Extractions of submitted charts finished since the last call, in the order they finished; waits up to
        ``wait_s`` for the first when none is ready."""
        return [self._done(s) for s in self.device.take_streamed(wait_s)]

    def _on_device(self, charts: Sequence[Chart], streamed: bool) -> list[_Sequence]:
        if not charts:
            return []
        found = self._host(charts)
        sequences = [_Sequence(extraction, extraction.input_tokens, extraction.output_tokens, streamed)
                     for extraction in found]
        self.calls += 1
        self.device.add(sequences)
        return sequences

    def _host(self, charts: Sequence[Chart]) -> list[Extraction]:
        """The wrapped extractor's extractions with the simulated counts; every chart failed if the call fails."""
        counts = [{"extractor": self.name, "model_id": self.model_id, "input_tokens": self.config.prompt_tokens(chart),
                   "output_tokens": self.config.output_tokens(chart)} for chart in charts]
        try:
            found = self.wrapped.extract(charts)
            if len(found) != len(charts):
                raise RuntimeError(f"{self.config.wraps} returned {len(found)} extractions for {len(charts)} charts")
        except Exception as exc:  # the Extractor protocol: a failed batch sends its charts to review, never raises
            log.warning("%s: wrapped extractor %s failed on %d charts: %s", NAME, self.config.wraps, len(charts), exc)
            failed = f"{type(exc).__name__}: {exc}"
            return [Extraction(chart_id=chart.id, error=failed, model_revision=self.model_revision,
                               prompt_version=self.prompt_version, **count) for chart, count in zip(charts, counts, strict=True)]
        return [e.model_copy(update=count) for e, count in zip(found, counts, strict=True)]

    @staticmethod
    def _done(sequence: _Sequence) -> Extraction:
        latency = round(sequence.finished_at - sequence.submitted, 4)
        return sequence.extraction.model_copy(update={"latency_s": latency})
