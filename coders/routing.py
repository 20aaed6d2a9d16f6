"""Routing policy: does a coded chart go straight through (auto) or to a human coder (review)?

Checks, in order: a failed extraction; each code's confidence against the threshold of its code
family (the longest matching prefix in ``family_thresholds``, else ``min_code_confidence``); codes
whose confidence the extractor could not estimate (only a prior: a threshold on it means nothing); codes
on the high-risk list (auditors' favourites: sepsis, acute respiratory failure, malnutrition, ...);
failed validation edits; no codes at all. Intake problems (unreadable or missing pages) are added by
the pipeline from intake's own reasons.

Reasons are ``ReviewReason`` values (a kind and a detail, written ``kind: detail``) that metrics
count and reports group by kind; they never contain chart text. An empty chart is routed by the
caller before extraction, so it is not handled here.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from harness.contracts import CodeAssignment, EditResult, Extraction, ReviewReason, Route

_ERROR_CHARS = 120
"""An extraction error can quote model output (and so chart text): keep only its head."""


class RoutingConfig(BaseModel):
    """Thresholds of the routing policy (``conf/routing/<name>.yaml``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = "default"
    """Name of the policy; equals its Hydra option name."""
    min_code_confidence: float = Field(default=0.5, ge=0.0, le=1.0)
    """A chart with any code below this confidence goes to review."""
    review_unestimated_confidence: bool = True
    """Send a chart to review when any code's confidence is only the extractor's prior
    (``CodeAssignment.confidence_estimated`` false, e.g. a dictionary term never seen in training)."""
    review_when_no_codes: bool = True
    """Send a chart that received no codes to review (every chart should carry at least one diagnosis)."""
    family_thresholds: dict[str, float] = Field(default_factory=dict)
    """Confidence thresholds by code prefix (``J96: 0.9``, ``E``: a chapter); the longest matching prefix wins."""
    high_risk_codes: list[str] = Field(default_factory=list)
    """Code prefixes that always go to a human (audit targets), e.g. ``A41`` (sepsis)."""
    review_on_edits: list[str] = Field(default_factory=list)
    """Edits whose failure sends the chart to review (``coders.edits`` names, e.g. ``excludes1``)."""

    def threshold(self, code: str) -> float:
        """Confidence a code needs to pass without review."""
        prefixes = [p for p in self.family_thresholds if code.startswith(p)]
        return self.family_thresholds[max(prefixes, key=len)] if prefixes else self.min_code_confidence


def route(extraction: Extraction, codes: list[CodeAssignment], config: RoutingConfig,
          edits: list[EditResult] = ()) -> tuple[Route, list[ReviewReason]]:
    """``("auto", [])``, or ``("review", reasons)`` in the order the checks run."""
    reasons: list[ReviewReason] = []
    if extraction.error:
        reasons.append(ReviewReason("extraction_failed", _one_line(extraction.error)))
    for code in codes:
        needed = config.threshold(code.code)
        if code.confidence < needed:
            reasons.append(ReviewReason("low_confidence", f"{code.code} {code.confidence:.2f} < {needed:g}"))
    unestimated = [c.code for c in codes if not c.confidence_estimated]
    if config.review_unestimated_confidence and unestimated:
        reasons.append(ReviewReason("unestimated_confidence", " ".join(unestimated)))
    risky = [c.code for c in codes if any(c.code.startswith(p) for p in config.high_risk_codes)]
    if risky:
        reasons.append(ReviewReason("high_risk", " ".join(risky)))
    for edit in edits:
        if not edit.passed and edit.edit in config.review_on_edits:
            reasons.append(ReviewReason("edit_failed", " ".join([edit.edit, *edit.codes])))
    # after a failed extraction "no codes" is a consequence, not a second finding
    if config.review_when_no_codes and not codes and not extraction.error:
        reasons.append(ReviewReason("no_codes"))
    return ("review" if reasons else "auto"), reasons


def _one_line(error: str) -> str:
    """First non-empty line of an error, cut short: dumps of raw output follow the first line."""
    line = next((ln.strip() for ln in error.splitlines() if ln.strip()), "unknown error")
    return line if len(line) <= _ERROR_CHARS else line[: _ERROR_CHARS - 3] + "..."
