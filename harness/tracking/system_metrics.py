"""CPU, memory and GPU use sampled while the pipeline runs, for MLflow's system-metrics view.

A background thread samples every ``interval_s`` seconds: CPU and memory through psutil, and every
NVIDIA GPU through NVML (``nvidia-ml-py``) when a driver answers. Sample names follow MLflow's own
system metrics (``system/cpu_utilization_percentage``, ``system/gpu_0_memory_usage_megabytes``, ...)
so the MLflow UI charts them; they are logged as metric histories when the run is recorded, not
while it runs, so parallel jobs on one SQLite store never write at the same time. ``summary()`` gives
the run-level figures: peak memory and mean utilization.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sample:
    """One reading of one system metric."""

    name: str
    """MLflow metric name, ``system/...``."""
    value: float
    timestamp_ms: int
    step: int


class _Gpus:
    """NVML handles of the visible NVIDIA GPUs; empty without a driver or without ``nvidia-ml-py``."""

    def __init__(self) -> None:
        self.handles: list = []
        try:
            import pynvml

            pynvml.nvmlInit()
            self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
            self._nvml = pynvml
        except Exception as error:  # noqa: BLE001 - no driver, no library: CPU metrics only
            log.debug("system metrics: no NVIDIA GPU (%s)", error)

    def read(self) -> dict[str, float]:
        values: dict[str, float] = {}
        for i, handle in enumerate(self.handles):
            memory = self._nvml.nvmlDeviceGetMemoryInfo(handle)
            values[f"gpu_{i}_memory_usage_megabytes"] = memory.used / 1e6
            values[f"gpu_{i}_memory_usage_percentage"] = memory.used / memory.total * 100
            values[f"gpu_{i}_utilization_percentage"] = float(self._nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
        return values

    def close(self) -> None:
        if self.handles:
            self._nvml.nvmlShutdown()


class SystemSampler:
    """Context manager: samples system use in a background thread between enter and exit."""

    def __init__(self, interval_s: float = 2.0):
        self.interval_s = interval_s
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._gpus: _Gpus | None = None

    def __enter__(self) -> SystemSampler:
        import psutil

        psutil.cpu_percent()  # the first call only starts psutil's measuring interval
        self._gpus = _Gpus()
        self._thread = threading.Thread(target=self._loop, name="system-metrics", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()
        self._sample(len({s.step for s in self.samples}))  # a last reading covers runs shorter than the interval
        self._gpus.close()

    def _loop(self) -> None:
        step = 0
        while not self._stop.wait(self.interval_s):
            self._sample(step)
            step += 1

    def _sample(self, step: int) -> None:
        import psutil

        memory = psutil.virtual_memory()
        values = {
            "cpu_utilization_percentage": psutil.cpu_percent(),
            "system_memory_usage_megabytes": memory.used / 1e6,
            "system_memory_usage_percentage": memory.percent,
            **self._gpus.read(),
        }
        now = int(time.time() * 1000)
        self.samples.extend(Sample(f"system/{name}", float(value), now, step) for name, value in values.items())

    def summary(self) -> dict[str, float]:
        """Run-level figures: ``gpu_count``, peak system memory and, with GPUs, peak GPU memory and mean utilization."""
        def gpu(suffix: str) -> list[float]:
            return [s.value for s in self.samples if s.name.startswith("system/gpu_") and s.name.endswith(suffix)]

        system_memory = [s.value for s in self.samples if s.name == "system/system_memory_usage_megabytes"]
        summary = {"gpu_count": float(len(self._gpus.handles)) if self._gpus else 0.0,
                   "system_memory_peak_mb": max(system_memory, default=0.0)}
        if gpu("_memory_usage_megabytes"):
            summary["gpu_memory_peak_mb"] = max(gpu("_memory_usage_megabytes"))
            busy = gpu("_utilization_percentage")
            summary["gpu_utilization_mean_pct"] = sum(busy) / len(busy)
        return summary
