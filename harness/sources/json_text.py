"""JSON text as chart files may hold it (a JSONL line, a Parquet or CSV cell): standard JSON only, and every failure a
``LineProblem`` that says what is wrong without quoting the text (patient text must not reach logs)."""

from __future__ import annotations

import json
import sys
from typing import Any

from harness.sources.loaded import LineProblem

MAX_DEPTH = 64
"""Deepest nesting of objects and arrays accepted (a chart needs four levels); later stages write charts back as
JSON from deep in their own stack, so a chart that only just parses could still fail there."""


def parse_json(text: str) -> Any:
    """The value ``text`` holds; NaN and Infinity, which Python's parser accepts, are not JSON and are refused."""
    try:
        return json.loads(text, parse_constant=_not_json)
    except json.JSONDecodeError as error:
        raise LineProblem(f"malformed JSON ({error.msg} at column {error.colno})") from None
    except RecursionError:
        raise LineProblem(f"malformed JSON (nested deeper than {MAX_DEPTH} levels)") from None
    except LineProblem:
        raise
    except ValueError:  # the only other one: an integer too long for Python to convert
        raise LineProblem(f"malformed JSON (a number longer than {sys.get_int_max_str_digits()} digits)") from None


def json_type(value: Any) -> str:
    """What ``value`` is in JSON's words (``an array``), for messages."""
    for kind, name in ((bool, "a boolean"), (int | float, "a number"), (str, "a string"), (list, "an array")):
        if isinstance(value, kind):
            return name
    if isinstance(value, dict):
        return "an object"
    return "null" if value is None else f"a {type(value).__name__}"


def _not_json(constant: str) -> Any:
    raise LineProblem(f"malformed JSON ({constant} is not a JSON value)")
