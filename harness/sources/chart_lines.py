"""The lines of a JSONL chart file, or the rows of a Parquet one, each with where it is, before anything parses them.

A JSONL line comes back as raw bytes, cut just past ``max_line_bytes`` so that one runaway line cannot fill memory
(``chart_record`` then reports it too long). Only a file that cannot be read at all is an error here.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count
from pathlib import Path
from typing import Any

from harness.errors import DataError

_BOM = b"\xef\xbb\xbf"
_DRAIN_CHUNK = 1 << 20


def chart_lines(path: Path, max_line_bytes: int) -> Iterator[tuple[str, bytes | dict[str, Any]]]:
    """``(where, content)`` for every non-blank JSONL line (bytes) or Parquet row (a dict of its non-null columns)."""
    if path.suffix == ".parquet":
        yield from _parquet_rows(path)
    else:
        yield from _jsonl_lines(path, max_line_bytes)


def _jsonl_lines(path: Path, max_line_bytes: int) -> Iterator[tuple[str, bytes]]:
    try:
        with path.open("rb") as file:
            for lineno in count(1):
                line = file.readline(max_line_bytes + 1)
                if not line:
                    return
                if lineno == 1:
                    line = line.removeprefix(_BOM)  # editors on Windows write one; it is not part of the first chart
                if not line.endswith(b"\n") and len(line) > max_line_bytes:
                    _drain_line(file)
                line = line.removesuffix(b"\n").removesuffix(b"\r")
                if line.strip():
                    yield f"{path}:{lineno}", line
    except OSError as error:
        raise DataError(f"{path}: cannot be read ({error.strerror or type(error).__name__})") from None


def _drain_line(file: Any) -> None:
    """Read past the rest of an over-long line, a chunk at a time."""
    while (chunk := file.readline(_DRAIN_CHUNK)) and not chunk.endswith(b"\n"):
        pass


def _parquet_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    import pyarrow.parquet as pq

    index = 0
    try:
        for batch in pq.ParquetFile(path).iter_batches():
            for row in batch.to_pylist():
                # a column a row does not fill reads as null: the field is absent, as a key left out of a JSON line
                yield f"{path} row {index}", {key: value for key, value in row.items() if value is not None}
                index += 1
    except Exception as error:  # pyarrow raises several types for a broken file
        at = f"after row {index - 1}" if index else "at its start"
        reason = str(error).partition("\n")[0] or type(error).__name__
        raise DataError(f"{path}: not a readable Parquet file ({at}: {reason})") from None
