"""Whole-page damage: lost, duplicated and shuffled pages, and copy-forward text."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.intake.degrade.config import PageOpsConfig
from harness.intake.render import Line

if TYPE_CHECKING:
    from numpy.random import Generator

COPIED_BLOCK_LINES = 8
"""Most lines a copy-forward block takes from the earlier page."""


def copy_forward(sheets: list[list[Line]], rows: int, rng: Generator) -> list[list[Line]]:
    """Prepend to one page a labelled block of lines copied from an earlier page.

    The target is a random page after the first (the first page itself in a one-page chart, as if
    the prior note said the same). Copied lines keep their chart spans, so the evidence they carry
    is duplicated, not invented; the labels are furniture without spans.
    """
    starts = [(s, i) for s, sheet in enumerate(sheets) for i in range(0, max(len(sheet), 1), rows)]
    target = int(rng.integers(1, len(starts))) if len(starts) > 1 else 0
    source = int(rng.integers(0, target)) if target else 0
    sheet, first = starts[source]
    lines = sheets[sheet][first : first + rows]
    printed = [i for i, line in enumerate(lines) if line.text.strip()]
    if not printed:
        return sheets
    begin = printed[int(rng.integers(0, len(printed)))]
    block = lines[begin : begin + COPIED_BLOCK_LINES]
    while not block[-1].text.strip():
        block = block[:-1]
    labelled = [
        Line(f"--- Copied from prior note (page {source + 1}) ---", None),
        *block,
        Line("--- End of copied text ---", None),
    ]
    sheet, first = starts[target]
    out = [list(s) for s in sheets]
    out[sheet][first:first] = labelled
    return out


def select_pages(n: int, config: PageOpsConfig, rng: Generator) -> list[int]:
    """Rendered page numbers in delivered order after dropping, duplicating and shuffling."""
    order = list(range(n))
    drop = min(config.drop_pages, n - 1)
    if drop:
        lost = {int(i) for i in rng.choice(n, size=drop, replace=False)}
        order = [i for i in order if i not in lost]
    if config.duplicate_pages:
        picked = {int(i) for i in rng.choice(len(order), size=min(config.duplicate_pages, len(order)), replace=False)}
        order = [page for pos, page in enumerate(order) for _ in range(2 if pos in picked else 1)]
    if config.shuffle and len(set(order)) > 1:
        shuffled = [order[i] for i in rng.permutation(len(order))]
        # A "shuffled" document that comes out in order would silently test nothing.
        order = shuffled if shuffled != order else order[1:] + order[:1]
    return order
