"""The bundled sample (datasets/sample) and its generator, harness.sources.sample.generator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT

from coders.codeset import code_set
from harness.cli import sample
from harness.contracts import Chart
from harness.sources.sample import generator
from harness.sources.sample.chart import PAGE_BREAK
from harness.sources.sample.inventory import Condition

SAMPLE_DIR = PROJECT_ROOT / "datasets" / "sample"
CHARTS_FILE = SAMPLE_DIR / "charts.jsonl"
NOT_CODED = ("negated", "possible", "family")
"""Assertions whose condition must never be gold in the same chart."""


@pytest.fixture(scope="module")
def lines() -> list[str]:
    return CHARTS_FILE.read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def charts(lines: list[str]) -> list[Chart]:
    return [Chart.model_validate_json(line) for line in lines]


@pytest.mark.slow  # regenerates the whole sample
def test_regenerating_with_the_recorded_seed_reproduces_the_committed_files(charts: list[Chart], tmp_path: Path) -> None:
    seed = charts[0].meta["seed"]
    assert {c.meta["seed"] for c in charts} == {seed}
    assert sample.main(["--seed", str(seed), "--n", str(len(charts)), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "charts.jsonl").read_bytes() == CHARTS_FILE.read_bytes()
    assert (tmp_path / "README.md").read_bytes() == (SAMPLE_DIR / "README.md").read_bytes()


def test_every_line_is_exactly_a_chart_dump(lines: list[str], charts: list[Chart]) -> None:
    for line, chart in zip(lines, charts, strict=True):
        assert json.loads(line) == chart.model_dump(mode="json")
    ids = [c.id for c in charts]
    assert ids == [f"sample-{i:04d}" for i in range(1, len(charts) + 1)]
    assert {c.language for c in charts} == {"en"}


def test_counts_and_splits(charts: list[Chart]) -> None:
    assert len(charts) >= 100
    sizes = {split: sum(c.meta["split"] == split for c in charts) for split in ("train", "dev", "test")}
    assert sizes == generator.split_sizes(len(charts))
    if len(charts) == 200:
        assert sizes == {"train": 120, "dev": 40, "test": 40}


def test_meta_records_the_generator_and_demographics(charts: list[Chart]) -> None:
    for chart in charts:
        meta = chart.meta
        assert meta["generator"] == "harness.sources.sample.generator"
        assert meta["generator_version"] == generator.GENERATOR_VERSION
        assert isinstance(meta["age"], int) and 18 <= meta["age"] <= 100
        assert meta["sex"] in ("F", "M")
        assert meta["encounter"] in ("office", "telehealth", "urgent_care", "emergency")


def test_pages_are_exact_slices_of_the_text(charts: list[Chart]) -> None:
    for chart in charts:
        assert 2 <= len(chart.pages) <= 4
        assert chart.text == PAGE_BREAK.join(p.text or "" for p in chart.pages)
        for index, page in enumerate(chart.pages):
            assert page.index == index
            assert page.text is not None and chart.text[page.offset : page.offset + len(page.text)] == page.text


def test_gold_evidence_points_at_its_text_and_page(charts: list[Chart]) -> None:
    for chart in charts:
        assert chart.gold, chart.id
        assert len({g.code for g in chart.gold}) == len(chart.gold)
        for gold in chart.gold:
            assert gold.system == "icd10cm" and gold.evidence
            for span in gold.evidence:
                assert span.end > span.start
                assert chart.text[span.start : span.end] == span.text
                assert span.page == chart.page_of(span.start)
                page = chart.pages[span.page]
                assert page.offset <= span.start and span.end <= page.offset + len(page.text or "")


def test_every_gold_code_is_billable_in_icd10cm_2026(charts: list[Chart]) -> None:
    table = code_set("icd10cm", 2026)
    for chart in charts:
        for gold in chart.gold:
            assert table.is_billable(gold.code), (chart.id, gold.code)


def test_negated_uncertain_and_family_mentions_are_never_gold(charts: list[Chart]) -> None:
    seen = {assertion: 0 for assertion in (*NOT_CODED, "historical")}
    for chart in charts:
        gold = {g.code for g in chart.gold}
        for distractor in chart.meta["distractors"]:
            assert chart.text[distractor["start"] : distractor["end"]] == distractor["text"]
            assert distractor["code"] not in gold, (chart.id, distractor)
            if distractor["assertion"] in seen:
                seen[distractor["assertion"]] += 1
    assert all(seen.values()), seen


def test_integral_symptoms_belong_to_a_gold_diagnosis(charts: list[Chart]) -> None:
    integral = 0
    for chart in charts:
        gold = {g.code for g in chart.gold}
        for distractor in chart.meta["distractors"]:
            if distractor["reason"].startswith("integral to "):
                integral += 1
                assert distractor["reason"].removeprefix("integral to ") in gold
    assert integral


def test_copied_forward_sections_repeat_gold_evidence(charts: list[Chart]) -> None:
    copied = [c for c in charts if c.meta["copied_forward"]]
    assert copied
    for chart in copied:
        start = chart.text.index("INTERVAL HISTORY (copied from prior note")
        end = chart.text.index("PAST MEDICAL HISTORY:")
        spans = [s for g in chart.gold for s in g.evidence]
        inside = [s for s in spans if start <= s.start < end]
        assert inside, chart.id
        # Each copied line is repeated verbatim in the assessment.
        copied_lines = [line for line in chart.text[start:end].splitlines() if line.startswith("- ")]
        assert copied_lines
        for line in copied_lines:
            assert line.removeprefix("- ") in chart.text[end:]


def test_generation_depends_on_the_seed_only() -> None:
    first = [c.model_dump(mode="json") for c in generator.generate_charts(seed=7, n=5)]
    again = [c.model_dump(mode="json") for c in generator.generate_charts(seed=7, n=5)]
    other = [c.model_dump(mode="json") for c in generator.generate_charts(seed=8, n=5)]
    assert first == again
    assert first != other
    assert [c["meta"]["seed"] for c in first] == [7] * 5


def test_a_code_that_is_not_billable_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    category = Condition("t2dm_category", "E11", "chronic", ("diabetes, type 2",))
    monkeypatch.setattr(generator, "_INVENTORY", (*generator._INVENTORY, category))
    with pytest.raises(ValueError, match="E11 is not a billable"):
        generator.generate_charts(seed=1, n=1)
