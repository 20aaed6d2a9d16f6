"""The simulated accelerator: the wrapped extractor's findings, at the device time of its step model, with the GIL free.

The step model is checked as the pure function it is (``DeviceModel.step`` and ``batch_seconds``, nothing slept);
the threaded device is checked to spend exactly what that model says (``busy_s``), with ``time.sleep`` replaced by
a recorder, except where the test is that the wait really sleeps.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections import deque

import pytest
from pydantic import ValidationError
from waiting import wait_event

from extractors import simulated_accelerator as simulated
from extractors.base import LearnsFromCharts
from extractors.simulated_accelerator import (
    H200_HF_GENERATE_MEASURED,
    HF_GENERATE_H200,
    PRESETS,
    VLLM_H100,
    DeviceModel,
    SimulatedAcceleratorConfig,
    SimulatedAcceleratorExtractor,
)
from harness.contracts import Chart

DEVICE = {"step_fixed_s": 0.01, "weights_read_s": 0.0, "kv_read_s_per_token": 1e-5, "prefill_tokens_per_s": 1000.0,
          "max_num_seqs": 2, "max_num_batched_tokens": 64, "chars_per_token": 4.0, "output_tokens_mean": 10,
          "output_tokens_sigma": 0.0}

H200_TOLERANCE = 0.15
"""Largest relative error of the fitted HF ``generate`` preset at the six measured points (the fit's is 14.8%, at 8
sequences: those measurements are not monotone per step, so no step model linear in the batch meets them all)."""


def oracle_wrapper(**config: object) -> SimulatedAcceleratorExtractor:
    """Wraps the oracle: cheap, learns nothing."""
    return SimulatedAcceleratorExtractor({"name": "simulated_accelerator", "wraps": "oracle", "train_split": None,
                                          **DEVICE, **config})


def charts(*lengths: int) -> list[Chart]:
    return [Chart(id=f"c{i}", text="x" * n) for i, n in enumerate(lengths)]


def model(**fields: object) -> DeviceModel:
    """A device whose steps cost only their prefill (one token a second), unless told."""
    return DeviceModel(**{"step_fixed_s": 0.0, "weights_read_s": 0.0, "kv_read_s_per_token": 0.0,
                          "prefill_tokens_per_s": 1.0, "max_num_seqs": 4, "max_num_batched_tokens": 8,
                          "batching": "continuous", **fields})


def throughput(device: DeviceModel, sequences: int, prompt: int = 512, output: int = 128) -> float:
    """Output tokens/s of ``sequences`` equal sequences arriving together."""
    return sequences * output / device.batch_seconds([prompt] * sequences, [output] * sequences)


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


def test_the_hf_generate_preset_reproduces_the_h200_measurements() -> None:
    errors = {batch: throughput(HF_GENERATE_H200, batch) / measured - 1 for batch, measured in H200_HF_GENERATE_MEASURED.items()}
    assert max(map(abs, errors.values())) <= H200_TOLERANCE, errors
    assert statistics.fmean(e * e for e in errors.values()) ** 0.5 <= 0.08, errors  # and closely on the whole
    assert HF_GENERATE_H200.weights_read_s == pytest.approx(3.42e9 / 4.8e12)  # from the hardware, not fitted


def test_the_vllm_preset_serves_about_8000_output_tokens_a_second_from_the_h100s_bandwidth() -> None:
    assert VLLM_H100.weights_read_s == pytest.approx(16e9 / 3.35e12)  # 16 GB of bf16 weights at 3.35 TB/s: 4.8 ms
    assert throughput(VLLM_H100, 1024) == pytest.approx(8000, rel=0.02)
    assert 150 < throughput(VLLM_H100, 1, output=1024) < 200  # one sequence alone: bandwidth bound, ~5.8 ms a token


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_each_sequence_slows_as_the_batch_grows_while_the_total_rises(preset: str) -> None:
    batches = [1, 2, 8, 32, 128, 256]
    total = [throughput(PRESETS[preset], n) for n in batches]
    each = [t / n for t, n in zip(total, batches, strict=True)]
    assert total == sorted(total) and len(set(total)) == len(total), total
    assert each == sorted(each, reverse=True) and len(set(each)) == len(each), each


def test_a_step_decodes_every_running_sequence_and_chunks_a_new_prompt_into_what_is_left() -> None:
    device = model()  # 8 tokens a step; a step costs its prefill tokens in seconds
    decoding = simulated._Sequence(None, prompt_tokens=2, output_tokens=10)
    waiting, running = deque([decoding]), []
    assert device.step(waiting, running) == (2.0, []) and decoding.generated == 1  # a finished prompt samples a token
    joining = simulated._Sequence(None, prompt_tokens=20, output_tokens=1)
    waiting.append(joining)
    seconds = [device.step(waiting, running) for _ in range(3)]
    assert [s for s, _ in seconds] == [7.0, 7.0, 6.0]  # it joined the next step; 1 token of each went to decoding
    assert decoding.generated == 4 and [done for _, done in seconds] == [[], [], [joining]]
    assert running == [decoding]


def test_a_static_batch_takes_no_one_until_it_is_done_and_context_costs_kv_reads() -> None:
    device = model(batching="static", kv_read_s_per_token=0.5, max_num_batched_tokens=100)
    first, later = simulated._Sequence(None, 4, 3), simulated._Sequence(None, 4, 1)
    waiting, running = deque([first]), []
    seconds = [device.step(waiting, running)[0]]
    waiting.append(later)
    seconds += [device.step(waiting, running)[0] for _ in range(3)]
    # prefill 4; two decode steps over 4 + 1 and 4 + 2 context tokens; then the later one alone
    assert seconds == [4.0, 2.5, 3.0, 4.0] and later.generated == 1 and not running and not waiting


def test_output_lengths_vary_and_are_the_same_for_the_same_seed_and_chart() -> None:
    many = [Chart(id=f"chart-{i}", text="x") for i in range(2000)]
    config = SimulatedAcceleratorConfig(output_tokens_mean=200, output_tokens_sigma=0.5)
    lengths = [config.output_tokens(chart) for chart in many]
    assert lengths == [SimulatedAcceleratorConfig(output_tokens_mean=200).output_tokens(chart) for chart in many]
    assert lengths != [config.model_copy(update={"seed": 1}).output_tokens(chart) for chart in many]
    assert statistics.fmean(lengths) == pytest.approx(200, rel=0.05) and len(set(lengths)) > 100
    assert max(lengths) > 4 * min(lengths)  # a batch waits for its longest answer
    assert config.output_tokens(many[7]) == config.output_tokens(many[7].model_copy(update={"text": "other"}))  # by id
    capped = config.model_copy(update={"output_tokens_max": 150})
    assert max(capped.output_tokens(chart) for chart in many) == 150
    fixed = config.model_copy(update={"output_tokens_sigma": 0.0})
    assert {fixed.output_tokens(chart) for chart in many} == {200}


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
    assert [e.output_tokens for e in got] == [wrapper.config.output_tokens(c) for c in dev]
    assert len({e.output_tokens for e in got}) > 10 and wrapper.calls == 1
    assert wrapper.busy_s == pytest.approx(wrapper.config.device_seconds(dev))  # the thread runs the model's steps
    wrapper.close()


def test_device_time_is_the_step_models_whatever_the_calls(slept: list[float]) -> None:
    three = oracle_wrapper(output_tokens_mean=3)
    # one chart of 40 chars = 10 prompt tokens, 3 output tokens: a prefill step, then two decode steps over 11, 12 tokens
    [one] = three.extract([Chart(id="c", text="x" * 40)])
    assert (one.input_tokens, one.output_tokens) == (10, 3) and 0 <= one.latency_s
    assert three.busy_s == pytest.approx((0.01 + 10 / 1000) + (0.01 + 11e-5) + (0.01 + 12e-5)) and three.device.steps == 3
    three.close()
    extractor = oracle_wrapper()
    five = charts(400, 400, 400, 400, 400)  # 100 prompt tokens each; 2 at a time; 64 tokens a step: chunked prefill
    extractor.extract(five)
    extractor.extract([])  # no charts: no call
    assert extractor.busy_s == pytest.approx(extractor.config.device_seconds(five)) and extractor.calls == 1
    assert extractor.config.prompt_tokens(Chart(id="c", text="x" * 9)) == 3  # a started token counts
    extractor.close()


def test_the_wait_sleeps_and_leaves_the_gil_free() -> None:
    extractor = oracle_wrapper(step_fixed_s=0.5, output_tokens_mean=1)
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
    extractor.close()


def test_a_chart_submitted_while_another_decodes_joins_the_next_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """Continuous batching: the second chart's decode overlaps the first's, so the device takes fewer steps than two
    calls one after the other, and both come back from collect."""
    extractor = oracle_wrapper(output_tokens_mean=20)
    first, second = charts(40, 40)
    steps, decoding, submitted = [], threading.Event(), threading.Event()

    def step(seconds: float) -> None:  # nothing is slept; the second step waits until the second chart is sent
        steps.append(seconds)
        if len(steps) == 2:  # the first chart's prefill step, then its first decode step
            decoding.set()
            wait_event(submitted, 60, "the second chart's submission")

    monkeypatch.setattr(simulated.time, "sleep", step)
    extractor.submit([first])
    wait_event(decoding, 60, "the first chart decoding on the device")
    extractor.submit([second])
    submitted.set()
    got, deadline = [], time.monotonic() + 60
    while len(got) < 2 and time.monotonic() < deadline:
        got += extractor.collect(wait_s=1.0)
    assert sorted(e.chart_id for e in got) == ["c0", "c1"]
    assert extractor.device.steps == 2 + 20  # the second chart's prefill shared the third step; no step of its own
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
    assert {(e.input_tokens, e.output_tokens) for e in got} == {(10, 10)}
    assert extractor.busy_s == pytest.approx(extractor.config.device_seconds(charts(40, 40, 40))) and extractor.calls == 1
    extractor.wrapped.extract = lambda batch: []  # a wrapped extractor that loses charts fails them too, loudly
    assert all("0 extractions for 2 charts" in e.error for e in extractor.extract(charts(4, 4)))
    extractor.close()


def test_wrapped_settings_override_the_wrapped_options_defaults(slept: list[float]) -> None:
    from harness.contracts import GoldCode

    extractor = oracle_wrapper(wrapped={"confidence": 0.7})
    [got] = extractor.extract([Chart(id="c", text="x", gold=[GoldCode(code="I10")])])
    assert [(f.code, f.confidence) for f in got.findings] == [("I10", 0.7)]
    assert extractor.model_id == "simulated:oracle" and not isinstance(extractor, LearnsFromCharts)
    extractor.close()
    with pytest.raises(ValidationError, match="no_such_field"):
        oracle_wrapper(wrapped={"no_such_field": 1})  # the wrapped extractor's own config rejects it


def test_set_step_fields_replace_the_presets_and_the_run_records_the_model_in_use() -> None:
    config = SimulatedAcceleratorConfig(preset="hf_generate_h200", step_fixed_s=0.002)
    assert config.device_model() == DeviceModel(**{**HF_GENERATE_H200.__dict__, "step_fixed_s": 0.002})
    params = SimulatedAcceleratorExtractor({"name": "simulated_accelerator", "wraps": "oracle", "train_split": None,
                                            "preset": "hf_generate_h200", "step_fixed_s": 0.002}).run_params()
    assert params["preset"] == "hf_generate_h200" and params["step_fixed_s"] == 0.002 and params["batching"] == "static"
    assert params["weights_read_s"] == HF_GENERATE_H200.weights_read_s and "simulated" in params["device"]


@pytest.mark.parametrize(("config", "message"), [
    ({"wraps": "simulated_accelerator"}, "cannot wrap itself"),
    ({"wraps": "no_such_extractor"}, "unknown extractor 'no_such_extractor'"),
    ({"wrapped": {"name": "oracle"}}, "set wraps"),
    ({"wrapped": {"train_split": "dev"}}, "set train_split"),
    ({"max_num_seqs": 0}, "max_num_seqs"),
    ({"step_fixed_s": -1}, "step_fixed_s"),
    ({"prefill_tokens_per_s": float("inf")}, "prefill_tokens_per_s"),
    ({"preset": "a100"}, "preset"),
    ({"output_tokens_mean": 0}, "output_tokens_mean"),
    ({"max_num_seqs": 64, "max_num_batched_tokens": 32}, "max_num_batched_tokens .32. must be at least max_num_seqs"),
    ({"call_overhead_s": 0.05}, "call_overhead_s"),  # no cost per admission: a new chart joins the next step
    ({"decode_tokens_per_s": 30.0}, "decode_tokens_per_s"),  # no constant rate: a step's time follows its batch
])
def test_bad_configs_are_refused_naming_the_field(config: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SimulatedAcceleratorConfig.model_validate({"name": "simulated_accelerator", **config})


def test_its_option_is_the_models_defaults_and_never_the_default_extractor() -> None:
    from harness.config import CONF_DIR, config_option

    option = config_option("extractor", "simulated_accelerator")
    assert SimulatedAcceleratorConfig.model_validate(option) == SimulatedAcceleratorConfig()
    assert "simulated" not in (CONF_DIR / "config.yaml").read_text(encoding="utf-8")
