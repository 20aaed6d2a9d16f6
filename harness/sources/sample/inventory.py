"""The sample generator's condition inventory: curated conditions from ``inventory.yaml``, checked against the tabular.

The curated conditions are data, so they live in YAML and are validated into typed
``Condition`` objects; the tabular then adds its own surface forms and a pool of extra
conditions, so the notes read like real ones without curating every phrasing by hand.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import ConfigDict, TypeAdapter, ValidationError, with_config

from coders.codeset import Icd10cm

INVENTORY_FILE = Path(__file__).with_name("inventory.yaml")
"""The curated conditions, in the order the generator draws them."""
_EXTRA_CHAPTERS = {"K": "gastroenterology", "L": "dermatology", "M": "orthopedics"}
"""Tabular chapters that extra conditions are drawn from (digestive, skin, musculoskeletal)."""

Kind = Literal["chronic", "acute", "symptom"]


@with_config(ConfigDict(extra="forbid"))
@dataclass(frozen=True)
class Condition:
    """One codable problem and how notes talk about it."""

    key: str
    code: str
    """Billable ICD-10-CM 2026 code (checked when the inventory is loaded)."""
    kind: Kind
    forms: tuple[str, ...]
    """Curated surface forms; tabular terms are added when the inventory is loaded."""
    group: str = ""
    """Concept family (defaults to ``key``): at most one member per chart, in any role."""
    meds: tuple[str, ...] = ()
    plan: str = ""
    """Plan sentence for the assessment; default: continue the medication."""
    symptoms: tuple[str, ...] = ()
    """Symptom keys the condition explains: integral to it, so never coded beside it."""
    differential: tuple[str, ...] = ()
    """Keys that a note rules out or keeps open when this is the main problem."""
    companions: tuple[str, ...] = ()
    """Acute keys that may be coded alongside this main problem."""
    needs_companion: bool = False
    complaint: str = ""
    """Chief complaint for acute problems without integral symptoms."""
    finding: str = ""
    """Workup result that confirms an acute problem."""
    resolved: str = ""
    """Past-history template (``{f}`` form, ``{year}``) for a resolved episode."""
    present: bool = True
    """Whether the condition may be planned as the patient's (else a distractor only)."""
    family: bool = False
    """Whether it makes a plausible family-history mention."""
    inclusion: bool = True
    """Whether the tabular inclusion terms read naturally as surface forms."""
    sex: Literal["F", "M"] | None = None
    min_age: int = 18
    max_age: int = 100

    @property
    def concept(self) -> str:
        return self.group or self.key


def read_conditions(path: Path = INVENTORY_FILE) -> tuple[Condition, ...]:
    """The curated conditions of ``path``, in file order; a malformed entry raises ``ValueError`` naming it."""
    entries = yaml.safe_load(path.read_text(encoding="utf-8"))["conditions"]
    adapter = TypeAdapter(Condition)
    conditions = []
    for index, entry in enumerate(entries):
        try:
            conditions.append(adapter.validate_python(entry))
        except ValidationError as error:
            name = entry.get("key") if isinstance(entry, dict) else None
            raise ValueError(f"{path}: condition {index + 1} ({name}): {error}") from None
    return tuple(conditions)


# --- surface forms from the tabular -------------------------------------------------------

_DROP_PART = re.compile(r"unspecified|not specified|initial encounter|uncomplicated|not elsewhere classified", re.I)
_UNNATURAL = re.compile(r"\bor\b|\[|such as|\bother\b|\bNEC\b|classified|specified|\bdue to\b|/", re.I)
_AGE_BOUND = re.compile(r"juvenile|childhood|infantile|newborn|neonatal|senile|age-related|postmenopausal|puerperal", re.I)


def _table_phrase(term: str) -> str | None:
    """A tabular term as a clinician would write it, or None where it would not read naturally.

    Drops nonessential modifiers in parentheses, "NOS", and comma parts that only say
    "unspecified"; turns a trailing laterality part into "of the right ...".
    """
    text = re.sub(r"\s*\([^)]*\)", "", term)
    text = re.sub(r"\bNOS\b", "", text)
    text = re.sub(r"\bunspecified (site|part) of ", "", text, flags=re.I)
    head, *rest = [part.strip() for part in text.split(",")]
    rest = [part for part in rest if part and not _DROP_PART.search(part)]
    head = re.sub(r"\bunspecified\s+", "", head, flags=re.I)
    if len(rest) == 1 and re.match(r"(right|left|bilateral)\b", rest[0]):
        head, rest = f"{head} of the {rest[0]}", []
    text = re.sub(r"\s+", " ", ", ".join([head, *rest])).strip(" ,")
    if not text or len(text) > 70 or _UNNATURAL.search(text) or _DROP_PART.search(text):
        return None
    first = text.split(" ", 1)[0]
    # Sentence case in the table; lower-case it unless the first word is an acronym or eponym.
    if first[1:].islower() and "'" not in first:
        text = first[0].lower() + text[1:]
    return text


# --- the checked inventory -------------------------------------------------------------------


@dataclass(frozen=True)
class Inventory:
    """The curated conditions with their full surface forms, and the pool of extra tabular conditions."""

    conditions: dict[str, Condition]
    extras: dict[str, tuple[Condition, ...]]
    """Extra tabular conditions by chapter letter."""

    def __getitem__(self, key: str) -> Condition:
        return self.conditions[key]


def load_inventory(table: Icd10cm, curated: tuple[Condition, ...]) -> Inventory:
    """Check every curated code against the tabular, add tabular forms, and build the extra pool."""
    seen_codes: dict[str, str] = {}
    owner: dict[str, str] = {}
    for condition in curated:
        if condition.code not in table or not table.is_billable(condition.code):
            raise ValueError(f"{condition.key}: {condition.code} is not a billable ICD-10-CM {table.year} code")
        if condition.code in seen_codes:
            raise ValueError(f"{condition.key}: code {condition.code} repeats {seen_codes[condition.code]}")
        seen_codes[condition.code] = condition.key
        for form in condition.forms:
            if owner.setdefault(form.lower(), condition.key) != condition.key:
                raise ValueError(f"{condition.key}: surface form {form!r} already belongs to {owner[form.lower()]}")
    conditions: dict[str, Condition] = {}
    for condition in curated:
        if condition.key in conditions:
            raise ValueError(f"{condition.key}: key repeats an earlier condition")
        terms = [table.description(condition.code)] + (table.inclusion_terms(condition.code) if condition.inclusion else [])
        forms = list(condition.forms)
        for phrase in filter(None, map(_table_phrase, terms)):
            # A tabular term that another condition already uses would make evidence ambiguous.
            if owner.setdefault(phrase.lower(), condition.key) == condition.key and phrase.lower() not in map(str.lower, forms):
                forms.append(phrase)
        conditions[condition.key] = dataclasses.replace(condition, forms=tuple(forms))
    for condition in conditions.values():
        for ref in condition.symptoms + condition.differential + condition.companions:
            if ref not in conditions:
                raise ValueError(f"{condition.key}: unknown condition {ref!r}")
        if any(conditions[s].kind != "symptom" for s in condition.symptoms):
            raise ValueError(f"{condition.key}: symptoms must name symptom conditions")
        if condition.kind == "acute" and condition.present and not (condition.symptoms or condition.complaint):
            raise ValueError(f"{condition.key}: an acute main problem needs integral symptoms or a complaint")
    return Inventory(conditions, _extra_pool(table, conditions))


def _extra_pool(table: Icd10cm, conditions: dict[str, Condition]) -> dict[str, tuple[Condition, ...]]:
    """Billable codes of a few chapters whose description reads as a diagnosis, as plain chronic conditions."""
    curated_categories = {c.code[:3] for c in conditions.values()}
    pool: dict[str, list[Condition]] = {chapter: [] for chapter in _EXTRA_CHAPTERS}
    for code in sorted(table.billable_codes):
        chapter = code[0]
        # Oral cavity (K00-K14) is dental; 7-character codes carry encounter and episode axes.
        if chapter not in _EXTRA_CHAPTERS or code[:2] in ("K0", "K1") or len(code) > 7 or code[:3] in curated_categories:
            continue
        description = table.description(code)
        parts = [part.strip().lower() for part in description.split(",")]
        if any("unspecified" in part and part != "unspecified" for part in parts) or _AGE_BOUND.search(description):
            continue
        phrase = _table_phrase(description)
        if phrase is None:
            continue
        pool[chapter].append(
            Condition(
                key=f"table:{code}",
                code=code,
                kind="chronic",
                forms=(phrase,),
                group=f"table:{code[:3]}",
                plan=f"Follow up with {_EXTRA_CHAPTERS[chapter]}.",
            )
        )
    return {chapter: tuple(codes) for chapter, codes in pool.items()}
