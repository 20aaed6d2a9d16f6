"""What page degradation changed, counted per chart, and said in words where it changed nothing.

A page operation can leave a chart as it was: no page can be dropped from a one-page chart (``missing_pages`` on
single-page charts), nor shuffled. Its run then measures nothing about the damage it names; the counts make that visible
as metrics (pipeline decisions, the same for the same seed) and :func:`unchanged_notes` says it in the summary and report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PageChanges:
    """What the page operations did to one rendered chart."""

    rendered: int
    """Pages in the clean rendering."""
    dropped: int
    """Rendered pages that were not delivered."""
    duplicated: int
    """Extra copies of pages among the delivered ones."""
    reordered: bool
    """The pages were delivered out of their printed order."""
    copied_blocks: int
    """Blocks of text copied forward from an earlier page."""

    @classmethod
    def of(cls, delivered: Sequence[int], rendered: int, copied_blocks: int) -> PageChanges:
        """The changes of a chart rendered as ``rendered`` pages and delivered as page numbers ``delivered``."""
        kept = set(delivered)
        return cls(rendered=rendered, dropped=rendered - len(kept), duplicated=len(delivered) - len(kept),
                   reordered=list(delivered) != sorted(delivered), copied_blocks=copied_blocks)


_COUNTED = (  # (page operation's setting, metric, what the metric counts in words)
    ("drop_pages", "pages_dropped", "pages dropped"),
    ("duplicate_pages", "pages_duplicated", "pages duplicated"),
    ("shuffle", "charts_reordered", "charts with pages out of order"),
    ("copy_forward", "copy_forward_blocks", "blocks copied forward"),
)


def page_change_metrics(changes: Sequence[PageChanges]) -> dict[str, float]:
    """``pages_rendered`` and each operation's count over the charts (none when no chart was rendered)."""
    if not changes:
        return {}
    return {
        "pages_rendered": sum(c.rendered for c in changes),
        "pages_dropped": sum(c.dropped for c in changes),
        "pages_duplicated": sum(c.duplicated for c in changes),
        "charts_reordered": sum(c.reordered for c in changes),
        "copy_forward_blocks": sum(c.copied_blocks for c in changes),
    }


def unchanged_notes(degradation: Mapping[str, Any], metrics: Mapping[str, float]) -> list[str]:
    """One line for each page operation the degradation asks for that changed no chart, e.g. ``degradation missing_pages:
    0 pages dropped (every chart has one page): drop_pages changed nothing``."""
    page_ops = degradation.get("page_ops") or {}
    if "pages_rendered" not in metrics:
        return []
    rendered, charts = int(metrics["pages_rendered"]), int(metrics.get("n_charts", 0))
    single = " (every chart has one page)" if rendered == charts else f" ({charts} charts, {rendered} pages)"
    return [f"degradation {degradation.get('name', '')}: 0 {words}{single}: {setting} changed nothing"
            for setting, metric, words in _COUNTED if page_ops.get(setting) and metrics.get(metric) == 0]
