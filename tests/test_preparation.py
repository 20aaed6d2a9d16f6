"""Degrade + intake on real charts: clean rendering reads back almost exactly; lost pages lose their gold."""

from __future__ import annotations

import pytest

from harness.config import DatasetConfig
from harness.degrade.config import DegradationConfig, PageOpsConfig, RenderConfig
from harness.intake import IntakeConfig
from harness.preparation import ChartPreparer, page_body
from harness.robustness import recoverable_gold
from harness.sources import load_charts


@pytest.fixture(scope="module")
def sample():
    return load_charts(DatasetConfig(name="sample", split="dev", limit=4))


def prepare(charts, degradation: DegradationConfig, seed: int = 0):
    preparer = ChartPreparer(degradation, IntakeConfig(), seed=seed)
    try:
        return [preparer(chart) for chart in charts]
    finally:
        preparer.close()


def test_clean_render_then_ocr_reads_the_sample_back(sample) -> None:
    prepared = prepare(sample, DegradationConfig(name="rendered", render=RenderConfig()))
    edits = sum(p.facts.edit_distance for p in prepared)
    chars = sum(p.facts.source_chars for p in prepared)
    assert edits / chars < 0.01  # ocr_cer under 1%
    for chart, p in zip(sample, prepared):
        assert p.facts.reasons == () and p.facts.quality > 0.8
        assert recoverable_gold(chart, p.facts.kept_ranges) == {g.code for g in chart.gold}  # nothing lost
        assert "Encounter" not in p.chart.text.split("\n")[0]  # page header is furniture, not chart text
        assert p.chart.gold == []  # the extractor never sees labels


def test_missing_page_is_unrecoverable_and_flagged(sample) -> None:
    config = DegradationConfig(name="missing_pages", render=RenderConfig(), page_ops=PageOpsConfig(drop_pages=1))
    for chart, p in zip(sample, prepare(sample, config)):
        kept = p.facts.kept_ranges
        recoverable = recoverable_gold(chart, kept)
        # a code is lost exactly when none of its evidence lies on a delivered page
        for gold in chart.gold:
            on_kept = any(span.start < end and start < span.end for span in gold.evidence for start, end in kept)
            assert (gold.code in recoverable) == on_kept
        assert any(r.startswith("missing_pages") for r in p.facts.reasons), p.facts.reasons


def test_text_noise_is_seeded(sample) -> None:
    config = DegradationConfig(name="ocr_noise", text_noise=0.02)
    first = [p.chart.text for p in prepare(sample[:2], config, seed=5)]
    assert first == [p.chart.text for p in prepare(sample[:2], config, seed=5)]
    assert first != [p.chart.text for p in prepare(sample[:2], config, seed=6)]
    assert all(p.facts.edit_distance > 0 for p in prepare(sample[:2], config, seed=5))


def test_page_body_strips_only_furniture() -> None:
    page = "Chart c1 | Encounter n/a\nHeader of the note | Page 1 of 3\nAssessment: asthma.\nPage 2 of 4"
    assert page_body(page) == "Header of the note | Page 1 of 3\nAssessment: asthma."
    assert page_body("FROM: 555-0100  2025-01-02  P.01\nChart x | Encounter 7\nbody") == "body"
