"""Pack v3: billable codes only (or review naming the code) and the ICD-10-CM "with" convention.

Examples follow the ICD-10-CM Official Guidelines: I.A.15 ("with"), I.C.9.a.1-3 (hypertension with heart disease,
with chronic kidney disease, with both) and I.C.4.a (diabetes: as many codes as needed for the complications).
"""

from __future__ import annotations

import pytest

from coders.engine import RuleEngine
from coders.rule_pack import RulePack, RulePackError
from harness.contracts import Chart, Extraction, Finding, Span

TEXT = ("Hypertension. Heart failure. CKD stage 3. ESRD. Cardiomegaly. Type 2 diabetes. Polyneuropathy. Foot ulcer. "
        "Hyperglycemia. Vomiting. Nausea and vomiting. Low back pain. Constipation. Injury.")
CHART = Chart(id="c1", text=TEXT)
V3 = RuleEngine("icd10cm_2026_v3")


def finding(code: str, phrase: str, confidence: float = 0.9) -> Finding:
    start = TEXT.index(phrase)
    return Finding(text=phrase, code=code, confidence=confidence, spans=[Span(start=start, end=start + len(phrase))])


def coded(*findings: Finding, engine: RuleEngine = V3) -> dict[str, float]:
    return {c.code: c.confidence for c in engine.code(CHART, Extraction(chart_id="c1", extractor="t", findings=list(findings)))}


HYPERTENSION, HF, CKD3, ESRD = (finding("I10", "Hypertension"), finding("I50.9", "Heart failure"),
                                finding("N18.3", "CKD stage 3"), finding("N18.6", "ESRD"))


@pytest.mark.parametrize(
    ("findings", "expected"),
    [
        # I.C.9.a.1: hypertension with heart failure -> I11.0 and the type of heart failure
        ([HYPERTENSION, HF], {"I11.0", "I50.9"}),
        # I.C.9.a.1: with heart disease (cardiomegaly, I51.7) and no heart failure -> I11.9; I51.7 is "due to
        # hypertension (I11.-)" by its Excludes1 note
        ([HYPERTENSION, finding("I51.7", "Cardiomegaly")], {"I11.9"}),
        # I.C.9.a.2: with CKD -> I12.9 (stage 1-4) or I12.0 (stage 5, ESRD), and the stage
        ([HYPERTENSION, CKD3], {"I12.9", "N18.30"}),
        ([HYPERTENSION, ESRD], {"I12.0", "N18.6"}),
        # I.C.9.a.3: with heart failure and CKD -> I13.0 (stage 1-4) or I13.2 (stage 5, ESRD)
        ([HYPERTENSION, HF, CKD3], {"I13.0", "I50.9", "N18.30"}),
        ([HYPERTENSION, HF, ESRD], {"I13.2", "I50.9", "N18.6"}),
        # with heart disease, no heart failure, and ESRD -> I13.11
        ([HYPERTENSION, finding("I51.7", "Cardiomegaly"), ESRD], {"I13.11", "N18.6"}),
        # nothing linked: essential hypertension stays I10
        ([HYPERTENSION], {"I10"}),
    ],
)
def test_hypertension_with_heart_and_kidney_disease(findings: list[Finding], expected: set[str]) -> None:
    assert set(coded(*findings)) == expected


def test_diabetes_gets_one_combination_code_per_stated_complication() -> None:
    got = coded(finding("E11", "Type 2 diabetes"), CKD3, finding("G62.9", "Polyneuropathy"),
                finding("L97.509", "Foot ulcer"), finding("R73.9", "Hyperglycemia"))
    # E11.22 with the CKD stage (use additional code), E11.42 says the polyneuropathy, E11.621 with the ulcer's own
    # code, E11.65 says the hyperglycemia
    assert set(got) == {"E11.22", "N18.30", "E11.42", "E11.621", "L97.509", "E11.65"}


def test_a_combination_code_is_as_sure_as_its_least_sure_part_and_cites_both() -> None:
    [i11, i50] = V3.code(CHART, Extraction(chart_id="c1", extractor="t",
                                           findings=[HYPERTENSION, finding("I50.9", "Heart failure", 0.6)]))
    assert (i11.code, i11.confidence, [s.text for s in i11.evidence]) == ("I11.0", 0.6, ["Hypertension", "Heart failure"])
    assert "hypertension_with" in i11.rule_trace and i50.code == "I50.9"


@pytest.mark.parametrize(
    ("code", "phrase", "child"),
    [("R11.1", "Vomiting", "R11.10"), ("M54.5", "Low back pain", "M54.50"), ("K59.0", "Constipation", "K59.00"),
     ("N18.3", "CKD stage 3", "N18.30"), ("N18", "CKD stage 3", "N18.9")],
)
def test_a_non_billable_code_becomes_its_one_unspecified_child(code: str, phrase: str, child: str) -> None:
    assert set(coded(finding(code, phrase))) == {child}
    assert V3.review_reasons(V3.code(CHART, Extraction(chart_id="c1", extractor="t", findings=[finding(code, phrase)]))) == []


@pytest.mark.parametrize(
    ("code", "phrase"),
    [("E11", "Type 2 diabetes"),  # E11.9 says "without complications": the evidence does not
     ("T14.8", "Injury"),  # the encounter is a 7th character nobody stated
     ("R11", "Nausea and vomiting")],  # R11.0 nausea, R11.1 vomiting, R11.2 both: none is the unspecified one
)
def test_a_non_billable_code_without_a_supported_child_sends_the_chart_to_review_naming_it(code: str, phrase: str) -> None:
    other = finding("K59.0", "Constipation")
    codes = V3.code(CHART, Extraction(chart_id="c1", extractor="t", findings=[finding(code, phrase), other]))
    assert {c.code for c in codes} == {code, "K59.00"}
    [reason] = V3.review_reasons(codes)
    assert (reason.kind, reason.detail) == ("needs_specificity", code)


def test_v2_is_unchanged_and_never_asks_for_review() -> None:
    v2 = RuleEngine("icd10cm_2026_v2")
    got = v2.code(CHART, Extraction(chart_id="c1", extractor="t", findings=[HYPERTENSION, HF, finding("E11", "Type 2 diabetes")]))
    assert {c.code for c in got} == {"I10", "I50.9", "E11"} and v2.review_reasons(got) == []


def test_a_combination_code_must_exist_and_be_billable() -> None:
    rule = {"id": "with", "type": "combination", "condition": ["I10"], "combinations": [{"code": "I13", "when": [["I50"]]}]}
    data = {"name": "p", "version": 1, "code_set": {"system": "icd10cm", "year": 2026}, "description": "d", "rules": [rule]}
    with pytest.raises(ValueError, match="'I13' is not billable"):
        RulePack.model_validate(data)
    bad = {**rule, "combinations": [{"code": "I13.9", "when": [["I50"]]}]}
    with pytest.raises(ValueError, match="'I13.9' does not exist"):
        RulePack.model_validate({**data, "rules": [bad]})
    assert issubclass(RulePackError, ValueError)
