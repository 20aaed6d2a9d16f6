"""Faults injected for real, for tests that a failure leaves no damage behind."""

from __future__ import annotations

import resource
import signal
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def disk_full_after(limit_bytes: int) -> Iterator[None]:
    """Within the block, writing past ``limit_bytes`` into any file of this process fails (EFBIG), as on a full disk.

    The file-size limit (RLIMIT_FSIZE) with SIGXFSZ ignored: the write returns an error instead of the kernel
    ending the process. Bytes below the limit do reach the file, so a writer that fails leaves a cut-off file
    unless it cleans up. Pipes and sockets are not files: test output still flows.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
