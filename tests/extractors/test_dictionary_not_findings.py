"""Mentions that are not findings: risks and other hypotheticals, empty template fields, section headings."""

from __future__ import annotations

import pytest

from extractors.dictionary.assertion import AssertionDetector
from extractors.dictionary.headings import heading_spans


def _assertion(language: str, text: str, concept: str) -> str:
    start = text.index(concept)
    return AssertionDetector(language)(text, start, start + len(concept))


@pytest.mark.parametrize(
    ("text", "concept", "expected"),
    [
        ("Risks include stroke, seizure and death.", "stroke", "hypothetical"),
        ("Risks include stroke, seizure and death.", "seizure", "hypothetical"),
        ("Risks include stroke, seizure and death.", "death", "hypothetical"),
        ("Risk of bleeding on warfarin was reviewed.", "bleeding", "hypothetical"),
        ("Stroke risk is elevated (CHA2DS2-VASc 3).", "Stroke", "hypothetical"),
        ("If fever persists, return to the clinic.", "fever", "hypothetical"),
        ("Seizure precautions in place.", "Seizure", "hypothetical"),
        ("We discussed the possibility of infection.", "infection", "possible"),
        ("Rule out sepsis: lactate sent.", "sepsis", "possible"),
        ("Alcohol use: none\nTobacco: never", "Alcohol use", "negated"),
        ("Alcohol use: none\nTobacco: never", "Tobacco", "negated"),
        ("Drug use: denies.", "Drug use", "negated"),
        ("Diabetes: no\nSmoking: never smoked", "Diabetes", "negated"),
        ("Diabetes:\nNone.", "Diabetes", "negated"),
        ("Non-smoker, works as a librarian.", "smoker", "negated"),
        ("Former smoker, quit in 2010.", "smoker", "historical"),
    ],
)
def test_english_mentions_that_do_not_apply_to_the_patient(text: str, concept: str, expected: str) -> None:
    assert _assertion("en", text, concept) == expected


@pytest.mark.parametrize(
    ("text", "concept"),
    [
        ("Type 2 diabetes with high cardiovascular risk.", "diabetes"),  # a trailing "risk" reaches one word only
        ("Hypertension: continue lisinopril.", "Hypertension"),  # a field whose value is not "nothing"
        ("Hypertension: no longer on treatment", "Hypertension"),
        ("Non-small cell lung cancer, stage II.", "lung cancer"),  # "non" negates only "-smoker"/"-drinker"
        ("Admitted with pneumonia; risks of intubation were discussed.", "pneumonia"),
        ("If the fever persists, we will start antibiotics for her pneumonia.", "pneumonia"),
    ],
)
def test_real_english_mentions_stay_present(text: str, concept: str) -> None:
    assert _assertion("en", text, concept) == "present"


@pytest.mark.parametrize(
    ("text", "concept", "expected"),
    [
        ("Riesgo de sangrado elevado.", "sangrado", "hypothetical"),
        ("Tabaco: no.", "Tabaco", "negated"),
        ("Alergias: ninguna\nAcude por fiebre.", "fiebre", "present"),
        ("No presenta fiebre, pero sí tos productiva.", "tos productiva", "present"),  # "sí" folds to "si": no cue
    ],
)
def test_spanish_cues(text: str, concept: str, expected: str) -> None:
    assert _assertion("es", text, concept) == expected


NOTE = """PAST MEDICAL HISTORY
Hypertension:
Diabetes management:
Hypertension: controlled on lisinopril.
- hypertension
1. Hypertension:
ASSESSMENT AND PLAN: hypertension, continue lisinopril.
The patient was seen today for a long standing and well known problem:
"""


def test_headings_are_label_lines_ending_in_a_colon_or_written_in_capitals() -> None:
    assert [NOTE[s:e] for s, e in heading_spans(NOTE)] == ["PAST MEDICAL HISTORY", "Hypertension", "Diabetes management"]


def test_capitals_mark_no_heading_in_a_chart_written_in_capitals() -> None:
    shouting = "HYPERTENSION\nDIABETES:\nSEEN TODAY FOR FOLLOW UP OF CHRONIC PROBLEMS, DOING WELL ON CURRENT MEDS.\n"
    assert [shouting[s:e] for s, e in heading_spans(shouting)] == ["DIABETES"]
