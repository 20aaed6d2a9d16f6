"""System metrics: real CPU and memory samples here; the GPU summary over NVML-shaped readings."""

from __future__ import annotations

import threading

from waiting import wait_event

from harness.tracking import system_metrics
from harness.tracking.system_metrics import SystemSampler


class _SignallingSampler(SystemSampler):
    """The sampler, setting ``two_rounds`` once its own thread has taken two sampling rounds."""

    def __init__(self, interval_s: float) -> None:
        super().__init__(interval_s)
        self.two_rounds = threading.Event()

    def _sample(self, step: int) -> None:
        super()._sample(step)
        if step == 1:
            self.two_rounds.set()


def test_samples_cpu_and_memory_in_numbered_steps() -> None:
    with _SignallingSampler(interval_s=0.01) as sampler:
        wait_event(sampler.two_rounds, 60, "the sampler thread's second round")
    names = {s.name for s in sampler.samples}
    assert {"system/cpu_utilization_percentage", "system/system_memory_usage_megabytes"} <= names
    steps = sorted({s.step for s in sampler.samples})
    assert len(steps) >= 3 and steps == list(range(len(steps)))  # one step per sampling round, the last one included
    summary = sampler.summary()
    assert summary["system_memory_peak_mb"] > 0


def _nvml_gpu_count() -> int:
    """GPUs the NVIDIA driver reports on this machine, asked independently of the sampler (0 without driver or library)."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no library, no driver: no GPU to sample
        return 0
    try:
        return pynvml.nvmlDeviceGetCount()
    finally:
        pynvml.nvmlShutdown()


def test_gpu_figures_match_what_the_driver_reports() -> None:
    """On a CPU runner no GPU figures; on a GPU runner one set of samples per GPU the driver sees."""
    expected = _nvml_gpu_count()
    with SystemSampler(interval_s=60) as sampler:
        pass
    summary = sampler.summary()
    assert summary["gpu_count"] == float(expected)
    assert ("gpu_memory_peak_mb" in summary) == ("gpu_utilization_mean_pct" in summary) == (expected > 0)
    gpus = {s.name.split("_")[1] for s in sampler.samples if s.name.startswith("system/gpu_")}
    assert gpus == {str(i) for i in range(expected)}
    for i in range(expected):
        assert f"system/gpu_{i}_memory_usage_megabytes" in {s.name for s in sampler.samples}


def test_a_run_shorter_than_the_interval_still_gets_one_sample() -> None:
    with SystemSampler(interval_s=60) as sampler:
        pass
    assert {s.step for s in sampler.samples} == {0}


class _TwoGpus:
    """Two GPUs whose readings change per call (NVML answers are machine-specific; this fixes them)."""

    handles = [0, 1]

    def __init__(self) -> None:
        self.calls = 0

    def read(self) -> dict[str, float]:
        self.calls += 1
        return {"gpu_0_memory_usage_megabytes": 1000.0 * self.calls, "gpu_0_utilization_percentage": 50.0,
                "gpu_1_memory_usage_megabytes": 10.0, "gpu_1_utilization_percentage": 100.0}

    def close(self) -> None:
        pass


def test_gpu_summary_is_peak_memory_and_mean_utilization(monkeypatch) -> None:
    monkeypatch.setattr(system_metrics, "_Gpus", _TwoGpus)
    with SystemSampler(interval_s=60) as sampler:
        pass
    sampler._sample(1)  # a second round: gpu 0 at 2000 MB
    summary = sampler.summary()
    assert summary["gpu_count"] == 2.0 and summary["gpu_memory_peak_mb"] == 2000.0
    assert summary["gpu_utilization_mean_pct"] == 75.0
    assert "system/gpu_1_utilization_percentage" in {s.name for s in sampler.samples}
