"""ConText-style assertion detection in English and Spanish."""

from __future__ import annotations

import pytest

from extractors.dictionary.assertion import AssertionDetector


def _assert(language: str, text: str, concept: str) -> str:
    start = text.index(concept)
    return AssertionDetector(language)(text, start, start + len(concept))


@pytest.mark.parametrize(
    ("language", "text", "concept", "expected"),
    [
        ("en", "The patient denies chest pain.", "chest pain", "negated"),
        ("en", "No evidence of pneumonia on the film.", "pneumonia", "negated"),
        ("en", "Pulmonary embolism was ruled out.", "Pulmonary embolism", "negated"),
        ("en", "CT angiogram to rule out PE.", "PE", "possible"),
        ("en", "History of myocardial infarction in 2010.", "myocardial infarction", "historical"),
        ("en", "Mother with breast cancer.", "breast cancer", "family"),
        ("en", "Family history of colon cancer.", "colon cancer", "family"),
        ("en", "Presents with chest pain and fever.", "fever", "present"),
        ("es", "No presenta fiebre.", "fiebre", "negated"),
        ("es", "Niega dolor torácico.", "dolor torácico", "negated"),
        ("es", "Serología para VIH negativa.", "VIH", "negated"),
        ("es", "Se solicita angio-TAC para descartar TEP.", "TEP", "possible"),
        ("es", "No se descarta neoplasia de colon.", "neoplasia de colon", "possible"),
        ("es", "Antecedentes de hipertensión arterial y diabetes.", "diabetes", "historical"),
        ("es", "Madre con cáncer de mama.", "cáncer de mama", "family"),
        ("es", "Antecedentes familiares de cáncer de colon.", "cáncer de colon", "family"),
        ("es", "Acude por fiebre y tos.", "tos", "present"),
    ],
)
def test_cues_in_both_languages(language: str, text: str, concept: str, expected: str) -> None:
    assert _assert(language, text, concept) == expected


@pytest.mark.parametrize(
    ("language", "text", "concept"),
    [
        ("en", "No fever, but productive cough.", "productive cough"),
        ("en", "Denies chest pain; however reports dyspnea.", "dyspnea"),
        ("es", "No presenta fiebre, pero sí tos productiva.", "tos productiva"),
        ("es", "No refiere disnea, aunque sí dolor abdominal.", "dolor abdominal"),
        ("es", "Sin fiebre; sin embargo presenta astenia.", "astenia"),
    ],
)
def test_termination_cue_stops_scope(language: str, text: str, concept: str) -> None:
    assert _assert(language, text, concept) == "present"


def test_scope_ends_with_the_sentence() -> None:
    text = "No fever. Cough for two weeks."
    assert _assert("en", text, "Cough") == "present"
    assert _assert("en", text, "fever") == "negated"


def test_scope_is_limited_to_a_few_words() -> None:
    detector = AssertionDetector("en", max_scope=3)
    text = "No signs of infection were seen during the whole stay and pneumonia developed."
    start = text.index("pneumonia")
    assert detector(text, start, start + len("pneumonia")) == "present"


def test_pseudo_cue_is_not_a_cue() -> None:
    assert _assert("es", "Crecen bacilos gram negativos en orina.", "orina") == "present"
    assert _assert("en", "Not only fever but rash.", "rash") == "present"


def test_list_after_negation_is_negated() -> None:
    text = "No presenta fiebre, tos ni disnea."
    assert [_assert("es", text, c) for c in ("fiebre", "tos", "disnea")] == ["negated"] * 3


def test_accents_do_not_matter_and_unknown_language_falls_back_to_english() -> None:
    assert _assert("es", "Nego dolor toracico.", "dolor toracico") == "negated"
    assert AssertionDetector("de").language == "en"
    assert AssertionDetector("es-ES").language == "es"


def test_assertions_for_many_spans_at_once() -> None:
    text = "Antecedentes de asma. Acude por neumonía. Niega alergias."
    spans = [(text.index(w), text.index(w) + len(w)) for w in ("asma", "neumonía", "alergias")]
    assert AssertionDetector("es").assertions(text, spans) == ["historical", "present", "negated"]
