"""The streaming schedule: input order, bounded memory, failure isolation, and the same results as stop-and-go."""

from __future__ import annotations

import threading
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace

import pytest
from test_pipeline import TEXT, StubExtractor, design
from waiting import wait_event

from extractors.base import StreamingExtractor
from harness.contracts import Chart, Extraction
from harness.metrics.robustness import ChartIntake
from harness.pipeline.config import PipelineConfig
from harness.pipeline.preparation import Prepared
from harness.pipeline.streaming import run_pipeline


class RecordingExtractor(StubExtractor):
    """The stub, remembering which charts each call got (from whichever thread calls it)."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.threads: set[str] = set()

    def extract(self, charts: Sequence[Chart]) -> list[Extraction]:
        self.calls.append([c.id for c in charts])
        self.threads.add(threading.current_thread().name)
        return super().extract(charts)


class LastFirstIntake:
    """Intake that hands on each group of ``group`` consecutive charts last chart first: a chart is read only once
    the next chart of its group has been coded, so charts reach extraction and coding out of input order, every run.
    ``group`` must not exceed the intake threads (each chart of a group holds a thread while it waits)."""

    def __init__(self, charts: Sequence[Chart], group: int, code: Callable) -> None:
        ids = [chart.id for chart in charts]
        self._next = {chart_id: ids[i + 1] for i, chart_id in enumerate(ids[:-1]) if (i + 1) % group}
        self._coded = {chart_id: threading.Event() for chart_id in ids}
        self._code = code

    def prepare(self, chart: Chart) -> Prepared:
        if chart.id in self._next:
            after = self._next[chart.id]
            wait_event(self._coded[after], 60, f"chart {after} to be coded before chart {chart.id} is read")
        return Prepared(chart, ChartIntake(kept_ranges=((0, len(chart.text)),)), 0.0, 0.0)

    def code(self, chart: Chart, extraction: Extraction):
        try:
            return self._code(chart, extraction)
        finally:
            self._coded[chart.id].set()


def last_first(charts: Sequence[Chart], group: int):
    """The test design with :class:`LastFirstIntake` over ``charts`` (fresh for each run: its events are one-shot)."""
    order = LastFirstIntake(charts, group, design().code)
    return design(prepare=order.prepare, code=order.code)


def test_results_keep_input_order_and_every_chart_is_extracted_once() -> None:
    charts = [Chart(id=f"c{i:03d}", text=TEXT if i % 3 else "Well child visit.") for i in range(120)]
    extractor = RecordingExtractor()
    config = PipelineConfig(queue_size=16, intake_threads=4)
    run = run_pipeline(charts, replace(last_first(charts, config.intake_threads), extractor=extractor), config,
                       progress=False)
    assert [r.chart_id for r in run.results] == [c.id for c in charts]
    assert [e.chart_id for e in run.extractions] == [c.id for c in charts]
    extracted = [chart_id for call in extractor.calls for chart_id in call]
    assert sorted(extracted) == [c.id for c in charts] != extracted  # each once, and not in input order
    assert max(map(len, extractor.calls)) <= config.queue_size and run.peak_in_flight <= config.queue_size
    assert extractor.threads == {threading.current_thread().name}  # engines start and run in the calling thread
    assert all(r.codes[0].code == "I10" for r, c in zip(run.results, charts, strict=True) if "hypertension" in c.text)
    assert run.extract_calls == len(extractor.calls)


def test_streaming_and_stop_and_go_give_the_same_results(sample_charts_and_dictionary) -> None:
    charts, extractor = sample_charts_and_dictionary
    results = {}
    for policy in ("streaming", "stop_and_go"):
        run = run_pipeline(charts, replace(design(), extractor=extractor), PipelineConfig(policy=policy, batch_size=7),
                           progress=False)
        results[policy] = [(r.chart_id, [(c.code, c.confidence) for c in r.codes], r.route, r.reasons) for r in run.results]
    assert results["streaming"] == results["stop_and_go"]
    assert any(codes for _, codes, _, _ in results["streaming"])


@pytest.fixture(scope="module")
def sample_charts_and_dictionary():
    from extractors.dictionary.extractor import DictionaryExtractor
    from harness.config import DatasetConfig
    from harness.sources import load_charts

    extractor = DictionaryExtractor({"name": "dictionary"})
    extractor.fit(load_charts(DatasetConfig(name="sample", split="train")))
    return load_charts(DatasetConfig(name="sample", split="dev")), extractor


def big_charts(n: int, chars: int) -> Iterator[Chart]:
    """``n`` charts of ``chars`` characters each, made one at a time (the dataset never sits in memory)."""
    filler = "Patient seen in clinic today. " * (chars // 30)
    for i in range(n):
        yield Chart(id=f"big-{i:05d}", text=f"{TEXT} {filler}{i}")


def working_memory(n: int, chart_chars: int = 20_000) -> int:
    """Peak traced bytes of a streaming run above what it keeps (its results): the charts in flight, not the dataset."""
    config, piped = PipelineConfig(queue_size=8, intake_threads=2), design()  # the rule engine's tables load outside
    tracemalloc.start()
    try:
        run = run_pipeline(big_charts(n, chart_chars), piped, config, progress=False)
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(run.results) == n and run.peak_in_flight <= config.queue_size
    return peak - kept


def test_memory_follows_the_queue_not_the_dataset() -> None:
    """2,000 charts of 20 kB (40 MB of text, made one at a time) through a queue of 8: the memory in use beyond the
    results stays near 8 charts' worth, the same as for 200 charts."""
    small, large = working_memory(200), working_memory(2000)
    assert large < 2000 * 20_000 / 20, large
    assert large < 2 * small + 1_000_000, (small, large)


def test_a_chart_source_that_fails_half_way_stops_the_run_with_its_error() -> None:
    def source() -> Iterator[Chart]:
        for i in range(5):
            yield Chart(id=f"c{i}", text=TEXT)
        raise OSError("charts.jsonl: read failed at line 6")

    with pytest.raises(OSError, match="line 6"):
        run_pipeline(source(), design(), PipelineConfig(queue_size=2), progress=False)


def test_a_bug_in_coding_stops_every_stage_and_is_raised() -> None:
    def finish_badly(chart: Chart, extraction: Extraction):
        raise AssertionError("rule engine bug")

    broken = replace(design(), route=lambda *args: (_ for _ in ()).throw(ZeroDivisionError("routing bug")))
    with pytest.raises(ZeroDivisionError, match="routing bug"):
        run_pipeline([Chart(id=f"c{i}", text=TEXT) for i in range(50)], broken, PipelineConfig(queue_size=4), progress=False)
    # a coding failure is not a bug: it routes the chart
    coded = run_pipeline([Chart(id="c", text=TEXT)], design(code=finish_badly), progress=False).results
    assert coded[0].reasons[0] == "coding_failed: AssertionError"


def test_ctrl_c_while_extracting_stops_the_other_stages() -> None:
    class Interrupted(StubExtractor):
        def extract(self, charts: Sequence[Chart]) -> list[Extraction]:
            raise KeyboardInterrupt

    before = set(threading.enumerate())
    with pytest.raises(KeyboardInterrupt):
        run_pipeline([Chart(id=f"c{i}", text=TEXT) for i in range(50)], replace(design(), extractor=Interrupted()),
                     PipelineConfig(queue_size=4), progress=False)
    started = [thread for thread in threading.enumerate() if thread not in before]
    for thread in started:
        thread.join(timeout=10)  # only a guard against a hang: a stage that stopped has ended
    assert not [thread.name for thread in started if thread.is_alive()]


def fast_accelerator(**device: object):
    from extractors.simulated_accelerator import SimulatedAcceleratorExtractor

    settings = {"prefill_tokens_per_s": 1e6, "step_fixed_s": 0.0005, "weights_read_s": 0.0, "kv_read_s_per_token": 0.0,
                "output_tokens_mean": 20, "output_tokens_sigma": 0.0, "max_num_seqs": 4, "max_num_batched_tokens": 8192, **device}
    return SimulatedAcceleratorExtractor({"name": "simulated_accelerator", **settings})


def test_an_engine_that_batches_continuously_gets_each_chart_when_ready_with_the_same_results(
        sample_charts_and_dictionary, tmp_path) -> None:
    from harness.pipeline.extraction_cache import ExtractionCache

    charts, dictionary = sample_charts_and_dictionary
    accelerator = fast_accelerator()
    accelerator.wrapped = dictionary  # fitted already
    config, cache = PipelineConfig(queue_size=6), ExtractionCache(tmp_path)

    def cached():
        return replace(last_first(charts, config.intake_threads), extractor=accelerator, cache=cache)

    try:
        streamed = run_pipeline(charts, cached(), config, progress=False)
        again = run_pipeline(charts, cached(), config, progress=False)
        grouped = run_pipeline(charts, replace(design(), extractor=accelerator),
                               PipelineConfig(policy="stop_and_go", batch_size=5), progress=False)
    finally:
        accelerator.close()
    assert streamed.cache_hits == 0 and again.cache_hits == len(charts) and again.extract_calls == 0
    assert streamed.extract_calls >= 1 and 0 < streamed.extract_busy_s <= streamed.wall_s
    assert [e.chart_id for e in streamed.extractions] == [c.id for c in charts]
    for run in (again, grouped):
        assert [(r.chart_id, r.codes, r.route, r.reasons) for r in run.results] == \
            [(r.chart_id, r.codes, r.route, r.reasons) for r in streamed.results]


def test_an_engine_that_breaks_mid_stream_sends_what_it_held_to_review_and_takes_later_charts() -> None:
    class BreaksOnce(StreamingExtractor):
        """The accelerator, whose first collect fails (a crashed engine step)."""

        def __init__(self) -> None:
            self.inner, self.broken = fast_accelerator(wraps="oracle", train_split=None), False
            self.name = "simulated_accelerator"
            self.version = "2"

        def extract(self, charts):
            return self.inner.extract(charts)

        def submit(self, charts) -> None:
            self.inner.submit(charts)

        def collect(self, wait_s: float):
            if not self.broken:
                self.broken = True
                self.inner.collect(wait_s=5.0)  # whatever finished is lost with the step
                broke.set()
                raise RuntimeError("engine step failed")
            return self.inner.collect(wait_s)

    broke = threading.Event()

    def later_half_later(chart: Chart) -> Prepared:  # c4..c7 reach the engine only after it broke
        if int(chart.id[1:]) >= 4:
            wait_event(broke, 60, "the engine's failed step")
        return Prepared(chart, ChartIntake(kept_ranges=((0, len(chart.text)),)), 0.0, 0.0)

    engine = BreaksOnce()
    charts = [Chart(id=f"c{i}", text=TEXT) for i in range(8)]
    try:
        run = run_pipeline(charts, replace(design(prepare=later_half_later), extractor=engine),
                           PipelineConfig(queue_size=8, intake_threads=8), progress=False)
    finally:
        engine.inner.close()
    failed = [r.chart_id for r in run.results if any(reason.startswith("extraction_failed: RuntimeError: engine step failed")
                                            for reason in r.reasons)]
    assert [r.chart_id for r in run.results] == [c.id for c in charts]
    assert 1 <= len(failed) <= 4  # what was in flight at the failure
    assert not set(failed) & {c.id for c in charts[4:]}  # the later charts were extracted
