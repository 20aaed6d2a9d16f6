"""User charts in JSONL or Parquet, one ``Chart`` per line/row (the schema of ``harness.contracts.Chart``).

Either ``path`` contains ``{split}`` (one file per split), or one file holds every
split and each chart's ``meta.split`` selects it (charts without ``meta.split`` belong
to every split).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from coders.codeset import canonical_code, code_set, is_well_formed
from harness.config import DatasetConfig
from harness.contracts import Chart
from harness.errors import DataError
from harness.sources.chart_dataset import cached_charts, files_digest


def _records(path: Path) -> Iterator[tuple[str, Any]]:
    """(location, raw record) pairs; the location names the file and line or row."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as error:  # pyarrow raises several types for a broken file
            raise DataError(f"{path}: not a readable Parquet file ({error})") from None
        for index, row in enumerate(table.to_pylist()):
            yield f"{path} row {index}", row
        return
    try:
        lines = path.read_bytes().decode("utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not valid UTF-8 (byte {error.start}: {error.reason})") from None
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield f"{path}:{lineno}", json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(f"{path}:{lineno}: malformed JSON ({error.msg} at column {error.colno})") from None


def _validation_message(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'chart'}: {e['msg']}" for e in error.errors())


def parse_chart(where: str, record: Any, config: DatasetConfig) -> Chart:
    """Validate one raw record as a ``Chart``, canonicalise its codes and check them against the code set."""
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected a JSON object, found {type(record).__name__}")
    if isinstance(record.get("meta"), str):  # Parquet writers often store meta as a JSON string
        record = {**record, "meta": json.loads(record["meta"])}
    try:
        chart = Chart.model_validate(record)
    except ValidationError as error:
        raise DataError(f"{where}: {_validation_message(error)}") from None
    for gold in chart.gold:
        raw = gold.code
        gold.code = canonical_code(raw, gold.system)
        if not is_well_formed(gold.code, gold.system):
            raise DataError(f"{where} (chart {chart.id!r}): malformed {gold.system} code {raw!r}")
        if config.unknown_gold_codes == "error" and gold.code not in code_set(gold.system, config.code_set_year):
            raise DataError(f"{where} (chart {chart.id!r}): code {raw!r} does not exist in {gold.system} {config.code_set_year}")
        for span in gold.evidence:
            if span.end > len(chart.text):
                raise DataError(f"{where} (chart {chart.id!r}): evidence {span.start}-{span.end} of {raw} falls outside the text")
    chart.gold = [g for g in chart.gold if g.system in config.code_systems]
    return chart


def _produce(path: str, split: str, config_json: str, fingerprint: str) -> Iterator[Chart]:
    del fingerprint  # only part of the cache key
    config = DatasetConfig.model_validate_json(config_json)
    seen: dict[str, str] = {}
    for where, record in _records(Path(path)):
        chart = parse_chart(where, record, config)
        for page in chart.pages:  # page images named relative to the data file
            if page.image_path and not Path(page.image_path).is_absolute():
                page.image_path = str(Path(path).parent / page.image_path)
        if chart.id in seen:
            raise DataError(f"{where}: chart id {chart.id!r} repeats the chart at {seen[chart.id]}")
        seen[chart.id] = where
        if chart.meta.get("split", split) == split:
            yield chart


def load_chart_file(path: Path, config: DatasetConfig) -> list[Chart]:
    """Charts of ``config.split`` from one JSONL or Parquet file, parsed once and cached."""
    if not path.is_file():
        raise DataError(f"chart file {path} does not exist")
    if path.suffix not in {".jsonl", ".parquet"}:
        raise DataError(f"chart file {path}: expected a .jsonl or .parquet file")
    return cached_charts(
        _produce,
        config.cache_dir,
        path=str(path.resolve()),
        split=config.split,
        config_json=config.model_dump_json(exclude={"limit", "cache_dir"}),
        fingerprint=files_digest([path]),
    )


def load_user_charts(config: DatasetConfig) -> list[Chart]:
    """Charts from ``dataset.path`` (JSONL or Parquet)."""
    if not config.path:
        raise DataError(f"dataset {config.name!r} needs dataset.path (a .jsonl or .parquet file; may contain {{split}})")
    return load_chart_file(Path(config.path.replace("{split}", config.split)).expanduser(), config)
