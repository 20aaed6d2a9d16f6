"""The cues of assertion detection (``extractors.dictionary.assertion``), English and Spanish: each a regular
expression over folded text (lower case, no accents; a space stands for any run of whitespace), listed with accents
for readability and folded on compile, by category and by the direction it reaches (pre-cues forward to the concept,
post-cues backward)."""

from __future__ import annotations

import re
from functools import cache
from typing import Literal

from extractors.dictionary.term_matching import fold

Direction = Literal["pre", "post"]
Category = Literal["negated", "possible", "hypothetical", "historical", "family", "context", "terminate", "pseudo"]


def _empty_field(values: str) -> str:
    """Cue of a field whose value says "nothing" ("Tobacco: never"): the value right after a colon, ending its line."""
    return rf"(?<=:)\s*(?:{values})(?=\s*(?:[.;,\n]|$))"


CUES: dict[str, dict[tuple[Category, Direction], list[str]]] = {
    "en": {
        ("negated", "pre"): [
            "no", "not", "denies", "denied", "deny", "denying", "without", "negative for", "free of", "no evidence of",
            "no sign of", "no signs of", "absence of", "absent", "never", "never had", "fails to reveal", "rules out",
            "ruled out for", "neither", "nor",
            r"non(?=[\s-]*(?:smoker|smoking|drinker|drinking))",  # "non-smoker"; "non-small cell" is no negation
        ],
        ("negated", "post"): [
            "was ruled out", "were ruled out", "is ruled out", "ruled out", "was excluded", "were excluded", "excluded",
            "negative", "absent", "not seen", "not present", "resolved",
            _empty_field("none|never|no|nil|denies|denied|negative|never smoked|never smoker|never used|non-smoker|"
                         "nonsmoker|n/a|not applicable"),
        ],
        ("possible", "pre"): [
            "rule out", "r/o", "to rule out", "possible", "possibly", "probable", "probably", "suspected", "suspect",
            "suspicion of", "suspicious for", "likely", "may have", "may be", "might have", "questionable", "query",
            "concern for", "concerning for", "worrisome for", "differential diagnosis", "versus", "vs", "evaluate for",
            "evaluation for", "to exclude", "cannot exclude", "cannot rule out", "could not rule out", "possibility of",
        ],
        ("possible", "post"): [
            "is possible", "was suspected", "is suspected", "suspected", "cannot be excluded", "cannot be ruled out",
            "could not be ruled out", "not excluded", "not ruled out", "is likely", "unlikely",
        ],
        ("hypothetical", "pre"): [
            "risk of", "risks of", "risk for", "risks for", "risks include", "risks included", "risks including",
            "risks are", "risks such as", "risk includes", "complications include", "complications including",
            "complications such as", "side effects include", "side effects including", "side effects such as",
            "chance of", "in case of", "if", "watch for", "monitor for", "warning signs of", "to prevent",
            "prevention of", "screening for", "screen for", "may cause", "can cause", "could cause", "may lead to",
            "can lead to", "could lead to", "as needed for",
        ],
        # only right after the concept ("stroke risk", "seizure precautions"): see AssertionDetector._assertion
        ("hypothetical", "post"): ["risk", "risks", "prophylaxis", "precautions", "screening", "prevention"],
        ("historical", "pre"): [
            "history of", "hx of", "h/o", "past history of", "past medical history", "past medical history of", "pmh",
            "previous", "previously", "prior", "status post", "s/p", "personal history of", "former",
            r"ex(?=-\s*(?:smoker|drinker))",
        ],
        ("historical", "post"): ["in the past", r"\d+ years ago", "years ago", "in childhood", "previously"],
        ("family", "pre"): [
            "family history of", "family history", "fh of", "mother", "father", "mom", "dad", "brother", "sister",
            "siblings", "sibling", "aunt", "uncle", "grandmother", "grandfather", "cousin", "parents", "relatives",
            "maternal", "paternal", "mother's", "father's",
        ],
        ("family", "post"): ["in the family", "in his family", "in her family", "runs in the family"],
        ("context", "pre"): [
            "pandemic of", "epidemic of", "vaccine for", "vaccine against", "vaccines for", "vaccines against",
            "vaccination for", "vaccination against", "vaccinated for", "vaccinated against", "immunization for",
            "immunization against", "immunized against", "booster for", "exposure to", "exposed to", "screened for",
        ],
        ("context", "post"): [
            "pandemic", "epidemic", "vaccine", "vaccines", "vaccination", "vaccinations", "booster", "immunization",
            "exposure", "exposures", "screen",
        ],
        ("terminate", "pre"): [
            "but", "however", "although", "though", "yet", "except", "apart from", "aside from", "other than", "which",
            "whereas", "while", "secondary to", "due to", "because of", "presents with", "presented with",
            "presenting with", "complains of", "admitted for", "now", "currently", "at present", "diagnosed with",
            # a positive statement after a negated list ("denies fever, endorses cough") opens a new clause
            "endorses", "admits to", "positive for", "significant for",
        ],
        ("pseudo", "pre"): [
            "not only", "no change", "no changes", "no significant change", "no further", "no increase", "gram negative",
            "without difficulty", "not certain whether", "not necessarily", "no significant past medical history",
            "no relevant past medical history", "non caseating", "non-caseating",
        ],
    },
    "es": {
        ("negated", "pre"): [
            "no", "sin", "niega", "niegan", "negó", "negaba", "negando", "ni", "ausencia de", "no se observa",
            "no se observan", "no se objetiva", "no se objetivan", "no se evidencia", "no se evidencian",
            "no evidencia de", "no hay", "no signos de", "libre de", "libres de", "negativo para", "negativa para",
            "negativos para", "negativas para", "negatividad para", "descartándose", "se descartó", "se descarta",
            "exento de", "exenta de", "nunca", "tampoco",
        ],
        ("negated", "post"): [
            "negativo", "negativa", "negativos", "negativas", "ausente", "ausentes", "descartado", "descartada",
            "descartados", "descartadas", "fue descartado", "fue descartada", "se descartó", "no se observa",
            "no se objetiva", "resuelto", "resuelta",
            _empty_field("no|niega|nunca|ninguno|ninguna|negativo|negativa"),
        ],
        ("possible", "pre"): [
            "descartar", "a descartar", "para descartar", "sospecha de", "sospecha", "sospechoso de",
            "sospechosa de", "se sospecha", "se sospechó", "posible", "posibles", "probable", "probables",
            "probablemente", "posiblemente", "dudoso", "dudosa", "no se descarta", "no se puede descartar",
            "no descartar", "diagnóstico diferencial", "diagnóstico diferencial con", "d/d", "vs", "versus",
            "posibilidad de", "descartando",
        ],
        ("possible", "post"): [
            "a descartar", "por descartar", "no descartado", "no descartada", "en estudio", "a estudio", "sin confirmar",
        ],
        ("hypothetical", "pre"): [
            "riesgo de", "en caso de", "profilaxis de", "prevención de", "para prevenir", "cribado de",
        ],
        ("historical", "pre"): [
            "antecedentes de", "antecedente de", "antecedentes personales de", "antecedentes personales",
            "historia de", "historia previa de", "previamente", "en la infancia", "con antecedentes de",
        ],
        ("historical", "post"): [
            "previo", "previa", "previos", "previas", "antiguo", "antigua", r"hace \d+ años", r"hace \d+ meses",
            "hace años", "en la infancia", "en su infancia",
        ],
        ("family", "pre"): [
            "antecedentes familiares de", "antecedentes familiares", "antecedente familiar de", "historia familiar de",
            "madre", "padre", "padres", "hermano", "hermana", "hermanos", "hermanas", "abuelo", "abuela", "abuelos",
            "tío", "tía", "tíos", "primo", "prima", "familiar de primer grado", "familiares", "rama materna",
            "rama paterna",
        ],
        ("family", "post"): ["en la familia", "en su familia", "familiares"],
        ("context", "pre"): [
            "pandemia de", "pandemia por", "pandemia del", "epidemia de", "epidemia por", "vacuna de", "vacuna contra",
            "vacuna frente a", "vacunas contra", "vacunación contra", "vacunación frente a", "vacunado contra",
            "vacunada contra", "exposición a", "expuesto a", "expuesta a",
        ],
        ("terminate", "pre"): [
            "pero", "aunque", "sin embargo", "no obstante", "excepto", "salvo", "a excepción de", "mientras",
            "secundario a", "secundaria a", "secundarios a", "secundarias a", "debido a", "por lo que",
            "motivo por el cual", "actualmente", "que presenta", "que presentaba", "que acude", "que consulta",
            "que ingresa", "acude por", "consulta por", "ingresa por", "presentando", "diagnosticado", "diagnosticada",
            "diagnosticado de", "diagnosticada de",
        ],
        ("pseudo", "pre"): [
            "no solo", "sin cambios", "no cambios", "gram negativo", "gram negativos", "gram negativa", "gram negativas",
            "gramnegativos", "sin dificultad", "no obstante", "sin embargo", "sin más", "sin otra", "sin otros",
            "sin antecedentes de interés", "sin antecedentes personales de interés", "sin antecedentes médicos de interés",
            "sin antecedentes patológicos de interés", "sin otros antecedentes de interés", "no caseificante",
            "no caseificantes", "no necrotizante", "no necrotizantes",
        ],
    },
}


@cache
def compiled(language: str) -> tuple[tuple[Category, Direction, re.Pattern[str]], ...]:
    """One pattern per (category, direction); alternatives longest first so "no se descarta" beats "no"."""
    patterns = []
    for (category, direction), cues in CUES[language].items():
        alternatives = sorted({fold(c).replace(" ", r"\s+") for c in cues}, key=len, reverse=True)
        patterns.append((category, direction, re.compile(rf"(?<!\w)(?:{'|'.join(alternatives)})(?!\w)")))
    return tuple(patterns)
