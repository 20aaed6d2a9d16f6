"""The rule engine: an ``Extraction`` in, the ``CodeAssignment``s a rule pack makes of it out.

Each finding with a code supports a candidate code. Support from several findings of
the same code is merged into one candidate, but each finding's assertion and
confidence are kept, so that finding-level rules (assertion filter, minimum
confidence) stay exact after the merge. A candidate's confidence combines its
remaining support as the pack says (``max`` by default, or noisy-or); its evidence
is the union of its support's spans, deduplicated by offsets and sorted. The confidence
counts as estimated only when the support with estimated confidences alone combines to
the same value: a prior that sets (or raises) it makes it a guess that routing must not trust.

Rules run in the pack's order. Every rule that keeps or changes a candidate appends
its id to the candidate's trace. Rules about codes (specificity, combination, billable, Excludes1,
validity, drop and max codes) act only on codes of the pack's system: ICD-10-PCS
procedures (CodiEsp) pass through them untouched and untraced. Rules about findings
(assertion filter, minimum confidence) act on every code.

A combination code (the "with" convention) is as sure as its least sure part: its one support has the lowest
confidence of the codes it combines and their evidence. A pack with a ``billable`` rule never lets a non-billable
code through unnoticed: ``RuleEngine.review_reasons`` names each one it kept, and the pipeline sends the chart to review.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from coders.codeset import Icd10cm, canonical_code, code_set
from coders.rule_pack import (
    AssertionFilter,
    Billable,
    Combination,
    DropCodes,
    Excludes1,
    MaxCodes,
    MinConfidence,
    RulePack,
    Specificity,
    Validity,
    load_pack,
)
from harness.contracts import Assertion, Chart, CodeAssignment, CodeSystem, Extraction, ReviewReason, Span


@dataclass(frozen=True)
class _Support:
    """What one finding contributes to a candidate code."""

    assertion: Assertion
    confidence: float
    confidence_estimated: bool
    spans: tuple[Span, ...]


@dataclass
class _Candidate:
    """A code under consideration, with the findings that support it and the rules it went through."""

    code: str
    system: CodeSystem
    support: list[_Support]
    trace: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Context:
    codes: Icd10cm
    combine: Callable[[list[float]], float]

    def confidence(self, candidate: _Candidate) -> float:
        return self.combine([s.confidence for s in candidate.support])

    def confidence_estimated(self, candidate: _Candidate) -> bool:
        """Whether the candidate's confidence comes from estimated support alone (no prior set or raised it)."""
        estimated = [s.confidence for s in candidate.support if s.confidence_estimated]
        return bool(estimated) and self.combine(estimated) == self.confidence(candidate)

    def rank(self, candidate: _Candidate) -> tuple[float, int, str]:
        """Sort key: most confident first; ties go to the more specific, then the smaller code."""
        return (-self.confidence(candidate), -len(candidate.code), candidate.code)


def _noisy_or(values: list[float]) -> float:
    return 1.0 - math.prod(1.0 - v for v in values)


_COMBINE: dict[str, Callable[[list[float]], float]] = {"max": max, "noisy_or": _noisy_or}


def _merge(candidates: list[_Candidate]) -> list[_Candidate]:
    """One candidate per (system, code), in first-seen order; support concatenated, traces united in order."""
    merged: dict[tuple[str, str], _Candidate] = {}
    for cand in candidates:
        into = merged.get((cand.system, cand.code))
        if into is None:
            merged[(cand.system, cand.code)] = _Candidate(cand.code, cand.system, list(cand.support), list(cand.trace))
        else:
            into.support.extend(cand.support)
            into.trace.extend(t for t in cand.trace if t not in into.trace)
    return list(merged.values())


def _keep_support(candidates: list[_Candidate], keep: Callable[[_Candidate, _Support], bool]) -> list[_Candidate]:
    """Filter each candidate's support; a candidate left without support is dropped."""
    out = []
    for cand in candidates:
        cand.support = [s for s in cand.support if keep(cand, s)]
        if cand.support:
            out.append(cand)
    return out


def _assertion_filter(rule: AssertionFilter, cands: list[_Candidate], ctx: _Context) -> list[_Candidate]:
    def keep(cand: _Candidate, s: _Support) -> bool:
        if s.assertion in rule.keep:
            return True
        # also_keep names pack-system codes: a PCS code may share a prefix with an ICD-10-CM one
        return cand.system == ctx.codes.system and cand.code.startswith(tuple(rule.also_keep.get(s.assertion, ())))

    return _keep_support(cands, keep)


def _min_confidence(rule: MinConfidence, cands: list[_Candidate], ctx: _Context) -> list[_Candidate]:
    return _keep_support(cands, lambda _, s: s.confidence >= rule.threshold)


def _drop_codes(rule: DropCodes, cands: list[_Candidate], ctx: _Context) -> list[_Candidate]:
    return [c for c in cands if not c.code.startswith(tuple(rule.codes))]


def _specificity(rule: Specificity, cands: list[_Candidate], ctx: _Context) -> list[_Candidate]:
    if rule.mode == "category":
        for cand in cands:
            cand.code = ctx.codes.category(cand.code)
        return _merge(cands)
    # the ancestor's evidence supports only the less specific claim: it is not carried over
    kept = [c for c in cands if not any(_is_descendant(o.code, c.code) for o in cands)]
    if rule.extend_to_unspecified:
        for cand in kept:
            cand.code = _unspecified_child(cand.code, ctx.codes) or cand.code
    return _merge(kept)


def _is_descendant(code: str, ancestor: str) -> bool:
    return code != ancestor and code.replace(".", "").startswith(ancestor.replace(".", ""))


def _unspecified_child(code: str, codes: Icd10cm, last: str = "9") -> str | None:
    """The one child of a non-billable code that ends in a character of ``last`` and is described as unspecified;
    with ``last="9"`` (the ``specificity`` rule) it must be billable itself."""
    if code not in codes or codes.is_billable(code):
        return None
    children = [
        c
        for c in codes.children(code)
        if c[-1] in last and (last != "9" or codes.is_billable(c)) and "unspecified" in codes.description(c).lower()
    ]
    return children[0] if len(children) == 1 else None


def _family(code: str, families: list[str]) -> bool:
    """Whether ``code`` is one of ``families`` or a descendant of one."""
    return any(code == f or _is_descendant(code, f) for f in families)


def _combination(rule: Combination, cands: list[_Candidate], ctx: _Context) -> list[_Candidate]:
    # every combination is matched against the codes the rule started with: coding one complication of diabetes
    # must not hide the next
    if not any(_family(c.code, rule.condition) for c in cands):
        return cands
    added: list[_Candidate] = []
    superseded: list[str] = []
    for combo in rule.combinations:
        parts = [_best([c for c in cands if _family(c.code, families)], ctx) for families in [rule.condition, *combo.when]]
        if any(part is None for part in parts):
            continue
        chosen = [p for p in parts if p is not None]
        spans = tuple(span for part in chosen for s in part.support for span in s.spans)
        support = _Support("present", min(ctx.confidence(p) for p in chosen),
                           all(ctx.confidence_estimated(p) for p in chosen), spans)
        added.append(_Candidate(combo.code, ctx.codes.system, [support]))
        superseded += combo.supersedes
        if rule.first_match:
            break
    if not added:
        return cands
    codes = {c.code for c in added}
    superseded += rule.supersedes
    kept = [c for c in cands if c.code in codes or not (_family(c.code, superseded)
                                                        or any(_is_descendant(code, c.code) for code in codes))]
    return _merge(kept + added)


def _best(cands: list[_Candidate], ctx: _Context) -> _Candidate | None:
    return min(cands, key=ctx.rank) if cands else None


def _billable(rule: Billable, cands: list[_Candidate], ctx: _Context) -> list[_Candidate]:
    for cand in cands:
        child = _unspecified_child(cand.code, ctx.codes, last="09")
        while child is not None:
            cand.code = child
            child = _unspecified_child(child, ctx.codes, last="09")
    return _merge(cands)


def _excludes1(rule: Excludes1, cands: list[_Candidate], ctx: _Context) -> list[_Candidate]:
    kept: list[_Candidate] = []
    for cand in sorted(cands, key=ctx.rank):
        # codes missing from the tabular have no notes; the validity rule is the place to judge them
        if cand.code in ctx.codes and any(ctx.codes.excludes1_conflict(cand.code, k.code) for k in kept if k.code in ctx.codes):
            continue
        kept.append(cand)
    return kept


def _validity(rule: Validity, cands: list[_Candidate], ctx: _Context) -> list[_Candidate]:
    return [c for c in cands if c.code in ctx.codes and (not rule.billable_only or ctx.codes.is_billable(c.code))]


def _max_codes(rule: MaxCodes, cands: list[_Candidate], ctx: _Context) -> list[_Candidate]:
    return sorted(cands, key=ctx.rank)[: rule.limit]


_APPLY: dict[type, Callable[..., list[_Candidate]]] = {
    AssertionFilter: _assertion_filter,
    MinConfidence: _min_confidence,
    DropCodes: _drop_codes,
    Specificity: _specificity,
    Combination: _combination,
    Billable: _billable,
    Excludes1: _excludes1,
    Validity: _validity,
    MaxCodes: _max_codes,
}
"""How each rule type acts on the candidates it applies to (every ``Rule`` member has an entry)."""


class RuleEngine:
    """Applies one rule pack to extractions; holds no per-chart state."""

    def __init__(self, pack: RulePack | str | Path):
        self.pack = pack if isinstance(pack, RulePack) else load_pack(pack)
        codes = code_set(self.pack.code_set.system, self.pack.code_set.year)
        assert isinstance(codes, Icd10cm)  # RulePack only admits ICD-10-CM code sets
        codes.load()  # before the first chart, so its latency is the chart's own
        self._ctx = _Context(codes, _COMBINE[self.pack.confidence_merge])

    @property
    def version(self) -> str:
        """``<pack name>@<version>``."""
        return self.pack.pack_version

    def code(self, chart: Chart, extraction: Extraction) -> list[CodeAssignment]:
        """Codes for one chart, most confident first, then by code."""
        if extraction.chart_id != chart.id:
            raise ValueError(f"extraction of chart {extraction.chart_id!r} given with chart {chart.id!r}")
        cands = _merge(
            [
                _Candidate(canonical_code(f.code, f.system), f.system,
                           [_Support(f.assertion, f.confidence, f.confidence_estimated, tuple(f.spans))])
                for f in extraction.findings
                if f.code and f.code.strip()
            ]
        )
        for rule in self.pack.rules:
            applies, passes = [], []
            for cand in cands:
                (applies if rule.all_systems or cand.system == self._ctx.codes.system else passes).append(cand)
            kept = _APPLY[type(rule)](rule, applies, self._ctx)
            for cand in kept:
                cand.trace.append(rule.id)
            cands = kept + passes
        return [self._assignment(c, chart) for c in sorted(cands, key=lambda c: (-self._ctx.confidence(c), c.code, c.system))]

    def review_reasons(self, codes: list[CodeAssignment]) -> list[ReviewReason]:
        """Why the pack itself sends a chart with these codes to review: under a ``billable`` rule, the non-billable
        codes it kept (no child is supported by the evidence), named in one ``needs_specificity`` reason."""
        if not any(isinstance(rule, Billable) for rule in self.pack.rules):
            return []
        table = self._ctx.codes
        unsettled = [c.code for c in codes if c.system == table.system and c.code in table and not table.is_billable(c.code)]
        return [ReviewReason("needs_specificity", " ".join(unsettled))] if unsettled else []

    def _assignment(self, cand: _Candidate, chart: Chart) -> CodeAssignment:
        table = code_set(cand.system, self.pack.code_set.year)
        return CodeAssignment(
            code=cand.code,
            system=cand.system,
            description=table.description(cand.code),
            confidence=self._ctx.confidence(cand),
            confidence_estimated=self._ctx.confidence_estimated(cand),
            evidence=_evidence(cand, chart),
            rule_trace=cand.trace,
            pack_version=self.version,
        )


def _evidence(cand: _Candidate, chart: Chart) -> list[Span]:
    """Union of the support's spans, one per offset pair, sorted; empty span text is read from the chart."""
    spans: dict[tuple[int, int], Span] = {}
    for support in cand.support:
        for span in support.spans:
            key = (span.start, span.end)
            if key not in spans or (span.text and not spans[key].text):
                spans[key] = span
    out = []
    for key in sorted(spans):
        span = spans[key]
        if not span.text and span.end <= len(chart.text):
            span = span.model_copy(update={"text": chart.text[span.start : span.end]})
        out.append(span)
    return out
