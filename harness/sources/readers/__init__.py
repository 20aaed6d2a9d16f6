"""Chart file readers, one module per format, registered by format in ``harness.registry.READERS``: the one table
from file format to reader. ``dataset.format`` names the reader; left unset (None), the file's suffix picks the reader
that claims it. Messages that list what is accepted are built from the table.

A reader turns a file into records, each ``(where, fields)`` with ``fields`` a dict of the file's own keys or columns,
and puts a ``LineProblem`` in place of a line it cannot turn into one; only a file that cannot be read at all is a
``DataError``. What follows is the same for every format: columns become chart fields
(``harness.sources.field_mapping``), then the fields are checked and become a chart (``harness.sources.chart_record``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Protocol

from harness.config import DatasetConfig
from harness.errors import DataError
from harness.registry import READERS
from harness.sources.loaded import LineProblem

Record = tuple[str, dict[str, Any] | LineProblem]
"""Where a record is (``charts.csv:7``, ``charts.parquet row 6``) and its fields, or why that line gives none."""


class ChartReader(Protocol):
    """What a reader registered in ``READERS`` provides (it is instantiated without arguments)."""

    suffixes: ClassVar[tuple[str, ...]]
    """File name suffixes of its format (``.jsonl``), by which it is picked when ``dataset.format`` is unset."""

    def records(self, path: Path, config: DatasetConfig) -> Iterator[Record]:
        """Every non-blank record of ``path`` in file order; a ``DataError`` only for a file that cannot be read."""
        ...


def reader_for(path: Path, config: DatasetConfig) -> ChartReader:
    """The reader of ``dataset.format``, or of the format that claims ``path``'s suffix when it is unset."""
    claimed_by = next((name for name, suffixes in suffix_table().items() if path.suffix in suffixes), None)
    if config.format is None:
        if claimed_by is None:
            raise DataError(f"chart file {path}: expected {accepted_files()} (or set dataset.format)")
        return READERS.resolve(claimed_by)()
    if claimed_by not in (None, config.format):
        raise DataError(f"chart file {path} is a {path.suffix} file, but dataset.format is {config.format!r} "
                        f"(format {claimed_by!r} reads {path.suffix} files)")
    return READERS.resolve(config.format)()


def suffix_table() -> dict[str, tuple[str, ...]]:
    """Each registered format and the suffixes its reader claims, built-in and plugin."""
    return {name: READERS.resolve(name).suffixes for name in READERS.names()}


def accepted_files() -> str:
    """``a .csv, .jsonl or .parquet file``: every suffix a reader claims, for messages."""
    suffixes = [suffix for claimed in suffix_table().values() for suffix in claimed]
    listed = ", ".join(suffixes[:-1]) + f" or {suffixes[-1]}" if len(suffixes) > 1 else "".join(suffixes)
    return f"a {listed} file"
