"""Routing policy: does a coded chart go straight through (auto) or to a human coder (review)?

Reasons are short machine-readable strings (``kind: detail``) that metrics count and
reports group; they never contain chart text. An empty chart is routed by the
caller before extraction, so it is not handled here.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from harness.contracts import CodeAssignment, Extraction, Route

_ERROR_CHARS = 120
"""An extraction error can quote model output (and so chart text): keep only its head."""


class RoutingConfig(BaseModel):
    """Thresholds of the routing policy (``conf/routing/<name>.yaml``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = "default"
    """Name of the policy; equals its Hydra option name."""
    min_code_confidence: float = Field(default=0.5, ge=0.0, le=1.0)
    """A chart with any code below this confidence goes to review."""
    review_when_no_codes: bool = True
    """Send a chart that received no codes to review (every chart should carry at least one diagnosis)."""


def route(extraction: Extraction, codes: list[CodeAssignment], config: RoutingConfig) -> tuple[Route, list[str]]:
    """``("auto", [])``, or ``("review", reasons)`` in the order the checks run."""
    reasons = []
    if extraction.error:
        reasons.append(f"extraction_failed: {_one_line(extraction.error)}")
    for code in codes:
        if code.confidence < config.min_code_confidence:
            reasons.append(f"low_confidence: {code.code} {code.confidence:.2f} < {config.min_code_confidence:g}")
    # after a failed extraction "no codes" is a consequence, not a second finding
    if config.review_when_no_codes and not codes and not extraction.error:
        reasons.append("no_codes")
    return ("review" if reasons else "auto"), reasons


def _one_line(error: str) -> str:
    """First non-empty line of an error, cut short: dumps of raw output follow the first line."""
    line = next((ln.strip() for ln in error.splitlines() if ln.strip()), "unknown error")
    return line if len(line) <= _ERROR_CHARS else line[: _ERROR_CHARS - 3] + "..."
