"""Parquet: one chart per row, columns named as the chart's fields (nested ones as structs, lists or JSON text)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from harness.config import DatasetConfig
from harness.errors import DataError
from harness.registry import READERS
from harness.sources.readers import Record


@READERS.register("parquet")
class ParquetReader:
    """Reads ``.parquet`` files, rows counted from 0 (``charts.parquet row 6``), a batch at a time."""

    suffixes = (".parquet",)

    def records(self, path: Path, config: DatasetConfig) -> Iterator[Record]:
        """Each row's non-null columns: a column a row does not fill is absent, as a key left out of a JSON line."""
        import pyarrow.parquet as pq

        index = 0
        try:
            for batch in pq.ParquetFile(path).iter_batches():
                for row in batch.to_pylist():
                    yield f"{path} row {index}", {key: value for key, value in row.items() if value is not None}
                    index += 1
        except Exception as error:  # pyarrow raises several types for a broken file
            at = f"after row {index - 1}" if index else "at its start"
            reason = str(error).partition("\n")[0] or type(error).__name__
            raise DataError(f"{path}: not a readable Parquet file ({at}: {reason})") from None
