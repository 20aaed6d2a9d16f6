"""A chart's age and sex, for the Medicare Code Editor edits (``coders.edits.run_edits``).

``chart.meta`` wins where it carries them (``age``, ``sex``, or ``demographics: {age, sex}``);
otherwise the text is read: header fields (``Age: 27    Sex: M``), then the opening
narrative in English or Spanish ("a 45-year-old woman", "varón de 45 años", "lactante de
3 meses"). Ages of relatives ("su madre de 70 años", "a 30-year-old father") are skipped.
Only the opening is read: later ages are usually events ("a los 31 años"), not the patient's.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from harness.contracts import Chart

MAX_AGE = 124
_HEADER_CHARS = 2000  # header fields sit above the narrative, but may follow a letterhead
_OPENING_CHARS = 600  # the patient is introduced in the first sentences


class Demographics(BaseModel):
    """Age and sex of a chart's patient, and where they were found."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    age: int | None = None
    """Age in whole years (0 for infants under one year); None when unknown."""
    sex: Literal["M", "F"] | None = None
    """Sex, ``M`` or ``F``; None when unknown."""
    source: Literal["meta", "text", "none"] = "none"
    """``meta`` when ``chart.meta`` gave a field (text may fill the other), ``text`` when only
    the text gave them, ``none`` when neither was found."""


def demographics(chart: Chart) -> Demographics:
    """The patient's age and sex: ``chart.meta`` first, field by field, then the chart text.

    ``Demographics.model_dump(include={"age", "sex"})`` is the ``demographics`` argument of
    ``run_edits``. Chart text is never logged.
    """
    meta_age, meta_sex = _from_meta(chart.meta)
    text_age, text_sex = (None, None) if meta_age is not None and meta_sex is not None else _from_text(chart)
    age = meta_age if meta_age is not None else text_age
    sex = meta_sex or text_sex
    if meta_age is not None or meta_sex:
        source = "meta"
    else:
        source = "text" if age is not None or sex else "none"
    return Demographics(age=age, sex=sex, source=source)


# -- meta --------------------------------------------------------------------------------

_SEX_VALUES = {
    **dict.fromkeys(("m", "male", "hombre", "varón", "varon", "masculino"), "M"),
    **dict.fromkeys(("f", "female", "mujer", "femenino"), "F"),
}


def _from_meta(meta: dict[str, Any]) -> tuple[int | None, str | None]:
    nested = meta.get("demographics")
    nested = nested if isinstance(nested, dict) else {}
    age = next((a for a in map(_valid_age, (meta.get("age"), nested.get("age"))) if a is not None), None)
    sexes = (_SEX_VALUES.get(s.strip().lower()) for s in (meta.get("sex"), nested.get("sex")) if isinstance(s, str))
    return age, next((s for s in sexes if s), None)


def _valid_age(value: Any) -> int | None:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_AGE:
        return None
    return value


# -- numbers ----------------------------------------------------------------------------

_NUMBER_WORDS = {
    # Spanish
    "un": 1, "uno": 1, "una": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7,
    "ocho": 8, "nueve": 9, "diez": 10, "once": 11, "doce": 12, "trece": 13, "catorce": 14, "quince": 15,
    "dieciséis": 16, "dieciseis": 16, "diecisiete": 17, "dieciocho": 18, "diecinueve": 19, "veinte": 20,
    "veintiún": 21, "veintiuno": 21, "veintiuna": 21, "veintidós": 22, "veintidos": 22, "veintitrés": 23,
    "veintitres": 23, "veinticuatro": 24, "veinticinco": 25, "veintiséis": 26, "veintiseis": 26,
    "veintisiete": 27, "veintiocho": 28, "veintinueve": 29, "treinta": 30, "cuarenta": 40, "cincuenta": 50,
    "sesenta": 60, "setenta": 70, "ochenta": 80, "noventa": 90, "cien": 100,
    # English
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
_WORD = "|".join(sorted(map(re.escape, _NUMBER_WORDS), key=len, reverse=True))
# "treinta y dos", "forty-five"; the closing \b keeps "un" from matching the start of "una"
_NUM = rf"(?P<n>\d{{1,3}}|(?:{_WORD})(?:(?:\s+y\s+|-)(?:{_WORD}))?)\b"


def _number(words: str) -> int:
    return int(words) if words.isdigit() else sum(_NUMBER_WORDS[w] for w in re.split(r"\s+y\s+|-", words.lower()))


def _years(number: str, unit: str) -> int:
    """Whole years from a number and its unit: months count down to years, shorter units are 0."""
    n, unit = _number(number), unit.lower()
    if unit.startswith(("a", "y")):  # años, year(s)
        return n
    return n // 12 if unit.startswith("m") else 0


# -- text patterns ------------------------------------------------------------------------

_FLAGS = re.IGNORECASE
_UNIT_ES = r"(?P<unit>años?|mes(?:es)?|semanas?|días?|horas?)"
_UNIT_EN = r"(?P<unit>years?|months?|weeks?|days?|hours?)"
_PATIENT_ES = (
    r"varón|varon|hombre|mujer|masculino|femenin[oa]|paciente|enferm[oa]|niñ[oa]|chic[oa]|joven|adolescente"
    r"|lactante|preescolar|escolar|neonato|recién\s+nacid[oa]|señora?|ancian[oa]|gestante|embarazada|puérpera|primigesta"
)
_AGES = tuple(
    re.compile(pattern, _FLAGS)
    for pattern in (
        # a patient word, up to two words describing it ("Paciente varón, de 63 años"), then the age
        rf"\b(?:{_PATIENT_ES})(?:[\s,]+(?!con\b|sin\b|de\b|que\b|y\b)\w+){{0,2}}[\s,]+de\s+{_NUM}\s+{_UNIT_ES}",
        # "45 años de edad"; "a los 2 años de edad" and "a la edad de 5 años" are events, not the patient's age
        rf"(?<!los )\b{_NUM}\s+{_UNIT_ES}(?:\s+y\s+(?:medio|\w+\s+mes(?:es)?))?\s+de\s+(?:edad|vida)\b",
        rf"(?<!a la )\bedad\s*(?:de|:)?\s*{_NUM}\s+años\b",
        rf",\s*{_NUM}\s+años,",  # "La paciente EJO, sexo femenino, 23 años, fue"
        # "45-year-old", "three-day-old", "one-and-a-half-month-old", "11 years and 10 months old"
        rf"\b{_NUM}(?:[-\s]and[-\s]a[-\s]half)?[-\s]+{_UNIT_EN}(?:\s+and\s+\w+\s+months?)?[-\s]+old\b",
        rf"\b(?:patient|man|woman|male|female|boy|girl|child|infant|baby)\s+of\s+{_NUM}\s+{_UNIT_EN}",
        rf"(?<!at )\b{_NUM}\s+{_UNIT_EN}(?:\s+and\s+\w+\s+months?)?\s+of\s+age\b",
        r"\b(?P<n>\d{1,3})\s*(?:yo|y/o|y\.o\.)(?!\w)",
        r"\baged\s+(?P<n>\d{1,3})\b",
    )
)
_GESTATION = re.compile(r"gestante|embarazada|puérpera|primigesta|gestaci[óo]n|embarazo|amenorrea|pregnan|gestation", _FLAGS)
_NEWBORN = re.compile(r"\b(?:recién\s+nacid[oa]s?|neonatos?|newborns?|neonates?)\b", _FLAGS)
_AGE_HEADER = re.compile(r"\b(?:age|edad)\s*:\s*(?P<n>\d{1,3})\b", _FLAGS)
_SEX_HEADER = re.compile(
    r"\b(?:sex|gender|sexo)\s*:\s*(?P<sex>male|female|masculino|femenino|hombre|mujer|varón|[MF])\b", _FLAGS
)
_YO_SEX = re.compile(r"\b\d{1,3}\s*(?:yo|y/o|y\.o\.)\s*(?P<sex>male|female|[MF])\b", _FLAGS)

_SEX_WORD = re.compile(
    r"\b(?:(?P<M>varón|varon|hombre|masculino|niño|chico|señor|anciano|man|male|gentleman|boy|mr\.)"
    r"|(?P<F>mujer|femenin[oa]|niña|chica|señora|anciana|gestante|embarazada|puérpera|primigesta|secundigesta|hembra"
    r"|(?:la|una)\s+(?:paciente|lactante)|recién\s+nacida|woman|female|lady|girl|mrs\.|ms\.|pregnant|primigravida))(?!\w)",
    _FLAGS,
)
# Spanish participles agree with the patient: "Paciente de 60 años diagnosticado", "Paciente de 67 años, fumadora"
_PARTICIPLE_ES = re.compile(
    rf"\bpaciente(?:\s+de\s+{_NUM}\s+{_UNIT_ES}(?:\s+de\s+edad)?)?[\s,]+(?:ex-?)?(?P<word>\w{{3,}}(?:ad|id)[oa]|\w+dora?)\b",
    _FLAGS,
)
# Last resort for Spanish: articles agree with the patient's sex (99% agreement with the sex words on CodiEsp
# train, so over the whole text). English pronouns are not used: machine-translated charts mix them up, and a
# wrong sex fails a sex edit where a missing one only skips it.
_ARTICLE_ES = re.compile(r"\b(?:(?P<F>la|una)|(?P<M>el|un|al|del))\s+(?:paciente|lactante)\b", _FLAGS)

_RELATIVE = (
    r"madre|padres?|herman[oa]s?|hij[oa]s?|espos[oa]|marido|pareja|abuel[oa]|tío|tía|prim[oa]|gemel[oa]"
    r"|mother|father|parents?|sons?|daughters?|brothers?|sisters?|wife|husband|partner|grandmother|grandfather"
    r"|uncle|aunt|cousin|twin|siblings?"
)
_GAP = r"[^\w.;\n]"  # within the sentence: "Varón de 29 años. Hijo mediano de tres hermanos" is the patient
# a relative just before, give or take a few small words ("su madre, de 70 años", "father of a"), or "su mujer" (his wife);
# not "his mother, is a 52-year-old man"
_RELATIVE_BEFORE = re.compile(
    rf"(?:\b(?:{_RELATIVE})\b(?:{_GAP}+(?:de|del|edad|of|a|an|the|aged))*|\bsus?){_GAP}*$", _FLAGS
)
_RELATIVE_AFTER = re.compile(rf"^{_GAP}*(?:{_RELATIVE})\b", _FLAGS)  # "a 28-year-old mother"


def _of_relative(text: str, start: int, end: int) -> bool:
    return bool(_RELATIVE_BEFORE.search(text[max(0, start - 40) : start]) or _RELATIVE_AFTER.match(text[end : end + 20]))


def _from_text(chart: Chart) -> tuple[int | None, str | None]:
    header, opening = chart.text[:_HEADER_CHARS], chart.text[:_OPENING_CHARS]
    age = _header_age(header)
    sex = _header_sex(header, chart.language) or _narrative_sex(opening, chart.language)
    if sex is None and chart.language == "es":
        sex = _majority(_ARTICLE_ES, chart.text, 1)
    return (_narrative_age(opening) if age is None else age), sex


def _header_age(text: str) -> int | None:
    return next((age for m in _AGE_HEADER.finditer(text) if (age := _valid_age(int(m["n"]))) is not None), None)


def _header_sex(text: str, language: str) -> str | None:
    for m in (*_SEX_HEADER.finditer(text), *_YO_SEX.finditer(text)):
        if len(m["sex"]) > 1 or language != "es":  # a Spanish "M" may mean mujer
            return _SEX_VALUES[m["sex"].lower()]
    return None


def _narrative_age(text: str) -> int | None:
    """The first age in the opening that is not a relative's nor a pregnancy's length, in any language."""
    first_sentence = re.split(r"\.\s|\n", text, maxsplit=1)[0]  # later, a newborn may be the patient's child
    found = [(m.start(), 0) for m in _NEWBORN.finditer(first_sentence) if not _of_relative(text, m.start(), m.end())]
    for pattern in _AGES:
        for m in pattern.finditer(text):
            unit = m.groupdict().get("unit") or "years"
            if _of_relative(text, m.start("n"), m.end()):
                continue
            if not unit.lower().startswith(("a", "y")) and _GESTATION.search(text, m.start(), m.end() + 30):
                continue
            found.append((m.start(), _years(m["n"], unit)))
    return next((age for _, age in sorted(found) if _valid_age(age) is not None), None)


def _narrative_sex(text: str, language: str) -> str | None:
    """The first sex word of the opening that is not a relative's, else a Spanish participle agreeing with the patient."""
    for m in _SEX_WORD.finditer(text):
        if not _of_relative(text, m.start(), m.end()):
            return "M" if m["M"] else "F"
    participle = _PARTICIPLE_ES.search(text) if language == "es" else None
    return None if participle is None else "F" if participle["word"].lower().endswith("a") else "M"


def _majority(pattern: re.Pattern[str], text: str, least: int) -> str | None:
    """M or F when one side has at least ``least`` mentions and at least twice the other's."""
    counts = {"M": 0, "F": 0}
    for m in pattern.finditer(text):
        counts["M" if m["M"] else "F"] += 1
    for sex, other in (("M", "F"), ("F", "M")):
        if counts[sex] >= least and counts[sex] >= 2 * counts[other]:
            return sex
    return None
