"""Degrade + intake on real charts: clean rendering reads back almost exactly; lost pages lose their gold."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time

import pytest
from conftest import PROJECT_ROOT

from harness.config import DatasetConfig
from harness.intake.degrade.config import DegradationConfig, PageOpsConfig, RenderConfig
from harness.intake.ocr import IntakeConfig
from harness.metrics.robustness import recoverable_gold
from harness.pipeline.preparation import ChartPreparer, page_body
from harness.sources import load_charts

pytestmark = pytest.mark.slow  # renders, degrades and OCRs real charts (tens of seconds)


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
    for chart, p in zip(sample, prepared, strict=True):
        assert p.facts.reasons == () and p.facts.quality > 0.8
        assert recoverable_gold(chart, p.facts.kept_ranges) == {g.code for g in chart.gold}  # nothing lost
        assert "Encounter" not in p.chart.text.split("\n")[0]  # page header is furniture, not chart text
        assert p.chart.gold == []  # the extractor never sees labels


def test_missing_page_is_unrecoverable_and_flagged(sample) -> None:
    config = DegradationConfig(name="missing_pages", render=RenderConfig(), page_ops=PageOpsConfig(drop_pages=1))
    for chart, p in zip(sample, prepare(sample, config), strict=True):
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


def test_evidence_found_in_ocr_text_maps_back_to_the_source(sample) -> None:
    """Run the pipeline on rendered pages: every code's evidence must quote the source chart at its offsets."""
    from coders.engine import RuleEngine
    from coders.routing import RoutingConfig, route
    from extractors.dictionary.extractor import DictionaryExtractor
    from harness.pipeline.chart_steps import PipelineDesign
    from harness.pipeline.streaming import run_pipeline

    extractor = DictionaryExtractor({"name": "dictionary"})
    extractor.fit(load_charts(DatasetConfig(name="sample", split="train")))
    engine = RuleEngine("icd10cm_2026_v2")
    preparer = ChartPreparer(DegradationConfig(name="rendered", render=RenderConfig()), IntakeConfig(), seed=0)
    routing = RoutingConfig(name="d")
    design = PipelineDesign(extractor, engine.code, engine.version, lambda e, c, edits: route(e, c, routing, edits), "d",
                            prepare=preparer)
    try:
        results = run_pipeline(sample[:2], design, progress=False).results
    finally:
        preparer.close()
    spans = [(chart, span) for chart, result in zip(sample[:2], results, strict=True)
             for code in result.codes for span in code.evidence]
    assert spans
    for chart, span in spans:
        assert chart.text[span.start : span.end] == span.text and span.text.strip()
        assert span.page == chart.page_of(span.start)
    # the quotes are the source's words (OCR read them back almost exactly)
    matched = sum(any(span.text.lower() in g.evidence[0].text.lower() or g.evidence[0].text.lower() in span.text.lower()
                      for g in chart.gold if g.evidence) for chart, span in spans)
    assert matched / len(spans) > 0.8


# One chart rendered and read, the preparer's progress as given; prints a line of the chart's text to stdout.
PREPARE_ONE = """
import sys
from harness.config import DatasetConfig
from harness.intake.degrade.config import DegradationConfig, RenderConfig
from harness.intake.ocr import IntakeConfig
from harness.pipeline.preparation import ChartPreparer
from harness.sources import load_charts

(chart,) = load_charts(DatasetConfig(name="sample", split="dev", limit=1))
preparer = ChartPreparer(DegradationConfig(name="rendered", render=RenderConfig()), IntakeConfig(), seed=0,
                         progress=sys.argv[1] == "on")
preparer(chart)
preparer.close()
print(max(chart.text.splitlines(), key=len))
"""


def stderr_seen_on_a_terminal(code: str, *args: str, timeout_s: float = 300) -> tuple[str, str]:
    """Run ``code`` with stderr on a pseudo-terminal, as at an interactive shell; returns (stdout, what the terminal showed)."""
    terminal, child_end = pty.openpty()
    fcntl.ioctl(child_end, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a window: 24 rows, 100 columns
    run = subprocess.Popen([sys.executable, "-c", code, *args], cwd=PROJECT_ROOT, env=os.environ.copy(), text=True,
                           stdout=subprocess.PIPE, stderr=child_end)
    os.close(child_end)
    shown, deadline = b"", time.monotonic() + timeout_s  # only a guard against a hang
    while time.monotonic() < deadline:
        if select.select([terminal], [], [], 1.0)[0]:
            try:
                chunk = os.read(terminal, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
    os.close(terminal)
    out, _ = run.communicate(timeout=timeout_s)
    assert run.returncode == 0, shown.decode(errors="replace")[-2000:]
    return out, shown.decode(errors="replace")


def test_pages_progress_shows_on_a_terminal_only_when_asked_and_never_chart_text() -> None:
    out, shown = stderr_seen_on_a_terminal(PREPARE_ONE, "on")
    line = out.strip()
    assert re.search(r"pages read: [1-9]\d*page \[[\d:]+, [\d.]+page/s\]", shown), shown  # a count and a rate
    assert line and line not in shown and line[:30] not in shown  # counts and rates only
    _, quiet = stderr_seen_on_a_terminal(PREPARE_ONE, "off")
    assert "pages read" not in quiet
    piped = subprocess.run([sys.executable, "-c", PREPARE_ONE, "on"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                           timeout=300, env=os.environ.copy())
    assert piped.returncode == 0 and "pages read" not in piped.stderr  # stderr not a terminal: no bar in logs
