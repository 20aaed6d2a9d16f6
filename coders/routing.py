"""Routing policy: does a coded chart go straight through (auto) or to a human coder (review)?

Checks, in order: a failed extraction; each code's confidence against the threshold of its code
family (the longest matching prefix in ``family_thresholds``, else ``min_code_confidence``); codes
whose confidence the extractor could not estimate (only a prior: a threshold on it means nothing); codes
on the high-risk list (auditors' favourites: sepsis, acute respiratory failure, malnutrition, ...);
failed validation edits; no codes at all. Intake problems (unreadable or missing pages) are added by
the pipeline from intake's own reasons.

The code lists (``high_risk_codes``, the keys of ``family_thresholds``) and ``review_on_edits`` are safety settings
and fail closed: a code prefix is normalised (``a41``, ``A41``, ``a41.9`` and ``A419`` are written ``A41`` or
``A41.9``) and must be an ICD-10-CM category or code of the code-set year (or a chapter's letter), an edit must be
one ``coders.edits`` runs, and a threshold lies in [0, 1]; anything else fails validation naming the entry and the
closest valid names. The year comes from the validation context (``context={CODE_SET_YEAR: 2026}``: the job's
``edits.year``), else the default year.

Reasons are ``ReviewReason`` values (a kind and a detail, written ``kind: detail``) that metrics
count and reports group by kind; they never contain chart text. An empty chart is routed by the
caller before extraction, so it is not handled here.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from coders.codeset import UnknownCodeSet, canonical_code, code_set, is_well_formed
from coders.edits import EDIT_GROUPS
from harness.contracts import DEFAULT_CODE_SET_YEAR, CodeAssignment, EditResult, Extraction, ReviewReason, Route

_ERROR_CHARS = 120
"""An extraction error can quote model output (and so chart text): keep only its head."""

CODE_SET_YEAR = "code_set_year"
"""Validation-context key: the ICD-10-CM year the code lists are checked against (default: the default year)."""

EDIT_NAMES = tuple(edit for edits in EDIT_GROUPS.values() for edit in edits)
"""Every edit ``coders.edits`` can report: the names ``review_on_edits`` may hold."""

_SHOWN = 3
"""Closest names offered at most."""
_PREFIX_EXAMPLE = "a category, a code or a chapter letter such as A41, A41.9 or J"
_CHAPTER = re.compile(r"[A-Z]")
"""A prefix of one letter: the codes of its chapter(s) (``E``, endocrine)."""


class RoutingConfig(BaseModel):
    """Thresholds of the routing policy (``conf/routing/<name>.yaml``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = "default"
    """Name of the policy; equals its Hydra option name."""
    min_code_confidence: float = Field(default=0.5, ge=0.0, le=1.0)
    """A chart with any code below this confidence goes to review."""
    review_unestimated_confidence: bool = True
    """Send a chart to review when any code's confidence is only the extractor's prior
    (``CodeAssignment.confidence_estimated`` false, e.g. a dictionary term never seen in training)."""
    review_when_no_codes: bool = True
    """Send a chart that received no codes to review (every chart should carry at least one diagnosis)."""
    family_thresholds: dict[str, Annotated[float, Field(ge=0.0, le=1.0)]] = Field(default_factory=dict)
    """Confidence thresholds by code prefix (``J96: 0.9``, ``E``: a chapter); the longest matching prefix wins."""
    high_risk_codes: list[str] = Field(default_factory=list)
    """Code prefixes that always go to a human (audit targets), e.g. ``A41`` (sepsis)."""
    review_on_edits: list[str] = Field(default_factory=list)
    """Edits whose failure sends the chart to review (``coders.edits`` names, e.g. ``excludes1``)."""

    @field_validator("high_risk_codes")
    @classmethod
    def _known_codes(cls, prefixes: list[str], info: ValidationInfo) -> list[str]:
        return list(dict.fromkeys(checked_prefixes(prefixes, _year(info))))

    @field_validator("family_thresholds")
    @classmethod
    def _known_families(cls, thresholds: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        normal = checked_prefixes(thresholds, _year(info))
        written: dict[str, str] = {}
        for raw, prefix in zip(thresholds, normal):
            if prefix in written:
                raise PydanticCustomError("same_prefix", "{problem}",
                                          {"problem": f"{written[prefix]!r} and {raw!r} are the same prefix ({prefix})"})
            written[prefix] = raw
        return dict(zip(normal, thresholds.values()))

    @field_validator("review_on_edits")
    @classmethod
    def _known_edits(cls, edits: list[str]) -> list[str]:
        problems = [_unknown_edit(edit) for edit in edits if edit not in EDIT_NAMES]
        if problems:
            raise PydanticCustomError("unknown_edit", "{problems}", {"problems": "; ".join(problems)})
        return list(dict.fromkeys(edits))

    def threshold(self, code: str) -> float:
        """Confidence a code (canonical, ``J96.01``) needs to pass without review."""
        prefixes = [p for p in self.family_thresholds if code.startswith(p)]
        return self.family_thresholds[max(prefixes, key=len)] if prefixes else self.min_code_confidence


def normal_prefix(text: str) -> str:
    """A code prefix as routing matches it: ICD-10-CM's canonical form (``a419`` -> ``A41.9``, ``j96.`` -> ``J96``)."""
    return canonical_code(text, "icd10cm")


def shaped_prefix(prefix: str) -> bool:
    """Whether a normalised prefix has the shape of an ICD-10-CM category or code, or is a chapter letter."""
    return is_well_formed(prefix, "icd10cm") or bool(_CHAPTER.fullmatch(prefix))


def checked_prefixes(prefixes: Iterable[str], year: int = DEFAULT_CODE_SET_YEAR) -> list[str]:
    """Each prefix normalised (:func:`normal_prefix`), in order; ``PydanticCustomError`` naming every entry that is not
    an ICD-10-CM category or code of ``year`` nor a chapter letter, with the closest codes."""
    prefixes = list(prefixes)
    if not prefixes:
        return []  # nothing to look up: the code set is not read (seconds)
    try:
        codes = code_set("icd10cm", year).codes()
    except UnknownCodeSet as error:
        raise PydanticCustomError("code_set_year", "cannot check the codes in the code-set year (edits.year): {error}",
                                  {"error": str(error)}) from None
    normal = [normal_prefix(prefix) for prefix in prefixes]
    problems = []
    for raw, prefix in zip(prefixes, normal):
        if prefix in codes or _CHAPTER.fullmatch(prefix):
            continue
        problem = f"is not in ICD-10-CM {year}" if shaped_prefix(prefix) else "is not an ICD-10-CM category or code"
        near = difflib.get_close_matches(prefix, sorted(codes), n=_SHOWN, cutoff=0.6)
        hint = f"did you mean {', '.join(near)}?" if near else f"expected {_PREFIX_EXAMPLE}"
        problems.append(f"{raw!r} {problem} ({hint})")
    if problems:
        raise PydanticCustomError("unknown_code", "{problems}", {"problems": "; ".join(problems)})
    return normal


def _year(info: ValidationInfo) -> int:
    """The code-set year of the validation context, else the default."""
    year = info.context.get(CODE_SET_YEAR) if isinstance(info.context, dict) else None
    return year if isinstance(year, int) else DEFAULT_CODE_SET_YEAR


def _unknown_edit(edit: str) -> str:
    """Why ``edit`` is no edit, with the closest edit names (a group's name: its edits)."""
    if edit in EDIT_GROUPS:
        return f"{edit!r} is an edit group, not an edit (its edits: {', '.join(EDIT_GROUPS[edit])})"
    near = difflib.get_close_matches(edit, EDIT_NAMES, n=_SHOWN, cutoff=0.6)
    return f"unknown edit {edit!r} (" + (f"did you mean {', '.join(near)}?" if near else f"known: {', '.join(EDIT_NAMES)}") + ")"


def route(extraction: Extraction, codes: list[CodeAssignment], config: RoutingConfig,
          edits: list[EditResult] = ()) -> tuple[Route, list[ReviewReason]]:
    """``("auto", [])``, or ``("review", reasons)`` in the order the checks run."""
    reasons: list[ReviewReason] = []
    if extraction.error:
        reasons.append(ReviewReason("extraction_failed", _one_line(extraction.error)))
    for code in codes:
        needed = config.threshold(code.code)
        if code.confidence < needed:
            reasons.append(ReviewReason("low_confidence", f"{code.code} {code.confidence:.2f} < {needed:g}"))
    unestimated = [c.code for c in codes if not c.confidence_estimated]
    if config.review_unestimated_confidence and unestimated:
        reasons.append(ReviewReason("unestimated_confidence", " ".join(unestimated)))
    risky = [c.code for c in codes if any(c.code.startswith(p) for p in config.high_risk_codes)]  # normalised: a41 is A41
    if risky:
        reasons.append(ReviewReason("high_risk", " ".join(risky)))
    for edit in edits:
        if not edit.passed and edit.edit in config.review_on_edits:
            reasons.append(ReviewReason("edit_failed", " ".join([edit.edit, *edit.codes])))
    # after a failed extraction "no codes" is a consequence, not a second finding
    if config.review_when_no_codes and not codes and not extraction.error:
        reasons.append(ReviewReason("no_codes"))
    return ("review" if reasons else "auto"), reasons


def _one_line(error: str) -> str:
    """First non-empty line of an error, cut short: dumps of raw output follow the first line."""
    line = next((ln.strip() for ln in error.splitlines() if ln.strip()), "unknown error")
    return line if len(line) <= _ERROR_CHARS else line[: _ERROR_CHARS - 3] + "..."
