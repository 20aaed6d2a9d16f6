"""Which kind of review work a chart's reasons ask for: every review reason kind mapped to a reason family.

A reviewer's minutes depend on what the review is for (``OperationsConfig.review_minutes``). The mapping reads each
reason's ``kind`` (never its text), is written out for every kind the code base emits (``harness.contracts.ReasonKind``),
and sends a kind it does not list to :data:`DEFAULT_FAMILY`: coding the chart from scratch, the most a review can cost,
so a new kind is never cheaper than it should be until someone maps it.
"""

from __future__ import annotations

from collections.abc import Iterable

from harness.contracts import ReviewReason
from harness.operations.config import FAMILIES, Family, ReviewMinutes

FAMILY_OF_KIND: dict[str, Family] = {
    # coders.routing
    "low_confidence": "low_confidence",
    "unestimated_confidence": "low_confidence",  # a confidence nobody could estimate: the coder confirms the code
    "high_risk": "high_risk",
    "edit_failed": "edit_failed",
    "no_codes": "no_codes",
    "extraction_failed": "no_codes",  # nothing usable came out: the coder codes the chart
    # coders.engine
    "needs_specificity": "edit_failed",  # a non-billable code: the coder picks the billable one, as for a failed edit
    # harness.pipeline
    "coding_failed": "no_codes",
    "edits_failed": "edit_failed",  # the edits could not run: the coder checks them by hand
    "empty_chart": "intake",  # no readable text: the coder goes back to the source document
    "intake_failed": "intake",
    "chart_timeout": "no_codes",  # over its time budget: a chart that big is read through by the coder
    # harness.intake
    "no_page_images": "intake",
    "ocr_unavailable": "intake",
    "unreadable_page": "intake",
    "missing_pages": "intake",
    "page_gap": "intake",
    "low_intake_quality": "intake",
}
"""Reason kind -> family."""
DEFAULT_FAMILY: Family = "no_codes"
"""Family of a reason kind the mapping does not list."""


def family_of(reason: str) -> Family:
    """The family of one review reason (a ``ReviewReason`` or its wire form ``kind: detail``)."""
    kind = reason.kind if isinstance(reason, ReviewReason) else str(reason).partition(": ")[0]
    return FAMILY_OF_KIND.get(kind, DEFAULT_FAMILY)


def families_of(reasons: Iterable[str]) -> tuple[Family, ...]:
    """The distinct families of a chart's reasons, in :data:`FAMILIES` order."""
    found = {family_of(reason) for reason in reasons}
    return tuple(family for family in FAMILIES if family in found)


def review_cost(families: Iterable[Family], minutes: ReviewMinutes) -> float:
    """Coder minutes to review a chart with reasons of ``families``: the most expensive one (0 without any)."""
    return max((minutes.of(family) for family in families), default=0.0)
