"""Age and sex of a chart's patient, from meta or text (coders.demographics)."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from coders.demographics import Demographics, demographics
from harness.config import DatasetConfig
from harness.contracts import Chart
from harness.sources import load_charts


def found(text: str, language: str = "en", **meta) -> tuple[int | None, str | None, str]:
    d = demographics(Chart(id="c1", language=language, text=text, meta=meta))
    return d.age, d.sex, d.source


def test_meta_wins_over_text() -> None:
    text = "A 45-year-old woman with chest pain."
    assert found(text, age=70, sex="male") == (70, "M", "meta")
    assert found(text, demographics={"age": "67", "sex": "Mujer"}) == (67, "F", "meta")
    assert found(text, sex="HOMBRE") == (45, "M", "meta")  # meta gives sex, the text fills the age


@pytest.mark.parametrize("bad_age", [125, -1, True, "old", 45.5])
def test_invalid_meta_age_is_ignored(bad_age: object) -> None:
    assert found("A 45-year-old woman with chest pain.", age=bad_age) == (45, "F", "text")
    assert found("Chest pain since this morning.", age=bad_age) == (None, None, "none")


def test_english_header_of_the_sample_charts() -> None:
    charts = load_charts(DatasetConfig(name="sample", split="dev", limit=5))
    for chart in charts:
        header = re.search(r"Age: (\d+)\s+Sex: ([MF])", chart.text)
        assert header, chart.id
        d = demographics(chart.model_copy(update={"meta": {}}))
        assert (d.age, d.sex, d.source) == (int(header[1]), header[2], "text"), chart.id


@pytest.mark.parametrize(
    ("text", "age", "sex"),
    [
        ("A 45-year-old man presents with a productive cough.", 45, "M"),
        ("45 yo F with palpitations since yesterday.", 45, "F"),
        ("The patient is a 62-year-old female seen for follow-up.", 62, "F"),
        ("An eight-year-old boy was brought in by ambulance.", 8, "M"),
        ("A 3-month-old girl with fever and poor feeding.", 0, "F"),
        ("Mr. Doe, aged 71, returns for review of his blood pressure.", 71, "M"),
        ("The patient, seen with his 80-year-old mother, is a 52-year-old gentleman.", 52, "M"),
        ("A 34-year-old patient reports pelvic pain. She says her pain began last week.", 34, None),  # pronouns: not trusted
        ("At 31 years of age he had an appendectomy. He now reports knee pain.", None, None),  # an event, and pronouns only
    ],
)
def test_english_narrative(text: str, age: int | None, sex: str | None) -> None:
    assert found(text) == (age, sex, "text" if age is not None or sex else "none")


@pytest.mark.parametrize(
    ("text", "age", "sex"),
    [
        ("Varón de 45 años que consulta por dolor lumbar.", 45, "M"),
        ("Se trata de una mujer de 32 años sin antecedentes de interés.", 32, "F"),
        ("Paciente de 60 años de edad que acude a urgencias. La paciente refiere disnea.", 60, "F"),
        ("Paciente masculino de 50 años, fumador.", 50, "M"),
        ("Niña de 5 años traída por fiebre.", 5, "F"),
        ("Niño de tres años y medio con otalgia.", 3, "M"),
        ("Lactante de 3 meses con rechazo de tomas.", 0, None),
        ("Recién nacido a término con ictericia.", 0, None),
        ("Gestante de 32 semanas que consulta por cefalea.", None, "F"),
        ("Paciente de 66 años diagnosticado de hipertensión arterial.", 66, "M"),
        ("Su padre, de 70 años de edad, acompaña al paciente, un varón de 45 años.", 45, "M"),
        ("Acude con su hijo de 3 años una mujer de 34 años por tos.", 34, "F"),
    ],
)
def test_spanish_narrative(text: str, age: int | None, sex: str | None) -> None:
    assert found(text, language="es") == (age, sex, "text")


@pytest.mark.parametrize(
    ("text", "language"), [("Cough and wheezing for two days.", "en"), ("Dolor abdominal de dos días de evolución.", "es")]
)
def test_nothing_found(text: str, language: str) -> None:
    assert found(text, language) == (None, None, "none")


def test_demographics_are_frozen_and_feed_the_edits() -> None:
    d = Demographics(age=67, sex="F", source="text")
    with pytest.raises(ValidationError):
        d.age = 68
    assert d.model_dump(include={"age", "sex"}) == {"age": 67, "sex": "F"}
