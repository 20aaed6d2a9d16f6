"""Scheduling a pipeline design over a dataset: stages that overlap (``streaming``) or take turns (``stop_and_go``).

Streaming runs three stages at once, joined by bounded hand-offs:

- intake: ``intake_threads`` charts are degraded and read at a time (each OCRs its pages with the intake's own
  tesseract workers), in input order of admission;
- extraction (the calling thread, where model engines start and signals arrive): whenever the extractor is
  free it takes *every* chart that intake has made ready, so the engine always holds all prompts there are
  (up to ``queue_size``); a call's fresh extractions are cached as it returns;
- coding, edits and routing: one thread, chart by chart as extractions arrive.

At most ``queue_size`` charts are admitted and not yet coded at any moment, so memory follows the queue, not
the dataset (charts may come from a generator). ``queue_size: auto`` is sized for the extractor's engine
(``PipelineConfig.resolved_queue_size``), at the start and again once the engine has started and knows its size.
Results are returned in input order. Which charts share an extractor call depends on timing; findings do not, except
where an engine's numerics depend on the batch.

``stop_and_go`` is the earlier policy, kept as the baseline of ``harness bench pipeline``: prepare
``batch_size`` charts, extract them, code them, then the next batch.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain

from extractors.base import StreamingExtractor
from harness.contracts import Chart, ChartResult, Extraction
from harness.metrics.robustness import ChartIntake
from harness.pipeline.chart_steps import PipelineDesign, PipelineRun, extract_group, finished, prepared
from harness.pipeline.config import PipelineConfig
from harness.pipeline.extraction_cache import cached_extractions, extractor_fingerprint
from harness.pipeline.preparation import Prepared

_DONE = object()
"""End of a stage's output."""


@dataclass
class _Admitted:
    index: int
    source: Chart
    prepared: Prepared | None = None
    extraction: Extraction | None = None
    extract_s: float = 0.0
    cache_key: str = ""


@dataclass
class _Bars:
    """One progress line per stage (charts read, extracted, coded): counts and rates only, never chart text."""

    total: int | None
    show: bool
    on_coded: Callable[[int], None] | None = None
    """Told each time charts finish the whole pipeline (a job counts them for a run that is stopped)."""
    bars: dict[str, object] = field(default_factory=dict)
    busy: dict[str, tuple[float, int]] = field(default_factory=dict)
    """Stage -> (since when, how many charts) of the work it is doing now, shown on its line."""
    closing: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        from tqdm import tqdm

        for position, stage in enumerate(("read", "extracted", "coded")):
            self.bars[stage] = tqdm(total=self.total, desc=f"charts {stage:<9}", unit="chart", position=position,
                                    disable=None if self.show else True, leave=True)
        if any(not bar.disable for bar in self.bars.values()):
            # a count moves only when a chart is done: one long chart would freeze the lines for minutes
            threading.Thread(target=self._tick, name="pipeline-progress", daemon=True).start()

    @contextmanager
    def working(self, stage: str, charts: int) -> Iterator[None]:
        """While the block runs, ``stage``'s line says, refreshed every second, how long it has worked on ``charts``."""
        self.busy[stage] = (time.perf_counter(), charts)
        try:
            yield
        finally:
            del self.busy[stage]
            self.bars[stage].set_postfix_str("", refresh=False)

    def _tick(self) -> None:
        while not self.closing.wait(1.0):
            for stage, (since, charts) in list(self.busy.items()):
                self.bars[stage].set_postfix_str(f"{charts} in progress for {time.perf_counter() - since:.0f}s")

    def update(self, stage: str, n: int = 1) -> None:
        self.bars[stage].update(n)
        if stage == "coded" and self.on_coded is not None:
            self.on_coded(n)

    def close(self) -> None:
        self.closing.set()
        for bar in self.bars.values():
            bar.close()


class _Stream:
    """The shared state of one streaming run: hand-offs, the admission limit, the first error of any stage."""

    def __init__(self, design: PipelineDesign, config: PipelineConfig, fingerprint: str, bars: _Bars):
        self.design, self.config, self.fingerprint, self.bars = design, config, fingerprint, bars
        self.ready: queue.Queue = queue.Queue()  # intake -> extraction; bounded by the admission slots
        self.extracted: queue.Queue = queue.Queue()  # extraction -> coding; bounded by the admission slots
        self.queue_size = config.resolved_queue_size(design.extractor)
        self.slots = threading.Semaphore(self.queue_size)  # not bounded: ``auto`` may add room once the engine runs
        self.sized = config.queue_size != "auto"
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.results: dict[int, ChartResult] = {}
        self.intake_facts: dict[int, ChartIntake] = {}
        self.extractions: dict[int, Extraction] = {}
        self.in_flight = self.peak_in_flight = 0
        self._count = threading.Lock()
        self.hits = self.calls = 0
        self.busy_s = 0.0

    def fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error
        self.stop.set()

    def _admit(self) -> bool:
        """Wait for room for one more chart; False once the run is stopping."""
        while not self.stop.is_set():
            if self.slots.acquire(timeout=0.1):
                with self._count:
                    self.in_flight += 1
                    self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
                return True
        return False

    def _size_for_engine(self) -> None:
        """``queue_size: auto``, after the extractor's first call: the engine has started, and may now report how many
        sequences it runs (vLLM resolves its default for the device then), so the queue grows to cover them."""
        if self.sized:
            return
        self.sized = True
        size = self.config.resolved_queue_size(self.design.extractor)
        if size > self.queue_size:
            self.slots.release(size - self.queue_size)
            self.queue_size = size

    def _release(self) -> None:
        with self._count:
            self.in_flight -= 1
        self.slots.release()

    # -- intake ---------------------------------------------------------------------------------------

    def intake(self, charts: Iterable[Chart]) -> None:
        try:
            with ThreadPoolExecutor(self.config.intake_threads, thread_name_prefix="pipeline-intake") as pool:
                for index, chart in enumerate(charts):
                    if not self._admit():
                        break
                    pool.submit(self._prepare, _Admitted(index, chart))
        except BaseException as error:  # e.g. a chart source that fails half way: the run stops and says why
            self.fail(error)
        finally:
            self.ready.put(_DONE)

    def _prepare(self, item: _Admitted) -> None:
        try:
            item.prepared = prepared(self.design, item.source)
            self.ready.put(item)
            self.bars.update("read")
        except BaseException as error:  # ``prepared`` turns chart failures into reasons: this is a bug, stop
            self.fail(error)

    # -- extraction -----------------------------------------------------------------------------------

    def _take_ready(self, block: bool) -> list:
        """Every item intake has made ready now (``_DONE`` last, when intake is over); with ``block``, waits for one."""
        items = []
        while block and not items and not self.stop.is_set():
            try:
                items.append(self.ready.get(timeout=0.1))
            except queue.Empty:
                continue
        while True:
            try:
                items.append(self.ready.get_nowait())
            except queue.Empty:
                return items

    def extract(self) -> None:
        """Runs in the calling thread until intake is done: an extractor that takes charts while it works gets each
        chart as soon as it is ready; any other gets one call per group of ready charts."""
        try:
            if isinstance(self.design.extractor, StreamingExtractor):
                self._extract_continuously(self.design.extractor)
            else:
                self._extract_in_groups()
        finally:
            self.extracted.put(_DONE)

    def _extract_in_groups(self) -> None:
        done = False
        while not done and not self.stop.is_set():
            items = self._take_ready(block=True)
            done = _DONE in items
            group = [item for item in items if item is not _DONE]
            readable = [item for item in group if item.prepared.chart.text.strip()]
            if readable:
                with self.bars.working("extracted", len(readable)):
                    outcome = extract_group(self.design, self.fingerprint, [item.prepared.chart for item in readable])
                self.hits += outcome.hits
                self.calls += outcome.busy_s > 0
                self.busy_s += outcome.busy_s
                for item, extraction in zip(readable, outcome.extractions, strict=True):
                    item.extraction, item.extract_s = extraction, outcome.busy_s / len(readable)
                if outcome.busy_s > 0:  # not all from the cache: the extractor ran
                    self._size_for_engine()
            self._hand_on(group)

    def _extract_continuously(self, extractor: StreamingExtractor) -> None:
        cache = self.design.cache
        pending: dict[str, deque[_Admitted]] = {}
        in_flight, done, busy_since = 0, False, 0.0
        while not (done and not in_flight) and not self.stop.is_set():
            items = self._take_ready(block=not in_flight and not done)
            done = done or _DONE in items
            arrived = [item for item in items if item is not _DONE]
            readable = [item for item in arrived if item.prepared.chart.text.strip()]
            self._hand_on([item for item in arrived if not item.prepared.chart.text.strip()])
            if cache is not None and readable:
                keys, found = cached_extractions(cache, self.fingerprint, [item.prepared.chart for item in readable])
                for i, item in enumerate(readable):
                    item.cache_key, item.extraction = keys[i], found.get(i)
                self.hits += len(found)
                self._hand_on([item for item in readable if item.extraction is not None])
                readable = [item for item in readable if item.extraction is None]
            if readable:
                if not in_flight:
                    busy_since = time.perf_counter()
                in_flight += len(readable)
                for item in readable:
                    pending.setdefault(item.prepared.chart.id, deque()).append(item)
                self.calls += 1
                try:
                    extractor.submit([item.prepared.chart for item in readable])
                except Exception as error:  # the engine refused them: these charts go to review, the run goes on
                    in_flight -= self._arrived(pending, self._failed(readable, error))
                self._size_for_engine()
            if in_flight:
                try:
                    finished = extractor.collect(wait_s=0.02)
                except Exception as error:  # the engine broke: what it held goes to review, later charts try again
                    finished = self._failed([item for queued in pending.values() for item in queued], error)
                in_flight -= self._arrived(pending, finished)
                if not in_flight:
                    self.busy_s += time.perf_counter() - busy_since

    def _failed(self, items: list[_Admitted], error: Exception) -> list[Extraction]:
        """Failed extractions for ``items``, handed back as if the engine had."""
        message = f"{type(error).__name__}: {error}"
        return [Extraction(chart_id=item.prepared.chart.id, extractor=self.design.extractor.name, error=message)
                for item in items]

    def _arrived(self, pending: dict[str, deque[_Admitted]], finished: list[Extraction]) -> int:
        """Match finished extractions to their charts, cache and hand them on; returns how many arrived."""
        arrived = []
        for extraction in finished:
            queued = pending.get(extraction.chart_id)
            if not queued:
                raise RuntimeError(f"extractor {self.design.extractor.name!r} returned chart {extraction.chart_id!r}, "
                                   "which is not in flight")
            item = queued.popleft()
            if not queued:
                del pending[extraction.chart_id]
            item.extraction, item.extract_s = extraction, extraction.latency_s or 0.0
            arrived.append(item)
        if self.design.cache is not None:
            self.design.cache.put_many([(item.cache_key, item.extraction) for item in arrived])
        self._hand_on(arrived)
        return len(arrived)

    def _hand_on(self, items: list[_Admitted]) -> None:
        self.bars.update("extracted", len(items))
        for item in items:
            self.extracted.put(item)

    # -- coding ---------------------------------------------------------------------------------------

    def code(self) -> None:
        try:
            while not self.stop.is_set():
                try:
                    item = self.extracted.get(timeout=0.1)
                except queue.Empty:
                    continue
                if item is _DONE:
                    return
                with self.bars.working("coded", 1):
                    self.results[item.index] = finished(self.design, item.source, item.prepared, item.extraction,
                                                        item.extract_s, self.config.chart_timeout_s)
                self.intake_facts[item.index] = item.prepared.facts
                if item.extraction is not None:
                    self.extractions[item.index] = item.extraction
                self.bars.update("coded")
                self._release()
        except BaseException as error:  # a bug in coding: stop every stage and raise it in the caller
            self.fail(error)


def run_pipeline(charts: Iterable[Chart], design: PipelineDesign, config: PipelineConfig | None = None,
                 progress: bool = True, on_coded: Callable[[int], None] | None = None) -> PipelineRun:
    """Run every chart through the design: one result per chart, in input order; ``on_coded(n)`` as ``n`` more finish."""
    config = config or PipelineConfig()
    total = len(charts) if hasattr(charts, "__len__") else None
    # after fit: the fingerprint covers what was learned
    fingerprint = extractor_fingerprint(design.extractor) if design.cache is not None else ""
    bars = _Bars(total, progress, on_coded)
    schedule: Callable[..., PipelineRun] = _streaming if config.policy == "streaming" else _stop_and_go
    started = time.perf_counter()
    try:
        run = schedule(charts, design, config, fingerprint, bars)
    finally:
        bars.close()
    run.wall_s = time.perf_counter() - started
    return run


def _streaming(charts: Iterable[Chart], design: PipelineDesign, config: PipelineConfig, fingerprint: str,
               bars: _Bars) -> PipelineRun:
    stream = _Stream(design, config, fingerprint, bars)
    intake = threading.Thread(target=stream.intake, args=(charts,), name="pipeline-intake", daemon=True)
    coding = threading.Thread(target=stream.code, name="pipeline-coding", daemon=True)
    intake.start()
    coding.start()
    try:
        stream.extract()
    except BaseException as error:  # Ctrl-C or a bug while extracting: the other stages stop too
        stream.fail(error)
    finally:
        coding.join()
        if stream.error is None:
            intake.join()
        else:
            stream.stop.set()
            intake.join(timeout=30)  # a page being read finishes; nothing new is admitted
    if stream.error is not None:
        raise stream.error
    order = sorted(stream.results)
    return PipelineRun([stream.results[i] for i in order], [stream.intake_facts[i] for i in order], 0.0, stream.hits,
                       [stream.extractions[i] for i in order if i in stream.extractions], extract_busy_s=stream.busy_s,
                       extract_calls=stream.calls, peak_in_flight=stream.peak_in_flight)


def _stop_and_go(charts: Iterable[Chart], design: PipelineDesign, config: PipelineConfig, fingerprint: str,
                 bars: _Bars) -> PipelineRun:
    results, extractions, intake = [], [], []
    hits = calls = 0
    busy = 0.0
    batch: list[Chart] = []
    size = config.resolved_batch_size(design.extractor)
    sized = config.batch_size != "auto"
    for chart in chain(charts, [None]):  # None: the end, which sends the last, short batch
        if chart is not None:
            batch.append(chart)
            if len(batch) < size:
                continue
        ready = [prepared(design, source) for source in batch]
        bars.update("read", len(batch))
        readable = [p.chart for p in ready if p.chart.text.strip()]
        with bars.working("extracted", len(readable)):
            outcome = extract_group(design, fingerprint, readable)
        hits, calls, busy = hits + outcome.hits, calls + (outcome.busy_s > 0), busy + outcome.busy_s
        if not sized and outcome.busy_s > 0:  # ``auto``: the engine has started and may now report its size
            sized, size = True, max(size, config.resolved_batch_size(design.extractor))
        bars.update("extracted", len(batch))
        made = iter(outcome.extractions)
        per_chart = outcome.busy_s / max(len(readable), 1)
        for source, p in zip(batch, ready, strict=True):
            extraction = next(made) if p.chart.text.strip() else None
            with bars.working("coded", 1):
                results.append(finished(design, source, p, extraction, per_chart, config.chart_timeout_s))
            intake.append(p.facts)
            if extraction is not None:
                extractions.append(extraction)
        bars.update("coded", len(batch))
        batch = []
    return PipelineRun(results, intake, 0.0, hits, extractions, policy="stop_and_go", extract_busy_s=busy,
                       extract_calls=calls, peak_in_flight=size)
