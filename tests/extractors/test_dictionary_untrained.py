"""The dictionary without labelled training charts, and the confidence flag that keeps its guesses out of ``auto``."""

from __future__ import annotations

import logging

import pytest

from coders.engine import RuleEngine
from coders.routing import RoutingConfig, route
from extractors.base import LearnsFromCharts
from extractors.dictionary.extractor import DictionaryExtractor
from harness.contracts import Chart, GoldCode, Span

NOTE = Chart(id="n1", language="en", text="Seen for congestive heart failure and hypertension. Denies chest pain.")
UNTRAINED_LINE = ("dictionary: no labelled training charts; matching ICD-10-CM terms untrained "
                  "(confidences are priors, so such codes route to review)")


def _extractor() -> DictionaryExtractor:
    return DictionaryExtractor({"name": "dictionary"})  # the index goes to the session's $HARNESS_CACHE_DIR


def _said(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "extractors.dictionary.extractor"]


def test_the_dictionary_says_it_learns_from_charts_and_runs_without_them() -> None:
    assert issubclass(DictionaryExtractor, LearnsFromCharts) and DictionaryExtractor.runs_untrained is True


@pytest.mark.parametrize(
    "train",
    [
        [],
        # charts without a gold code teach nothing: counting their mentions as misses would unlearn every term
        [Chart(id=f"u{i}", language="en", text="Congestive heart failure. Hypertension. Hypertension.") for i in range(3)],
    ],
    ids=["no charts", "unlabelled charts"],
)
def test_untrained_dictionary_says_so_once_and_codes_with_unestimated_confidence(
        train: list[Chart], caplog: pytest.LogCaptureFixture) -> None:
    extractor = _extractor()
    with caplog.at_level(logging.INFO, logger="extractors.dictionary.extractor"):
        extractor.fit(train)
        [extraction] = extractor.extract([NOTE])
        extractor.extract([NOTE])
    assert [message for _, message in _said(caplog) if "training charts" in message] == [UNTRAINED_LINE]
    assert (logging.INFO, UNTRAINED_LINE) in _said(caplog)

    codes = RuleEngine("icd10cm_2026_v2").code(NOTE, extraction)
    assert {c.code for c in codes} == {"I50.9", "I10"}
    assert all(c.confidence == 0.5 and not c.confidence_estimated for c in codes)
    decision, reasons = route(extraction, codes, RoutingConfig())
    assert decision == "review" and [r.kind for r in reasons] == ["unestimated_confidence"]
    assert sorted(reasons[0].detail.split()) == ["I10", "I50.9"]  # codes only, never chart text


def test_an_extractor_never_fitted_also_says_it_once(caplog: pytest.LogCaptureFixture) -> None:
    extractor = _extractor()
    with caplog.at_level(logging.INFO, logger="extractors.dictionary.extractor"):
        extractor.extract([NOTE])
        [extraction] = extractor.extract([NOTE])
    assert _said(caplog).count((logging.INFO, UNTRAINED_LINE)) == 1
    assert {f.code for f in extraction.findings} == {"I50.9", "I10", "R07.9"}  # chest pain: negated
    assert not any(f.confidence_estimated for f in extraction.findings)


def test_terms_met_in_training_have_estimated_confidences_and_others_keep_the_prior(
        caplog: pytest.LogCaptureFixture) -> None:
    text = "Hypertension, on lisinopril."
    train = Chart(id="t1", language="en", text=text,
                  gold=[GoldCode(code="I10", evidence=[Span(start=0, end=len("Hypertension"), text="Hypertension")])])
    extractor = _extractor()
    with caplog.at_level(logging.INFO, logger="extractors.dictionary.extractor"):
        extractor.fit([train])
    assert not any("training charts" in message for _, message in _said(caplog))

    [extraction] = extractor.extract([NOTE])
    found = {f.code: (f.confidence, f.confidence_estimated) for f in extraction.findings}
    assert found["I10"] == (pytest.approx((1 + 0.5) / (1 + 1)), True)  # one annotated occurrence, smoothed
    assert found["I50.9"] == (0.5, False)  # never met in training: the prior


def test_a_learned_term_after_non_is_negated() -> None:
    text = "Smoker, 20 pack-years."
    train = Chart(id="t1", language="en", text=text,
                  gold=[GoldCode(code="F17.210", evidence=[Span(start=0, end=6, text="Smoker")])])
    extractor = _extractor()
    extractor.fit([train])
    [extraction] = extractor.extract([Chart(id="n1", language="en", text="Non-smoker, works as a librarian.")])
    assert [(f.code, f.text, f.assertion) for f in extraction.findings] == [("F17.210", "smoker", "negated")]
