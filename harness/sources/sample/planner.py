"""Planning one sample chart: which conditions it asserts, and how, before any text is written.

Gold follows outpatient coding rules: uncertain diagnoses are not coded, signs and
symptoms integral to a confirmed diagnosis are not coded, family and resolved
history do not code the condition itself. Combinations that ICD-10-CM would merge
into one code (hypertension with CKD, diabetes "with" its complications, Excludes1
pairs) are never planned together, so every gold code stands on its own mention.
Planning first keeps these rules in one place, away from the wording of the note.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from coders.codeset import Icd10cm
from harness.contracts import Assertion
from harness.sources.sample.inventory import Condition, Inventory

_CONFLICTS: frozenset[frozenset[str]] = frozenset(
    frozenset(pair)
    for pair in (
        # ICD-10-CM presumes these linked and codes them as one combination.
        ("htn", "ckd"), ("htn", "hf"), ("diabetes", "ckd"), ("diabetes", "neuropathy"), ("diabetes", "pvd"),
        ("diabetes", "cataract"), ("diabetes", "glaucoma"), ("diabetes", "dermatitis"), ("anemia", "ckd"),
        ("copd", "asthma"), ("copd", "pneumonia"), ("copd", "bronchitis"), ("sepsis", "aki"), ("sepsis", "ahrf"),
        ("pneumonia", "influenza"), ("pneumonia", "covid19"), ("influenza", "covid19"),
        # A documented link would change the code (alcoholic liver disease, alcohol-induced pancreatitis).
        ("alcohol", "liver"), ("alcohol", "pancreatitis"), ("alcohol", "gastritis"),
    )
)  # fmt: skip
"""Concept pairs never planned together as present: their gold would be a combination code."""


@dataclass(frozen=True)
class _Role:
    """How a chart asserts a condition; gold when present and not integral to another code."""

    assertion: Assertion
    reason: str = ""
    """Why the mention is not coded; empty for gold."""


_NOT_CODED = {
    "negated": "negated",
    "possible": "uncertain diagnosis (outpatient: not coded)",
    "family": "family history, not the patient's condition",
    "historical": "resolved past episode",
}


@dataclass
class Plan:
    """What one chart says about which conditions."""

    scenario: Literal["chronic", "acute", "symptom"]
    encounter: str
    sex: Literal["F", "M"]
    age: int
    main: Condition | None = None
    companions: list[Condition] = field(default_factory=list)
    chronic: list[Condition] = field(default_factory=list)
    integral: list[Condition] = field(default_factory=list)
    negated: list[Condition] = field(default_factory=list)
    ruled_out: list[Condition] = field(default_factory=list)
    uncertain: list[Condition] = field(default_factory=list)
    family: list[Condition] = field(default_factory=list)
    historical: list[Condition] = field(default_factory=list)
    roles: dict[str, _Role] = field(default_factory=dict)
    codes: dict[str, Condition] = field(default_factory=dict)
    """Every planned condition by key (curated and extra)."""
    reserved: list[str] = field(default_factory=list)
    """Concepts a distractor may not take: the patient has them or they are explained."""

    def eligible(self, condition: Condition) -> bool:
        return condition.sex in (None, self.sex) and condition.min_age <= self.age <= condition.max_age

    def free(self, condition: Condition) -> bool:
        return condition.concept not in self.reserved

    def assign(self, condition: Condition, role: _Role) -> None:
        self.roles[condition.key] = role
        self.codes[condition.key] = condition
        self.reserved.append(condition.concept)

    def present(self) -> list[Condition]:
        return [self.codes[k] for k, role in self.roles.items() if role.assertion == "present" and not role.reason]


_SCENARIOS = (("chronic", 0.4), ("acute", 0.35), ("symptom", 0.25))
_ENCOUNTERS = {
    "chronic": ("office", "office", "telehealth"),
    "acute": ("emergency", "emergency", "urgent_care"),
    "symptom": ("office", "urgent_care", "telehealth"),
}


class Planner:
    """Draws a chart plan that keeps gold consistent with the coding rules."""

    def __init__(self, inventory: Inventory, table: Icd10cm, rng: random.Random):
        self.inv = inventory
        self.table = table
        self.rng = rng

    def plan(self) -> Plan:
        rng = self.rng
        scenario = rng.choices([s for s, _ in _SCENARIOS], weights=[w for _, w in _SCENARIOS])[0]
        plan = Plan(
            scenario,
            rng.choice(_ENCOUNTERS[scenario]),
            rng.choice(("F", "M")),
            rng.randint(35 if scenario == "chronic" else 18, 90),
        )
        if scenario == "acute":
            self._acute_main(plan)
        elif scenario == "symptom":
            self._symptom_main(plan)
        n_chronic = {"chronic": rng.randint(2, 5), "acute": rng.randint(0, 3), "symptom": rng.randint(0, 3)}[scenario]
        n_extra = rng.choice((0, 1, 1, 2) if scenario == "chronic" else (0, 0, 1))
        self._add_chronic(plan, [c for c in self.inv.conditions.values() if c.kind == "chronic" and c.present], n_chronic)
        for _ in range(n_extra):
            # Chapter first, so the large musculoskeletal chapter does not crowd out the others.
            self._add_chronic(plan, self.inv.extras[rng.choice(sorted(self.inv.extras))], 1)
        for condition in plan.present():
            plan.reserved.extend(self.inv[s].concept for s in condition.symptoms)
        self._distractors(plan)
        return plan

    def _acute_main(self, plan: Plan) -> None:
        mains = [c for c in self.inv.conditions.values() if c.kind == "acute" and c.present and plan.eligible(c)]
        main = self.rng.choice(mains)
        plan.main = main
        plan.assign(main, _Role("present"))
        options = [self.inv[k] for k in main.companions if self._compatible(plan, self.inv[k])]
        if options and (main.needs_companion or self.rng.random() < 0.4):
            companion = self.rng.choice(options)
            plan.companions.append(companion)
            plan.assign(companion, _Role("present"))
        for condition in [main, *plan.companions]:
            for key in condition.symptoms:
                symptom = self.inv[key]
                if key not in plan.roles:
                    plan.integral.append(symptom)
                    plan.assign(symptom, _Role("present", f"integral to {condition.code}"))

    def _symptom_main(self, plan: Plan) -> None:
        mains = [
            c for c in self.inv.conditions.values() if c.kind == "symptom" and c.present and c.differential and plan.eligible(c)
        ]
        main = self.rng.choice(mains)
        plan.main = main
        plan.assign(main, _Role("present"))

    def _compatible(self, plan: Plan, condition: Condition) -> bool:
        if not plan.eligible(condition) or not plan.free(condition):
            return False
        present = plan.present()
        if any(frozenset((condition.concept, other.concept)) in _CONFLICTS for other in present):
            return False
        if any(self.table.excludes1_conflict(condition.code, other.code) for other in present):
            return False
        # Diabetes "with" covers skin and bone problems broadly: keep extras off those chapters.
        if condition.key.startswith("table:") and any(o.concept == "diabetes" for o in present) and condition.code[0] in "LM":
            return False
        main = plan.main
        if main is not None and main.kind == "symptom":
            # A condition that explains the presenting symptom would make the symptom integral.
            return condition.key not in main.differential and main.key not in condition.symptoms
        return True

    def _add_chronic(self, plan: Plan, pool: Sequence[Condition], count: int) -> None:
        for _ in range(count):
            options = [c for c in pool if self._compatible(plan, c)]
            if not options:
                return
            condition = self.rng.choice(options)
            plan.chronic.append(condition)
            plan.assign(condition, _Role("present"))

    def _pick(
        self, plan: Plan, options: Sequence[Condition], count: int, assertion: Assertion, *, patient: bool = True
    ) -> list[Condition]:
        """Up to ``count`` distractors drawn from ``options``, each marked with ``assertion``."""
        picked = []
        for _ in range(count):
            free = [c for c in options if plan.free(c) and (plan.eligible(c) or not patient) and c.key not in plan.roles]
            if not free:
                break
            condition = self.rng.choice(free)
            plan.assign(condition, _Role(assertion, _NOT_CODED[assertion]))
            picked.append(condition)
        return picked

    def _distractors(self, plan: Plan) -> None:
        rng = self.rng
        conditions = self.inv.conditions
        symptoms = [c for c in conditions.values() if c.kind == "symptom"]
        # Pertinent negatives of the exam; the writer finds them by their role.
        exam_keys = [k for k in ("wheezing", "edema", "rash") if rng.random() < 0.6]
        self._pick(plan, [conditions[k] for k in exam_keys], len(exam_keys), "negated")
        plan.negated = self._pick(plan, symptoms, rng.randint(2, 4), "negated")
        differential = [conditions[k] for k in plan.main.differential] if plan.main else []
        if plan.scenario == "acute":
            plan.ruled_out = self._pick(plan, differential, 1, "negated")
            plan.uncertain = self._pick(plan, differential, rng.choice((0, 1)), "possible")
        elif plan.scenario == "symptom":
            plan.uncertain = self._pick(plan, differential, rng.choice((1, 1, 2)), "possible")
            plan.ruled_out = self._pick(plan, differential, rng.choice((0, 1)), "negated")
        elif rng.random() < 0.5:
            screening = [c for c in conditions.values() if c.kind == "chronic" and c.present]
            plan.uncertain = self._pick(plan, screening, 1, "possible")
        family = [c for c in conditions.values() if c.family]
        plan.family = self._pick(plan, family, rng.choice((0, 1, 1, 2, 2)), "family", patient=False)
        if rng.random() < 0.5:
            plan.historical = self._pick(plan, [c for c in conditions.values() if c.resolved], 1, "historical")
