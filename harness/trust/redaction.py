"""One way to keep patient text out of a file: the text of every span and finding becomes ``[REDACTED]``.

Offsets are kept, so a redacted artifact still says where the evidence is; used by the run's artifacts,
the audit trail and the billing output alike.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.contracts import ChartResult, Finding, Span

REDACTED = "[REDACTED]"


def redact_spans(spans: Sequence[Span]) -> list[Span]:
    """Copies of ``spans`` whose text is ``[REDACTED]`` (a span without text stays without)."""
    return [s.model_copy(update={"text": REDACTED}) if s.text else s for s in spans]


def redact_finding(finding: Finding) -> Finding:
    """A copy of ``finding`` without its text, its attributes (free text from the chart) or its spans' text."""
    return finding.model_copy(update={"text": REDACTED, "attributes": {}, "spans": redact_spans(finding.spans)})


def redact_result(result: ChartResult) -> ChartResult:
    """A copy of ``result`` whose codes' evidence spans carry no text."""
    return result.model_copy(update={"codes": [c.model_copy(update={"evidence": redact_spans(c.evidence)})
                                               for c in result.codes]})
