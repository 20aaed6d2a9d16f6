"""One loaded vLLM engine per process, shared by every job that needs the same one.

The jobs of a Hydra sweep (basic launcher) run one after another in one process; starting an engine
takes 25-90 s on CPU and minutes for a large model on a GPU. So the engine outlives the job that
started it: ``acquire(key, start, stop)`` returns the loaded engine when ``key`` (every setting that
changes the engine) matches, and otherwise stops the loaded one first and starts a new one: one slot,
since one device holds one model. ``release`` ends a job's hold and leaves the engine loaded for the
next job; ``shutdown`` stops it now (also run at interpreter exit). Sampling settings are per request
and never part of the key.

Every start is counted (``starts()``, reported in the run's params) and logged at INFO. An engine that died (a CUDA
error, out of memory in a long prefill) is dropped with ``discard``, so the next ``acquire`` starts a fresh one instead
of handing every later job the dead one. ``refuse_shared_device`` stops, before any engine starts, a sweep whose
parallel launcher would put several GPU engines on one device.
"""

from __future__ import annotations

import atexit
import gc
import logging
import os
import threading
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass
class _Loaded:
    key: Hashable
    engine: Any
    stop: Callable[[Any], None]
    holders: int = 0


_lock = threading.RLock()
_loaded: _Loaded | None = None
_starts = 0
_atexit_registered = False


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, ..., 21st."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def acquire(key: Hashable, start: Callable[[], Any], stop: Callable[[Any], None],
            alive: Callable[[Any], bool] = lambda engine: True) -> Any:
    """The engine for ``key``: the loaded one when its key matches and ``alive(engine)``, else a new one (the loaded
    one is stopped first).

    ``start()`` builds the engine; ``stop(engine)`` releases what it holds beyond this process's memory
    (worker processes, device memory). Each ``acquire`` is one hold, ended by ``release``.
    """
    global _loaded, _starts, _atexit_registered
    with _lock:
        if _loaded is not None and _loaded.key == key and not alive(_loaded.engine):
            discard(_loaded.engine, "it died after an earlier job")
        if _loaded is not None and _loaded.key == key:
            _loaded.holders += 1
            log.info("reusing the loaded vllm engine (started %s in this process)", ordinal(_starts))
            return _loaded.engine
        if _loaded is not None:
            if _loaded.holders:
                log.warning("stopping the loaded vllm engine while %d extractor(s) still hold it: "
                            "another engine's settings were asked for", _loaded.holders)
            log.info("vllm engine settings changed: stopping the loaded engine first")
            shutdown()
        engine = start()
        _starts += 1
        _loaded = _Loaded(key=key, engine=engine, stop=stop, holders=1)
        if not _atexit_registered:
            atexit.register(shutdown)
            _atexit_registered = True
        log.info("vllm engine started (%s in this process)", ordinal(_starts))
        return engine


def release(engine: Any) -> None:
    """End one hold of ``engine``; it stays loaded for the next job (``shutdown`` stops it)."""
    with _lock:
        if _loaded is not None and _loaded.engine is engine and _loaded.holders:
            _loaded.holders -= 1


def shutdown() -> None:
    """Stop the loaded engine now, if any (worker processes ended, device memory freed); idempotent."""
    global _loaded
    with _lock:
        loaded, _loaded = _loaded, None
        if loaded is None:
            return
        try:
            loaded.stop(loaded.engine)
        finally:
            del loaded
            gc.collect()  # the engine's last references: its finalizers and device buffers go now
        log.info("vllm engine stopped")


def discard(engine: Any, reason: str) -> None:
    """Drop ``engine`` because it died (``reason``): stop what is left of it and free the slot, so the next ``acquire``
    starts a fresh engine; nothing when another engine is loaded by now."""
    global _loaded
    with _lock:
        if _loaded is None or _loaded.engine is not engine:
            return
        loaded, _loaded = _loaded, None
        log.warning("vllm engine failed (%s): dropped; the next use starts a fresh one", reason)
        try:
            loaded.stop(loaded.engine)
        except Exception as error:  # noqa: BLE001 - a dead engine may fail to stop cleanly; it is gone either way
            log.warning("stopping the failed vllm engine: %s: %s", type(error).__name__, error)
        finally:
            del loaded
            gc.collect()


def _parallel_jobs(launcher: Mapping[str, Any]) -> int:
    """How many jobs a Hydra launcher runs at once in one machine's processes (joblib's ``n_jobs``; 1 for the others)."""
    if "joblib" not in str(launcher.get("_target_", "")):
        return 1
    n_jobs = launcher.get("n_jobs")
    if not isinstance(n_jobs, int):  # unset: the launcher's default (-1, every CPU)
        n_jobs = -1
    if n_jobs >= 0:
        return max(1, n_jobs)
    return max(1, (os.cpu_count() or 1) + 1 + n_jobs)  # joblib's negative counts: -1 = every CPU


def torch_device(setting: str) -> str:
    """A ``device`` setting for torch: ``auto`` is CUDA when torch sees a GPU, else CPU; any other as given."""
    if setting != "auto":
        return setting
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def model_device(extractor: Mapping[str, Any]) -> str:
    """Where a model extractor (its config) runs: vLLM's platform for ``vllm``, the resolved ``device`` otherwise."""
    if extractor.get("name") == "vllm":
        from extractors.llm.vllm_config import engine_device

        return engine_device()
    return torch_device(str(extractor.get("device", "auto")))


def refuse_shared_device(extractor: Mapping[str, Any], launcher: Mapping[str, Any],
                         device_of: Callable[[Mapping[str, Any]], str] = model_device) -> None:
    """Raise ``ConfigError`` when ``launcher`` (``hydra.launcher``) would run several jobs at once in one machine's
    processes and ``extractor`` (its config) is a model engine on a GPU: every job would start its own engine on the
    same device (vLLM takes ``gpu_memory_utilization`` of it each) and all but one fail. ``device_of(extractor)``
    resolves where the engine runs (``cuda``, ``cpu``, ...); it is called only when the launcher runs jobs in parallel."""
    name = extractor.get("name")
    if name not in ("vllm", "transformers") or (n_jobs := _parallel_jobs(launcher)) <= 1:
        return
    if device_of(extractor).split(":")[0] != "cuda":
        return
    raise ConfigError(f"extractor={name} on a GPU with hydra/launcher=joblib n_jobs={launcher.get('n_jobs')}: {n_jobs} "
                      "jobs would each start an engine on the same device and all but one run out of memory; run the "
                      "sweep one job at a time (the basic launcher, which reuses one engine across jobs) or with "
                      "hydra.launcher.n_jobs=1, or one job per GPU (hydra/launcher=slurm_gpu)")


def starts() -> int:
    """Engines started in this process so far."""
    return _starts


def loaded_key() -> Hashable | None:
    """The key of the loaded engine, or None when none is loaded."""
    with _lock:
        return None if _loaded is None else _loaded.key
