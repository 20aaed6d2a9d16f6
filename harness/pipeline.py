"""The batched pipeline: extract -> code -> route, one ``ChartResult`` per input chart.

No chart is ever dropped: an empty chart, a failed extraction or a rule-engine
failure becomes a result routed to review with the reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from harness.contracts import AuditEvent, Chart, ChartResult, CodeAssignment, Extraction, digest
from extractors.base import Extractor


@dataclass(frozen=True)
class PipelineDesign:
    """The swappable parts of one pipeline design."""

    extractor: Extractor
    code: Callable[[Chart, Extraction], list[CodeAssignment]]
    """The rule engine's ``code`` method."""
    coder_id: str
    """``<pack name>@<version>`` of the rule pack."""
    route: Callable[[Extraction, list[CodeAssignment]], tuple[str, list[str]]]
    """The routing policy, configured."""
    router_id: str


def _extract_batch(extractor: Extractor, batch: Sequence[Chart]) -> list[Extraction]:
    try:
        extractions = extractor.extract(batch)
    except Exception as error:  # one broken batch must not end the run: its charts go to review
        return [Extraction(chart_id=c.id, extractor=extractor.name, error=f"{type(error).__name__}: {error}") for c in batch]
    if [e.chart_id for e in extractions] != [c.id for c in batch]:
        raise RuntimeError(f"extractor {extractor.name!r} returned results that do not match its input charts one to one")
    return extractions


def _coded(design: PipelineDesign, chart: Chart, extraction: Extraction, extract_s: float) -> ChartResult:
    started = time.perf_counter()
    try:
        codes = design.code(chart, extraction)
        coding_error = None
    except Exception as error:  # a rule-engine failure on one chart routes that chart, not the run
        codes, coding_error = [], f"coding_failed: {type(error).__name__}"
    coded = time.perf_counter()
    route, reasons = design.route(extraction, codes)
    if coding_error:
        route, reasons = "review", [coding_error, *reasons]
    routed = time.perf_counter()
    fired = sorted({rule for code in codes for rule in code.rule_trace})
    return ChartResult(
        chart_id=chart.id,
        codes=codes,
        route=route,
        reasons=reasons,
        stage_seconds={"extract": extract_s, "code": coded - started, "route": routed - coded},
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
                actor_version=design.coder_id,
                input_hash=digest(extraction),
                output_hash=digest([c.model_dump(mode="json") for c in codes]),
                detail={"codes": len(codes), "rules_fired": fired},
            ),
            AuditEvent(stage="route", actor="routing", actor_version=design.router_id, detail={"route": route, "reasons": reasons}),
        ],
    )


def _empty_chart(chart: Chart) -> ChartResult:
    return ChartResult(
        chart_id=chart.id,
        route="review",
        reasons=["empty_chart"],
        audit=[AuditEvent(stage="intake", actor="pipeline", input_hash=chart.content_hash()[:16], detail={"empty": True})],
    )


def run_pipeline(charts: Sequence[Chart], design: PipelineDesign, batch_size: int = 32, progress: bool = True) -> tuple[list[ChartResult], float]:
    """Run every chart through the design; returns the results (input order) and the wall-clock seconds."""
    from tqdm import tqdm

    results: dict[str, ChartResult] = {}
    started = time.perf_counter()
    with tqdm(total=len(charts), desc="charts", unit="chart", disable=None if progress else True) as bar:
        for i in range(0, len(charts), batch_size):
            batch = list(charts[i : i + batch_size])
            readable = [c for c in batch if c.text.strip()]
            for chart in batch:
                if not chart.text.strip():
                    results[chart.id] = _empty_chart(chart)
            batch_started = time.perf_counter()
            extractions = _extract_batch(design.extractor, readable) if readable else []
            per_chart = (time.perf_counter() - batch_started) / max(len(readable), 1)
            for chart, extraction in zip(readable, extractions):
                results[chart.id] = _coded(design, chart, extraction, per_chart)
            bar.update(len(batch))
    wall = time.perf_counter() - started
    return [results[c.id] for c in charts], wall


def stage_totals(results: Sequence[ChartResult]) -> dict[str, Any]:
    """Total seconds per stage over all charts."""
    totals: dict[str, float] = {}
    for result in results:
        for stage, seconds in result.stage_seconds.items():
            totals[stage] = totals.get(stage, 0.0) + seconds
    return totals
