"""Rule packs (schema, loading, CLI) and the rule engine, on the real ICD-10-CM 2026 tabular."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, get_args

import pytest
from conftest import PROJECT_ROOT, harness

from coders.codeset import code_set
from coders.engine import _APPLY, RuleEngine
from coders.rule_pack import PACKS_DIR, Rule, RulePack, RulePackError, bundled_packs, load_pack
from harness.cli.rules import main
from harness.contracts import Chart, Extraction, Finding, Span

ROOT = PROJECT_ROOT
TEXT = (
    "Type 2 diabetes with hyperglycemia. Type 1 diabetes. CKD. Hypertension in the past history. "
    "History of pneumonia. No asthma. Possible gout. Mother had breast cancer. Appendectomy."
)
CHART = Chart(id="c1", text=TEXT)
ICD = code_set("icd10cm", 2026)


def finding(code: str, phrase: str, confidence: float = 0.9, assertion: str = "present", system: str = "icd10cm",
            estimated: bool = True) -> Finding:
    """A finding whose span points at ``phrase`` in ``TEXT`` (span text left empty: the engine fills it)."""
    start = TEXT.index(phrase)
    kind = "procedure" if system == "icd10pcs" else "diagnosis"
    span = Span(start=start, end=start + len(phrase))
    return Finding(text=phrase, kind=kind, code=code, system=system, assertion=assertion, confidence=confidence, spans=[span],
                   confidence_estimated=estimated)


def extraction(*findings: Finding) -> Extraction:
    return Extraction(chart_id=CHART.id, extractor="test", findings=list(findings))


def pack(*rules: dict[str, Any], **fields: Any) -> RulePack:
    """A pack built in memory from rule dicts, exactly as YAML would give them."""
    data = {"name": "test_pack", "version": 1, "code_set": {"system": "icd10cm", "year": 2026}, "description": "test"}
    return RulePack.model_validate({**data, **fields, "rules": list(rules)})


def codes(engine_pack: RulePack | str, *findings: Finding) -> dict[str, float]:
    return {c.code: c.confidence for c in RuleEngine(engine_pack).code(CHART, extraction(*findings))}


# --- packs and their loading ---------------------------------------------------------------------


def test_both_shipped_packs_validate() -> None:
    assert {"icd10cm_2026_v1", "icd10cm_2026_v2"} <= set(bundled_packs())
    v1, v2 = load_pack("icd10cm_2026_v1"), load_pack(PACKS_DIR / "icd10cm_2026_v2.yaml")
    assert (v1.pack_version, v2.pack_version) == ("icd10cm_2026_v1@1", "icd10cm_2026_v2@2")
    assert [r.type for r in v1.rules] == ["assertion_filter", "specificity", "validity"]
    assert [r.type for r in v2.rules] == ["assertion_filter", "validity", "specificity", "excludes1"]


def test_every_rule_type_has_an_engine_implementation() -> None:
    members = get_args(get_args(Rule)[0])
    assert set(_APPLY) == set(members)


GOOD = """\
name: {name}
version: 1
code_set: {{system: icd10cm, year: 2026}}
description: a test pack
rules:
  - id: present
    type: assertion_filter
    keep: [present]
"""

BROKEN = {
    "unknown_rule_type": (
        GOOD + "  - id: x\n    type: frobnicate\n",
        "line 10: rules[1] (x).type: unknown rule type 'frobnicate'",
    ),
    "bad_yaml": (GOOD + "  - id: [unclosed\n", "YAML error: line 10"),
    "unknown_code": (
        GOOD + "  - id: drop\n    type: drop_codes\n    codes: [E11.9, E11.999]\n",
        "line 11: rules[1] (drop).codes[1]: code 'E11.999' does not exist in ICD-10-CM 2026",
    ),
    "python_tag": (
        GOOD + "  - id: evil\n    type: !!python/object/apply:os.system ['touch {pwned}']\n",
        "could not determine a constructor for the tag 'tag:yaml.org,2002:python/object/apply:os.system'",
    ),
    "unknown_field": (GOOD.replace("version: 1", "version: 1\ncolour: red"), "line 3: colour: unknown field 'colour'"),
    "bad_value": (
        GOOD + "  - id: low\n    type: min_confidence\n    threshold: 1.5\n",
        "line 11: rules[1] (low).threshold: bad value 1.5",
    ),
    "non_canonical_code": (
        GOOD + "  - id: drop\n    type: drop_codes\n    codes: [e119]\n",
        "write codes in canonical form: 'E11.9', not 'e119'",
    ),
    "duplicate_key": (GOOD.replace("version: 1", "version: 1\nversion: 2"), "duplicate key 'version'"),
    "duplicate_rule_id": (GOOD + "  - id: present\n    type: validity\n", "duplicate rule id 'present'"),
    "unknown_year": (GOOD.replace("year: 2026", "year: 2019"), "ICD-10-CM 2019 is not available"),
    "extension_needs_most_specific": (
        GOOD + "  - id: cat\n    type: specificity\n    mode: category\n    extend_to_unspecified: true\n",
        "extend_to_unspecified needs mode: most_specific",
    ),
    "not_a_mapping": ("- just\n- a list\n", "the pack must be a YAML mapping"),
}


def write_pack(tmp_path: Path, text: str, name: str = "test_pack") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text.format(name=name, pwned=tmp_path / "pwned"))
    return path


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_packs_are_rejected_with_file_and_problem(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text, expected = BROKEN[case]
    path = write_pack(tmp_path, text)
    with pytest.raises(RulePackError) as raised:
        load_pack(path)
    assert str(path) in str(raised.value) and expected in str(raised.value)
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"FAILED {path}" in err and expected in err
    assert not (tmp_path / "pwned").exists()  # the python tag was refused, never run


def test_name_must_match_file_and_bare_names_must_exist(tmp_path: Path) -> None:
    path = write_pack(tmp_path, GOOD.replace("{name}", "other_name"))
    with pytest.raises(RulePackError, match="name 'other_name' does not match the file name 'test_pack.yaml'"):
        load_pack(path)
    with pytest.raises(RulePackError, match="unknown rule pack 'icd10cm_2026_v99'; bundled packs: icd10cm_2026_v1, icd10cm_20"):
        load_pack("icd10cm_2026_v99")


def test_cli_validate_good_pack_and_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "icd10cm_2026_v1", str(write_pack(tmp_path, GOOD))]) == 0
    out = capsys.readouterr().out
    assert "OK icd10cm_2026_v1@1: icd10cm 2026, 3 rules: present_only (assertion_filter)" in out
    assert "OK test_pack@1" in out
    assert main(["list"]) == 0
    listed = capsys.readouterr().out
    assert "icd10cm_2026_v1: version 1" in listed and "icd10cm_2026_v2: version 2" in listed


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return harness(ROOT, "rules", *args, check=False)


@pytest.mark.slow  # two CLI subprocesses
def test_cli_runs_as_a_module() -> None:
    ok = cli("validate", "icd10cm_2026_v2")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("OK icd10cm_2026_v2@2")
    bad = cli("validate", "no_such_pack")
    assert bad.returncode == 1 and "unknown rule pack 'no_such_pack'" in bad.stderr


# --- the engine ------------------------------------------------------------------------------------


def test_v1_codes_categories_and_v2_the_most_specific_code() -> None:
    findings = [finding("E11.65", "Type 2 diabetes with hyperglycemia"), finding("E11", "Type 2 diabetes", 0.95)]
    assert codes("icd10cm_2026_v1", *findings) == {"E11": 0.95}
    assert codes("icd10cm_2026_v2", *findings) == {"E11.65": 0.9}


def test_excludes1_conflict_from_the_2026_tabular_keeps_the_more_confident_code() -> None:
    # E11 "Type 2 diabetes mellitus" has the Excludes1 note "type 1 diabetes mellitus (E10.-)"
    assert ICD.excludes1_conflict("E11.9", "E10.9") and "E10" in ICD.excludes1("E11.9")
    type2, type1 = "Type 2 diabetes with hyperglycemia", "Type 1 diabetes"
    assert codes("icd10cm_2026_v2", finding("E11.65", type2, 0.9), finding("E10.9", type1, 0.6)) == {"E11.65": 0.9}
    assert codes("icd10cm_2026_v2", finding("E11.65", type2, 0.6), finding("E10.9", type1, 0.9)) == {"E10.9": 0.9}
    # without the rule both stay: the conflict is the rule's doing
    both = codes(pack({"id": "v", "type": "validity"}), finding("E11.65", type2), finding("E10.9", type1))
    assert set(both) == {"E11.65", "E10.9"}


def test_assertion_filter_v1_codes_present_only() -> None:
    got = codes(
        "icd10cm_2026_v1",
        finding("N18.9", "CKD"),
        finding("I10", "Hypertension", assertion="historical"),
        finding("J45.909", "asthma", assertion="negated"),
        finding("M10.9", "gout", assertion="possible"),
        finding("Z80.3", "breast cancer", assertion="family"),
    )
    assert got == {"N18": 0.9}


def test_assertion_filter_v2_codes_chronic_history_but_not_resolved_history() -> None:
    got = codes(
        "icd10cm_2026_v2",
        finding("I10", "Hypertension", assertion="historical"),  # chronic: still present
        finding("J18.9", "pneumonia", assertion="historical"),  # resolved: not coded
        finding("Z87.01", "History of pneumonia", assertion="historical"),  # a history code means history
        finding("Z80.3", "breast cancer", assertion="family"),  # family-history code
        finding("C50.919", "breast cancer", assertion="family"),  # the mother's disease is not the patient's
        finding("M10.9", "gout", assertion="possible"),
    )
    assert set(got) == {"I10", "Z87.01", "Z80.3"}


@pytest.mark.parametrize("name", ["icd10cm_2026_v1", "icd10cm_2026_v2"])
def test_hypothetical_mentions_are_not_coded(name: str) -> None:
    # "risks include stroke": v2 keeps some historical and family mentions, never a hypothetical one
    got = codes(name, finding("N18.9", "CKD"), finding("I10", "Hypertension", assertion="hypothetical"),
                finding("Z80.3", "breast cancer", assertion="hypothetical"))
    assert set(got) == {"N18" if name.endswith("v1") else "N18.9"}


def test_assertion_filter_acts_per_finding_after_duplicates_merge() -> None:
    engine = RuleEngine(pack({"id": "present", "type": "assertion_filter", "keep": ["present"]}))
    negated = finding("N18.9", "Type 1 diabetes", 0.99, assertion="negated")
    [code] = engine.code(CHART, extraction(finding("N18.9", "CKD", 0.6), negated))
    assert (code.code, code.confidence, [s.text for s in code.evidence]) == ("N18.9", 0.6, ["CKD"])


def test_drop_codes_drops_a_code_and_its_family() -> None:
    drop = pack({"id": "drop", "type": "drop_codes", "codes": ["Z79", "I10"]})
    got = codes(drop, finding("Z79.4", "CKD"), finding("I10", "Hypertension"), finding("E11.9", "Type 2 diabetes"))
    assert got == {"E11.9": 0.9}


def test_rule_trace_pack_version_description_and_procedures_passing_through() -> None:
    result = RuleEngine("icd10cm_2026_v2").code(
        CHART, extraction(finding("N18", "CKD", 0.8), finding("0DTJ4ZZ", "Appendectomy", 0.7, system="icd10pcs"))
    )
    ckd, appendectomy = result
    assert (ckd.code, ckd.description, ckd.pack_version) == ("N18.9", "Chronic kidney disease, unspecified", "icd10cm_2026_v2@2")
    assert ckd.rule_trace == ["current_and_chronic", "valid_fy2026", "most_specific", "excludes1"]
    # a PCS code goes through the finding-level assertion filter only, untouched by ICD-10-CM rules
    assert (appendectomy.code, appendectomy.system, appendectomy.rule_trace) == ("0DTJ4ZZ", "icd10pcs", ["current_and_chronic"])
    [category] = RuleEngine("icd10cm_2026_v1").code(CHART, extraction(finding("E11.65", "Type 2 diabetes with hyperglycemia")))
    assert category.rule_trace == ["present_only", "category", "valid_fy2026"]


def test_most_specific_keeps_descendants_and_extends_only_when_allowed() -> None:
    rule = {"id": "spec", "type": "specificity", "mode": "most_specific"}
    ckd, diabetes = finding("N18", "CKD"), finding("E11", "Type 2 diabetes")
    assert set(codes(pack(rule), ckd, diabetes)) == {"N18", "E11"}
    # N18.9 "Chronic kidney disease, unspecified" is N18's one unspecified billable child; E11.9 is
    # "without complications", which the evidence does not say
    assert set(codes(pack({**rule, "extend_to_unspecified": True}), ckd, diabetes)) == {"N18.9", "E11"}
    assert set(codes(pack(rule), ckd, finding("N18.4", "CKD", 0.7), diabetes)) == {"N18.4", "E11"}


def test_validity_drops_codes_missing_from_the_year_and_optionally_non_billable() -> None:
    assert "E11.99" not in ICD and "E11" in ICD and not ICD.is_billable("E11")
    findings = [
        finding("E11.99", "Type 2 diabetes with hyperglycemia"),
        finding("E11", "Type 2 diabetes"),
        finding("N18.9", "CKD"),
    ]
    assert set(codes(pack({"id": "v", "type": "validity"}), *findings)) == {"E11", "N18.9"}
    assert set(codes(pack({"id": "v", "type": "validity", "billable_only": True}), *findings)) == {"N18.9"}
    # v2 checks validity first, so an invalid descendant cannot displace its valid ancestor
    assert set(codes("icd10cm_2026_v2", *findings)) == {"E11", "N18.9"}


def test_duplicates_merge_by_max_or_noisy_or_with_evidence_united_and_sorted() -> None:
    findings = [
        finding("E11.9", "Type 1 diabetes", 0.5),
        finding("E11.9", "Type 2 diabetes", 0.6),
        finding("E11.9", "Type 2 diabetes", 0.4),
    ]
    [merged] = RuleEngine(pack()).code(CHART, extraction(*findings))
    assert merged.confidence == 0.6
    assert [(s.start, s.text) for s in merged.evidence] == [(0, "Type 2 diabetes"), (TEXT.index("Type 1"), "Type 1 diabetes")]
    assert codes(pack(confidence_merge="noisy_or"), *findings) == {"E11.9": pytest.approx(1 - 0.5 * 0.4 * 0.6)}


@pytest.mark.parametrize(
    ("merge", "support", "estimated"),
    [
        ("max", [(0.5, False)], False),  # only a prior
        ("max", [(0.9, True), (0.5, False)], True),  # the measured finding sets the confidence
        ("max", [(0.3, True), (0.5, False)], False),  # the prior raised it
        ("noisy_or", [(0.9, True), (0.5, False)], False),  # the prior adds to it
        ("noisy_or", [(0.9, True), (0.0, False)], True),  # a prior of 0 adds nothing
    ],
)
def test_a_code_has_an_estimated_confidence_only_when_no_prior_sets_it(
        merge: str, support: list[tuple[float, bool]], estimated: bool) -> None:
    findings = [finding("I10", "Hypertension", c, estimated=e) for c, e in support]
    [code] = RuleEngine(pack(confidence_merge=merge)).code(CHART, extraction(*findings))
    assert code.confidence_estimated is estimated


def test_min_confidence_max_codes_and_output_order() -> None:
    findings = [
        finding("I10", "Hypertension", 0.7),
        finding("N18.9", "CKD", 0.9),
        finding("E11.9", "Type 2 diabetes", 0.7),
        finding("M10.9", "gout", 0.2),
    ]
    result = RuleEngine(pack({"id": "floor", "type": "min_confidence", "threshold": 0.3})).code(CHART, extraction(*findings))
    assert [c.code for c in result] == ["N18.9", "E11.9", "I10"]  # confidence desc, then code
    assert list(codes(pack({"id": "top", "type": "max_codes", "limit": 2}), *findings)) == ["N18.9", "E11.9"]


def test_v1_drops_categories_that_do_not_exist() -> None:
    assert "U99" not in ICD
    assert codes("icd10cm_2026_v1", finding("U99.1", "CKD"), finding("N18.4", "CKD")) == {"N18": 0.9}


def test_engine_refuses_an_extraction_of_another_chart() -> None:
    with pytest.raises(ValueError, match="extraction of chart 'other'"):
        RuleEngine("icd10cm_2026_v1").code(CHART, Extraction(chart_id="other", extractor="test"))
