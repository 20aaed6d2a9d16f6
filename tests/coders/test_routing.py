"""Routing policy: each reason a chart goes to review, and the auto path."""

from __future__ import annotations

import pytest
import yaml
from conftest import PROJECT_ROOT
from pydantic import ValidationError

from coders.routing import RoutingConfig, route
from harness.contracts import ChartResult, CodeAssignment, EditResult, Extraction

CONFIG = RoutingConfig()


def extraction(error: str | None = None) -> Extraction:
    return Extraction(chart_id="c1", extractor="test", error=error)


def code(value: str, confidence: float, estimated: bool = True) -> CodeAssignment:
    return CodeAssignment(code=value, confidence=confidence, confidence_estimated=estimated)


def test_confident_codes_go_auto() -> None:
    assert route(extraction(), [code("E11.9", 0.9), code("I10", 0.5)], CONFIG) == ("auto", [])


def test_failed_extraction_goes_to_review_with_the_first_line_of_the_error_only() -> None:
    decision, reasons = route(extraction("JSONDecodeError: Expecting value\nraw output: Patient is a 54-year-old"), [], CONFIG)
    assert (decision, reasons) == ("review", ["extraction_failed: JSONDecodeError: Expecting value"])
    _, long = route(extraction("x" * 500), [], CONFIG)
    assert len(long[0]) < 150 and long[0].endswith("...")


def test_low_confidence_codes_are_each_named() -> None:
    decision, reasons = route(extraction(), [code("E11.9", 0.9), code("N18.9", 0.42), code("I10", 0.1)], CONFIG)
    assert decision == "review"
    assert reasons == ["low_confidence: N18.9 0.42 < 0.5", "low_confidence: I10 0.10 < 0.5"]
    assert route(extraction(), [code("N18.9", 0.42)], RoutingConfig(min_code_confidence=0.4)) == ("auto", [])


def test_no_codes_goes_to_review_unless_configured_otherwise() -> None:
    assert route(extraction(), [], CONFIG) == ("review", ["no_codes"])
    assert route(extraction(), [], RoutingConfig(name="lenient", review_when_no_codes=False)) == ("auto", [])


def test_reasons_accumulate_and_fit_the_chart_result_contract() -> None:
    decision, reasons = route(extraction("timeout"), [code("E11.9", 0.3)], CONFIG)
    assert reasons == ["extraction_failed: timeout", "low_confidence: E11.9 0.30 < 0.5"]
    ChartResult(chart_id="c1", route=decision, reasons=reasons)  # review always carries a reason


def test_config_is_strict() -> None:
    with pytest.raises(ValidationError):
        RoutingConfig(min_code_confidence=1.5)
    with pytest.raises(ValidationError):
        RoutingConfig(min_confidence=0.5)


def test_family_threshold_longest_prefix_wins() -> None:
    policy = RoutingConfig(min_code_confidence=0.5, family_thresholds={"J": 0.7, "J96": 0.9})
    assert policy.threshold("J96.01") == 0.9 and policy.threshold("J18.9") == 0.7 and policy.threshold("I10") == 0.5
    decision, reasons = route(extraction(), [code("J96.01", 0.85), code("I10", 0.6)], policy)
    assert decision == "review" and reasons == ["low_confidence: J96.01 0.85 < 0.9"]


def test_high_risk_codes_and_failed_edits_route_with_reasons() -> None:
    policy = RoutingConfig(high_risk_codes=["A41"], review_on_edits=["excludes1"])
    edits = [EditResult(edit="excludes1", passed=False, codes=["E10.9", "E11.9"]),
             EditResult(edit="code_first", passed=False, codes=["F02.80", "G30.9"])]  # not a routing edit here
    decision, reasons = route(extraction(), [code("A41.9", 0.95)], policy, edits)
    assert decision == "review" and reasons == ["high_risk: A41.9", "edit_failed: excludes1 E10.9 E11.9"]
    assert route(extraction(), [code("I10", 0.95)], policy, edits[1:]) == ("auto", [])


def test_codes_whose_confidence_is_only_a_prior_go_to_review_named_by_code() -> None:
    # 0.5 passes the 0.5 threshold: only the flag tells that nobody measured it
    codes = [code("E11.9", 0.9), code("I50.9", 0.5, estimated=False), code("I10", 0.5, estimated=False)]
    decision, reasons = route(extraction(), codes, CONFIG)
    assert (decision, reasons) == ("review", ["unestimated_confidence: I50.9 I10"])
    assert (reasons[0].kind, reasons[0].detail) == ("unestimated_confidence", "I50.9 I10")
    ChartResult(chart_id="c1", route=decision, reasons=reasons)


def test_unestimated_confidence_review_can_be_turned_off() -> None:
    lenient = RoutingConfig(review_unestimated_confidence=False)
    assert route(extraction(), [code("I10", 0.5, estimated=False)], lenient) == ("auto", [])
    # the threshold still applies to the prior itself
    assert route(extraction(), [code("I10", 0.3, estimated=False)], lenient)[1] == ["low_confidence: I10 0.30 < 0.5"]


def test_the_default_policy_reviews_unestimated_confidences() -> None:
    shipped = yaml.safe_load((PROJECT_ROOT / "conf" / "routing" / "default.yaml").read_text())
    assert RoutingConfig.model_validate(shipped).review_unestimated_confidence is True
