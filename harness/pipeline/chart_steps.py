"""A pipeline design and what it does to one chart: prepare, extract (a call over many charts), code, edit, route.

``harness.pipeline.streaming`` schedules these steps over a dataset. No chart is ever dropped: an empty
chart, a failed extraction or a rule-engine failure becomes a result routed to review with the reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from extractors.base import Extractor
from harness.contracts import AuditEvent, Chart, ChartResult, CodeAssignment, EditResult, Extraction, ReviewReason, digest
from harness.metrics.robustness import ChartIntake
from harness.pipeline.extraction_cache import ExtractionCache, extract_cached
from harness.pipeline.preparation import Prepared


@dataclass(frozen=True)
class PipelineDesign:
    """The swappable parts of one pipeline design."""

    extractor: Extractor
    code: Callable[[Chart, Extraction], list[CodeAssignment]]
    """The rule engine's ``code`` method."""
    coder_id: str
    """``<pack name>@<version>`` of the rule pack."""
    route: Callable[[Extraction, list[CodeAssignment], list[EditResult]], tuple[str, list[ReviewReason]]]
    """The routing policy, configured."""
    router_id: str
    review: Callable[[list[CodeAssignment]], list[ReviewReason]] | None = None
    """Why the rule pack itself sends a chart with these codes to review (the engine's ``review_reasons``); None: never."""
    calibrate: Callable[[list[CodeAssignment]], list[CodeAssignment]] | None = None
    """Maps code confidences to calibrated ones (keeping the raw value); None leaves them as coded."""
    calibrator_id: str = ""
    edit: Callable[[Chart, list[CodeAssignment]], list[EditResult]] | None = None
    """Validation edits on a chart's codes (``coders.edits``); None runs none."""
    prepare: Callable[[Chart], Prepared] | None = None
    """Degradation and intake (a ``harness.pipeline.preparation.ChartPreparer``); None reads charts as they are."""
    cache: ExtractionCache | None = None
    """Extraction cache keyed by the extractor's fingerprint and the chart as the extractor reads it."""


@dataclass
class PipelineRun:
    """Results in input order, the intake facts per chart, and the wall-clock seconds of the whole run."""

    results: list[ChartResult]
    intake: list[ChartIntake]
    wall_s: float
    cache_hits: int = 0
    """Charts whose extraction came from the cache (no extractor call)."""
    extractions: list[Extraction] = field(default_factory=list)
    """Every extraction made or reused, in input order (charts with no readable text have none)."""
    policy: str = "streaming"
    """How the stages were scheduled (``PipelineConfig.policy``)."""
    extract_busy_s: float = 0.0
    """Seconds with an extractor call in flight (the engine's busy time, seen from the pipeline)."""
    extract_calls: int = 0
    """Extractor calls made (cache hits need none)."""
    peak_in_flight: int = 0
    """Most charts admitted but not yet coded at any moment: what bounds the pipeline's memory."""


def extract_batch(extractor: Extractor, batch: Sequence[Chart]) -> list[Extraction]:
    """One extractor call over ``batch``; if the call raises, each chart is retried alone, so only the chart that
    breaks the extractor goes to review (which charts share a call depends on timing when streaming)."""
    try:
        extractions = extractor.extract(batch)
    except Exception as error:  # one broken chart must not end the run, nor take its batch-mates with it
        if len(batch) > 1:
            return [extraction for chart in batch for extraction in extract_batch(extractor, [chart])]
        return [Extraction(chart_id=c.id, extractor=extractor.name, error=f"{type(error).__name__}: {error}") for c in batch]
    if [e.chart_id for e in extractions] != [c.id for c in batch]:
        raise RuntimeError(f"extractor {extractor.name!r} returned results that do not match its input charts one to one")
    return extractions


def coded(design: PipelineDesign, chart: Chart, extraction: Extraction, extract_s: float, facts: ChartIntake) -> ChartResult:
    started = time.perf_counter()
    try:
        codes = design.code(chart, extraction)
        coding_error = None
    except Exception as error:  # a rule-engine failure on one chart routes that chart, not the run
        codes, coding_error = [], ReviewReason("coding_failed", type(error).__name__)
    if design.calibrate is not None and codes:
        codes = design.calibrate(codes)
    coded = time.perf_counter()
    edits, edit_error = [], None
    if design.edit is not None:
        try:
            edits = design.edit(chart, codes)
        except Exception as error:  # e.g. implausible demographics: the chart needs a human, the run goes on
            edit_error = ReviewReason("edits_failed", f"{type(error).__name__}: {error}")
    edited = time.perf_counter()
    route, reasons = design.route(extraction, codes, edits)
    pack_reasons = design.review(codes) if design.review is not None else []
    if coding_error or edit_error or pack_reasons:
        route, reasons = "review", [*filter(None, [coding_error, edit_error]), *pack_reasons, *reasons]
    if facts.reasons:  # intake already found the chart unfit: the codes are a draft for the reviewer
        route, reasons = "review", [*facts.reasons, *reasons]
    routed = time.perf_counter()
    fired = sorted({rule for code in codes for rule in code.rule_trace})
    return ChartResult(
        chart_id=chart.id,
        codes=codes,
        route=route,
        reasons=reasons,
        edits=edits,
        intake_quality=facts.quality,
        stage_seconds={"extract": extract_s, "code": coded - started, **({"edit": edited - coded} if design.edit else {}),
                       "route": routed - edited},
        audit=[
            AuditEvent(
                stage="extract",
                actor=extraction.extractor,
                actor_version=design.extractor.version,
                input_hash=chart.content_hash()[:16],
                output_hash=digest(extraction),
                detail={"findings": len(extraction.findings), "failed": extraction.error is not None},
            ),
            AuditEvent(
                stage="code",
                actor="rules",
                actor_version=design.coder_id + (f" + {design.calibrator_id}" if design.calibrator_id else ""),
                input_hash=digest(extraction),
                output_hash=digest([c.model_dump(mode="json") for c in codes]),
                detail={"codes": len(codes), "rules_fired": fired, "calibrated": design.calibrate is not None},
            ),
            *([AuditEvent(stage="edit", actor="edits", detail={"failed": sorted({e.edit for e in edits if not e.passed}),
                                                               "ran": len(edits), "error": edit_error is not None})]
              if design.edit else []),
            AuditEvent(stage="route", actor="routing", actor_version=design.router_id,
                       detail={"route": route, "reasons": reasons}),
        ],
    )


def empty_chart(chart: Chart, facts: ChartIntake) -> ChartResult:
    return ChartResult(
        chart_id=chart.id,
        route="review",
        reasons=[*facts.reasons, ReviewReason("empty_chart")],
        intake_quality=facts.quality,
        audit=[AuditEvent(stage="intake", actor="pipeline", input_hash=chart.content_hash()[:16], detail={"empty": True})],
    )


def prepared(design: PipelineDesign, chart: Chart) -> Prepared:
    if design.prepare is None:
        return Prepared(chart, ChartIntake(kept_ranges=((0, len(chart.text)),)), 0.0, 0.0)
    try:
        return design.prepare(chart)
    except Exception as error:  # a chart that cannot be degraded or read goes to review, the run goes on
        blank = chart.model_copy(update={"text": "", "pages": [], "gold": []})
        failed = ReviewReason("intake_failed", f"{type(error).__name__}: {error}")
        return Prepared(blank, ChartIntake(kept_ranges=(), reasons=(failed,)), 0.0, 0.0)


def finished(design: PipelineDesign, source: Chart, prepared: Prepared, extraction: Extraction | None,
             extract_s: float, budget_s: float | None = None) -> ChartResult:
    """The chart's result: coded from its extraction, or routed to review as empty when it had no readable text;
    routed to review as well when it took longer than ``budget_s`` seconds (``PipelineConfig.chart_timeout_s``)."""
    if extraction is None:
        result = empty_chart(source, prepared.facts)
    else:
        result = coded(design, prepared.chart, extraction, extract_s, prepared.facts)
        if prepared.source_offsets is not None:
            evidence_to_source(result, source, prepared.source_offsets)
    result.stage_seconds.update(prepared.stage_seconds)
    if budget_s is not None:
        _check_budget(result, extraction, budget_s)
    return result


def _check_budget(result: ChartResult, extraction: Extraction | None, budget_s: float) -> None:
    """Route ``result`` to review when its chart's seconds exceed ``budget_s``: its codes stay, as a draft."""
    spent = sum(result.stage_seconds.values())
    if extraction is not None and extraction.latency_s:
        # the extractor's own clock for this chart: a batch's even share would hide one huge chart among small ones
        spent += max(0.0, extraction.latency_s - result.stage_seconds.get("extract", 0.0))
    if spent <= budget_s:
        return
    # no measured seconds in the reason or the audit: they differ run to run (stage_seconds has them)
    result.route, result.reasons = "review", [ReviewReason("chart_timeout", f"over {budget_s:g} s"), *result.reasons]
    result.audit.append(AuditEvent(stage="budget", actor="pipeline", detail={"budget_s": budget_s, "route": "review"}))


@dataclass
class ExtractedGroup:
    """One extractor call's outcome for a group of readable charts."""

    extractions: list[Extraction]
    hits: int
    """Charts served from the cache."""
    busy_s: float
    """Seconds the extractor call took (0 when the cache served every chart)."""


def extract_group(design: PipelineDesign, fingerprint: str, charts: Sequence[Chart]) -> ExtractedGroup:
    """Extract ``charts`` in one call, through the cache when the design has one (fresh extractions are stored
    as soon as the call returns, so a killed run loses at most the charts in flight)."""
    busy = [0.0]

    def timed(batch: Sequence[Chart]) -> list[Extraction]:
        started = time.perf_counter()
        try:
            return extract_batch(design.extractor, batch)
        finally:
            busy[0] += time.perf_counter() - started

    if not charts:
        return ExtractedGroup([], 0, 0.0)
    if design.cache is None:
        return ExtractedGroup(timed(charts), 0, busy[0])
    extractions, hits = extract_cached(design.cache, fingerprint, charts, timed)
    return ExtractedGroup(extractions, hits, busy[0])


def evidence_to_source(result: ChartResult, source: Chart, offsets: list[int]) -> None:
    """Point evidence found in intake text back at the source chart's characters."""
    last = len(offsets) - 1
    for code in result.codes:
        for span in code.evidence:
            start, end = offsets[min(span.start, last)], offsets[min(span.end, last)]
            span.start, span.end, span.text, span.page = start, end, source.text[start:end], source.page_of(start)


def stage_totals(results: Sequence[ChartResult]) -> dict[str, float]:
    """Total seconds per stage over all charts."""
    totals: dict[str, float] = {}
    for result in results:
        for stage, seconds in result.stage_seconds.items():
            totals[stage] = totals.get(stage, 0.0) + seconds
    return totals
