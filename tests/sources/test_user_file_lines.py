"""User chart files line by line: where a problem is reported, and what ``dataset.on_bad_line`` does with it.

The bad-input corpus (``tests/bad_inputs``) holds one case per kind of bad line; these tests pin what a case
cannot: the skipped-line records themselves, the first problem winning, reading on after an over-long line, Parquet
rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.config import DatasetConfig
from harness.sources import DataError, SkippedLine, load_split

GOOD = {"id": "c1", "text": "Assessment: essential hypertension.", "meta": {"split": "dev"},
        "gold": [{"code": "i10", "evidence": [{"start": 12, "end": 34}]}]}
SECRET = "Patient Zed Quux, seen for a rash"


def good(chart_id: str) -> str:
    return json.dumps({**GOOD, "id": chart_id})


def write(path: Path, lines: list[str | bytes]) -> Path:
    path.write_bytes(b"".join(line if isinstance(line, bytes) else f"{line}\n".encode() for line in lines))
    return path


def config(path: Path, **fields) -> DatasetConfig:
    return DatasetConfig(name="jsonl", path=str(path), **fields)


def test_stop_names_the_first_bad_line_and_its_field(tmp_path: Path) -> None:
    path = write(tmp_path / "charts.jsonl", [good("c1"), json.dumps({"id": "c2", "text": SECRET, "meta": SECRET}),
                                             json.dumps({"id": "c3"})])
    with pytest.raises(DataError) as raised:
        load_split(config(path))
    assert str(raised.value) == (f"{path}:2: meta: expected a JSON object or a string holding one, "
                                 "found a string that is not JSON")


def test_skip_returns_each_skipped_line_with_where_and_why(tmp_path: Path) -> None:
    huge = '{"id": "c4", "text": "x", "meta": {"n": ' + "7" * 5001 + "}}"
    deep = '{"id": "c5", "text": "x", "meta": ' + "[" * 100_000 + "]" * 100_000 + "}"
    path = write(tmp_path / "charts.jsonl", [
        good("c1"),
        json.dumps({"id": "c2", "text": SECRET, "meta": SECRET}),
        b'{"id": "c3", "text": "caf\xe9"}\n',
        huge,
        deep,
        json.dumps({"id": "c6", "text": SECRET, "gold": [{"code": "I10", "evidence": [{"start": 0, "end": 999}]}]}),
        good("c1"),
        good("c7"),
    ])
    loaded = load_split(config(path, on_bad_line="skip"))
    assert [c.id for c in loaded.charts] == ["c1", "c7"]
    assert loaded.skipped == [
        SkippedLine(where=f"{path}:2", problem="meta: expected a JSON object or a string holding one, found a string that is "
                                               "not JSON"),
        SkippedLine(where=f"{path}:3", problem="not valid UTF-8 (byte 26 of the line: invalid continuation byte)"),
        SkippedLine(where=f"{path}:4", problem="malformed JSON (a number longer than 4300 digits)"),
        SkippedLine(where=f"{path}:5", problem="malformed JSON (nested deeper than 64 levels)"),
        SkippedLine(where=f"{path}:6", problem="gold[0].evidence[0]: 0-999 falls outside the text (33 characters)"),
        SkippedLine(where=f"{path}:7", problem=f"id 'c1' repeats the chart at {path}:1"),
    ]
    assert not any(word in str(line) for line in loaded.skipped for word in ("Zed", "Quux", "rash"))


def test_reading_goes_on_after_an_over_long_line(tmp_path: Path) -> None:
    long_line = json.dumps({**GOOD, "id": "c2", "text": "x" * 10_000})
    path = write(tmp_path / "charts.jsonl", [good("c1"), long_line, good("c3"), long_line.encode()])  # last: no newline
    loaded = load_split(config(path, on_bad_line="skip", max_line_bytes=1000))
    assert [c.id for c in loaded.charts] == ["c1", "c3"]
    assert [(s.where, s.problem) for s in loaded.skipped] == [
        (f"{path}:{n}", "line longer than dataset.max_line_bytes (1000 bytes)") for n in (2, 4)]
    exact = write(tmp_path / "exact.jsonl", [good("c1")])  # a line of exactly the limit is accepted
    assert len(load_split(config(exact, max_line_bytes=len(good("c1")))).charts) == 1


def test_line_endings_bom_and_blank_lines_are_not_charts(tmp_path: Path) -> None:
    path = write(tmp_path / "charts.jsonl", [b"\xef\xbb\xbf" + good("c1").encode() + b"\r\n", "", "  \t", good("c2") + "\r",
                                             good("c3").encode()])
    loaded = load_split(config(path))
    assert [c.id for c in loaded.charts] == ["c1", "c2", "c3"] and loaded.skipped == []
    assert loaded.charts[0].gold[0].code == "I10"


def test_line_numbers_count_blank_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "charts.jsonl", [good("c1"), "", "", "[1, 2]"])
    with pytest.raises(DataError, match=rf"^{path}:4: expected a JSON object \(one chart per line\), found an array$"):
        load_split(config(path))


def test_a_text_separator_inside_a_string_does_not_split_the_line(tmp_path: Path) -> None:
    text = "Line one\u2028line two\x0cpage two"  # str.splitlines() would cut here; JSONL lines end at \n only
    path = write(tmp_path / "charts.jsonl", [json.dumps({"id": "c1", "text": text}, ensure_ascii=False)])
    assert load_split(config(path)).charts[0].text == text


def test_parquet_rows_are_counted_from_zero_and_nulls_are_absent_fields(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "charts.parquet"
    rows = [{**GOOD, "meta": json.dumps(GOOD["meta"])}, {"id": "c2", "text": "x"}, {"id": "c3", "text": "y", "meta": "[1]"}]
    pq.write_table(pa.Table.from_pylist(rows), path)  # row 1 has null gold and meta columns
    loaded = load_split(DatasetConfig(name="parquet", path=str(path), on_bad_line="skip"))
    assert [(c.id, c.gold == [], c.meta) for c in loaded.charts] == [("c1", False, {"split": "dev"}), ("c2", True, {})]
    assert loaded.skipped == [SkippedLine(where=f"{path} row 2", problem="meta: expected a JSON object or a string holding "
                                                                         "one, found a string holding an array")]


def test_a_truncated_parquet_file_is_one_clear_error_under_either_policy(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "charts.parquet"
    pq.write_table(pa.Table.from_pylist([GOOD]), path)
    path.write_bytes(path.read_bytes()[:-20])
    for policy in ("stop", "skip"):
        with pytest.raises(DataError, match=rf"^{path}: not a readable Parquet file \(at its start: "):
            load_split(DatasetConfig(name="parquet", path=str(path), on_bad_line=policy))


def test_a_file_that_is_not_a_regular_file_is_refused_unread(tmp_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "charts.jsonl")  # reading would block until someone writes
    with pytest.raises(DataError, match="is not a regular file"):
        load_split(config(tmp_path / "charts.jsonl"))
