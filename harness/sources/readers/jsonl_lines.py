"""JSONL: one chart per line, a JSON object whose keys are the chart's fields.

A line is read as raw bytes, cut just past ``dataset.max_line_bytes`` so that one runaway line cannot fill memory; a
line that is too long, not UTF-8 or not a JSON object is a problem of that line alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count
from pathlib import Path
from typing import Any, BinaryIO

from harness.config import DatasetConfig
from harness.errors import DataError
from harness.registry import READERS
from harness.sources.json_text import json_type, parse_json
from harness.sources.loaded import LineProblem
from harness.sources.readers import Record

_BOM = b"\xef\xbb\xbf"
_DRAIN_CHUNK = 1 << 20


@READERS.register("jsonl")
class JsonlReader:
    """Reads ``.jsonl`` files, lines numbered from 1 (``charts.jsonl:7``)."""

    suffixes = (".jsonl",)

    def records(self, path: Path, config: DatasetConfig) -> Iterator[Record]:
        """Each non-blank line's object, or the problem that keeps it from being one."""
        for where, line in _lines(path, config.max_line_bytes):
            try:
                yield where, _record(line, config.max_line_bytes)
            except LineProblem as problem:
                yield where, problem


def _lines(path: Path, max_line_bytes: int) -> Iterator[tuple[str, bytes]]:
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


def _drain_line(file: BinaryIO) -> None:
    """Read past the rest of an over-long line, a chunk at a time."""
    while (chunk := file.readline(_DRAIN_CHUNK)) and not chunk.endswith(b"\n"):
        pass


def _record(line: bytes, max_line_bytes: int) -> dict[str, Any]:
    if len(line) > max_line_bytes:
        raise LineProblem(f"line longer than dataset.max_line_bytes ({max_line_bytes} bytes)")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as error:
        raise LineProblem(f"not valid UTF-8 (byte {error.start + 1} of the line: {error.reason})") from None
    record = parse_json(text)
    if not isinstance(record, dict):
        raise LineProblem(f"expected a JSON object (one chart per line), found {json_type(record)}")
    return record
