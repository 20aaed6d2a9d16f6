"""Recorded results as another routing policy would have routed them, without running the pipeline again.

A recorded ``ChartResult`` keeps what routing read: the codes with their (calibrated) confidences and whether each
was estimated, the edit results, and the reasons routing did not make (intake problems, a failed coding or edit
step, an empty chart). :func:`reroute` drops the reasons ``coders.routing.route`` makes, runs that same function
under the new policy, and puts the kept reasons first, as the pipeline does (``harness.pipeline.chart_steps``). Under
the policy a run was recorded with, every chart gets back its recorded route and reasons.
"""

from __future__ import annotations

from collections.abc import Sequence

from coders.routing import RoutingConfig, route
from harness.contracts import ChartResult, Extraction, ReviewReason

ROUTING_KINDS = frozenset({"extraction_failed", "low_confidence", "unestimated_confidence", "high_risk", "edit_failed",
                           "no_codes"})
"""Reason kinds ``coders.routing.route`` makes: recomputed under the new policy; every other kind is kept."""
NOT_ROUTED = frozenset({"empty_chart"})
"""Kinds of a chart that never reached routing (nothing was read): it keeps its route and reasons."""


def reroute(results: Sequence[ChartResult], routing: RoutingConfig) -> list[ChartResult]:
    """Copies of ``results`` with the route and reasons ``routing`` gives them (codes, edits and audit as recorded)."""
    return [_rerouted(result, routing) for result in results]


def _rerouted(result: ChartResult, routing: RoutingConfig) -> ChartResult:
    reasons = [ReviewReason.parse(reason) for reason in result.reasons]
    if any(reason.kind in NOT_ROUTED for reason in reasons):
        return result.model_copy()
    kept = [reason for reason in reasons if reason.kind not in ROUTING_KINDS]
    failed = next((reason.detail or "unknown error" for reason in reasons if reason.kind == "extraction_failed"), None)
    extraction = Extraction(chart_id=result.chart_id, extractor="recorded", error=failed)
    _, routed = route(extraction, result.codes, routing, result.edits)
    new = [*kept, *routed]
    return result.model_copy(update={"route": "review" if new else "auto", "reasons": new})
