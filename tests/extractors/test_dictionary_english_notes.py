"""The untrained dictionary on synthetic English visit notes (``tests/data/english_notes``): what it must not code."""

from __future__ import annotations

import pytest
from conftest import PROJECT_ROOT

from coders.codeset import code_set
from coders.engine import RuleEngine
from coders.routing import RoutingConfig, route
from extractors.dictionary.extractor import DictionaryExtractor
from harness.contracts import Chart

NOTES = PROJECT_ROOT / "tests" / "data" / "english_notes" / "notes.jsonl"
NOT_FINDINGS = {
    ("en-note-01", "I63.9"): "stroke: a surgical risk",
    ("en-note-01", "R56.9"): "seizure: a surgical risk",
    ("en-note-01", "R99"): "death: a surgical risk",
    ("en-note-01", "F10.99"): "Alcohol use: none",
    ("en-note-02", "E16.2"): "hypoglycemia: a discussed risk",
    ("en-note-03", "H70.90"): "mastoiditis: a discussed possibility",
    ("en-note-04", "I63.9"): "stroke: a risk score",
    ("en-note-04", "F10.99"): "Alcohol use: none",
    ("en-note-06", "Z72.0"): "Tobacco use: none",
    ("en-note-06", "T14.9"): "injury: a surgical risk",
    ("en-note-06", "I26"): "pulmonary embolism: a surgical risk",
    ("en-note-07", "F10.99"): "Alcohol use: none",
    ("en-note-09", "E11"): "DIABETES: a heading with the value None",
    ("en-note-09", "F10.99"): "Alcohol use: none",
    ("en-note-10", "E11"): "Diabetes: no",
    ("en-note-10", "I63.9"): "stroke: a discussed risk",
}
"""(note, code) pairs that only mentions which are not findings would give."""
REAL = {("en-note-01", "I10"), ("en-note-05", "J18.9"), ("en-note-06", "E66.9"), ("en-note-07", "F32.1"),
        ("en-note-07", "F41.1"), ("en-note-09", "N39.0"), ("en-note-09", "N18.31"), ("en-note-10", "I10")}
"""Real diagnoses, each named in a plain sentence, that the untrained dictionary finds."""


@pytest.fixture(scope="module")
def notes() -> list[Chart]:
    return [Chart.model_validate_json(line) for line in NOTES.read_text(encoding="utf-8").splitlines()]


def test_the_notes_carry_valid_gold_codes_with_their_evidence(notes: list[Chart]) -> None:
    icd = code_set("icd10cm", 2026)
    assert len(notes) >= 8 and all(chart.language == "en" and chart.meta["split"] == "dev" for chart in notes)
    for chart in notes:
        assert chart.gold
        for gold in chart.gold:
            assert gold.code in icd and icd.is_billable(gold.code), gold.code
            assert all(chart.text[s.start:s.end] == s.text for s in gold.evidence)


def test_untrained_dictionary_codes_no_risk_field_or_heading_and_sends_every_note_to_review(notes: list[Chart]) -> None:
    extractor = DictionaryExtractor({"name": "dictionary"})
    extractor.fit([])
    engine = RuleEngine("icd10cm_2026_v2")
    coded = set()
    for chart, extraction in zip(notes, extractor.extract(notes), strict=True):
        codes = engine.code(chart, extraction)
        coded |= {(chart.id, c.code) for c in codes}
        decision, reasons = route(extraction, codes, RoutingConfig())
        assert decision == "review" and "unestimated_confidence" in {r.kind for r in reasons}, chart.id
    assert not {pair: why for pair, why in NOT_FINDINGS.items() if pair in coded}
    assert REAL <= coded
