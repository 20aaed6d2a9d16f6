"""Seeded, composable degradation of charts before intake.

Text-only configs add OCR-like confusions to the chart text. Image configs typeset the chart
(``harness.intake.render``), apply page operations (copy-forward, lost, duplicated, shuffled pages), then
image operations on every delivered page (fax, scan, Augraphy), writing new files.

Randomness comes from generators keyed by ``(seed, sha256(chart id), stage, ...)``, so a chart's
damage depends neither on the other charts nor on their order, and the same seed gives the same
bytes. NumPy and Pillow are imported only when a chart is degraded.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from harness.contracts import Chart
from harness.intake.degrade.config import DegradationConfig, RenderConfig
from harness.intake.degrade.effects import PageChanges
from harness.intake.page_images import DegradedChart, RenderedPage

if TYPE_CHECKING:
    from numpy.random import Generator

__all__ = ["DegradationConfig", "RenderConfig", "degrade_chart", "kept_ranges"]

_STAGES = ("text", "copy_forward", "pages", "image", "fax-stamp")


def degrade_chart(chart: Chart, config: DegradationConfig, seed: int, work_dir: Path) -> DegradedChart:
    """Degrade one chart; page images go under ``work_dir/<chart>/<config name>-s<seed>/``."""
    rng_for = _seeder(seed, chart.id)
    if config.render is None:
        text = chart.text
        if config.text_noise is not None:
            from harness.intake.degrade.text_noise import add_text_noise

            text = add_text_noise(text, config.text_noise, rng_for("text"))
        return DegradedChart(chart_id=chart.id, text=text, kept_ranges=[(0, len(chart.text))])

    from harness.intake import render
    from harness.intake.degrade.image_ops import apply_image_ops
    from harness.intake.degrade.page_ops import copy_forward, select_pages

    grid = render.geometry(config.render)
    sheets = render.wrap_chart(chart, grid.columns)
    copied_blocks = 0
    if config.page_ops.copy_forward:
        copied = copy_forward(sheets, grid.rows, rng_for("copy_forward"))
        copied_blocks = int(copied is not sheets)  # a chart with no printed line to copy comes back as it was
        sheets = copied
    layouts = render.paginate(chart, sheets, grid.rows)
    order = select_pages(len(layouts), config.page_ops, rng_for("pages"))
    out_dir = work_dir / _safe_name(chart.id) / f"{_safe_name(config.name)}-s{seed}"
    drawn: dict[int, Path] = {}
    pages: list[RenderedPage] = []
    for position, number in enumerate(order):
        if number not in drawn:
            drawn[number] = render.draw_page(layouts[number], config.render, out_dir / f"render-p{number:03d}.png")
        path = drawn[number]
        if config.image_ops:
            path = apply_image_ops(config.image_ops, path, out_dir / f"page{position:03d}-p{number:03d}.png", rng_for, position)
        pages.append(render.rendered_page(layouts[number], path, position))
    return DegradedChart(
        chart_id=chart.id, text=None, pages=pages, n_rendered_pages=len(layouts), kept_ranges=kept_ranges(chart.text, pages),
        page_changes=PageChanges.of(order, len(layouts), copied_blocks),
    )


def kept_ranges(text: str, pages: list[RenderedPage]) -> list[tuple[int, int]]:
    """Chart-text ranges printed on ``pages``, merged across line breaks and wrapped whitespace."""
    spans = sorted({span for page in pages for span in page.line_spans if span[1] > span[0]})
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        # Only whitespace between two printed stretches: nothing was lost between them.
        if merged and not text[merged[-1][1] : start].strip():
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _seeder(seed: int, chart_id: str) -> Callable[..., Generator]:
    """Generator factory for one chart: independent streams per ``(stage, *key)``."""
    import numpy as np

    chart_key = int.from_bytes(hashlib.sha256(chart_id.encode()).digest()[:8], "big")
    entropy = [seed % 2**64, chart_key]

    def rng_for(stage: str, *key: int) -> Generator:
        return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy, spawn_key=(_STAGES.index(stage), *key))))

    return rng_for


def _safe_name(name: str) -> str:
    """A file-system-safe folder name that still tells charts apart after cleaning."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:60]
    return cleaned if cleaned == name else f"{cleaned}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
