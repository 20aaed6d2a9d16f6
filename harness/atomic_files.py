"""Write a file whole or not at all: a temporary name beside the target, renamed into place once complete.

A full disk, an error or a kill mid-write then leaves the earlier file (or none) where the target was, never
a cut-off one that a report, the gate or an audit check would read as whole. The temporary file lives in
the target's folder because ``os.replace`` is atomic only within one file system.

A bottom layer: standard library only.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_write(path: str | Path, mode: str = "w", **open_kwargs: Any) -> Iterator[IO[Any]]:
    """Yield a file open on a temporary name beside ``path``; on success it replaces ``path``, on any error it is removed.

    ``mode`` is ``"w"`` (text, UTF-8 unless ``encoding`` is given) or ``"wb"``; ``open_kwargs`` (``encoding``,
    ``newline``) go to ``open``. Creates the parent folder. The data is flushed to disk before the rename, so
    a crash right after it cannot leave an empty file under the final name.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write writes whole files, with mode 'w' or 'wb', not {mode!r} ({path})")
    if mode == "w":
        open_kwargs.setdefault("encoding", "utf-8")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Hidden and random, so readers globbing the folder skip it and two writers never share one.
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    out = open(temporary, mode.replace("w", "x"), **open_kwargs)  # closed below, before the rename
    try:
        with out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` whole or not at all (see ``atomic_write``); returns ``path``."""
    with atomic_write(path, "w", encoding=encoding) as out:
        out.write(text)
    return Path(path)
