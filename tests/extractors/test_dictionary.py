"""The dictionary extractor: term matching, ICD terms, the train lexicon, and CodiEsp end to end."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import pytest
from pydantic import ValidationError

from coders.codeset import canonical_code
from extractors.dictionary.extractor import DictionaryExtractor, icd_term_variants, load_icd_index
from extractors.dictionary.term_matching import TermMatcher, fold, normalize_term, tokenize
from harness.contracts import Chart, GoldCode, Page, Span


@pytest.fixture(scope="session")
def cache_dir(isolated_cache: Path) -> str:
    """The session's cache, so the ICD term index is built once (it takes a few seconds)."""
    return str(isolated_cache)


def _extractor(cache_dir: str, **config: object) -> DictionaryExtractor:
    return DictionaryExtractor({"name": "dictionary", "train_split": "train", "cache_dir": cache_dir, **config})


def _evidence(text: str, phrase: str, nth: int = 0) -> Span:
    start = -1
    for _ in range(nth + 1):
        start = text.index(phrase, start + 1)
    return Span(start=start, end=start + len(phrase), text=phrase)


# ------------------------------------------------------------------------------------ term matching


def test_fold_keeps_offsets_and_removes_case_and_accents() -> None:
    text = "Infección URINARIA, niño con AÑOS de evolución"
    folded = fold(text)
    assert len(folded) == len(text)
    assert folded == "infeccion urinaria, niño con años de evolucion"


def test_tokens_map_back_to_exact_offsets() -> None:
    text = "Dolor  torácico (opresivo)."
    tokens = tokenize(text)
    assert [text[t.start : t.end] for t in tokens] == ["Dolor", "torácico", "opresivo"]
    assert normalize_term("  DOLOR torácico!! ") == "dolor toracico"
    assert normalize_term("Infecciones urinarias") == normalize_term("infección urinaria")


def test_longest_match_wins_and_overlaps_are_dropped() -> None:
    matcher = TermMatcher({"cancer", "cancer de mama", "mama", "dolor"}, max_tokens=5)
    text = "Cáncer de mama izquierda con dolor."
    matches = matcher.find(text)
    assert [(m.term, text[m.start : m.end]) for m in matches] == [("cancer de mama", "Cáncer de mama"), ("dolor", "dolor")]


def test_a_match_does_not_cross_a_sentence_end() -> None:
    matcher = TermMatcher({"dolor abdominal"}, max_tokens=5)
    assert matcher.find("Sin dolor. Abdominal blando.") == []
    assert len(matcher.find("Sin dolor, abdominal blando.")) == 1


def test_icd_variants_drop_nonessential_modifiers() -> None:
    assert "Essential hypertension" in {" ".join(v.split()) for v in icd_term_variants("Essential (primary) hypertension")}
    assert "Pneumonia" in icd_term_variants("Pneumonia, unspecified organism")
    assert "Fever" in icd_term_variants("Fever NOS")
    assert "Urinary tract infection" in icd_term_variants("Urinary tract infection, site not specified")


# ------------------------------------------------------------------------------------ configuration


def test_config_is_validated() -> None:
    extractor = DictionaryExtractor({"name": "dictionary", "train_split": None, "min_term_precision": 0.4})
    assert extractor.config.train_split is None and extractor.config.min_term_precision == 0.4
    with pytest.raises(ValidationError):
        DictionaryExtractor({"name": "dictionary", "no_such_field": 1})
    with pytest.raises(ValidationError):
        DictionaryExtractor({"name": "encoder"})


# ------------------------------------------------------------------------------------ ICD terms


def test_icd_terms_find_a_real_description_with_exact_offsets(cache_dir: str) -> None:
    text = "Page one.\nAdmitted with urinary tract infection.\fSecond page: essential (primary) hypertension noted."
    second = text.index("Second")
    chart = Chart(
        id="en-1",
        language="en",
        text=text,
        pages=[Page(index=0, offset=0, text=text[:second]), Page(index=1, offset=second, text=text[second:])],
    )
    [extraction] = _extractor(cache_dir, use_train_lexicon=False).extract([chart])
    assert extraction.error is None
    by_code = {f.code: f for f in extraction.findings}
    uti, htn = by_code["N39.0"], by_code["I10"]
    assert (uti.spans[0].start, uti.spans[0].end) == (text.index("urinary"), text.index(" infection.") + len(" infection"))
    assert uti.spans[0].text == uti.text == "urinary tract infection" and uti.spans[0].page == 0
    assert htn.text == "essential (primary) hypertension" and htn.spans[0].page == 1
    assert uti.attributes["source"] == "icd_terms" and uti.system == "icd10cm" and uti.kind == "diagnosis"
    assert uti.assertion == "present" and uti.confidence == pytest.approx(0.5)


def test_icd_index_is_cached_on_disk(cache_dir: str) -> None:
    built = load_icd_index(2026, 12, 2, cache_dir)
    assert list(Path(cache_dir, "dictionary").glob("icd10cm-2026-terms-*.json"))
    load_icd_index.cache_clear()
    assert load_icd_index(2026, 12, 2, cache_dir) == built
    assert built[normalize_term("Essential hypertension")] == "I10"


def test_icd_terms_are_not_matched_in_spanish_by_default(cache_dir: str) -> None:
    chart = Chart(id="es-1", language="es", text="Paciente con asthma e hypertension.")
    [extraction] = _extractor(cache_dir, use_train_lexicon=False).extract([chart])
    assert extraction.findings == []


# ------------------------------------------------------------------------------------ train lexicon


def test_train_lexicon_learns_a_span_with_its_training_precision(cache_dir: str) -> None:
    text = "Acude por dolor torácico opresivo. Dos días antes había tenido dolor torácico leve."
    train = Chart(
        id="t1",
        language="es",
        text=text,
        gold=[GoldCode(code="R07.9", evidence=[_evidence(text, "dolor torácico")])],  # the second mention is not annotated
    )
    extractor = _extractor(cache_dir, use_icd_terms=False, prior_weight=1.0, lexicon_prior=0.5, min_term_precision=0.2)
    extractor.fit([train])

    new = "Varón de 60 años con DOLOR TORACICO de inicio brusco. Niega dolor toracico previo."
    [extraction] = extractor.extract([Chart(id="n1", language="es", text=new)])
    assert [(f.code, f.text, f.assertion) for f in extraction.findings] == [
        ("R07.9", "DOLOR TORACICO", "present"),
        ("R07.9", "dolor toracico", "negated"),
    ]
    first = extraction.findings[0]
    assert new[first.spans[0].start : first.spans[0].end] == "DOLOR TORACICO"
    assert first.attributes == {"source": "train_lexicon", "term": "dolor toracico"}
    # 1 annotated out of 2 occurrences, smoothed with one pseudo-occurrence at 0.5
    assert first.confidence == pytest.approx((1 + 0.5) / (2 + 1))
    assert extractor.model_revision is not None


def test_terms_below_min_precision_are_dropped(cache_dir: str) -> None:
    text = "Dolor. Dolor. Dolor. Dolor abdominal."
    train = Chart(id="t1", language="es", text=text, gold=[GoldCode(code="R52", evidence=[_evidence(text, "Dolor")])])
    extractor = _extractor(cache_dir, use_icd_terms=False, min_term_precision=0.5)
    extractor.fit([train])
    [extraction] = extractor.extract([Chart(id="n1", language="es", text="Dolor intenso.")])
    assert extraction.findings == []


def test_procedure_codes_keep_their_system(cache_dir: str) -> None:
    text = "Se realizó una nefrectomía radical derecha."
    train = Chart(
        id="t1",
        language="es",
        text=text,
        gold=[GoldCode(code="0TT00ZZ", system="icd10pcs", evidence=[_evidence(text, "nefrectomía radical derecha")])],
    )
    extractor = _extractor(cache_dir)
    extractor.fit([train])
    [finding] = extractor.extract([Chart(id="n1", language="es", text="Tras la nefrectomia radical derecha, bien.")])[0].findings
    assert (finding.code, finding.system, finding.kind) == ("0TT00ZZ", "icd10pcs", "procedure")


# ------------------------------------------------------------------------------------ robustness


def test_empty_chart_gives_an_extraction_without_findings(cache_dir: str) -> None:
    [extraction] = _extractor(cache_dir).extract([Chart(id="empty", language="en", text="")])
    assert extraction.chart_id == "empty" and extraction.findings == [] and extraction.error is None


def test_a_failing_chart_sets_error_and_the_others_go_on(cache_dir: str, monkeypatch: pytest.MonkeyPatch) -> None:
    extractor = _extractor(cache_dir)
    findings = extractor._findings

    def flaky(chart: Chart) -> list:
        if chart.id == "bad":
            raise RuntimeError("boom")
        return findings(chart)

    monkeypatch.setattr(extractor, "_findings", flaky)
    charts = [Chart(id=i, language="en", text="Fever NOS.") for i in ("a", "bad", "c")]
    results = extractor.extract(charts)
    assert [r.chart_id for r in results] == ["a", "bad", "c"]
    assert results[1].error == "RuntimeError: boom" and results[1].findings == []
    assert results[0].error is None and [f.code for f in results[0].findings] == ["R50.9"]


# ------------------------------------------------------------------------------------ CodiEsp


@pytest.fixture(scope="module")
def codiesp_dir(data_dir: Path) -> Path:
    """CodiEsp under ``$HARNESS_DATA_DIR`` (skipped locally when missing, failed under CI)."""
    return data_dir / "codiesp"


def _codiesp_charts(root: Path, split: str, limit: int) -> list[Chart]:
    """The first ``limit`` charts of a split, with gold codes and evidence from ``<split>X.tsv``."""
    ids = sorted(p.stem for p in (root / split / "text_files").glob("*.txt"))[:limit]
    evidence: dict[str, dict[tuple[str, str], list[tuple[int, int]]]] = defaultdict(lambda: defaultdict(list))
    with (root / split / f"{split}X.tsv").open(encoding="utf-8") as f:
        for article, label, code, _text, positions in csv.reader(f, delimiter="\t"):
            system = "icd10cm" if label == "DIAGNOSTICO" else "icd10pcs"
            for part in positions.split(";"):  # discontinuous evidence: one span per piece
                start, end = map(int, part.split())
                evidence[article][(canonical_code(code, system), system)].append((start, end))
    charts = []
    for chart_id in ids:
        text = (root / split / "text_files" / f"{chart_id}.txt").read_text(encoding="utf-8")
        gold = [
            GoldCode(code=code, system=system, evidence=[Span(start=s, end=e, text=text[s:e]) for s, e in spans])
            for (code, system), spans in evidence[chart_id].items()
        ]
        charts.append(Chart(id=chart_id, language="es", text=text, gold=gold))
    return charts


def test_codiesp_fit_and_extract(codiesp_dir: Path, cache_dir: str) -> None:
    train = _codiesp_charts(codiesp_dir, "train", 40)
    dev = _codiesp_charts(codiesp_dir, "dev", 5)
    extractor = _extractor(cache_dir)
    extractor.fit(train)

    # On the charts it learned from, the lexicon finds most annotated diagnoses back.
    seen = extractor.extract(train[:10])
    gold = {(c.id, g.code) for c in train[:10] for g in c.gold if g.system == "icd10cm"}
    found = {(e.chart_id, f.code) for e in seen for f in e.findings if f.system == "icd10cm"}
    assert len(gold & found) / len(gold) > 0.7

    extractions = extractor.extract(dev)
    assert [e.chart_id for e in extractions] == [c.id for c in dev]
    assert all(e.error is None for e in extractions)
    findings = [(c, f) for c, e in zip(dev, extractions) for f in e.findings]
    assert findings
    for chart, finding in findings:
        span = finding.spans[0]
        assert chart.text[span.start : span.end] == span.text == finding.text
        assert 0.0 <= finding.confidence <= 1.0
        assert finding.code == finding.code.upper() and finding.attributes["source"] == "train_lexicon"
        assert finding.kind == ("procedure" if finding.system == "icd10pcs" else "diagnosis")
        assert ("." in finding.code) == (finding.system == "icd10cm" and len(finding.code) > 3)
