"""Degrade and intake: turn a source chart into the chart the extractor reads, and record what that cost.

Text-only degradations hand the (possibly noisy) text straight on. Image
degradations render pages, degrade them, and OCR them with tesseract; the
extractor then reads the OCR text, and intake's reasons route the chart to review.
The page images live in a ``ScratchFolder`` (``harness.pipeline.scratch``): gone
however the run ends, since they show patient charts.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.contracts import Chart, Page
from harness.intake.degrade.config import DegradationConfig
from harness.intake.ocr import PAGE_SEPARATOR, IntakeConfig, ocr_cer
from harness.intake.page_images import DegradedChart, RenderedPage
from harness.intake.source_offsets import intake_offset_map
from harness.metrics.robustness import ChartIntake
from harness.pipeline.scratch import ScratchFolder

if TYPE_CHECKING:
    from tqdm import tqdm

PAGES_PREFIX = "harness-pages-"
"""Page folders are ``<tempdir>/harness-pages-<pid>-XXXXXXXX``."""

# Page furniture the renderer and the fax stamp print: not chart text, so neither coded nor scored.
_HEADER = re.compile(r"^\s*(chart\s+\S+\s*\|\s*encounter\b.*|from:\s*\d{3}.*)$", re.IGNORECASE)
_FOOTER = re.compile(r"^\s*page\s+\d+\s+of\s+\d+\s*$", re.IGNORECASE)


def page_body(page_text: str) -> str:
    """OCR text of a page without its header and fax stamp (top two lines) and its footer (last line)."""
    lines = [line for line in page_text.splitlines() if line.strip()]
    top = 0
    while top < min(2, len(lines)) and _HEADER.match(lines[top]):
        top += 1
    bottom = len(lines) - 1 if len(lines) > top and _FOOTER.match(lines[-1]) else len(lines)
    return "\n".join(lines[top:bottom])


@dataclass(frozen=True)
class Prepared:
    """What the extractor will read, and the intake facts for metrics and routing."""

    chart: Chart
    facts: ChartIntake
    degrade_s: float
    intake_s: float
    source_offsets: list[int] | None = None
    """Chart offset of every character of ``chart.text`` (rendered charts), so evidence maps back to the source."""

    @property
    def stage_seconds(self) -> dict[str, float]:
        """Seconds spent degrading and reading this chart (empty when neither ran)."""
        if not (self.degrade_s or self.intake_s):
            return {}
        return {"degrade": self.degrade_s, "intake": self.intake_s}


class ChartPreparer:
    """Applies one degradation setting (and intake, for images) chart by chart, seeded per chart.

    With ``progress``, pages rendered and read are counted on a bar on stderr (off when stderr is not a
    terminal); it shows counts and rates only, never chart text. Call ``close`` when done.

    Several threads may prepare charts at once (the streaming pipeline's intake): degradation runs one chart at
    a time, since Augraphy draws from process-wide random generators and changes the working directory, while
    reading pages (tesseract processes) overlaps freely.
    """

    def __init__(self, degradation: DegradationConfig, intake: IntakeConfig, seed: int, progress: bool = True):
        self.degradation = degradation
        self.intake = intake
        self.seed = seed
        self.progress = progress
        self._work = ScratchFolder(PAGES_PREFIX)
        self._pages_bar: tqdm | None = None
        self._degrading = threading.Lock()
        self._counting = threading.Lock()

    def close(self) -> None:
        """Delete the page images and end the progress bar."""
        if self._pages_bar is not None:
            self._pages_bar.close()
        self._work.close()

    def __call__(self, chart: Chart) -> Prepared:
        from harness.intake.degrade import degrade_chart

        if any(page.image_path for page in chart.pages):
            return self._scanned(chart)
        if self.degradation.render is None and self.degradation.text_noise is None:  # nothing to do
            return Prepared(chart, ChartIntake(kept_ranges=((0, len(chart.text)),)), 0.0, 0.0)
        with self._degrading:
            started = time.perf_counter()
            degraded = degrade_chart(chart, self.degradation, self.seed, self._work.path)
            degraded_at = time.perf_counter()
        if degraded.text is not None:  # text-only: noise but no pages to read
            cer = ocr_cer(degraded.text, chart.text)
            facts = ChartIntake(
                kept_ranges=tuple(degraded.kept_ranges),
                source_chars=len(chart.text),
                edit_distance=round(cer * len(chart.text)),
            )
            return Prepared(_readable(chart, degraded.text, [0]), facts, degraded_at - started, 0.0)

        return self._read(chart, degraded, degraded_at - started, map_offsets=True)

    def _scanned(self, chart: Chart) -> Prepared:
        """A chart that arrives as page images goes straight to intake (degradations apply to text charts)."""
        # The chart's text, when present, is the transcription of all pages: the reference for OCR error.
        pages = [
            RenderedPage(index=i, image_path=Path(page.image_path), source_start=0, source_end=0 if i else len(chart.text),
                         source_page=i)
            for i, page in enumerate(p for p in chart.pages if p.image_path)
        ]
        degraded = DegradedChart(chart_id=chart.id, text=None, pages=pages, n_rendered_pages=len(pages),
                                 kept_ranges=[(0, len(chart.text))])
        return self._read(chart, degraded, 0.0, map_offsets=False)

    def _read(self, chart: Chart, degraded: DegradedChart, degrade_s: float, map_offsets: bool) -> Prepared:
        from harness.intake.ocr import read_chart

        result = read_chart(degraded, self.intake)
        self._count_pages(len(degraded.pages))
        bodies = [page_body(reading.text) for reading in result.readings]
        text = PAGE_SEPARATOR.join(bodies)
        offsets = [sum(len(b) + len(PAGE_SEPARATOR) for b in bodies[:i]) for i in range(len(bodies))]
        source = PAGE_SEPARATOR.join(chart.text[p.source_start : p.source_end] for p in degraded.pages)
        facts = ChartIntake(
            kept_ranges=tuple(degraded.kept_ranges),
            source_chars=len(source),
            edit_distance=round(ocr_cer(text, source) * len(source)),
            pages_read=len(degraded.pages),
            intake_s=result.seconds,
            quality=result.quality,
            reasons=tuple(result.reasons),
            page_changes=degraded.page_changes,
        )
        source_offsets = None
        if map_offsets:  # a scanned chart's OCR text is the only text there is: nothing to map to
            pages = [(chart.text[p.source_start : p.source_end], p.source_start) for p in degraded.pages]
            source_offsets = intake_offset_map(bodies, pages, PAGE_SEPARATOR)
        images = [str(page.image_path) for page in degraded.pages]
        return Prepared(_readable(chart, text, offsets, images), facts, degrade_s, result.seconds, source_offsets)

    def _count_pages(self, pages: int) -> None:
        with self._counting:  # intake threads count at once; one bar
            if self._pages_bar is None:
                from tqdm import tqdm

                # Charts arrive one at a time, so there is no total: a count and a rate, from the first page on.
                self._pages_bar = tqdm(desc="pages read", unit="page", position=3, disable=None if self.progress else True)
            self._pages_bar.update(pages)


def _readable(chart: Chart, text: str, page_offsets: list[int], images: list[str] | None = None) -> Chart:
    """The chart as intake delivers it: new text and pages (with their images, for VLMs), no gold
    (the extractor never sees labels)."""
    ends = [*page_offsets[1:], len(text) + len(PAGE_SEPARATOR)]
    pages = [
        Page(index=i, offset=start, text=text[start : end - len(PAGE_SEPARATOR)], image_path=images[i] if images else None)
        for i, (start, end) in enumerate(zip(page_offsets, ends))
    ] if page_offsets else []
    return Chart(id=chart.id, language=chart.language, text=text, pages=pages, meta=chart.meta)
