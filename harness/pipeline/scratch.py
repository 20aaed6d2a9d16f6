"""A temporary folder that does not outlive the process that made it.

Rendered chart pages are patient data, so a run must not leave them in the temporary folder however it
ends: ``close`` removes the folder; so does interpreter exit when nobody closed it; SIGTERM and SIGINT
become a clean exit that removes it first (while the folder is open; the earlier handlers come back on
``close``). A SIGKILL cannot be caught: the folder's name carries its owner's pid
(``<prefix><pid>-XXXXXXXX``), and the next process that makes a folder with the same prefix removes the
folders of owners no longer alive (only this user's, only with that prefix, only in the temporary folder).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import stat
import tempfile
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from types import FrameType

log = logging.getLogger(__name__)

CLEAN_EXIT_SIGNALS = (signal.SIGTERM, signal.SIGINT)

Handler = Callable[[int, FrameType | None], object] | int | None


class ScratchFolder:
    """A fresh folder ``<tempdir>/<prefix><pid>-XXXXXXXX``, removed on every way out of the process."""

    def __init__(self, prefix: str):
        remove_stale(prefix)
        self.owner = os.getpid()
        self.path = Path(tempfile.mkdtemp(prefix=f"{prefix}{self.owner}-"))
        self._at_exit = weakref.finalize(self, _remove, self.path, self.owner)
        self._previous: dict[int, Handler] = {}
        if threading.current_thread() is threading.main_thread():  # Python takes signal handlers only there
            for signum in CLEAN_EXIT_SIGNALS:
                previous = signal.getsignal(signum)
                if previous in (signal.SIG_IGN, None):  # ignored on purpose (nohup, background jobs) or not Python's to replace
                    continue
                self._previous[signum] = previous
                signal.signal(signum, self._exit_cleanly)

    def close(self) -> None:
        """Remove the folder and give the signals back to the handlers they had (where nobody replaced ours since)."""
        self._at_exit()
        for signum, previous in self._previous.items():
            if signal.getsignal(signum) == self._exit_cleanly:
                signal.signal(signum, previous)
        self._previous = {}

    def _exit_cleanly(self, signum: int, frame: FrameType | None) -> None:
        previous = self._previous.get(signum, signal.SIG_DFL)
        if os.getpid() != self.owner:  # a forked child inherited the handler: the folder is its parent's
            _act_as(previous, signum, frame)
            return
        self._at_exit()
        if callable(previous):
            previous(signum, frame)  # e.g. Python's SIGINT handler: KeyboardInterrupt, as without us
        raise SystemExit(128 + signum)  # the shell's status for "ended by this signal"; finally blocks still run


def remove_stale(prefix: str) -> None:
    """Remove the folders ``<tempdir>/<prefix><pid>-*`` of this user whose owner process is gone."""
    owned = re.compile(rf"{re.escape(prefix)}(\d+)-")
    for folder in Path(tempfile.gettempdir()).glob(f"{prefix}*"):
        match = owned.match(folder.name)
        if not match:
            continue
        try:
            info = folder.lstat()
        except OSError:  # removed meanwhile
            continue
        if info.st_uid == os.getuid() and stat.S_ISDIR(info.st_mode) and not _alive(int(match[1])):
            shutil.rmtree(folder, ignore_errors=True)
            log.info("removed %s, left behind by process %s that ended without cleaning up", folder, match[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        pass
    return True


def _remove(path: Path, owner: int) -> None:
    if os.getpid() == owner:  # never from a forked child, whose parent still uses the folder
        shutil.rmtree(path, ignore_errors=True)


def _act_as(handler: Handler, signum: int, frame: FrameType | None) -> None:
    """What ``handler`` would have done with the signal."""
    if callable(handler):
        handler(signum, frame)
    elif handler == signal.SIG_DFL:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
