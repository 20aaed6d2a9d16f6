"""Stopping a job by signal: SIGINT (Ctrl-C) and SIGTERM raise :class:`Stopped` in the main thread for the block of
:func:`stop_signals`, so the job can mark its MLflow run KILLED and the command exit as a shell expects."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Stopped(BaseException):
    """SIGINT (Ctrl-C) or SIGTERM (a supervisor, SLURM) during a job. A ``BaseException``, so that no ``except
    Exception`` on its way out swallows it; ``harness run`` prints it as one line and exits 128 + the signal's number
    (130 for Ctrl-C, 143 for SIGTERM), as a shell reports a process the signal ended."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.outcome = "nothing recorded"
        """What became of the job's run (set as the job ends)."""

    @property
    def exit_status(self) -> int:
        """The process's exit status."""
        return 128 + self.signum

    def __str__(self) -> str:
        return f"stopped by {signal.Signals(self.signum).name}: {self.outcome}"


@contextmanager
def stop_signals() -> Iterator[None]:
    """Within the block SIGINT and SIGTERM raise :class:`Stopped` in this process's main thread, so the job can mark its
    run KILLED; the earlier handlers come back after it. Off the main thread (Python takes handlers only there), and for
    a signal ignored on purpose (nohup), nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    owner = os.getpid()
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}

    def stop(signum: int, frame: FrameType | None) -> None:
        if os.getpid() != owner:  # a forked worker inherited the handler: it ends as it would have without us
            handler = previous[signum]
            if callable(handler):
                handler(signum, frame)
                return
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        raise Stopped(signum)

    taken = [signum for signum, handler in previous.items() if handler not in (signal.SIG_IGN, None)]
    for signum in taken:
        signal.signal(signum, stop)
    try:
        yield
    finally:
        for signum in taken:
            if signal.getsignal(signum) == stop:
                signal.signal(signum, previous[signum])


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
