"""Chart sources: CodiEsp (real data), the bundled sample, user JSONL/Parquet, and their errors."""

from __future__ import annotations

import json
import shutil
import string
from pathlib import Path

import pytest

from harness.config import DatasetConfig
from harness.sources import DataError, dataset_digest, load_charts


def codiesp(data_dir: Path, name: str = "codiesp_es", split: str = "dev", **extra) -> DatasetConfig:
    return DatasetConfig(name=name, split=split, data_dir=str(data_dir), unknown_gold_codes="keep", **extra)


@pytest.mark.parametrize("split,n_charts", [("train", 500), ("dev", 250)])
def test_codiesp_es_offsets_reproduce_evidence(data_dir: Path, split: str, n_charts: int) -> None:
    charts = load_charts(codiesp(data_dir, split=split, code_systems=["icd10cm", "icd10pcs"]))
    assert len(charts) == n_charts
    x_rows = (data_dir / "codiesp" / split / f"{split}X.tsv").read_text().splitlines()
    texts = {c.id: c.text for c in charts}
    mismatches = []
    for row in x_rows:
        chart_id, _, _, reference, positions = row.split("\t")
        segments = [tuple(map(int, p.split())) for p in positions.split(";")]
        quoted = " ".join(texts[chart_id][s:e] for s, e in segments)
        if quoted != reference:
            mismatches.append((quoted, reference))
    # CodiEsp's X files quote the text exactly except for a few rows that differ by punctuation or a space at an end.
    assert len(mismatches) <= 4
    for quoted, reference in mismatches:
        assert quoted.strip(string.punctuation + " ") == reference.strip(string.punctuation + " ")
    assert sum(c.meta.get("evidence_text_mismatches", 0) for c in charts) == len(mismatches)
    for chart in charts:
        for gold in chart.gold:
            for span in gold.evidence:
                assert chart.text[span.start : span.end] == span.text
    # a discontinuous mention ("hígado ... esteatosis", positions "a b;c d") keeps its pieces together
    def pieces(positions: str) -> tuple[tuple[int, int], ...]:
        return tuple(sorted(tuple(map(int, p.split())) for p in positions.split(";")))

    expected = sorted((row.split("\t")[0], pieces(row.split("\t")[4])) for row in x_rows if ";" in row.split("\t")[4])
    loaded = sorted((chart.id, tuple((gold.evidence[k].start, gold.evidence[k].end) for k in parts))
                    for chart in charts for gold in chart.gold for parts in gold.discontinuous)
    assert len(expected) > 100 and loaded == expected


def test_codiesp_gold_matches_label_files(data_dir: Path) -> None:
    charts = load_charts(codiesp(data_dir, code_systems=["icd10cm", "icd10pcs"]))
    by_id = {c.id: c for c in charts}
    for suffix, system in (("D", "icd10cm"), ("P", "icd10pcs")):
        rows = [line.split("\t") for line in (data_dir / "codiesp" / "dev" / f"dev{suffix}.tsv").read_text().splitlines()]
        loaded = {(c.id, g.code) for c in charts for g in c.gold if g.system == system}
        assert len(loaded) == len({(i, c) for i, c in rows})
        chart_id, code = rows[0]
        assert any(g.code.replace(".", "") == code.upper().replace(".", "") for g in by_id[chart_id].gold)
    assert {g.code for g in by_id["S0004-06142005000900016-1"].gold} >= {"N28.89", "N39.0", "BT41ZZZ"}


def test_codiesp_en_has_codes_without_offsets(data_dir: Path) -> None:
    charts = load_charts(codiesp(data_dir, name="codiesp_en", limit=5))
    assert len(charts) == 5 and all(c.language == "en" for c in charts)
    assert all(c.gold and all(not g.evidence and g.system == "icd10cm" for g in c.gold) for c in charts)
    assert charts[0].text.isascii() or "the" in charts[0].text.lower()


def test_limit_and_digest_are_stable(data_dir: Path) -> None:
    first = load_charts(codiesp(data_dir, limit=7))
    again = load_charts(codiesp(data_dir, limit=7))
    assert [c.id for c in first] == sorted(c.id for c in first) and len(first) == 7
    assert dataset_digest(first) == dataset_digest(again)
    assert dataset_digest(first) != dataset_digest(first[:6])


def _copy_split(data_dir: Path, tmp_path: Path, n: int = 3) -> Path:
    """A small writable copy of CodiEsp dev (first ``n`` cases) to break on purpose."""
    source = data_dir / "codiesp" / "dev"
    target = tmp_path / "codiesp" / "dev"
    (target / "text_files").mkdir(parents=True)
    ids = sorted(p.stem for p in (source / "text_files").glob("*.txt"))[:n]
    for chart_id in ids:
        shutil.copy(source / "text_files" / f"{chart_id}.txt", target / "text_files")
    for suffix in "DPX":
        lines = [line for line in (source / f"dev{suffix}.tsv").read_text().splitlines() if line.split("\t")[0] in ids]
        (target / f"dev{suffix}.tsv").write_text("\n".join(lines) + "\n")
    return target


def test_missing_text_file_named_in_label_file(data_dir: Path, tmp_path: Path) -> None:
    target = _copy_split(data_dir, tmp_path)
    with open(target / "devD.tsv", "a") as f:
        f.write("S9999-ghost-1\tn39.0\n")
    with pytest.raises(DataError, match=r"names case 'S9999-ghost-1' but .*S9999-ghost-1\.txt does not exist"):
        load_charts(codiesp(tmp_path))


def test_non_utf8_file_is_named(data_dir: Path, tmp_path: Path) -> None:
    target = _copy_split(data_dir, tmp_path)
    victim = sorted((target / "text_files").glob("*.txt"))[0]
    victim.write_bytes("fiebre alta".encode("latin-1") + b"\xe9\xff")
    with pytest.raises(DataError, match=rf"{victim.name}: not valid UTF-8"):
        load_charts(codiesp(tmp_path))


def test_label_row_with_unknown_code(data_dir: Path, tmp_path: Path) -> None:
    target = _copy_split(data_dir, tmp_path)
    first_id = sorted(p.stem for p in (target / "text_files").glob("*.txt"))[0]
    with open(target / "devD.tsv", "a") as f:
        f.write(f"{first_id}\tzz-9\n")
    with pytest.raises(DataError, match=r"devD\.tsv:\d+: malformed icd10cm code 'zz-9'"):
        load_charts(codiesp(tmp_path))
    lines = (target / "devD.tsv").read_text().splitlines()
    (target / "devD.tsv").write_text("\n".join(lines[:-1] + [f"{first_id}\tu99.9"]) + "\n")
    strict = codiesp(tmp_path).model_copy(update={"unknown_gold_codes": "error"})
    with pytest.raises(DataError, match=r"code 'u99.9' does not exist in icd10cm 2026"):
        load_charts(strict)


def test_empty_chart_loads_and_is_kept(data_dir: Path, tmp_path: Path) -> None:
    target = _copy_split(data_dir, tmp_path)
    (target / "text_files" / "S0000-empty-1.txt").write_text("")
    charts = load_charts(codiesp(tmp_path))
    assert len(charts) == 4 and any(c.id == "S0000-empty-1" and c.text == "" for c in charts)


def _jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


GOOD = {"id": "c1", "text": "Assessment: essential hypertension.",
        "gold": [{"code": "i10", "evidence": [{"start": 12, "end": 34}]}]}


def test_user_jsonl_loads_and_canonicalises(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "charts.jsonl", [GOOD, {"id": "c2", "text": "", "meta": {"split": "dev"}}])
    charts = load_charts(DatasetConfig(name="jsonl", path=str(path)))
    assert [c.id for c in charts] == ["c1", "c2"]
    assert charts[0].gold[0].code == "I10"


def test_user_parquet_loads(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "charts.parquet"
    pq.write_table(pa.Table.from_pylist([{**GOOD, "meta": json.dumps({"split": "dev"})}]), path)
    charts = load_charts(DatasetConfig(name="parquet", path=str(path)))
    assert charts[0].gold[0].code == "I10" and charts[0].meta == {"split": "dev"}


@pytest.mark.parametrize(
    "row,message",
    [
        ('{"id": "c9", "text": ', r"charts\.jsonl:2: malformed JSON"),
        ({"id": "c9"}, r"charts\.jsonl:2: text: Field required"),
        ({"id": "c9", "text": "x", "gold": [{"code": "Q99.99"}]},
         r"charts\.jsonl:2: gold\[0\]\.code: 'Q99.99' does not exist in icd10cm 2026"),
        ({"id": "c9", "text": "x", "gold": [{"code": "not a code"}]},
         r"charts\.jsonl:2: gold\[0\]\.code: malformed icd10cm code"),
        ({"id": "c9", "text": "x", "colour": "red"}, r"charts\.jsonl:2: colour: Extra inputs are not permitted"),
        ({"id": "c1", "text": "again"}, r"charts\.jsonl:2: id 'c1' repeats the chart at .*charts\.jsonl:1"),
        ([1, 2], r"charts\.jsonl:2: expected a JSON object \(one chart per line\), found an array"),
    ],
)
def test_malformed_user_rows_name_the_line(tmp_path: Path, row, message: str) -> None:
    path = _jsonl(tmp_path / "charts.jsonl", [GOOD, row])
    with pytest.raises(DataError, match=message):
        load_charts(DatasetConfig(name="jsonl", path=str(path)))


def test_missing_user_file_and_missing_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DataError, match="chart file .*nowhere.jsonl does not exist"):
        load_charts(DatasetConfig(name="jsonl", path=str(tmp_path / "nowhere.jsonl")))
    monkeypatch.delenv("HARNESS_DATA_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match="set HARNESS_DATA_DIR"):
        load_charts(DatasetConfig(name="codiesp_es"))
