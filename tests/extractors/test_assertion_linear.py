"""Assertion detection is linear in the text (issue 27 item 5): each concept costs a bounded amount of work, even in a
text without a single sentence break, and the shortcut that reads lists off the whole text's separators agrees with
the list rule as written."""

from __future__ import annotations

import random
import re

import pytest

from extractors.dictionary import assertion
from extractors.dictionary.assertion import AssertionDetector

# Clinical phrases joined by commas only: one sentence however often it is repeated.
NO_BREAKS = {
    "en": "He denies weight gain, swelling, fatigue, chest pain, shortness of breath, nausea, vomiting, and diarrhea, "
          "history of asthma, but reports cough, mother with breast cancer, rule out pneumonia, no fever or chills, "
          "risk of stroke, COVID-19 vaccine given, pulmonary embolism was ruled out, hypertension is controlled, ",
    "es": "Niega fiebre, tos, disnea, dolor torácico, palpitaciones, síncope ni edemas, antecedentes de asma, pero "
          "refiere tos, madre con cáncer de mama, para descartar neumonía, sin fiebre ni escalofríos, riesgo de ictus, "
          "vacuna contra la gripe, tromboembolismo descartado, no refería lumbalgia y el cuadro se inició tras un dolor, ",
}


def _work(monkeypatch: pytest.MonkeyPatch, language: str, copies: int) -> tuple[float, float]:
    """Word counts and characters split as written, per concept, for every word of ``copies`` copies as a concept."""
    counted = {"words": 0, "split": 0}
    words, in_list = assertion._TextIndex.words, assertion._in_list

    def counting_words(index: assertion._TextIndex, start: int, end: int) -> int:
        counted["words"] += 1
        return words(index, start, end)

    def counting_in_list(text: str, language: str, start: int, end: int, item_end: int) -> bool:
        counted["split"] += item_end - start
        return in_list(text, language, start, end, item_end)

    monkeypatch.setattr(assertion._TextIndex, "words", counting_words)
    monkeypatch.setattr(assertion, "_in_list", counting_in_list)
    text = NO_BREAKS[language] * copies
    spans = [m.span() for m in re.finditer(r"\w+", text)]
    AssertionDetector(language).assertions(text, spans)
    return counted["words"] / len(spans), counted["split"] / len(spans)


@pytest.mark.parametrize("language", ["en", "es"])
def test_work_per_concept_does_not_grow_with_a_sentence(monkeypatch: pytest.MonkeyPatch, language: str) -> None:
    words_4, split_4 = _work(monkeypatch, language, 4)
    words_64, split_64 = _work(monkeypatch, language, 64)
    assert words_64 <= words_4 * 1.1, "word counts per concept grow with the sentence"
    assert split_64 <= split_4 * 1.1, "text split per concept grows with the sentence"
    assert words_64 < 10


def _texts() -> list[tuple[str, str]]:
    rng = random.Random(27)
    vocabulary = {
        "en": "no denies nor and or and/or , / fever cough chest pain mild severe left the but history of mother risk "
              "ruled out negative vaccine pandemic exposure to Nor NOR".split(" "),
        "es": "no sin niega ni y o e u , / fiebre tos dolor torácico disnea leve grave el la pero antecedentes de madre "
              "riesgo de descartado negativo vacuna contra pandemia de Ni NI Y ní".split(" "),
    }
    separators = [" ", " ", " ", "  ", ", ", ",", " , ", "/", " / ", "\t"]
    texts = []
    for _ in range(150):
        language = rng.choice(["en", "es"])
        words = (rng.choice(vocabulary[language]) + rng.choice(separators) for _ in range(rng.randrange(5, 80)))
        texts.append((language, "".join(words)))
    return texts


def test_lists_read_off_the_whole_text_agree_with_the_list_rule_as_written() -> None:
    checked = listed = 0
    for language, text in _texts():
        index = assertion._TextIndex(text, AssertionDetector(language).cues(text), language)
        sentence_end = len(text)  # the random texts have no sentence breaks
        negations = [c for c in index.cues if c.category == "negated" and c.direction == "pre"]
        for cue in negations:
            for word in re.finditer(r"\w+", text[cue.end:]):
                start, end = cue.end + word.start(), cue.end + word.end()
                item_end = index._item_end(end, sentence_end)
                expected = assertion._in_list(text, language, cue.end, start, item_end)
                assert index.opens_list(cue, start, end, sentence_end) == expected, (text, cue, start)
                checked += 1
                listed += expected
    assert checked > 10_000 and listed > 1_000  # both answers well exercised
