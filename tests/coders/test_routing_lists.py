"""Routing's safety lists fail closed (issue 27): code prefixes are normalised and must exist in the code set, edits
must be edits the harness runs, thresholds lie in [0, 1]; a bad entry is named with the closest valid names."""

from __future__ import annotations

import re

import pytest
import yaml
from conftest import PROJECT_ROOT
from pydantic import ValidationError

from coders.routing import CODE_SET_YEAR, EDIT_NAMES, RoutingConfig, route
from harness.contracts import CodeAssignment, EditResult, Extraction


def sepsis() -> list[CodeAssignment]:
    return [CodeAssignment(code="A41.9", confidence=0.95)]


def refused(message: str, **fields) -> None:
    """Validating ``fields`` fails with one error whose message holds ``message``."""
    with pytest.raises(ValidationError) as caught:
        RoutingConfig(**fields)
    [error] = caught.value.errors()
    assert message in error["msg"], error["msg"]


@pytest.mark.parametrize("written", ["a41", "A41", "a41.9", "A419", " A41. "])
def test_a_high_risk_prefix_matches_however_it_is_written(written: str) -> None:
    policy = RoutingConfig(high_risk_codes=[written])
    assert policy.high_risk_codes[0] in ("A41", "A41.9")
    assert route(Extraction(chart_id="c1", extractor="t"), sepsis(), policy) == ("review", ["high_risk: A41.9"])


def test_family_threshold_keys_are_normalised_and_the_longest_still_wins() -> None:
    policy = RoutingConfig(family_thresholds={"j": 0.7, "j96": 0.8, "J960": 0.95})
    assert policy.family_thresholds == {"J": 0.7, "J96": 0.8, "J96.0": 0.95}
    assert policy.threshold("J96.01") == 0.95 and policy.threshold("J96.21") == 0.8 and policy.threshold("J18.9") == 0.7
    refused("'J96.0' and 'j960' are the same prefix (J96.0)", family_thresholds={"J96.0": 0.9, "j960": 0.8})


def test_repeated_entries_are_kept_once() -> None:
    policy = RoutingConfig(high_risk_codes=["A41", "a41", "N17"], review_on_edits=["excludes1", "excludes1"])
    assert policy.high_risk_codes == ["A41", "N17"] and policy.review_on_edits == ["excludes1"]


@pytest.mark.parametrize(
    "fields,message",
    [
        ({"high_risk_codes": ["NOTACODE"]},
         "'NOTACODE' is not an ICD-10-CM category or code (expected a category, a code or a chapter letter such as A41"),
        ({"high_risk_codes": ["A41.99"]}, "'A41.99' is not in ICD-10-CM 2026 (did you mean A41.9, A41.89, A41.59?)"),
        ({"high_risk_codes": [""]}, "'' is not an ICD-10-CM category or code"),
        ({"family_thresholds": {"J9": 0.9}}, "'J9' is not an ICD-10-CM category or code (did you mean J99, J98, J96?)"),
        ({"review_on_edits": ["bogus_edit"]}, f"unknown edit 'bogus_edit' (known: {', '.join(EDIT_NAMES)})"),
        ({"review_on_edits": ["excludes"]}, "unknown edit 'excludes' (did you mean excludes1?)"),
        ({"review_on_edits": ["mce"]}, "'mce' is an edit group, not an edit (its edits: mce_age, mce_sex, demographics_missing)"),
        ({"family_thresholds": {"J96": 7}}, "Input should be less than or equal to 1"),
        ({"family_thresholds": {"J96": -0.1}}, "Input should be greater than or equal to 0"),
    ],
)
def test_an_unknown_or_malformed_entry_is_refused_naming_it(fields: dict, message: str) -> None:
    refused(message, **fields)


def test_every_bad_entry_of_a_list_is_named_in_one_message() -> None:
    refused("'NOTACODE' is not an ICD-10-CM category or code (expected a category, a code or a chapter letter such as A41, "
            "A41.9 or J); 'A41.99' is not in ICD-10-CM 2026", high_risk_codes=["NOTACODE", "A41", "A41.99"])


def test_codes_are_checked_in_the_year_of_the_validation_context() -> None:
    assert RoutingConfig.model_validate({"high_risk_codes": ["a41"]}, context={CODE_SET_YEAR: 2026}).high_risk_codes == ["A41"]
    unavailable = "cannot check the codes in the code-set year (edits.year): ICD-10-CM 2025 is not available"
    with pytest.raises(ValidationError, match=re.escape(unavailable)):
        RoutingConfig.model_validate({"high_risk_codes": ["A41"]}, context={CODE_SET_YEAR: 2025})
    assert RoutingConfig.model_validate({"review_on_edits": ["excludes1"]}, context={CODE_SET_YEAR: 2025})  # no codes to check


def test_every_edit_routing_may_name_is_one_the_edits_report() -> None:
    from coders.edits import EditConfig, run_edits

    reported = {result.edit for result in run_edits(["E11.9"], 2026, {"age": 40, "sex": "F"}, EditConfig())}
    assert reported == set(EDIT_NAMES)
    failed = [EditResult(edit="mce_sex", passed=False, codes=["O80"])]
    policy = RoutingConfig(review_on_edits=["mce_sex"])
    assert route(Extraction(chart_id="c1", extractor="t"), sepsis(), policy, failed) == ("review", ["edit_failed: mce_sex O80"])


def test_the_shipped_policy_is_valid_and_already_normal() -> None:
    shipped = yaml.safe_load((PROJECT_ROOT / "conf" / "routing" / "default.yaml").read_text())
    policy = RoutingConfig.model_validate(shipped)
    assert policy.high_risk_codes == shipped["high_risk_codes"] and policy.review_on_edits == shipped["review_on_edits"]
