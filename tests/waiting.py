"""Waiting in tests for something to happen, never for a fixed time.

Inside this process, wait on the event itself (a ``threading.Event`` the code under test or a fake sets, a
``Thread.join``) with :func:`wait_event`. :func:`wait_for` polls a condition, and is only for what offers no
event to wait on: another process's output, a file it writes, its exit. Both raise ``TimeoutError`` naming
what they waited for; the timeout only stops a broken test from hanging, nothing asserts on time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

POLL_S = 0.05
"""Pause between two checks of a polled condition (how soon a change is seen, not a wait for it)."""


def wait_event(event: threading.Event, timeout: float, what: str) -> None:
    """Block until ``event`` is set; ``TimeoutError`` naming ``what`` if it is not within ``timeout`` seconds."""
    if not event.wait(timeout):
        raise TimeoutError(f"waited {timeout:g} s for {what}")


def wait_for(condition: Callable[[], T], timeout: float, what: str, detail: Callable[[], str] | None = None,
             every: float = POLL_S) -> T:
    """Check ``condition()`` every ``every`` seconds until it returns a true value, and return that value;
    ``TimeoutError`` naming ``what`` (and ``detail()``, e.g. a log tail, when given) if it does not within ``timeout``
    seconds."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:g} s for {what}" + (f"\n{detail()}" if detail else ""))
        time.sleep(every)
    return value
