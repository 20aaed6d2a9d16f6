"""Paths a user names outside the chart files: files read whole (a rule pack, a gate config) and places written to.

A file read whole must be a regular file no larger than :data:`MAX_READ_WHOLE_BYTES`: ``/dev/zero`` would be read until
memory runs out, a FIFO blocks until something writes to it, and a folder cannot be read at all. A folder or file
written to is checked before the work starts, so a read-only folder, a path under a file or a place under ``/proc``
costs one error line (exit 2), not a traceback after the work. Chart files have their own checks
(``harness.sources.user_files``), since they are streamed and may be large.

A bottom layer: standard library and ``harness.errors`` only.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from harness.errors import HarnessError

MAX_READ_WHOLE_BYTES = 4 * 1024 * 1024
"""Largest file read whole into memory (a rule pack, a gate config): 4 MiB. The bundled rule packs are under 4 KB, so
this leaves room for packs listing thousands of codes and still refuses a file that is not one."""


class UnreadableFileError(HarnessError, ValueError):
    """A named file that is not a regular file, is larger than the cap, or cannot be read as UTF-8 text."""

    def __init__(self, path: Path, problem: str):
        self.path = path
        self.problem = problem
        """What is wrong, without the path (callers that name the file themselves use this)."""
        super().__init__(f"{path}: {problem}")


class UnwritableError(HarnessError):
    """A folder or file the harness must write that cannot be created or written; the message names it."""


def read_text_whole(path: str | Path, limit: int = MAX_READ_WHOLE_BYTES) -> str:
    """The UTF-8 text of the regular file ``path``, at most ``limit`` bytes; ``UnreadableFileError`` otherwise."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO opens at once instead of waiting for a writer
    except OSError as error:
        raise UnreadableFileError(path, f"cannot read the file: {error.strerror or error}") from None
    try:
        found = os.fstat(fd)  # the file opened, not whatever the path names by now
        problem = _not_whole_file(found.st_mode, found.st_size, limit)
        if problem is None:
            with open(fd, "rb", closefd=False) as handle:
                data = handle.read(limit + 1)
    finally:
        os.close(fd)
    if problem is None and len(data) > limit:  # it grew after the check
        problem = _not_whole_file(stat.S_IFREG, len(data), limit)
    if problem is not None:
        raise UnreadableFileError(path, problem)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UnreadableFileError(path, f"not UTF-8 text (byte {error.start})") from None


def _not_whole_file(mode: int, size: int, limit: int) -> str | None:
    """Why a file of ``mode`` and ``size`` is not read whole, or None."""
    if stat.S_ISDIR(mode):
        return "a folder, not a file"
    if not stat.S_ISREG(mode):
        return "not a regular file (a device, pipe or socket)"
    if size > limit:
        return f"{size} bytes, more than the {limit} a file read whole may hold (harness.user_paths.MAX_READ_WHOLE_BYTES)"
    return None


def writable_folder(path: str | Path, what: str) -> Path:
    """Create the folder ``path`` (and its parents) if missing and check a file can be written in it; ``what`` names it
    in the ``UnwritableError`` otherwise (a path under a file, a read-only file system, no permission)."""
    path = Path(path)
    existing = next((folder for folder in (path, *path.parents) if folder.exists()), None)
    if existing is not None and not existing.is_dir():
        raise UnwritableError(f"{what} {path} cannot be created: {existing} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):  # permissions alone do not tell: root ignores them, read-only mounts do not
            pass
    except OSError as error:
        raise UnwritableError(f"{what} {path} cannot be created or written: {_reason(error, path)}") from None
    return path


def writable_file(path: str | Path, what: str) -> Path:
    """Check the file ``path`` can be written (its folder created if missing), before the work that produces it;
    ``UnwritableError`` naming it (as ``what``) otherwise, a folder at ``path`` included."""
    path = Path(path)
    if path.is_dir():
        raise UnwritableError(f"{what} {path} is a folder: give a file name")
    writable_folder(path.parent, f"{what} {path}: its folder")
    return path


def _reason(error: OSError, path: Path) -> str:
    """``error``'s reason, with the folder it names when that is one above ``path`` (the one that could not be made)."""
    reason = error.strerror or str(error)
    named = Path(str(error.filename)) if error.filename is not None else path
    return f"{reason} ({named})" if named != path and path.is_relative_to(named) else reason
