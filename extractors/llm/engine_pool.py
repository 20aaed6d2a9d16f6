"""One loaded vLLM engine per process, shared by every job that needs the same one.

The jobs of a Hydra sweep (basic launcher) run one after another in one process; starting an engine
takes 25-90 s on CPU and minutes for a large model on a GPU. So the engine outlives the job that
started it: ``acquire(key, start, stop)`` returns the loaded engine when ``key`` (every setting that
changes the engine) matches, and otherwise stops the loaded one first and starts a new one: one slot,
since one device holds one model. ``release`` ends a job's hold and leaves the engine loaded for the
next job; ``shutdown`` stops it now (also run at interpreter exit). Sampling settings are per request
and never part of the key.

Every start is counted (``starts()``, reported in the run's params) and logged at INFO.
"""

from __future__ import annotations

import atexit
import gc
import logging
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

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


def acquire(key: Hashable, start: Callable[[], Any], stop: Callable[[Any], None]) -> Any:
    """The engine for ``key``: the loaded one when its key matches, else a new one (the loaded one is stopped first).

    ``start()`` builds the engine; ``stop(engine)`` releases what it holds beyond this process's memory
    (worker processes, device memory). Each ``acquire`` is one hold, ended by ``release``.
    """
    global _loaded, _starts, _atexit_registered
    with _lock:
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


def starts() -> int:
    """Engines started in this process so far."""
    return _starts


def loaded_key() -> Hashable | None:
    """The key of the loaded engine, or None when none is loaded."""
    with _lock:
        return None if _loaded is None else _loaded.key
