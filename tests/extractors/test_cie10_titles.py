"""Spanish ICD-10 titles mapped onto ICD-10-CM codes (``extractors.reference.cie10_titles``)."""

from __future__ import annotations

from extractors.reference.cie10_titles import cie10_titles
from extractors.reference.span_lexicon import SpanLexicon, key_tokens, term_key, title_terms


def _codes_of(titles: list[tuple[str, str]], title: str) -> set[str]:
    return {code for t, code in titles if t == title}


def test_a_who_code_that_icd10cm_shares_keeps_its_code() -> None:
    titles = cie10_titles(2026)
    assert _codes_of(titles, "Quiste radicular") == {"K04.8"}
    assert _codes_of(titles, "Hipertelorismo") == {"Q75.2"}


def test_a_title_names_the_vaguest_icd10cm_refinement() -> None:
    titles = cie10_titles(2026)
    # WHO N94.1 is subdivided in ICD-10-CM; a bare "dispareunia" is N94.10 "Unspecified dyspareunia".
    assert _codes_of(titles, "Dispareunia") == {"N94.10"}
    # All of J18's children say "unspecified organism"; J18.9 "Pneumonia, unspecified organism" ends in 9.
    assert _codes_of(titles, "Neumonía") == {"J18.9"}
    # Laterality is not guessed: WHO S52.6 goes to the unspecified side (S52.609A), not the first child (right, S52.601A).
    assert _codes_of(titles, "Fractura de la epífisis inferior del cúbito y del radio") == {"S52.609A"}


def test_an_unspecified_qualifier_is_optional_and_blocks_are_not_codes() -> None:
    titles = cie10_titles(2026)
    full = "Tumor maligno del sistema nervioso central, sin otra especificación"
    assert _codes_of(titles, full) == _codes_of(titles, "Tumor maligno del sistema nervioso central") == {"C72.9"}
    assert _codes_of(titles, "Neumonía, organismo no especificado") == _codes_of(titles, "Neumonía")
    assert len(titles) == len(set(titles)) and not [t for t, code in titles if "-" in code]
    assert all(t and "(" not in t for t, _ in titles)


def test_titles_become_icd_terms_found_in_a_chart() -> None:
    lexicon = SpanLexicon()
    title_terms(lexicon, cie10_titles(2026))
    text = "Presenta quistes radiculares en el maxilar."
    hits = lexicon.find(key_tokens(text))
    assert {(h.term, text[h.start:h.end]) for h in hits} >= {(term_key("quiste radicular"), "quistes radiculares")}
    assert lexicon.codes[term_key("quiste radicular")] == {"K04.8": 1}
    assert lexicon.sources[term_key("quiste radicular")] == "icd"
