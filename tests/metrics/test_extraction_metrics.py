"""Extraction metrics against hand-computed cases."""

from __future__ import annotations

import pytest

from harness.contracts import Extraction, Finding
from harness.metrics.extraction import extraction_metrics


def test_rates_by_hand() -> None:
    supported = Finding(text="a", attributes={"evidence_supported": True})
    unsupported = Finding(text="b", attributes={"evidence_supported": False})
    extractions = [
        Extraction(chart_id="1", extractor="m", findings=[supported, unsupported], input_tokens=100, output_tokens=30,
                   latency_s=1.0),
        Extraction(chart_id="2", extractor="m", findings=[supported], input_tokens=50, output_tokens=10, latency_s=1.0),
        Extraction(chart_id="3", extractor="m", schema_valid=False, error="invalid JSON", input_tokens=50, output_tokens=60,
                   latency_s=2.0),
    ]
    metrics = extraction_metrics(extractions)
    assert metrics["schema_valid_rate"] == pytest.approx(2 / 3)
    assert metrics["unsupported_evidence_rate"] == pytest.approx(1 / 3)  # 1 of 3 quoted findings
    assert metrics["input_tokens_per_s"] == pytest.approx(200 / 4.0)
    assert metrics["output_tokens_per_s"] == pytest.approx(100 / 4.0)


def test_dictionary_style_extractions_have_no_token_rates() -> None:
    metrics = extraction_metrics([Extraction(chart_id="1", extractor="dictionary", findings=[Finding(text="x")])])
    assert metrics == {"schema_valid_rate": 1.0}
    assert extraction_metrics([]) == {}
