"""What rendering and degradation hand to intake: page images plus the map back to chart offsets."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.intake.degrade.effects import PageChanges


@dataclass(frozen=True)
class RenderedPage:
    """One page image of a chart and the slice of chart text printed on it."""

    index: int
    """Position in the delivered document (after page degradations), 0-based."""
    image_path: Path
    """PNG (or other image) on disk; degradations write a new file, never overwrite."""
    source_start: int
    """Chart-text offset of the first character printed on this page."""
    source_end: int
    """Chart-text offset one past the last character printed on this page."""
    line_spans: tuple[tuple[int, int], ...] = ()
    """Chart-text ``(start, end)`` of every printed body line, top to bottom (header/footer excluded)."""
    source_page: int = 0
    """Index of the page in the clean rendering (stays put when pages are shuffled or duplicated)."""


@dataclass
class DegradedChart:
    """A chart as it reaches intake."""

    chart_id: str
    text: str | None
    """Text for text-only pipelines (possibly with OCR-like noise); None when the chart arrives as images."""
    pages: list[RenderedPage] = field(default_factory=list)
    """Page images in delivered order; empty for text-only pipelines."""
    n_rendered_pages: int = 0
    """Pages in the clean rendering, before any were dropped or duplicated."""
    kept_ranges: list[tuple[int, int]] = field(default_factory=list)
    """Chart-text ranges that reach intake; evidence outside all of them is unrecoverable."""
    page_changes: PageChanges | None = None
    """What the page operations changed (None for text-only pipelines and scanned charts)."""
