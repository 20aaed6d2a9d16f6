"""CSV: a header row naming the columns, then one chart per record; nested fields (``pages``, ``gold``, ``meta``) are
JSON text in their cells.

Records are numbered by the file line they start on (a quoted cell may span lines). An empty cell is an absent
field; a record whose cells are all empty is a blank line. Cells are read as UTF-8, and a record with bytes that are
not, with more or fewer cells than the header names, or with a cell longer than ``dataset.max_line_bytes``
characters is a problem of that record alone.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.config import DatasetConfig
from harness.errors import DataError
from harness.registry import READERS
from harness.sources.loaded import LineProblem
from harness.sources.readers import Record

_FIELD_LIMIT_ERROR = "field larger than field limit"
"""How the ``csv`` module words a cell over ``csv.field_size_limit``."""


@READERS.register("csv")
class CsvReader:
    """Reads ``.csv`` files (comma-separated, double-quoted), records numbered by line from 1 (``charts.csv:7``)."""

    suffixes = (".csv",)

    def records(self, path: Path, config: DatasetConfig) -> Iterator[Record]:
        """Each non-blank record's non-empty cells by column name, or the problem that keeps it from being one."""
        try:
            # undecodable bytes become lone surrogates, so that one bad record does not stop the file
            with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as file, \
                    _field_limit(config.max_line_bytes):
                rows = csv.reader(file, strict=True)
                header = _header(path, rows)
                while True:
                    where = f"{path}:{rows.line_num + 1}"
                    try:
                        row = next(rows)
                    except StopIteration:
                        return
                    except csv.Error as error:
                        yield where, _malformed(error, config.max_line_bytes)
                        continue
                    if any(row):
                        yield where, _fields(row, header)
        except OSError as error:
            raise DataError(f"{path}: cannot be read ({error.strerror or type(error).__name__})") from None


@contextmanager
def _field_limit(chars: int) -> Iterator[None]:
    """``csv.field_size_limit`` is process-wide: raise it for this file only."""
    previous = csv.field_size_limit(chars)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _header(path: Path, rows: Iterator[list[str]]) -> list[str]:
    try:
        header = next(rows, [])
    except csv.Error as error:
        raise DataError(f"{path}:1: the header row is not valid CSV ({error})") from None
    if not _is_text(header):
        raise DataError(f"{path}:1: the header row is not valid UTF-8")
    for index, name in enumerate(header):
        if not name:
            raise DataError(f"{path}:1: column {index + 1} of the header row has no name")
        if name in header[:index]:
            raise DataError(f"{path}:1: the header row names column {name!r} twice")
    return header


def _fields(row: list[str], header: list[str]) -> dict[str, str] | LineProblem:
    if len(row) != len(header):
        return LineProblem(f"{len(row)} cell{'' if len(row) == 1 else 's'}, but the header row names {len(header)} columns")
    if not _is_text(row):
        return LineProblem("not valid UTF-8")
    return {name: cell for name, cell in zip(header, row) if cell}


def _is_text(cells: list[str]) -> bool:
    try:
        "".join(cells).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _malformed(error: csv.Error, max_chars: int) -> LineProblem:
    if str(error).startswith(_FIELD_LIMIT_ERROR):
        return LineProblem(f"a cell longer than dataset.max_line_bytes ({max_chars} characters)")
    return LineProblem(f"malformed CSV ({error})")
