"""Every review reason the code base emits maps to the family of review work it asks for."""

from __future__ import annotations

from harness.contracts import REASON_KINDS, ReviewReason
from harness.operations.config import FAMILIES, ReviewMinutes
from harness.operations.families import DEFAULT_FAMILY, FAMILY_OF_KIND, families_of, family_of, review_cost

EMITTED = {
    # coders.routing
    "low_confidence: J96.01 0.85 < 0.9": "low_confidence",
    "unestimated_confidence: I50.9 I10": "low_confidence",
    "high_risk: A41.9": "high_risk",
    "edit_failed: excludes1 E10.9 E11.9": "edit_failed",
    "no_codes": "no_codes",
    "extraction_failed: JSONDecodeError: Expecting value": "no_codes",
    # coders.engine
    "needs_specificity: E11 T14.8": "edit_failed",
    # harness.pipeline.chart_steps
    "coding_failed: KeyError": "no_codes",
    "edits_failed: ValueError: age 140 is not plausible": "edit_failed",
    "empty_chart": "intake",
    "intake_failed: OSError: cannot identify image file": "intake",
    "chart_timeout: 12.3 s > 10 s": "no_codes",
    # harness.intake.ocr
    "no_page_images": "intake",
    "ocr_unavailable: tesseract is not installed": "intake",
    "unreadable_page: 2 (quality 0.12)": "intake",
    "missing_pages: expected 4, got 3": "intake",
    "page_gap: 2, 3": "intake",
    "low_intake_quality: 0.41": "intake",
}


def test_every_reason_kind_of_the_contract_is_mapped_on_purpose() -> None:
    assert set(FAMILY_OF_KIND) == REASON_KINDS  # a new kind fails here until someone decides what its review costs
    assert set(FAMILY_OF_KIND.values()) <= set(FAMILIES)
    assert {ReviewReason.parse(text).kind for text in EMITTED} == REASON_KINDS


def test_each_emitted_reason_gets_its_family_from_the_object_or_its_wire_form() -> None:
    for text, family in EMITTED.items():
        assert family_of(ReviewReason.parse(text)) == family, text
        assert family_of(text) == family, text


def test_an_unknown_kind_costs_a_full_recoding() -> None:
    assert DEFAULT_FAMILY == "no_codes"
    assert family_of("reviewer_requested: by policy") == "no_codes"


def test_a_chart_with_several_families_costs_its_most_expensive() -> None:
    reasons = ["low_confidence: E11.9 0.40 < 0.5", "high_risk: A41.9", "low_confidence: I10 0.30 < 0.5"]
    assert families_of(reasons) == ("low_confidence", "high_risk")
    minutes = ReviewMinutes(low_confidence=6, high_risk=10)
    assert review_cost(families_of(reasons), minutes) == 10  # max(6, 10), not 6 + 10 + 6
    assert review_cost((), minutes) == 0
