"""The simulated accelerator: the wrapped extractor's findings, at the device time its config says, with the GIL free.

Device time is checked by recording what ``time.sleep`` is asked for (no timed assertions), except where the test
is that the wait really sleeps.
"""

from __future__ import annotations

import math
import threading
import time

import pytest
from pydantic import ValidationError
from waiting import wait_event

from extractors import simulated_accelerator as simulated
from extractors.base import LearnsFromCharts
from extractors.simulated_accelerator import SimulatedAcceleratorConfig, SimulatedAcceleratorExtractor
from harness.contracts import Chart

DEVICE = {"prefill_tokens_per_s": 1000.0, "decode_tokens_per_s": 50.0, "max_num_seqs": 2, "call_overhead_s": 0.25,
          "chars_per_token": 4.0, "output_tokens_per_chart": 10}


def oracle_wrapper(**config: object) -> SimulatedAcceleratorExtractor:
    """Wraps the oracle: cheap, learns nothing."""
    return SimulatedAcceleratorExtractor({"name": "simulated_accelerator", "wraps": "oracle", "train_split": None,
                                          **DEVICE, **config})


def charts(*lengths: int) -> list[Chart]:
    return [Chart(id=f"c{i}", text="x" * n) for i, n in enumerate(lengths)]


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Seconds each ``time.sleep`` of the module was asked for; nothing is slept."""
    asked: list[float] = []
    monkeypatch.setattr(simulated.time, "sleep", asked.append)
    return asked


@pytest.fixture(scope="module")
def sample():
    from harness.config import DatasetConfig
    from harness.sources import load_charts

    return load_charts(DatasetConfig(name="sample", split="train")), load_charts(DatasetConfig(name="sample", split="dev"))


def test_findings_are_the_wrapped_dictionarys_on_the_sample(sample, slept: list[float]) -> None:
    from extractors.dictionary.extractor import DictionaryExtractor

    train, dev = sample
    direct = DictionaryExtractor({"name": "dictionary"})
    direct.fit(train)
    wrapper = SimulatedAcceleratorExtractor({"name": "simulated_accelerator"})  # wraps the dictionary, its conf defaults
    assert isinstance(wrapper, LearnsFromCharts) and wrapper.runs_untrained and not wrapper.calibrated
    wrapper.fit(train)
    assert wrapper.model_revision == direct.model_revision is not None and wrapper.model_id == "simulated:dictionary"
    expected, got = direct.extract(dev), wrapper.extract(dev)
    assert [e.findings for e in got] == [e.findings for e in expected] and any(e.findings for e in got)
    assert [(e.chart_id, e.error, e.extractor, e.model_revision) for e in got] == \
        [(e.chart_id, None, "simulated_accelerator", direct.model_revision) for e in expected]
    assert [e.input_tokens for e in got] == [math.ceil(len(c.text) / 4) for c in dev]
    assert {e.output_tokens for e in got} == {200} and wrapper.calls == 1 and wrapper.busy_s == pytest.approx(sum(slept))
    wrapper.close()


def test_device_time_is_overhead_prefill_and_decode_waves(slept: list[float]) -> None:
    extractor = oracle_wrapper()
    # 5 charts of 400 chars = 100 tokens each; 2 sequences at once: 3 admissions, 3 waves of 10 tokens at 50 tokens/s
    extractor.extract(charts(400, 400, 400, 400, 400))
    first = sum(slept)
    extractor.extract(charts(4000))  # one chart: 1,000 prompt tokens, one wave
    second = sum(slept) - first
    extractor.extract([])  # no charts: no call
    assert first == pytest.approx(3 * 0.25 + 500 / 1000 + 3 * 10 / 50)
    assert second == pytest.approx(0.25 + 1000 / 1000 + 1 * 10 / 50)
    assert extractor.calls == 2 and extractor.busy_s == pytest.approx(first + second) and extractor.device.admissions == 4
    assert first == pytest.approx(extractor.config.device_seconds([100] * 5))
    two_waves, one_wave = oracle_wrapper(max_num_seqs=4), oracle_wrapper(max_num_seqs=5)
    assert two_waves.config.device_seconds([1] * 5) - one_wave.config.device_seconds([1] * 5) == pytest.approx(0.25 + 10 / 50)
    assert one_wave.config.prompt_tokens(Chart(id="c", text="x" * 9)) == 3  # a started token counts
    extractor.close()


def test_extractions_carry_simulated_tokens_and_their_time_on_the_device(slept: list[float]) -> None:
    extractor = oracle_wrapper()
    got = extractor.extract(charts(40, 80))
    assert [(e.input_tokens, e.output_tokens) for e in got] == [(10, 10), (20, 10)]
    assert all(e.latency_s >= 0 for e in got)
    extractor.close()


def test_the_wait_sleeps_and_leaves_the_gil_free() -> None:
    extractor = oracle_wrapper(call_overhead_s=0.5, output_tokens_per_chart=0)
    counted, done = [0], threading.Event()

    def count() -> None:
        while not done.is_set():
            counted[0] += 1

    counter = threading.Thread(target=count)
    counter.start()
    try:
        before, cpu, wall = counted[0], time.thread_time(), time.perf_counter()
        got = extractor.extract(charts(4))
        cpu, wall, during = time.thread_time() - cpu, time.perf_counter() - wall, counted[0] - before
    finally:
        done.set()
        counter.join()
    assert during > 1000, "another thread must run while extract waits on the device"
    assert wall >= 0.5 and cpu < 0.1, "the device time is slept, not spun"
    assert sum(e.latency_s for e in got) <= wall


def test_a_chart_submitted_while_another_decodes_joins_the_running_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Continuous batching: the second chart's decode overlaps the first's, so the device spends less than two
    calls one after the other would, and both come back from collect."""
    extractor = oracle_wrapper(call_overhead_s=0.2, output_tokens_per_chart=20, decode_tokens_per_s=50.0)
    first, second = charts(40, 40)
    spent, decoding, submitted = [], threading.Event(), threading.Event()

    def spend(seconds: float) -> None:  # nothing is slept; the first decode step waits until the second chart is sent
        spent.append(seconds)
        if len(spent) == 2:  # the first admission's prefill, then the first decode step
            decoding.set()
            wait_event(submitted, 60, "the second chart's submission")

    monkeypatch.setattr(simulated.time, "sleep", spend)
    extractor.submit([first])
    wait_event(decoding, 60, "the first chart decoding on the device")
    extractor.submit([second])
    submitted.set()
    got, deadline = [], time.monotonic() + 60
    while len(got) < 2 and time.monotonic() < deadline:
        got += extractor.collect(wait_s=1.0)
    one_alone = extractor.config.device_seconds([10])
    assert sorted(e.chart_id for e in got) == ["c0", "c1"] and extractor.device.admissions == 2
    assert extractor.busy_s < 2 * one_alone - 0.1, (extractor.busy_s, one_alone)
    assert extractor.collect(wait_s=0.0) == []  # each chart is handed back once
    extractor.close()


def test_a_failed_wrapped_call_fails_every_chart_of_it_and_still_spends_device_time(slept: list[float]) -> None:
    extractor = oracle_wrapper()

    def broken(batch):
        raise RuntimeError("engine fell over")

    extractor.wrapped.extract = broken
    got = extractor.extract(charts(40, 40, 40))
    assert [e.chart_id for e in got] == ["c0", "c1", "c2"]
    assert {e.error for e in got} == {"RuntimeError: engine fell over"} and not any(e.findings for e in got)
    assert sum(slept) > 0 and extractor.calls == 1
    extractor.wrapped.extract = lambda batch: []  # a wrapped extractor that loses charts fails them too, loudly
    assert all("0 extractions for 2 charts" in e.error for e in extractor.extract(charts(4, 4)))


def test_wrapped_settings_override_the_wrapped_options_defaults(slept: list[float]) -> None:
    from harness.contracts import GoldCode

    extractor = oracle_wrapper(wrapped={"confidence": 0.7})
    [got] = extractor.extract([Chart(id="c", text="x", gold=[GoldCode(code="I10")])])
    assert [(f.code, f.confidence) for f in got.findings] == [("I10", 0.7)]
    assert extractor.model_id == "simulated:oracle" and not isinstance(extractor, LearnsFromCharts)
    with pytest.raises(ValidationError, match="no_such_field"):
        oracle_wrapper(wrapped={"no_such_field": 1})  # the wrapped extractor's own config rejects it


@pytest.mark.parametrize(("config", "message"), [
    ({"wraps": "simulated_accelerator"}, "cannot wrap itself"),
    ({"wraps": "no_such_extractor"}, "unknown extractor 'no_such_extractor'"),
    ({"wrapped": {"name": "oracle"}}, "set wraps"),
    ({"wrapped": {"train_split": "dev"}}, "set train_split"),
    ({"max_num_seqs": 0}, "max_num_seqs"),
    ({"decode_tokens_per_s": 0}, "decode_tokens_per_s"),
    ({"prefill_tokens_per_s": float("inf")}, "prefill_tokens_per_s"),
    ({"seconds_per_chart": 1.0}, "seconds_per_chart"),
])
def test_bad_configs_are_refused_naming_the_field(config: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SimulatedAcceleratorConfig.model_validate({"name": "simulated_accelerator", **config})


def test_its_option_is_the_models_defaults_and_never_the_default_extractor() -> None:
    from harness.config import CONF_DIR, config_option

    option = config_option("extractor", "simulated_accelerator")
    assert SimulatedAcceleratorConfig.model_validate(option) == SimulatedAcceleratorConfig()
    assert "simulated" not in (CONF_DIR / "config.yaml").read_text(encoding="utf-8")
