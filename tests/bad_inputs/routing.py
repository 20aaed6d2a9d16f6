"""Routing's safety settings on the command line (issue 27): code prefixes match however they are written, and an
unknown code, edit or an out-of-range threshold stops the run naming the entry and the closest valid names."""

from __future__ import annotations

from pathlib import Path

from bad_inputs.corpus import Case, Content, chart, good, line

SEPSIS = "Assessment: sepsis."


def sepsis(folder: Path) -> Content:
    """A hypertension chart and a sepsis chart (the dictionary codes it A41.9)."""
    return [*good("c1"), line(chart("c2", text=SEPSIS, gold=[{"code": "A41.9", "evidence": [{"start": 12, "end": 18}]}]))]


AT_FILE = "dataset.path={file}"

CASES: list[Case] = [
    # a prefix in lower case or without its dot still sends the sepsis chart to a coder
    Case("routing_high_risk_lower_case", sepsis, [AT_FILE, "routing.high_risk_codes=[a41]"], charts_in=2,
         review_reasons={"high_risk": 1}),
    Case("routing_high_risk_without_dot", sepsis, [AT_FILE, "routing.high_risk_codes=[a419]"], charts_in=2,
         review_reasons={"high_risk": 1}),
    Case("routing_family_threshold_lower_case", sepsis, [AT_FILE, "+routing.family_thresholds.a41=0.99"], charts_in=2,
         review_reasons={"low_confidence": 1}),
    # entries that would let charts out unreviewed stop the run
    Case("routing_high_risk_not_a_code", sepsis, [AT_FILE, "routing.high_risk_codes=[A41,NOTACODE]"], exit_code=2,
         message="routing.high_risk_codes: 'NOTACODE' is not an ICD-10-CM category or code (expected a category, a code"),
    Case("routing_high_risk_unknown_code", sepsis, [AT_FILE, "routing.high_risk_codes=[A41.99]"], exit_code=2,
         message="routing.high_risk_codes: 'A41.99' is not in ICD-10-CM 2026 (did you mean A41.9,"),
    Case("routing_review_on_unknown_edit", sepsis, [AT_FILE, "routing.review_on_edits=[excludes1,bogus_edit]"], exit_code=2,
         message="routing.review_on_edits: unknown edit 'bogus_edit' (known: invalid_code, non_billable, excludes1,"),
    Case("routing_review_on_misspelt_edit", sepsis, [AT_FILE, "routing.review_on_edits=[excludes]"], exit_code=2,
         message="routing.review_on_edits: unknown edit 'excludes' (did you mean excludes1?)"),
    Case("routing_family_threshold_above_one", sepsis, [AT_FILE, "+routing.family_thresholds.J96=7"], exit_code=2,
         message="routing.family_thresholds.J96: Input should be less than or equal to 1"),
    Case("routing_family_threshold_unknown_prefix", sepsis, [AT_FILE, "+routing.family_thresholds.J9=0.9"], exit_code=2,
         message="routing.family_thresholds: 'J9' is not an ICD-10-CM category or code (did you mean J99,"),
    # the codes are checked in the job's code-set year: one the harness has no table for cannot vouch for them
    Case("routing_codes_in_a_year_without_a_code_set", sepsis, [AT_FILE, "edits.year=2025"], exit_code=2,
         message="routing.high_risk_codes: cannot check the codes in the code-set year (edits.year): ICD-10-CM 2025 is not"),
]
"""Routing settings through the real command."""
