"""Code sets by year: which codes exist, which are billable, and their tabular notes.

ICD-10-CM comes from ``simple-icd-10-cm`` (CMS tabular, April 2026 = fiscal year
2026). ICD-10-PCS has no tabular we can ship, so PCS codes are checked for shape
only (seven characters from the PCS alphabet, or a prefix of one as CodiEsp uses).
"""

from __future__ import annotations

import re
from functools import cache, cached_property
from types import ModuleType

from harness.contracts import DEFAULT_CODE_SET_YEAR, CodeSystem
from harness.errors import HarnessError

ICD10CM_YEARS = (DEFAULT_CODE_SET_YEAR,)
"""Fiscal years whose ICD-10-CM tabular is available."""

_ICD10CM_SHAPE = re.compile(r"^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$")
_PCS_SHAPE = re.compile(r"^[0-9A-HJ-NP-Z]{1,7}$")
_CODE_REF = re.compile(r"\b([A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?)(?:\.?-)?")


class UnknownCodeSet(HarnessError, ValueError):
    """A code system or year that the harness has no table for."""


def canonical_code(code: str, system: CodeSystem) -> str:
    """Upper-case code with ICD-10-CM's dot after the category (``n2889`` -> ``N28.89``)."""
    code = code.strip().upper()
    if system == "icd10cm":
        code = code.replace(".", "")
        return code if len(code) <= 3 else f"{code[:3]}.{code[3:]}"
    return code


def is_well_formed(code: str, system: CodeSystem) -> bool:
    """Whether a canonical code has the shape of its system (says nothing of existence)."""
    return bool((_ICD10CM_SHAPE if system == "icd10cm" else _PCS_SHAPE).match(code))


class Icd10cm:
    """ICD-10-CM for one fiscal year, backed by the CMS tabular."""

    system: CodeSystem = "icd10cm"

    def __init__(self, year: int):
        if year not in ICD10CM_YEARS:
            raise UnknownCodeSet(f"ICD-10-CM {year} is not available; available years: {', '.join(map(str, ICD10CM_YEARS))}")
        self.year = year
        self._excludes1_cache: dict[str, frozenset[str]] = {}

    @cached_property
    def _table(self) -> ModuleType:
        import simple_icd_10_cm  # 2 s import: only when a code is looked up

        return simple_icd_10_cm

    @cached_property
    def _codes(self) -> frozenset[str]:
        return frozenset(c for c in self._table.get_all_codes(True) if is_well_formed(c, "icd10cm"))

    @cached_property
    def billable_codes(self) -> frozenset[str]:
        """Leaf codes, the only ones a claim may carry."""
        return frozenset(c for c in self._codes if self._table.is_leaf(c))

    def __contains__(self, code: str) -> bool:
        return code in self._codes

    def load(self) -> None:
        """Read the tabular now (about 2 s), so the cost is not charged to whatever looks up a code first."""
        self.billable_codes  # noqa: B018 - the property builds both code sets

    def codes(self) -> frozenset[str]:
        """Every category, subcategory and leaf code (no chapters or blocks)."""
        return self._codes

    def is_billable(self, code: str) -> bool:
        return code in self.billable_codes

    def description(self, code: str) -> str:
        return self._table.get_description(code) if code in self._codes else ""

    def inclusion_terms(self, code: str) -> list[str]:
        return list(self._table.get_inclusion_term(code)) if code in self._codes else []

    def includes(self, code: str) -> list[str]:
        """The "Includes" notes of a code (e.g. "hypertension" under I10)."""
        return list(self._table.get_includes(code)) if code in self._codes else []

    def parent(self, code: str) -> str | None:
        """Parent code, or None for a category (its parent is a block)."""
        parent = self._table.get_parent(code) if code in self._codes else ""
        # A block that holds one category shares its name: that parent is not a code.
        return parent if parent in self._codes and parent != code else None

    def category(self, code: str) -> str:
        """Three-character category of a code."""
        return code[:3]

    def children(self, code: str) -> list[str]:
        return [c for c in self._table.get_children(code) if c in self._codes] if code in self._codes else []

    def is_ancestor(self, ancestor: str, code: str) -> bool:
        return ancestor != code and code.startswith(ancestor) and ancestor in self._codes and code in self._codes

    def excludes1(self, code: str) -> frozenset[str]:
        """Codes or code prefixes the tabular's Excludes1 notes name for ``code`` and its ancestors."""
        if code not in self._excludes1_cache:
            self._excludes1_cache[code] = self._collect_excludes1(code)
        return self._excludes1_cache[code]

    def _collect_excludes1(self, code: str) -> frozenset[str]:
        refs: set[str] = set()
        node: str | None = code
        while node is not None:
            for note in self._table.get_excludes1(node):
                refs.update(m.group(1) for m in _CODE_REF.finditer(note))
            node = self.parent(node)
        return frozenset(refs)

    def excludes1_conflict(self, a: str, b: str) -> bool:
        """Whether ``a`` and ``b`` may not be coded together (an Excludes1 note, in either direction)."""
        return any(b.startswith(ref) for ref in self.excludes1(a)) or any(a.startswith(ref) for ref in self.excludes1(b))


class Icd10pcs:
    """ICD-10-PCS, shape checks only: no PCS tabular is available offline."""

    system: CodeSystem = "icd10pcs"

    def __init__(self, year: int):
        self.year = year

    def __contains__(self, code: str) -> bool:
        return is_well_formed(code, "icd10pcs")

    def is_billable(self, code: str) -> bool:
        return len(code) == 7 and code in self

    def description(self, code: str) -> str:
        return ""


@cache
def code_set(system: CodeSystem, year: int) -> Icd10cm | Icd10pcs:
    """The code set of ``system`` for fiscal ``year`` (one shared instance each)."""
    if system == "icd10cm":
        return Icd10cm(year)
    if system == "icd10pcs":
        return Icd10pcs(year)
    raise UnknownCodeSet(f"unknown code system {system!r}; known: icd10cm, icd10pcs")
