"""From a reader's record (a file's own keys or columns) to the fields of a ``Chart``, the same for every format.

``dataset.columns`` names the column that holds a chart field when the file calls it something else
(``dataset.columns.text=note``); other columns keep their names. A structured field (``pages``, ``gold``, ``meta``)
may come as JSON text, which is how Parquet writers and CSV files hold nested values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, get_origin

from harness.contracts import Chart
from harness.sources.json_text import json_type, parse_json
from harness.sources.loaded import LineProblem

STRUCTURED: dict[str, type] = {name: origin for name, info in Chart.model_fields.items()
                               if (origin := get_origin(info.annotation)) in (list, dict)}
"""Chart fields whose value is an array or an object (``pages``, ``gold``, ``meta``), by their JSON type."""


def chart_fields(record: Mapping[str, Any], columns: Mapping[str, str]) -> dict[str, Any]:
    """``record`` with each column renamed to the chart field it holds and structured fields given as text parsed."""
    field_of = {column: field for field, column in columns.items()}
    fields: dict[str, Any] = {}
    column_of: dict[str, str] = {}
    for column, value in record.items():
        field = field_of.get(column, column)
        if field in fields:
            raise LineProblem(f"{field}: given twice, by column {column_of[field]!r} and by column {column!r} "
                              "(dataset.columns)")
        column_of[field] = column
        fields[field] = _parsed(field, value) if field in STRUCTURED and isinstance(value, str) else value
    return fields


def _parsed(field: str, text: str) -> Any:
    wanted = "a JSON array" if STRUCTURED[field] is list else "a JSON object"
    expected = f"{field}: expected {wanted} or a string holding one, found a string"
    try:
        value = parse_json(text)
    except LineProblem:
        raise LineProblem(f"{expected} that is not JSON") from None
    if not isinstance(value, STRUCTURED[field]):
        raise LineProblem(f"{expected} holding {json_type(value)}")
    return value
