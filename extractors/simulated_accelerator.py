"""The ``simulated_accelerator`` extractor: a SIMULATION of a model on an accelerator, for tests and benchmarks.

It returns the findings of another extractor (``wraps``, the dictionary unless told) and spends the time an
accelerator serving them would: a device that batches continuously, as vLLM's engine does. Sequences join
the running batch whenever it has room (``max_num_seqs``); each admission costs ``call_overhead_s`` plus the
prefill of its prompts at ``prefill_tokens_per_s`` (the running sequences wait meanwhile); then every running
sequence decodes ``output_tokens_per_chart`` tokens at ``decode_tokens_per_s``, all at once. The time is spent in
``time.sleep`` in the device's own thread, which releases the GIL, so a machine with two cores can measure how
well a pipeline overlaps intake and coding with a busy device, and which batching pays off, without a GPU.

It is a measuring instrument, never a default and never a result: its findings are the wrapped extractor's, and
its speed is whatever the config says. Nothing in ``conf/config.yaml`` selects it.

Charts reach the device two ways: ``extract`` (one call, returns when all its charts are done; several threads
may call at once and share the device) and ``submit``/``collect`` (charts join while others decode; the
streaming pipeline's way). One ``extract`` of n charts of equal prompt length takes (prompt tokens of a chart:
``ceil(len(text) / chars_per_token)``, waves ``ceil(n / max_num_seqs)``)::

    device_s = waves * call_overhead_s + sum(prompt tokens) / prefill_tokens_per_s
               + waves * output_tokens_per_chart / decode_tokens_per_s

The wrapped extractor's own work is host work: it runs in the caller's thread (holding the GIL, as host code
does) before the charts reach the device, and is not part of ``device_s``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field

from extractors.base import ReportsEngine, StreamingExtractor
from extractors.wrapping import WrappingConfig, WrappingExtractor
from harness.contracts import Chart, Extraction
from harness.registry import EXTRACTORS

log = logging.getLogger(__name__)

NAME = "simulated_accelerator"


class SimulatedAcceleratorConfig(WrappingConfig):
    """Settings of the simulated accelerator (``conf/extractor/simulated_accelerator.yaml``)."""

    name: Literal["simulated_accelerator"] = NAME
    """Registry name of the extractor."""
    train_split: str | None = "train"
    """Split the run fits this extractor on; passed to the wrapped extractor, which does the learning (None: none)."""
    wraps: str = "dictionary"
    """Registry name of the extractor whose findings are returned (any but this one)."""
    prefill_tokens_per_s: float = Field(default=10_000.0, gt=0, allow_inf_nan=False)
    """Prompt tokens the device processes per second, for the whole batch together."""
    decode_tokens_per_s: float = Field(default=30.0, gt=0, allow_inf_nan=False)
    """Output tokens per second of each sequence being decoded."""
    max_num_seqs: int = Field(default=64, ge=1)
    """Sequences in the running batch at most; more wait and join as running ones finish."""
    call_overhead_s: float = Field(default=0.05, ge=0, allow_inf_nan=False)
    """Fixed device seconds per admission of new sequences (scheduling, launch), whatever their number."""
    chars_per_token: float = Field(default=4.0, gt=0, allow_inf_nan=False)
    """Characters of chart text per prompt token."""
    output_tokens_per_chart: int = Field(default=200, ge=0)
    """Tokens decoded for each chart."""

    def prompt_tokens(self, chart: Chart) -> int:
        """Simulated prompt length of ``chart``."""
        return math.ceil(len(chart.text) / self.chars_per_token)

    def device_seconds(self, prompt_tokens: Sequence[int]) -> float:
        """Device time of one ``extract`` over charts with these prompt lengths on an idle device (0 for no charts)."""
        if not prompt_tokens:
            return 0.0
        waves = math.ceil(len(prompt_tokens) / self.max_num_seqs)
        return (waves * self.call_overhead_s + sum(prompt_tokens) / self.prefill_tokens_per_s
                + waves * self.output_tokens_per_chart / self.decode_tokens_per_s)


DECODE_STEP_S = 0.05
"""Decode is simulated in steps of about this long, so that waiting sequences join within a step."""


@dataclass(eq=False)
class _Sequence:
    """One chart on the device: its extraction (host work done) and the tokens still to process."""

    extraction: Extraction
    prompt_tokens: int
    left: int
    """Output tokens still to decode."""
    streamed: bool = False
    """Submitted with ``submit``: handed back by ``collect`` (else the ``extract`` call waits for it)."""
    submitted: float = field(default_factory=time.perf_counter)
    finished: bool = False
    finished_at: float = 0.0


class SimulatedDevice:
    """A continuously batching device, in a thread of its own: admit waiting sequences into the running batch,
    prefill them, decode every running sequence a step, hand back the finished ones. ``busy_s`` adds up the
    device's time; ``admissions`` counts the times new sequences joined."""

    def __init__(self, config: SimulatedAcceleratorConfig):
        self.config = config
        self.busy_s = 0.0
        self.admissions = 0
        self._changed = threading.Condition()
        self._waiting: deque[_Sequence] = deque()
        self._running: list[_Sequence] = []
        self._closed = False
        self._thread: threading.Thread | None = None
        self.streamed_done: list[_Sequence] = []
        """Finished sequences that came by ``submit``, not yet collected (read and cleared under ``wait``)."""

    def add(self, sequences: Sequence[_Sequence]) -> None:
        with self._changed:
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="simulated-accelerator", daemon=True)
                self._thread.start()
            self._waiting.extend(sequences)
            self._changed.notify_all()

    def wait(self, until: Callable[[], bool], timeout: float | None = None) -> bool:
        """Block until ``until()`` holds (checked whenever sequences finish) or ``timeout`` passes."""
        with self._changed:
            return self._changed.wait_for(until, timeout)

    def take_streamed(self, timeout: float) -> list[_Sequence]:
        """The finished ``submit`` sequences, waiting up to ``timeout`` for the first."""
        with self._changed:
            self._changed.wait_for(lambda: self.streamed_done, timeout)
            done, self.streamed_done = self.streamed_done, []
            return done

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._closed = False

    def _spend(self, seconds: float) -> None:
        time.sleep(seconds)  # releases the GIL, like a host thread waiting on a device
        self.busy_s += seconds

    def _serve(self) -> None:
        config = self.config
        step_tokens = max(1, round(config.decode_tokens_per_s * DECODE_STEP_S))
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._closed or self._waiting or self._running)
                if self._closed:
                    return
                room = config.max_num_seqs - len(self._running)
                joining = [self._waiting.popleft() for _ in range(min(room, len(self._waiting)))]
            if joining:
                self.admissions += 1
                self._spend(config.call_overhead_s + sum(s.prompt_tokens for s in joining) / config.prefill_tokens_per_s)
                self._running.extend(joining)
            step = min(step_tokens, *(s.left for s in self._running))
            if step:
                self._spend(step / config.decode_tokens_per_s)
            for sequence in self._running:
                sequence.left -= step
            with self._changed:
                for sequence in self._running:
                    sequence.finished = sequence.left <= 0
                    sequence.finished_at = time.perf_counter()
                    if sequence.finished and sequence.streamed:
                        self.streamed_done.append(sequence)
                self._running = [s for s in self._running if not s.finished]
                self._changed.notify_all()


@EXTRACTORS.register("simulated_accelerator")
class SimulatedAcceleratorExtractor(WrappingExtractor, StreamingExtractor, ReportsEngine):
    """Another extractor's findings at a simulated accelerator's speed (a measuring instrument, never a default)."""

    name = NAME
    version = "2"
    config_model = SimulatedAcceleratorConfig
    config: SimulatedAcceleratorConfig

    def __init__(self, config: dict):
        super().__init__(config)
        self.device = SimulatedDevice(self.config)
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
        """What the run records of the engine: that it is a simulation, of what, at which speeds."""
        settings = self.config.model_dump(exclude={"name", "train_split", "wrapped"})
        return {"device": "simulated accelerator (not a measurement of real hardware)", **settings}

    def extract(self, charts: Sequence[Chart]) -> list[Extraction]:
        """The wrapped extractor's extractions once the device has served every chart of the call; a failed wrapped
        call fails every chart of it (the device time is still spent). ``latency_s`` is each chart's time from
        reaching the device to its last token."""
        sequences = self._on_device(charts, streamed=False)
        self.device.wait(lambda: all(s.finished for s in sequences))
        return [self._done(s) for s in sequences]

    def submit(self, charts: Sequence[Chart]) -> None:
        """Send charts to the device now; they join the running batch as it has room (``collect`` hands them back)."""
        self._on_device(charts, streamed=True)

    def collect(self, wait_s: float) -> list[Extraction]:
        """Extractions of submitted charts finished since the last call, in the order they finished; waits up to
        ``wait_s`` for the first when none is ready."""
        return [self._done(s) for s in self.device.take_streamed(wait_s)]

    def _on_device(self, charts: Sequence[Chart], streamed: bool) -> list[_Sequence]:
        if not charts:
            return []
        found = self._host(charts)
        tokens = [self.config.prompt_tokens(chart) for chart in charts]
        sequences = [_Sequence(extraction, n, self.config.output_tokens_per_chart, streamed)
                     for extraction, n in zip(found, tokens, strict=True)]
        self.calls += 1
        self.device.add(sequences)
        return sequences

    def _host(self, charts: Sequence[Chart]) -> list[Extraction]:
        """The wrapped extractor's extractions with the simulated counts; every chart failed if the call fails."""
        common = {"extractor": self.name, "model_id": self.model_id, "output_tokens": self.config.output_tokens_per_chart}
        try:
            found = self.wrapped.extract(charts)
            if len(found) != len(charts):
                raise RuntimeError(f"{self.config.wraps} returned {len(found)} extractions for {len(charts)} charts")
        except Exception as exc:  # the Extractor protocol: a failed batch sends its charts to review, never raises
            log.warning("%s: wrapped extractor %s failed on %d charts: %s", NAME, self.config.wraps, len(charts), exc)
            failed = f"{type(exc).__name__}: {exc}"
            return [Extraction(chart_id=chart.id, error=failed, model_revision=self.model_revision,
                               prompt_version=self.prompt_version, input_tokens=self.config.prompt_tokens(chart), **common)
                    for chart in charts]
        return [e.model_copy(update={"input_tokens": self.config.prompt_tokens(chart), **common})
                for e, chart in zip(found, charts, strict=True)]

    @staticmethod
    def _done(sequence: _Sequence) -> Extraction:
        latency = round(sequence.finished_at - sequence.submitted, 4)
        return sequence.extraction.model_copy(update={"latency_s": latency})
