"""The span lexicon's compound terms: the pieces of a discontinuous mention found near each other."""

from __future__ import annotations

from extractors.reference.span_lexicon import SpanLexicon, evidence_terms, key_tokens

TEXT = "Hígado aumentado de tamaño. En la ecografía se aprecian signos de esteatosis difusa."


def _lexicon(window: int = 50) -> SpanLexicon:
    lexicon = SpanLexicon(compound_window=window)
    evidence_terms(lexicon, [(["hígado", "esteatosis"], "K76.0"), (["signos"], "R69")])
    return lexicon


def test_a_discontinuous_mention_is_found_across_clauses() -> None:
    hits = _lexicon().find(key_tokens(TEXT))
    compound = [h for h in hits if h.compound]
    assert len(compound) == 1
    assert _lexicon().codes[compound[0].term] == {"K76.0": 1}
    assert TEXT[compound[0].start : compound[0].end].startswith("Hígado") and TEXT[: compound[0].end].endswith("esteatosis")
    # its pieces are terms of their own too, so a chart naming only one of them still proposes the code
    assert {TEXT[h.start : h.end] for h in hits if not h.compound} == {"Hígado", "signos", "esteatosis"}


def test_a_compound_needs_all_its_pieces_within_the_window() -> None:
    assert not [h for h in _lexicon(window=5).find(key_tokens(TEXT)) if h.compound]
    assert not [h for h in _lexicon().find(key_tokens("Signos de esteatosis difusa.")) if h.compound]


def test_inflected_pieces_still_match() -> None:
    hits = _lexicon().find(key_tokens("Hígados con esteatosis."))
    assert [h.compound for h in hits].count(True) == 1


def test_a_compound_of_long_pieces_is_kept_whole() -> None:
    # each piece may have up to max_words words; the compound as a whole may have more
    lexicon = SpanLexicon(max_words=3)
    evidence_terms(lexicon, [(["lente intraocular izquierda", "facoemulsificación del cristalino"], "08RJ3JZ")])
    hits = lexicon.find(key_tokens("Facoemulsificación del cristalino con implante de lente intraocular izquierda."))
    assert [lexicon.codes[h.term] for h in hits if h.compound] == [{"08RJ3JZ": 1}]
