"""Chart file readers: every format gives the same charts, ``dataset.format`` picks the reader (the suffix only when it
is unset), CSV records are numbered by the line they start on, and ``dataset.columns`` maps a file's own names."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from harness.config import DatasetConfig
from harness.registry import READERS
from harness.sources import DataError, SkippedLine, load_split
from harness.sources.readers import accepted_files

TEXT = "Assessment: essential hypertension."
CHARTS = [
    {"id": "c1", "text": TEXT, "gold": [{"code": "I10", "evidence": [{"start": 12, "end": 34}]}], "meta": {"split": "dev"}},
    {"id": "c2", "language": "es", "text": "Asma.", "meta": {"split": "dev", "ward": 3}},
    {"id": "c3", "text": "Train chart.", "meta": {"split": "train"}},
]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as file:
        csv.writer(file).writerows(rows)
    return path


def as_rows(records: list[dict], columns: list[str]) -> list[list[str]]:
    """``records`` as CSV rows under ``columns``: nested values as JSON text, absent ones as empty cells."""
    cell = {list: json.dumps, dict: json.dumps, str: str}
    return [columns] + [[cell[type(r[c])](r[c]) if c in r else "" for c in columns] for r in records]


def test_every_format_gives_the_same_charts(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = ["id", "language", "text", "gold", "meta"]
    files = {
        "jsonl": write_jsonl(tmp_path / "charts.jsonl", CHARTS),
        "csv": write_csv(tmp_path / "charts.csv", as_rows(CHARTS, columns)),
        "parquet": tmp_path / "charts.parquet",
    }
    rows = [{column: record.get(column) for column in columns} | {"meta": json.dumps(record["meta"])} for record in CHARTS]
    pq.write_table(pa.Table.from_pylist(rows), files["parquet"])  # a null cell is an absent field
    loaded = {name: load_split(DatasetConfig(name=name, format=name, path=str(path))).charts for name, path in files.items()}
    assert [chart.id for chart in loaded["jsonl"]] == ["c1", "c2"]
    assert loaded["csv"] == loaded["jsonl"] == loaded["parquet"]


def test_csv_records_are_numbered_by_the_line_they_start_on(tmp_path: Path) -> None:
    path = tmp_path / "charts.csv"
    path.write_bytes(
        b"id,text,meta\n"
        b'c1,"Line one\nline two: hypertension.","{""split"": ""dev""}"\n'  # lines 2-3
        b"c2,too,many,cells\n"                                                # line 4
        b"c3,caf\xe9,\n"                                                      # line 5: Latin-1, not UTF-8
        b"\n"                                                                 # line 6: blank
        b',,\n'                                                               # line 7: no cell filled, blank too
        b'c4,"' + b"x" * 200 + b'",\n'                                         # line 8: a cell over the limit
        b'c5,Fine.,"{""split"": ""dev""}"\n'                                  # line 9
    )
    config = DatasetConfig(name="csv", path=str(path), max_line_bytes=100, on_bad_line="skip")
    loaded = load_split(config)
    assert [chart.id for chart in loaded.charts] == ["c1", "c5"]
    assert loaded.charts[0].text == "Line one\nline two: hypertension."
    assert loaded.skipped == [
        SkippedLine(where=f"{path}:4", problem="4 cells, but the header row names 3 columns"),
        SkippedLine(where=f"{path}:5", problem="not valid UTF-8"),
        SkippedLine(where=f"{path}:8", problem="a cell longer than dataset.max_line_bytes (100 characters)"),
    ]
    with pytest.raises(DataError, match=rf"^{path}:4: 4 cells, but the header row names 3 columns$"):
        load_split(config.model_copy(update={"on_bad_line": "stop"}))


def test_a_csv_header_that_names_a_column_twice_is_an_error(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "charts.csv", [["id", "text", "id"], ["c1", TEXT, "c2"]])
    with pytest.raises(DataError, match=rf"^{path}:1: the header row names column 'id' twice$"):
        load_split(DatasetConfig(name="csv", path=str(path)))


def test_the_format_picks_the_reader_and_the_suffix_only_when_it_is_unset(tmp_path: Path) -> None:
    text_file = write_jsonl(tmp_path / "charts.txt", CHARTS)
    assert len(load_split(DatasetConfig(name="jsonl", format="jsonl", path=str(text_file))).charts) == 2
    with pytest.raises(DataError) as raised:
        load_split(DatasetConfig(name="jsonl", path=str(text_file)))
    assert str(raised.value) == f"chart file {text_file}: expected {accepted_files()} (or set dataset.format)"
    csv_file = write_jsonl(tmp_path / "charts.csv", CHARTS)
    with pytest.raises(DataError) as raised:
        load_split(DatasetConfig(name="jsonl", format="jsonl", path=str(csv_file)))
    assert str(raised.value) == (f"chart file {csv_file} is a .csv file, but dataset.format is 'jsonl' "
                                 "(format 'csv' reads .csv files)")


def test_the_accepted_files_are_every_readers_suffixes() -> None:
    listed = accepted_files()
    for name in READERS.names():
        for suffix in READERS.resolve(name).suffixes:
            assert f" {suffix}" in listed
    assert listed.startswith("a .") and listed.endswith(" file")


def test_columns_map_a_files_own_names_to_chart_fields(tmp_path: Path) -> None:
    rows = [["encounter", "note", "codes"], ["e1", TEXT, json.dumps(CHARTS[0]["gold"])]]
    path = write_csv(tmp_path / "notes.csv", rows)
    mapped = DatasetConfig(name="csv", path=str(path), columns={"id": "encounter", "text": "note", "gold": "codes"})
    [chart] = load_split(mapped).charts
    assert (chart.id, chart.text, [g.code for g in chart.gold]) == ("e1", TEXT, ["I10"])
    clash = write_csv(tmp_path / "clash.csv", [["id", "note", "text"], ["e1", TEXT, TEXT]])
    with pytest.raises(DataError, match=r"clash\.csv:2: text: given twice, by column 'note' and by column 'text'"):
        load_split(DatasetConfig(name="csv", path=str(clash), columns={"text": "note"}))
    with pytest.raises(ValidationError, match=r"body: not a chart field \(id, language, text, pages, gold, meta\)"):
        DatasetConfig(name="csv", columns={"body": "note"})


def test_nested_fields_given_as_text_must_hold_their_json_type(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "charts.csv", [["id", "text", "gold"], ["c1", TEXT, "{}"], ["c2", TEXT, "not json"]])
    loaded = load_split(DatasetConfig(name="csv", path=str(path), on_bad_line="skip"), purpose="learn")
    assert [line.problem for line in loaded.skipped] == [
        "gold: expected a JSON array or a string holding one, found a string holding an object",
        "gold: expected a JSON array or a string holding one, found a string that is not JSON",
    ]
