"""Extraction-level metrics: is the model's output usable, and how fast does it flow.

``schema_valid_rate`` is measured, never assumed: a backend that silently ignores
structured decoding shows up here, not as a quiet drop in accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence

from extractors.llm.evidence import unsupported_evidence_rate
from harness.contracts import Extraction


def extraction_metrics(extractions: Sequence[Extraction]) -> dict[str, float]:
    """``schema_valid_rate``, ``unsupported_evidence_rate`` (when quotes were given), ``input/output_tokens_per_s``.

    Token rates divide by the extractions' own latencies, so extractions replayed from the
    cache report the speed they were made at rather than the speed of a cache read.
    """
    if not extractions:
        return {}
    metrics = {"schema_valid_rate": sum(e.schema_valid for e in extractions) / len(extractions)}
    unsupported = unsupported_evidence_rate(extractions)
    if unsupported is not None:
        metrics["unsupported_evidence_rate"] = unsupported
    input_tokens, output_tokens = sum(e.input_tokens for e in extractions), sum(e.output_tokens for e in extractions)
    seconds = sum(e.latency_s for e in extractions)
    if output_tokens and seconds > 0:
        metrics["input_tokens_per_s"] = input_tokens / seconds
        metrics["output_tokens_per_s"] = output_tokens / seconds
    return metrics
