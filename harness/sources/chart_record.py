"""One record of a chart file, its fields named as a ``Chart``'s, as a ``Chart``: values, schema, id and gold codes,
in that order.

Nothing here lets a parser's own exception out: every problem is a ``LineProblem`` that names the field, and none
quotes the chart's text (patient text must not reach logs); a value it does quote (a gold code) is a ``FileValue``, which
the redacted form of the problem leaves out.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import ValidationError

from coders.codeset import canonical_code, code_set, is_well_formed
from harness.config import DatasetConfig
from harness.contracts import Chart
from harness.sources.json_text import MAX_DEPTH, json_type
from harness.sources.loaded import FileValue, LineProblem, quoted


def chart_from_record(record: dict[str, Any], config: DatasetConfig) -> Chart:
    """The chart a record's fields (``field_mapping.chart_fields``) describe, with canonical gold codes of ``code_systems``.

    Its id is NFC-normalised (``Chart``), so the composed and decomposed forms of one id are one chart.
    """
    _check_values(record)
    try:
        chart = Chart.model_validate(record)
    except ValidationError as error:
        raise LineProblem(_validation_problem(error)) from None
    if not chart.id.strip():
        raise LineProblem("id: empty")
    if len(chart.id) > config.max_id_chars:
        raise LineProblem(f"id: {len(chart.id)} characters, more than dataset.max_id_chars ({config.max_id_chars})")
    _canonical_gold(chart, config)
    chart.gold = [g for g in chart.gold if g.system in config.code_systems]
    return chart


def _check_values(record: dict[str, Any]) -> None:
    """Every value is one JSON can hold, its strings are real text, and it nests no deeper than ``MAX_DEPTH``.

    JSON allows ``\\ud800`` escapes that decode to no character, and Parquet holds timestamps and bytes: either
    would fail later, when a stage writes the chart out. Walked with a stack, not recursion, for the same reason.
    """
    stack: list[tuple[str, Any, int]] = [(str(key), value, 1) for key, value in reversed(record.items())]
    while stack:
        field, value, depth = stack.pop()
        if isinstance(value, str):
            if not value.isascii() and not _encodable(value):
                raise LineProblem(f"{field}: holds an unpaired surrogate (a \\ud800-\\udfff escape), which is not text")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise LineProblem(f"{field}: ", FileValue(value), " is not a JSON number")
        elif isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                raise LineProblem(f"{field}: nested deeper than {MAX_DEPTH} levels")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            children = [(f"{field}.{key}" if isinstance(value, dict) else f"{field}[{key}]", child, depth + 1)
                        for key, child in items]
            stack.extend(reversed(children))
        elif not (value is None or isinstance(value, int)):  # bool is an int
            raise LineProblem(f"{field}: {json_type(value)} value, which JSON cannot hold")


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _validation_problem(error: ValidationError, shown: int = 3) -> str:
    problems = [": ".join(filter(None, (_field(e["loc"]), e["msg"].removeprefix("Value error, ")))) for e in error.errors()]
    more = f"; and {len(problems) - shown} more" if len(problems) > shown else ""
    return "; ".join(problems[:shown]) + more


def _field(loc: tuple[int | str, ...]) -> str:
    """``gold[0].evidence[1].end`` from pydantic's ``("gold", 0, "evidence", 1, "end")``; "" for the whole chart
    (whose own checks name the page)."""
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else f".{part}" if name else str(part)
    return name


def _canonical_gold(chart: Chart, config: DatasetConfig) -> None:
    """Canonicalise each gold code in place, and check its shape, its existence (if asked) and its evidence offsets."""
    for i, gold in enumerate(chart.gold):
        raw = gold.code
        gold.code = canonical_code(raw, gold.system)
        if not is_well_formed(gold.code, gold.system):
            raise LineProblem(f"gold[{i}].code: malformed {gold.system} code ", quoted(raw))
        if config.unknown_gold_codes == "error" and gold.code not in code_set(gold.system, config.code_set_year):
            raise LineProblem(f"gold[{i}].code: ", quoted(raw), f" does not exist in {gold.system} {config.code_set_year} "
                              "(dataset.unknown_gold_codes=keep keeps it)")
        for j, span in enumerate(gold.evidence):
            if span.end > len(chart.text):
                raise LineProblem(f"gold[{i}].evidence[{j}]: {span.start}-{span.end} falls outside the text "
                                  f"({len(chart.text)} characters)")
            if span.text and chart.text[span.start:span.end] != span.text:  # no text given: the offsets say it all
                raise LineProblem(f"gold[{i}].evidence[{j}].text: is not the chart text at {span.start}-{span.end} "
                                  "(leave text out, or give the characters the offsets select)")
