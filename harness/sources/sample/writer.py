"""Writing one sample note from its plan: sections of text with every condition mention marked.

The writer emits segments, plain strings and ``Mention``s, instead of a finished string,
so that the chart's evidence spans and distractor offsets come from the same pieces the
text is made of and can never drift from it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from harness.sources.sample.inventory import Condition
from harness.sources.sample.planner import Plan


@dataclass(frozen=True)
class Mention:
    """A surface form of a condition at one place in the note."""

    key: str
    text: str


Segment = str | Mention

_GIVEN = ("Avery", "Jordan", "Riley", "Morgan", "Casey", "Quinn", "Taylor", "Rowan", "Skyler", "Emerson", "Harper", "Reese")
_SURNAMES = ("Testperson", "Mockwell", "Sampleton", "Placeholder", "Fakename", "Dummyford", "Notreal", "Synthetica", "Exampleby")
_TITLES = {
    ("chronic", "office"): "OFFICE VISIT - CHRONIC CARE FOLLOW-UP",
    ("chronic", "telehealth"): "TELEHEALTH VISIT - FOLLOW-UP",
    ("acute", "emergency"): "EMERGENCY DEPARTMENT NOTE",
    ("acute", "urgent_care"): "URGENT CARE NOTE",
    ("symptom", "office"): "OFFICE VISIT - ACUTE CONCERN",
    ("symptom", "urgent_care"): "URGENT CARE NOTE",
    ("symptom", "telehealth"): "TELEHEALTH VISIT - ACUTE CONCERN",
}
_STATUS = ("stable", "well controlled", "stable on current regimen", "unchanged since last visit", "doing well")
_WORKUP = ("will reassess at follow-up", "further workup ordered", "labs ordered", "will follow up pending results")
_UNCERTAIN = (("Possible ", ""), ("Rule out ", ""), ("Cannot exclude ", ""), ("Suspected ", ", not yet confirmed"),
              ("R/O ", ""), ("", " is in the differential"), ("Concern for ", ""))  # fmt: skip
_RULED_OUT = (("No evidence of ", ""), ("", " ruled out"), ("Negative for ", " on workup"), ("", " has been excluded"))
_FEMALE_RELATIVES = ("mother", "sister", "maternal grandmother", "maternal aunt")
_MALE_RELATIVES = ("father", "brother", "paternal grandfather", "paternal uncle")
_SOCIAL = ("tobacco", "alcohol_dependence")
"""Conditions documented in the social history rather than as problems."""
_JOBS = ("teacher", "electrician", "accountant", "nurse aide", "bus driver", "retail manager", "carpenter", "office clerk")


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _series(items: Sequence[Segment], conjunction: str = "and") -> list[Segment]:
    """Items joined as an English series: "a", "a and b", "a, b and c" (``or`` under a negation)."""
    out: list[Segment] = []
    for index, item in enumerate(items):
        if index:
            out.append(f" {conjunction} " if index == len(items) - 1 else ", ")
        out.append(item)
    return out


class Writer:
    """Writes the sections of one note from its plan."""

    def __init__(self, plan: Plan, rng: random.Random, index: int):
        self.plan = plan
        self.rng = rng
        self.he = "She" if plan.sex == "F" else "He"
        self.person = "woman" if plan.sex == "F" else "man"
        self.visit = date(2025, 1, 1) + timedelta(days=rng.randrange(365))
        self.name = f"{rng.choice(_SURNAMES).upper()}, {rng.choice(_GIVEN)}"
        self.mrn = f"SYN-{index:04d}-{rng.randrange(10_000):04d}"
        self.meds = {c.key: rng.choice(c.meds) for c in plan.chronic if c.meds}
        self.problems = [c for c in plan.chronic if c.key not in _SOCIAL]
        self.copied_forward = False

    def m(self, condition: Condition, *, cap: bool = False) -> Mention:
        form = self.rng.choice(condition.forms)
        return Mention(condition.key, _cap(form) if cap else form)

    def sections(self) -> list[list[Segment]]:
        """The note's sections in reading order (header first), each a list of segments."""
        plan = self.plan
        chronic_lines = [self._chronic_line(c) for c in plan.chronic]
        copied: list[list[Segment]] = []
        if chronic_lines and self.rng.random() < 0.35:
            # Copy-forward: earlier assessment lines pasted verbatim, then repeated in today's assessment.
            copied = [line for line in chronic_lines if self.rng.random() < 0.6] or chronic_lines[:1]
            self.copied_forward = True
        sections = [self._header(), self._chief_complaint(), self._hpi()]
        if copied:
            prior = (self.visit - timedelta(days=self.rng.randint(60, 240))).isoformat()
            sections.append([f"INTERVAL HISTORY (copied from prior note dated {prior}):\n", *self._lines(copied, "- ")])
        sections += [
            self._pmh(),
            self._medications(),
            self._allergies(),
            self._family(),
            self._social(),
            self._ros(),
            self._exam(),
        ]
        sections += [
            self._assessment(chronic_lines),
            [f"Electronically signed: Sample Clinician, MD (synthetic) {self.visit.isoformat()}"],
        ]
        return sections

    @staticmethod
    def _lines(lines: Sequence[Sequence[Segment]], bullet: str) -> list[Segment]:
        out: list[Segment] = []
        for index, line in enumerate(lines):
            out += ["\n" if index else "", bullet.format(n=index + 1), *line]
        return out

    def _header(self) -> list[Segment]:
        plan = self.plan
        return [
            f"{_TITLES[plan.scenario, plan.encounter]}\n"
            f"Date of service: {self.visit.isoformat()}\n"
            f"Patient: {self.name} (synthetic)    MRN: {self.mrn}    Age: {plan.age}    Sex: {plan.sex}\n"
            "Provider: Sample Clinician, MD (synthetic)"
        ]

    def _chief_complaint(self) -> list[Segment]:
        plan = self.plan
        head: list[Segment] = ["CHIEF COMPLAINT:\n"]
        if plan.scenario == "chronic":
            if not self.problems:
                return [*head, "Routine follow-up."]
            return [*head, "Follow-up of ", *_series([self.m(c) for c in self.problems[:2]]), "."]
        if plan.scenario == "symptom":
            return [*head, self.m(plan.main, cap=True), "."]
        if plan.integral:
            return [*head, *_series([self.m(c, cap=not i) for i, c in enumerate(plan.integral)]), "."]
        return [*head, _cap(plan.main.complaint), "."]

    def _history_clause(self) -> list[Segment]:
        shown = self.problems[:3]
        if not shown:
            return ["with no significant past medical history"]
        return [self.rng.choice(("with a history of ", "with PMH of ", "with ")), *_series([self.m(c) for c in shown])]

    def _hpi(self) -> list[Segment]:
        plan, rng = self.plan, self.rng
        out: list[Segment] = ["HISTORY OF PRESENT ILLNESS:\n", f"{plan.age}-year-old {self.person} ", *self._history_clause()]
        if plan.scenario == "chronic":
            out += [" presents for routine follow-up. ", f"{self.he} reports taking medications as prescribed."]
        elif plan.scenario == "symptom":
            duration = rng.choice(("3 days", "1 week", "2 weeks", "a month"))
            out += [rng.choice((" presents with ", " presents c/o ", " complains of ")), self.m(plan.main), f" for {duration}. ",
                    rng.choice(("Symptoms are intermittent and not clearly related to activity.",
                                "No clear trigger identified.", "Over-the-counter remedies have not helped."))]  # fmt: skip
        else:
            place = "the emergency department" if plan.encounter == "emergency" else "urgent care"
            if plan.integral:
                out += [
                    f" presents to {place} with ",
                    *_series([self.m(c) for c in plan.integral]),
                    f" for {rng.randint(1, 5)} days.",
                ]
            else:
                out += [f" presents to {place} with {plan.main.complaint}."]
            out += [f" Workup: {plan.main.finding}"]
        hpi_negated = plan.negated[: rng.randint(1, 2)]
        if hpi_negated:
            out += [f" {self.he} denies ", *_series([self.m(c) for c in hpi_negated], "or"), "."]
        return out

    def _pmh(self) -> list[Segment]:
        plan = self.plan
        lines: list[list[Segment]] = [[self.m(c)] for c in self.problems]
        for condition in plan.historical:
            year = self.rng.randint(self.visit.year - max(2, min(plan.age - 16, 25)), self.visit.year - 1)
            before, _, after = condition.resolved.partition("{f}")
            lines.append(
                [self.rng.choice(("History of ", "Remote history of ")), before, self.m(condition), after.format(year=year)]
            )
        return ["PAST MEDICAL HISTORY:\n", *self._lines(lines or [["None reported"]], "- ")]

    def _medications(self) -> list[Segment]:
        meds = list(dict.fromkeys(self.meds.values()))  # one line per drug even when two problems share it
        return ["MEDICATIONS:\n", *self._lines([[m] for m in meds] or [["None"]], "- ")]

    def _allergies(self) -> list[Segment]:
        return ["ALLERGIES:\n", self.rng.choice(("NKDA", "NKDA", "Penicillin (intolerance)", "Sulfa drugs (intolerance)"))]

    def _family(self) -> list[Segment]:
        rng = self.rng
        out: list[Segment] = ["FAMILY HISTORY:\n"]
        for index, condition in enumerate(self.plan.family):
            relatives = {"F": _FEMALE_RELATIVES, "M": _MALE_RELATIVES}.get(
                condition.sex or "", _FEMALE_RELATIVES + _MALE_RELATIVES
            )
            relative = rng.choice(relatives)
            style = rng.randrange(4)
            out.append(" " if index else "")
            if style == 0:
                out += [f"{_cap(relative)} with ", self.m(condition), "."]
            elif style == 1:
                out += [f"FHx: {relative} ", self.m(condition), "."]
            elif style == 2:
                out += [f"{_cap(relative)} had ", self.m(condition), f" at age {rng.randint(45, 80)}."]
            else:
                out += [f"{_cap(relative)}: ", self.m(condition), "."]
        if not self.plan.family:
            out.append("Noncontributory.")
        return out

    def _social(self) -> list[Segment]:
        rng = self.rng
        keys = [c.key for c in self.plan.chronic]
        tobacco: list[Segment] = ["never smoker"]
        if "tobacco" in keys:
            tobacco = [self.m(self.plan.codes["tobacco"]), f", about {rng.randint(10, 50)} pack-years"]
        alcohol: list[Segment] = [rng.choice(("occasional, 1-2 drinks per week", "none"))]
        if "alcohol_dependence" in keys:
            alcohol = [self.m(self.plan.codes["alcohol_dependence"]), f"; last drink {rng.randint(1, 4)} days ago"]
        job = rng.choice(_JOBS)
        occupation = rng.choice((f"works as {'an' if job[0] in 'aeiou' else 'a'} {job}", f"retired {job}"))
        return ["SOCIAL HISTORY:\n", "Tobacco: ", *tobacco, ".\nAlcohol: ", *alcohol,
                f".\nOccupation: {occupation}.\nLives {rng.choice(('with spouse', 'alone', 'with family'))}."]  # fmt: skip

    def _ros(self) -> list[Segment]:
        plan, rng = self.plan, self.rng
        positive = plan.integral if plan.scenario == "acute" else [plan.main] if plan.scenario == "symptom" else []
        out: list[Segment] = ["REVIEW OF SYSTEMS:\n"]
        if positive:
            out += ["Positive for ", *_series([self.m(c) for c in positive]), ". "]
        if plan.negated:
            out += [rng.choice(("Negative for ", "Denies ", "No ")), *_series([self.m(c) for c in plan.negated], "or"), ". "]
        return [*out, "All other systems reviewed and negative."]

    def _exam_finding(self, key: str, normal: str) -> list[Segment]:
        """An exam line: the finding itself where the patient has it, its negation where it is a distractor."""
        role = self.plan.roles.get(key)
        if role is None:
            return [normal + "."]
        if role.assertion == "negated":
            return [normal, ", no ", self.m(self.plan.codes[key]), "."]
        return [self.m(self.plan.codes[key]), " noted."]

    def _exam(self) -> list[Segment]:
        plan, rng = self.plan, self.rng
        keys = {c.key for c in plan.present()} | {c.key for c in plan.integral}
        fever = "fever" in keys
        temp = f"{rng.uniform(38.3, 39.2):.1f}" if fever else f"{rng.uniform(36.4, 37.2):.1f}"
        hr = rng.randint(105, 125) if "sepsis" in keys else rng.randint(62, 96)
        spo2 = rng.randint(86, 89) if "ahrf" in keys else rng.randint(94, 99)
        rhythm = "irregularly irregular rhythm" if "afib" in keys else "regular rate and rhythm"
        abdomen = "soft, nondistended, mildly tender" if "abdominal_pain" in keys else "soft, nondistended, nontender"
        video = plan.encounter == "telehealth"
        return [
            "PHYSICAL EXAM (limited, by video; vitals patient-reported):\n" if video else "PHYSICAL EXAM:\n",
            f"Vitals: BP {rng.randint(112, 158)}/{rng.randint(64, 94)}, HR {hr}, Temp {temp} C, RR {rng.randint(12, 22)}, "
            f"SpO2 {spo2}% on room air.\nGeneral: awake, in no acute distress.\nHEENT: normocephalic, atraumatic.\nLungs: ",
            *self._exam_finding("wheezing", "clear to auscultation bilaterally"),
            f"\nHeart: {rhythm}.\nAbdomen: {abdomen}.\nExtremities: ",
            *self._exam_finding("edema", "warm and well perfused"),
            "\nSkin: ",
            *self._exam_finding("rash", "warm and dry"),
            "\nNeuro: no focal deficits.",
        ]

    def _chronic_line(self, condition: Condition) -> list[Segment]:
        if condition.plan:
            return [self.m(condition, cap=True), f": {condition.plan}"]
        med = self.meds.get(condition.key)
        plan = f"Continue {med}." if med else "Continue current management."
        return [self.m(condition, cap=True), f": {self.rng.choice(_STATUS)}. {plan}"]

    def _clause(self, templates: tuple[tuple[str, str], ...], condition: Condition) -> list[Segment]:
        prefix, suffix = self.rng.choice(templates)
        return [prefix, self.m(condition, cap=not prefix), suffix]

    def _assessment(self, chronic_lines: list[list[Segment]]) -> list[Segment]:
        plan, rng = self.plan, self.rng
        items: list[list[Segment]] = []
        workup: list[Segment] = []  # the main problem's differential: ruled out, or kept open
        if plan.main is not None:
            for condition in plan.ruled_out:
                workup += [" ", *self._clause(_RULED_OUT, condition), "."]
            for condition in plan.uncertain:
                workup += [" ", *self._clause(_UNCERTAIN, condition), f"; {rng.choice(_WORKUP)}."]
        if plan.scenario == "acute":
            items.append([self.m(plan.main, cap=True), f": {plan.main.plan}", *workup])
            items += [[self.m(c, cap=True), f": {c.plan}"] for c in plan.companions]
        elif plan.scenario == "symptom":
            items.append([self.m(plan.main, cap=True), ": etiology unclear.", *workup])
        items += chronic_lines
        if plan.scenario == "chronic":
            items += [[*self._clause(_UNCERTAIN, c), f"; {rng.choice(_WORKUP)}."] for c in plan.uncertain]
        follow_up = rng.choice(("Return precautions reviewed.", f"Follow up in {rng.choice((2, 4, 6, 12))} weeks."))
        return ["ASSESSMENT AND PLAN:\n", *self._lines(items, "{n}. "), f"\n{follow_up}"]
