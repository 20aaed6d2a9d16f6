"""Negated lists and context mentions (issue 27 item 9): what real outpatient notes got wrong."""

from __future__ import annotations

import pytest

from extractors.dictionary.assertion import AssertionDetector


def _assert(language: str, text: str, concept: str) -> str:
    start = text.index(concept)
    return AssertionDetector(language)(text, start, start + len(concept))


LONG = "He denies weight gain, swelling, fatigue, chest pain, shortness of breath, nausea, vomiting, and diarrhea."


@pytest.mark.parametrize(
    ("language", "text", "concept"),
    [
        ("en", LONG, "weight gain"),
        ("en", LONG, "nausea"),
        ("en", LONG, "vomiting"),
        ("en", LONG, "diarrhea"),  # 12 words after "denies": past the scope, but still an item of the list
        ("en", "No fever, chills, night sweats, weight loss, cough, hemoptysis or dyspnea.", "dyspnea"),
        ("en", "Negative for fever, chills, rash, arthralgia, myalgia, headache, dysuria.", "dysuria"),
        ("es", "Niega fiebre, tos, disnea, dolor torácico, palpitaciones, síncope ni edemas.", "edemas"),
    ],
)
def test_a_negation_cue_negates_every_item_of_its_list(language: str, text: str, concept: str) -> None:
    assert _assert(language, text, concept) == "negated"


@pytest.mark.parametrize(
    ("text", "concept"),
    [
        (LONG + " Hypertension is controlled.", "Hypertension"),  # the list ends with its sentence
        ("Denies chest pain, fever, chills; diarrhea for two days.", "diarrhea"),  # or its clause
        ("Denies chest pain, fever or chills, but has had nausea, vomiting and diarrhea.", "diarrhea"),
        ("Denies chest pain, fever, chills, endorses nausea, vomiting and diarrhea.", "diarrhea"),
        # a long stretch is a new statement, not a list item
        ("No acute distress and she has been taking all of her medications, with hypertension well controlled.",
         "hypertension"),
    ],
)
def test_the_list_ends_with_its_sentence_clause_or_a_long_stretch(text: str, concept: str) -> None:
    assert _assert("en", text, concept) == "present"


@pytest.mark.parametrize(
    ("language", "text", "concept"),
    [
        ("en", "Follow-up visit during the COVID-19 pandemic.", "COVID-19"),
        ("en", "She received the COVID-19 vaccine in May.", "COVID-19"),
        ("en", "Vaccinated against influenza this season.", "influenza"),
        ("en", "Known exposure to COVID-19 at work.", "COVID-19"),
        ("en", "Hepatitis C screen sent.", "Hepatitis C"),
        ("es", "Consulta durante la pandemia de COVID-19.", "COVID-19"),
        ("es", "Recibió la vacuna contra la gripe.", "gripe"),
    ],
)
def test_an_epidemic_vaccine_screening_or_exposure_is_context_not_a_diagnosis(language: str, text: str,
                                                                             concept: str) -> None:
    assert _assert(language, text, concept) == "hypothetical"


@pytest.mark.parametrize(
    ("text", "concept"),
    [
        ("Diagnosed with COVID-19 last week.", "COVID-19"),
        ("During the pandemic she developed pneumonia.", "pneumonia"),  # the cue reaches its neighbours only
        ("She had pneumonia a month after the vaccine.", "pneumonia"),
        ("Contact with and exposure to COVID-19.", "Contact with and exposure to COVID-19"),  # a cue inside a concept
    ],
)
def test_context_cues_reach_only_their_neighbours(text: str, concept: str) -> None:
    assert _assert("en", text, concept) == "present"


@pytest.mark.parametrize(
    ("text", "concept", "expected"),
    [
        # a "y" after a negation opens a new, affirmative clause
        ("No refería fiebre y el cuadro se inició tras un dolor en la rodilla.", "dolor en la rodilla", "present"),
        ("Dolor abdominal sin un foco claro y considerándose la causa la propia enfermedad.", "enfermedad", "present"),
        ("El electroencefalograma no mostró alteraciones y la resonancia demostró una lesión y edema medular, "
         "hiporreflexia y clonus.", "hiporreflexia", "present"),
        ("Serologías negativas para VIH, VDRL, sífilis, toxoplasma, hepatitis B y positiva para hepatitis C.",
         "hepatitis C", "present"),
        # a list ends at a cue of its own
        ("Paciente sin alergias medicamentosas conocidas, con antecedentes personales de hipertensión arterial, "
         "diabetes mellitus tipo 2 y asma.", "diabetes mellitus tipo 2", "historical"),
        ("Paciente sin alergias medicamentosas conocidas, con antecedentes personales de hipertensión arterial, "
         "diabetes mellitus tipo 2 y asma.", "asma", "historical"),
        # the concept's item is long as a whole, though short up to the concept
        ("Varón no portador de prótesis dental, fumador desde los 15 años (20 cigarrillos al día).", "cigarrillos",
         "present"),
    ],
)
def test_a_spanish_list_does_not_run_on_into_a_new_statement(text: str, concept: str, expected: str) -> None:
    assert _assert("es", text, concept) == expected


@pytest.mark.parametrize(
    ("language", "text", "concept"),
    [
        ("es", "Serologías negativas para VIH, VDRL, sífilis, toxoplasma, hepatitis B y positiva para hepatitis C.",
         "hepatitis B"),
        ("es", "No se hallaron causas de pancreatitis, incluyendo hipertrigliceridemia, hipercalcemia, alcoholismo, "
               "litiasis biliar o traumatismo.", "litiasis biliar"),
        # a Spanish "y" still joins the words of one short item
        ("es", "Niega fiebre, tos, expectoración, dolor torácico, palpitaciones, síncope, disnea y edemas.", "edemas"),
        # a concept inside a short item is an item of the list
        ("en", "No dizziness and giddiness, pain in the right knee, nausea with vomiting or constipation.", "vomiting"),
    ],
)
def test_short_items_of_a_negated_list_stay_negated(language: str, text: str, concept: str) -> None:
    assert _assert(language, text, concept) == "negated"
