"""ConText-style assertion detection for English and Spanish clinical text.

A cue is a phrase that changes how a nearby concept applies to the patient: negated
("denies", "no presenta"), possible ("rule out", "descartar"), hypothetical (only talked
about: "risks include", "if", "riesgo de"), historical ("history of", "antecedentes de") or
family ("mother", "madre"). A template field with an empty value ("Alcohol use: none",
"Tabaco: no") negates its label. Pre-cues reach forward to the concept,
post-cues reach backward. A cue's scope stays inside the sentence or clause, stops at a
termination cue ("but", "pero", "sin embargo", ...) and spans at most a few words.
Pseudo-cues ("not only", "sin embargo", "gram negativo") contain a cue word without being
one; they are matched so that the word inside them is not taken as a cue.

Cues are matched on the folded text (lower case, no accents), so "negó" and "nego" are
the same cue; they are listed here with accents for readability and folded on compile.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Literal

from extractors.dictionary.term_matching import fold
from harness.contracts import Assertion

Direction = Literal["pre", "post"]
Category = Literal["negated", "possible", "hypothetical", "historical", "family", "terminate", "pseudo"]

# When several cues reach a concept, the first category of this list wins.
_PRIORITY: tuple[Assertion, ...] = ("negated", "family", "possible", "hypothetical", "historical")


def _empty_field(values: str) -> str:
    """Cue of a field whose value says "nothing" ("Tobacco: never"): the value right after a colon, ending its line."""
    return rf"(?<=:)\s*(?:{values})(?=\s*(?:[.;,\n]|$))"


# Cues are regular expressions over folded text; a space stands for any run of whitespace.
_CUES: dict[str, dict[tuple[Category, Direction], list[str]]] = {
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
        ("terminate", "pre"): [
            "but", "however", "although", "though", "yet", "except", "apart from", "aside from", "other than", "which",
            "whereas", "while", "secondary to", "due to", "because of", "presents with", "presented with",
            "presenting with", "complains of", "admitted for", "now", "currently", "at present", "diagnosed with",
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


@dataclass(frozen=True, slots=True)
class Cue:
    """A cue found in a text."""

    start: int
    end: int
    category: Category
    direction: Direction


@cache
def _compiled(language: str) -> tuple[tuple[Category, Direction, re.Pattern[str]], ...]:
    """One pattern per (category, direction); alternatives longest first so "no se descarta" beats "no"."""
    patterns = []
    for (category, direction), cues in _CUES[language].items():
        alternatives = sorted({fold(c).replace(" ", r"\s+") for c in cues}, key=len, reverse=True)
        patterns.append((category, direction, re.compile(rf"(?<!\w)(?:{'|'.join(alternatives)})(?!\w)")))
    return tuple(patterns)


_WORD = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"[;!?\n]|\.\s")


class AssertionDetector:
    """Decides, for concepts found in a text, whether each is present, negated, possible, hypothetical, historical or family."""

    def __init__(self, language: str = "en", max_scope: int = 8, max_post_scope: int = 4):
        """``language``: ISO 639-1 code (``es`` or ``en``; others fall back to English).
        ``max_scope``/``max_post_scope``: most words between a pre-/post-cue and the concept."""
        base = language.lower().split("-")[0].split("_")[0]
        self.language = base if base in _CUES else "en"
        self.max_scope = max_scope
        self.max_post_scope = max_post_scope
        self._patterns = _compiled(self.language)

    def cues(self, text: str) -> list[Cue]:
        """Cues of ``text`` in order; where cues overlap, the leftmost (then longest) is kept, as a regex would."""
        folded = fold(text)
        found = [
            Cue(m.start(), m.end(), category, direction)
            for category, direction, pattern in self._patterns
            for m in pattern.finditer(folded)
        ]
        kept: list[Cue] = []
        for cue in sorted(found, key=lambda c: (c.start, -c.end)):
            last = kept[-1] if kept else None
            # A cue listed both as pre- and post-cue keeps both readings (same span).
            if last is None or cue.start >= last.end or (cue.start, cue.end) == (last.start, last.end):
                kept.append(cue)
        return kept

    def assertions(self, text: str, spans: Sequence[tuple[int, int]]) -> list[Assertion]:
        """Assertion of each ``(start, end)`` concept span of ``text``."""
        cues = self.cues(text)
        cue_starts = [c.start for c in cues]
        ends = [m.end() for m in _SENTENCE_END.finditer(text)]
        return [self._assertion(text, start, end, cues, cue_starts, ends) for start, end in spans]

    def __call__(self, text: str, start: int, end: int) -> Assertion:
        """Assertion of the single concept at ``text[start:end]``."""
        return self.assertions(text, [(start, end)])[0]

    def _assertion(
        self, text: str, start: int, end: int, cues: list[Cue], cue_starts: list[int], sentence_ends: list[int]
    ) -> Assertion:
        i = bisect.bisect_right(sentence_ends, start) - 1
        sentence_start = sentence_ends[i] if i >= 0 else 0
        j = bisect.bisect_left(sentence_ends, end)
        sentence_end = sentence_ends[j] if j < len(sentence_ends) else len(text)
        found: set[str] = set()

        pre: list[Cue] = []
        for cue in cues[bisect.bisect_left(cue_starts, sentence_start) :]:
            if cue.end > start:
                break
            if cue.category == "terminate":
                pre.clear()  # a termination cue closes the scope of every cue before it
            elif cue.direction == "pre" and cue.category != "pseudo":
                pre.append(cue)
        found.update(c.category for c in pre if self._words(text, c.end, start) <= self.max_scope)

        for cue in cues[bisect.bisect_left(cue_starts, end) :]:
            if cue.start >= sentence_end or cue.category == "terminate":
                break
            # a trailing "risk" or "precautions" qualifies the words just before it, not the clause:
            # "stroke risk" is hypothetical, "diabetes with high cardiovascular risk" is not
            reach = 0 if cue.category == "hypothetical" else self.max_post_scope
            if cue.direction == "post" and self._words(text, end, cue.start) <= reach:
                found.add(cue.category)
        return next((a for a in _PRIORITY if a in found), "present")

    @staticmethod
    def _words(text: str, start: int, end: int) -> int:
        return len(_WORD.findall(text, start, end))
