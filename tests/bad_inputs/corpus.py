"""The bad-input corpus: inputs a user may really give the harness, and what the ``harness`` command must do.

Each ``Case`` writes its chart file into a fresh folder and names the overrides that point a job at it. A runner
appends ``case.prepare(folder)`` to its own overrides (the case's come last, so they win), runs the real command and
checks the exit code, the message, the charts evaluated, the lines skipped and the review reasons. A chart file never
quotes patient text back: messages name file, line and field.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.sources.readers import accepted_files

Content = list[str | bytes]


@dataclass(frozen=True)
class Case:
    """One input and what the ``harness`` command must do with it."""

    kind: str
    """Unique short name of the case (the test id)."""
    lines: Callable[[Path], Content] | None
    """Builds the chart file's content in a folder (and may create image files or FIFOs there): a ``str`` is one
    line (a newline is added), ``bytes`` are written exactly as they are; None: the case writes no chart file."""
    overrides: list[str] = field(default_factory=list)
    """Hydra overrides; ``{folder}`` and ``{file}`` stand for the case's folder and its chart file (a value holding
    ``{split}`` is quoted: Hydra's grammar reads a bare brace as the start of a dictionary)."""
    exit_code: int = 0
    """Exit status of ``harness``: 0 the run went through, 2 a clear error (``HarnessError``)."""
    message: str = ""
    """Substring expected on stderr or stdout; "" for none."""
    charts_in: int = 0
    """Charts the run evaluates (0 when it stops)."""
    skipped: int = 0
    """Lines of the chart file the run skips and reports."""
    review_reasons: dict[str, int] = field(default_factory=dict)
    """Review reason kind -> charts expected to carry it (kinds not named are not checked)."""
    file: str = "charts.jsonl"
    """Where the chart file goes, relative to the folder."""

    def prepare(self, folder: Path) -> list[str]:
        """Write the chart file into ``folder``; the overrides with ``{folder}`` and ``{file}`` filled in."""
        path = folder / self.file
        if self.lines is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            content = self.lines(folder)
            path.write_bytes(b"".join(item if isinstance(item, bytes) else f"{item}\n".encode() for item in content))
        return [o.replace("{folder}", str(folder)).replace("{file}", str(path)) for o in self.overrides]


TEXT = "Assessment: essential hypertension."


def chart(chart_id: str = "c1", split: Any = "dev", **fields: Any) -> dict[str, Any]:
    """A valid chart (I10 with its evidence); ``split=None`` leaves ``meta.split`` out; ``fields`` replace or add keys."""
    record = {"id": chart_id, "text": TEXT, "gold": [{"code": "I10", "evidence": [{"start": 12, "end": 34}]}]}
    if split is not None:
        record["meta"] = {"split": split}
    return record | fields


def line(record: Any) -> str:
    return json.dumps(record)


def good(*ids: str) -> Content:
    return [line(chart(i)) for i in ids]


def with_image(image_path: str) -> Callable[[Path], Content]:
    """A chart whose one page is the image at ``image_path`` (as written in the file), after a good chart."""
    return lambda folder: [*good("c1"), line(chart("c2", pages=[{"index": 0, "offset": 0, "image_path": image_path}]))]


def fifo_image(folder: Path) -> Content:
    os.mkfifo(folder / "page.png")
    return with_image("page.png")(folder)


def oversize_image(folder: Path) -> Content:
    (folder / "page.png").write_bytes(b"\0" * 1000)
    return with_image("page.png")(folder)


def text_file_as_image(folder: Path) -> Content:
    (folder / "page.png").write_bytes(b"a referral letter, not an image\n")
    return [line(chart("c1", text="", gold=[], pages=[{"index": 0, "offset": 0, "image_path": "page.png"}]))]


def image_beside_data_folder(folder: Path) -> Content:
    (folder / "scans").mkdir()
    (folder / "scans" / "page.png").write_bytes(b"a referral letter, not an image\n")
    return [line(chart("c1", text="", gold=[], pages=[{"index": 0, "offset": 0, "image_path": "../scans/page.png"}]))]


def symlink_out(folder: Path) -> Content:
    (folder / "page.png").symlink_to("/etc/hostname")
    return with_image("page.png")(folder)


def parquet(rows: list[dict[str, Any]]) -> Callable[[Path], Content]:
    def build(folder: Path) -> Content:
        import io

        import pyarrow as pa
        import pyarrow.parquet as pq

        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_pylist(rows), buffer)
        return [buffer.getvalue()]

    return build


def jsonl(*extra: str) -> list[str]:
    return ["dataset=jsonl", "dataset.path={file}", *extra]


SKIP = "dataset.on_bad_line=skip"
DEEP = "[" * 100_000 + "]" * 100_000

LOADING_CASES: list[Case] = [
    # files that load
    Case("clean", lambda _: good("c1", "c2"), jsonl(), charts_in=2),
    Case("bom_at_file_start", lambda _: [b"\xef\xbb\xbf" + line(chart("c1")).encode() + b"\n", *good("c2")], jsonl(),
         charts_in=2),
    Case("crlf_line_endings", lambda _: [f"{line(chart(i))}\r\n".encode() for i in ("c1", "c2")], jsonl(), charts_in=2),
    Case("trailing_blank_lines", lambda _: [*good("c1", "c2"), "", "   ", ""], jsonl(), charts_in=2),
    Case("no_final_newline", lambda _: [f"{line(chart('c1'))}\n{line(chart('c2'))}".encode()], jsonl(), charts_in=2),
    Case("meta_as_json_string", lambda _: [*good("c1"), line(chart("c2", split=None, meta='{"split": "dev"}'))], jsonl(),
         charts_in=2),
    Case("charts_without_split_are_evaluated", lambda _: [line(chart("c1", split=None)), line(chart("c2", split=None))],
         jsonl(), charts_in=2),
    Case("unknown_split_is_reported", lambda _: [*good("c1", "c2"), line(chart("c3", split="validation")), *good("c4")],
         jsonl(), charts_in=3, skipped=1),
    Case("dev_only_file_learning_from_train",
         lambda _: good("c1", "c2"), jsonl("extractor.train_split=train"), charts_in=2),
    Case("one_file_per_split", lambda _: good("c1", "c2"), ["dataset=jsonl", "dataset.path='{folder}/charts_{split}.jsonl'"],
         charts_in=2, file="charts_dev.jsonl"),
    Case("unknown_gold_code_kept", lambda _: [*good("c1"), line(chart("c2", gold=[{"code": "Q99.99"}]))],
         jsonl("dataset.unknown_gold_codes=keep"), charts_in=2),
    Case("empty_text_goes_to_review", lambda _: [*good("c1"), line(chart("c2", text="", gold=[]))], jsonl(), charts_in=2,
         review_reasons={"empty_chart": 1}),
    Case("page_file_not_an_image", text_file_as_image, jsonl(), charts_in=1, review_reasons={"empty_chart": 1}),
    Case("image_outside_allowed", image_beside_data_folder, jsonl("dataset.allow_outside_paths=true"), charts_in=1,
         review_reasons={"empty_chart": 1}, file="data/charts.jsonl"),
    Case("parquet_with_meta_string", parquet([chart(i, split=None, meta='{"split": "dev"}') for i in ("c1", "c2")]),
         ["dataset=parquet", "dataset.path={file}"], charts_in=2, file="charts.parquet"),
    Case("bad_line_skipped", lambda _: [*good("c1"), '{"id": "c2", "text": ', *good("c3")], jsonl(SKIP), charts_in=2,
         skipped=1),
    Case("duplicate_id_skipped", lambda _: good("c1", "c1", "c2"), jsonl(SKIP), charts_in=2, skipped=1),
    Case("bad_image_skipped", with_image("/dev/zero"), jsonl(SKIP), charts_in=1, skipped=1),
    # lines that stop the run (dataset.on_bad_line=stop)
    Case("meta_string_not_json", lambda _: [*good("c1"), line(chart("c2", split=None, meta="seen in clinic"))], jsonl(),
         exit_code=2, message="charts.jsonl:2: meta: expected a JSON object or a string holding one"),
    Case("meta_not_an_object", lambda _: [*good("c1"), line(chart("c2", split=None, meta=["dev"]))], jsonl(),
         exit_code=2, message="charts.jsonl:2: meta: Input should be a valid dictionary"),
    Case("huge_integer", lambda _: [*good("c1"), '{"id": "c2", "text": "x", "meta": {"n": ' + "9" * 5001 + "}}"], jsonl(),
         exit_code=2, message="charts.jsonl:2: malformed JSON (a number longer than"),
    Case("deep_nesting", lambda _: [*good("c1"), '{"id": "c2", "text": "x", "meta": {"n": ' + DEEP + "}}"], jsonl(),
         exit_code=2, message="charts.jsonl:2: malformed JSON (nested deeper"),
    Case("invalid_utf8", lambda _: [*good("c1"), b'{"id": "c2", "text": "caf\xe9"}\n'], jsonl(),
         exit_code=2, message="charts.jsonl:2: not valid UTF-8"),
    Case("lone_surrogate", lambda _: [*good("c1"), '{"id": "c2", "text": "x\\ud800"}'], jsonl(),
         exit_code=2, message="charts.jsonl:2: text: holds an unpaired surrogate"),
    Case("malformed_json", lambda _: [*good("c1"), '{"id": "c2", "text": '], jsonl(),
         exit_code=2, message="charts.jsonl:2: malformed JSON"),
    Case("json_array_line", lambda _: [*good("c1"), line([chart("c2")])], jsonl(),
         exit_code=2, message="charts.jsonl:2: expected a JSON object (one chart per line), found an array"),
    Case("top_level_null", lambda _: [*good("c1"), "null"], jsonl(), exit_code=2,
         message="charts.jsonl:2: expected a JSON object (one chart per line), found null"),
    Case("nan", lambda _: [*good("c1"), '{"id": "c2", "text": "x", "meta": {"score": NaN}}'], jsonl(),
         exit_code=2, message="charts.jsonl:2: malformed JSON (NaN is not a JSON value)"),
    Case("infinite_number", lambda _: [*good("c1"), '{"id": "c2", "text": "x", "meta": {"score": 1e999}}'], jsonl(),
         exit_code=2, message="charts.jsonl:2: meta.score: inf is not a JSON number"),
    Case("very_long_line", lambda _: [*good("c1"), line(chart("c2", text="x" * 5000))], jsonl("dataset.max_line_bytes=1000"),
         exit_code=2, message="charts.jsonl:2: line longer than dataset.max_line_bytes"),
    Case("duplicate_id", lambda _: good("c1", "c1"), jsonl(), exit_code=2,
         message="charts.jsonl:2: id 'c1' repeats the chart at"),
    Case("empty_id", lambda _: [*good("c1"), line(chart(""))], jsonl(), exit_code=2, message="charts.jsonl:2: id: empty"),
    Case("text_not_a_string", lambda _: [*good("c1"), line(chart("c2", text=["a", "b"]))], jsonl(),
         exit_code=2, message="charts.jsonl:2: text: Input should be a valid string"),
    Case("extra_field", lambda _: [*good("c1"), line(chart("c2", colour="red"))], jsonl(),
         exit_code=2, message="charts.jsonl:2: colour: Extra inputs are not permitted"),
    Case("gold_code_malformed", lambda _: [*good("c1"), line(chart("c2", gold=[{"code": "not a code"}]))], jsonl(),
         exit_code=2, message="charts.jsonl:2: gold[0].code: malformed icd10cm code"),
    Case("gold_code_unknown", lambda _: [*good("c1"), line(chart("c2", gold=[{"code": "Q99.99"}]))], jsonl(),
         exit_code=2, message="charts.jsonl:2: gold[0].code: 'Q99.99' does not exist in icd10cm 2026"),
    Case("evidence_outside_text",
         lambda _: [*good("c1"), line(chart("c2", gold=[{"code": "I10", "evidence": [{"start": 12, "end": 400}]}]))], jsonl(),
         exit_code=2, message="charts.jsonl:2: gold[0].evidence[0]: 12-400 falls outside the text"),
    Case("evidence_end_before_start",
         lambda _: [*good("c1"), line(chart("c2", gold=[{"code": "I10", "evidence": [{"start": 20, "end": 12}]}]))], jsonl(),
         exit_code=2, message="charts.jsonl:2: gold[0].evidence[0]: span end 12 is before its start 20"),
    Case("page_offset_negative", lambda _: [*good("c1"), line(chart("c2", pages=[{"index": 0, "offset": -1, "text": TEXT}]))],
         jsonl(), exit_code=2, message="charts.jsonl:2: pages[0].offset: Input should be greater than or equal to 0"),
    Case("page_text_off_its_offset",
         lambda _: [*good("c1"), line(chart("c2", pages=[{"index": 0, "offset": 3, "text": TEXT}]))], jsonl(),
         exit_code=2, message="page 0 text does not match the chart text at offset 3"),
    Case("split_contradicts_path", lambda _: [*good("c1"), line(chart("c2", split="train"))],
         ["dataset=jsonl", "dataset.path='{folder}/charts_{split}.jsonl'"], exit_code=2,
         message="charts_dev.jsonl:2: meta.split 'train' of chart 'c2', but dataset.path names this file for split 'dev'",
         file="charts_dev.jsonl"),
    # page images the harness must not open
    Case("image_dev_zero", with_image("/dev/zero"), jsonl(), exit_code=2,
         message="charts.jsonl:2: pages[0].image_path: /dev/zero is outside the chart file's folder"),
    Case("image_etc_passwd", with_image("/etc/passwd"), jsonl(), exit_code=2,
         message="charts.jsonl:2: pages[0].image_path: /etc/passwd is outside the chart file's folder"),
    Case("image_parent_folders", with_image("../../.."), jsonl(), exit_code=2, message="is outside the chart file's folder"),
    Case("image_symlink_out", symlink_out, jsonl(), exit_code=2, message="/etc/hostname is outside the chart file's folder"),
    Case("image_dev_zero_allowed", with_image("/dev/zero"), jsonl("dataset.allow_outside_paths=true"), exit_code=2,
         message="/dev/zero is not a regular file"),
    Case("image_fifo", fifo_image, jsonl(), exit_code=2, message="page.png is not a regular file (a device, pipe or socket)"),
    Case("image_oversize", oversize_image, jsonl("dataset.max_image_bytes=100"), exit_code=2,
         message="page.png is 1000 bytes, more than dataset.max_image_bytes (100)"),
    Case("image_missing", with_image("scans/nowhere.png"), jsonl(), exit_code=2, message="nowhere.png does not exist"),
    Case("image_is_a_folder", with_image("."), jsonl(), exit_code=2, message="is a folder, not an image file"),
    # files and splits that give no charts
    Case("path_is_a_folder", lambda _: good("c1"), ["dataset=jsonl", "dataset.path={folder}"], exit_code=2,
         message=f"is a folder: expected {accepted_files()} (or a path containing {{split}})"),
    Case("file_missing", None, ["dataset=jsonl", "dataset.path={folder}/nowhere.jsonl"], exit_code=2,
         message="nowhere.jsonl does not exist"),
    Case("wrong_suffix", lambda _: good("c1"), jsonl("dataset.format=null"), exit_code=2,
         message=f"charts.txt: expected {accepted_files()} (or set dataset.format)", file="charts.txt"),
    Case("empty_file", lambda _: [], jsonl(), exit_code=2, message="split 'dev': no charts in"),
    Case("empty_split", lambda _: [line(chart("c1", split="train")), line(chart("c2", split="train"))], jsonl(), exit_code=2,
         message="found 2 of split 'train'"),
    Case("every_line_skipped", lambda _: ["null", "[]"], jsonl(SKIP), exit_code=2, message="2 lines skipped"),
    Case("parquet_broken", lambda _: [b"PAR1 this is not a parquet file"], ["dataset=parquet", "dataset.path={file}"],
         exit_code=2, message="not a readable Parquet file", file="charts.parquet"),
    Case("parquet_timestamp_in_meta", parquet([chart("c1"), chart("c2", split=None, meta={"seen": datetime(2025, 1, 1)})]),
         ["dataset=parquet", "dataset.path={file}"], exit_code=2,
         message="row 1: meta.seen: a datetime value, which JSON cannot hold", file="charts.parquet"),
]
"""Every way of loading a chart file this corpus knows (issue 16)."""

def _clean(folder: Path) -> list[Content]:
    return [line(chart("c1", text="Congestive heart failure and hypertension.", gold=[])),
            line(chart("c2", text="Asthma.", gold=[]))]


def _with_pack(folder: Path) -> list[Content]:
    pack = Path(__file__).resolve().parents[2] / "coders" / "packs" / "icd10cm_2026_v1.yaml"
    (folder / "icd10cm_2026_v1.yaml").write_bytes(pack.read_bytes())
    return _clean(folder)


def _with_corrupt_cache(folder: Path) -> list[Content]:
    (folder / "cache" / "extractions").mkdir(parents=True)
    (folder / "cache" / "extractions" / "extractions.sqlite").write_bytes(os.urandom(4096))
    return _clean(folder)


AT_FILE = "dataset.path={file}"

FAULT_CASES: list[Case] = [
    Case("tracking_uri_bogus", _clean, [AT_FILE, "tracking.enabled=true", "tracking.uri=bogus://x"], 2, "tracking store"),
    Case("seed_not_a_number", _clean, [AT_FILE, "seed=abc"], 2, "seed"),
    Case("batch_size_zero", _clean, [AT_FILE, "pipeline.batch_size=0"], 2, "pipeline.batch_size"),
    Case("queue_size_negative", _clean, [AT_FILE, "pipeline.queue_size=-1"], 2, "pipeline.queue_size"),
    Case("rules_as_a_path", _with_pack, [AT_FILE, "rules={folder}/icd10cm_2026_v1.yaml"], 0, "", charts_in=2),
    Case("rules_path_missing", _clean, [AT_FILE, "rules={folder}/no_such_pack.yaml"], 2, "no_such_pack"),
    Case("unknown_dataset", _clean, [AT_FILE, "dataset.name=nope"], 2, "nope"),
    Case("corrupt_extraction_cache", _with_corrupt_cache, [AT_FILE, "extraction_cache=true"], 0, "corrupt", charts_in=2),
    Case("unlabelled_charts_untrained", _clean, [AT_FILE], 0, "no gold codes: accuracy not measured", charts_in=2,
         review_reasons={"unestimated_confidence": 2}),
    Case("train_split_is_the_evaluated_split", lambda folder: [line(chart("c1", split="dev", text="Asthma.",
                                                                          gold=[{"code": "J45.909"}]))],
         [AT_FILE, "extractor.train_split=dev"], 2, "1 of the 1 evaluated charts are also charts the extractor"),
    Case("calibration_without_labels", _clean, [AT_FILE, "calibration=isotonic", "calibration.split=train"], 2,
         "calibration needs labelled charts"),
]
"""Faults and config errors around a clean chart file."""

CASES: list[Case] = [*LOADING_CASES, *FAULT_CASES]
"""The whole corpus: loading cases, then faults and config errors."""
