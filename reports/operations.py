"""The "Operations" sections for coding leads: what a run's routes and errors mean for a coding department.

Built from the run's ``operations.json`` (``harness.operations.metrics``): the outcomes beside coding every chart by
hand, where coder time goes, the review queue over the simulated days (a plot of its backlog, and a plain statement
when it does not keep up), and every assumption with its value and source. A run without ``operations.json`` (no gold
codes, or recorded before the workload model) gets no section. The comparison page shows both runs' outcomes, with
paired intervals (resampling charts) where they are means over charts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from reports.html import Html, Section, badge, figure, join, metric_table, note, section, table, tag, tiles
from reports.labels import difference, format_value, label

if TYPE_CHECKING:
    from harness.tracking.decision import PairDecision
    from harness.tracking.run_store import RecordedRun

DOCUMENT = "operations"
"""``operations.json``: ``harness.operations.metrics.DOCUMENT``."""
TITLE = "Operations"
CITED: dict[str, tuple[float, str]] = {
    "manual_coding_minutes": (20.0, "AHIMA best practice for inpatient records, 3 records an hour (DeVault K., Journal of "
                                    "AHIMA 83(7):72-74, 2012)"),
}
"""Settings whose default is a published figure: the source holds while the value is that figure."""
FAMILY_WORDS = {"low_confidence": "confirm codes the pipeline was unsure of", "high_risk": "check an audit-target code",
                "edit_failed": "resolve a failed validation edit", "intake": "work from the source document (unreadable "
                "or missing pages)", "no_codes": "code the chart from scratch (nothing usable was coded)"}
"""What a reviewer does for each reason family (``harness.operations.families``)."""
COMPARED = ("denial_rate", "rework_rate", "coder_minutes_per_chart", "coder_throughput_charts_per_hour", "coder_time_saved",
            "coder_utilization", "review_queue_backlog", "backlog_growth_per_day", "time_to_claim_p50_h",
            "time_to_claim_p95_h")
"""Outcomes the comparison page lists, in this order."""


def document(run: RecordedRun) -> dict[str, Any] | None:
    """The run's ``operations.json``; None when it has none."""
    found = run.curve(DOCUMENT)
    return found if isinstance(found, dict) and found else None


def _docstring(text: str | None) -> Html:
    """A field's docstring with its ````code```` spans as code."""
    parts = (text or "").split("``")
    return join(tag("code", part) if i % 2 else part for i, part in enumerate(parts))


NOISE = 1e-6
"""Smaller magnitudes print as 0: floating-point residue (a slope of 1e-18 charts a day) or a time to claim that is only the
pipeline's milliseconds, in hours."""


def _clean(value: float | None) -> float | None:
    return 0.0 if value is not None and abs(value) < NOISE else value


def _minutes(value: float) -> str:
    return format_value("coder_minutes_per_chart", value)


def run_section(run: RecordedRun, confidence: float) -> Section | None:
    """The run report's "Operations" section; None for a run without ``operations.json``."""
    from reports import plots

    doc = document(run)
    if doc is None:
        return None
    metrics, assumptions, queue = run.metrics, doc["assumptions"], doc["queue"]
    manual, per_day, hours = float(assumptions["manual_coding_minutes"]), int(assumptions["arrivals_per_day"]), \
        float(assumptions["hours_per_day"])
    minutes = float(doc["coder_minutes_per_chart"]["all"])
    stable = bool(queue["stable"])
    claim = (format_value("time_to_claim_p95_h", metrics["time_to_claim_p95_h"]) if stable and "time_to_claim_p95_h" in metrics
             else "unstable queue")
    cards = tiles([
        (_minutes(minutes), "coder minutes per chart", f"against {_minutes(manual)} coding it by hand"),
        (format_value("coder_time_saved", metrics.get("coder_time_saved")), "coder time saved", "against coding every chart"),
        (format_value("denial_rate", metrics.get("denial_rate")), "claims denied", "failed payer edit or wrong code"),
        (claim, "time to claim, slowest 5%" if stable else "review backlog keeps growing",
         "arrival to claim out" if stable else f"+{queue['backlog_growth_per_day']:.1f} charts a day"),
    ])
    body: list[object] = [cards, tag("h3", "Beside coding every chart by hand"), _baseline_table(metrics, doc, confidence),
                          note(f"The all-manual column codes every chart from scratch at {_minutes(manual)} a chart (",
                               tag("code", "operations.manual_coding_minutes"), "). Its denials and rework depend on "
                               "your coders' own error rate, which the model does not know, so they are not compared.")]
    body += [tag("h3", "Where coder time goes"), _time_table(doc)]
    body += [tag("h3", "The review queue"), _queue_statement(doc, metrics, hours, per_day),
             figure(plots.daily("Review backlog at the end of each day", {"charts waiting": queue["backlog_per_day"]},
                                ylabel="charts waiting for review"),
                    f"Charts routed to review and not yet claimed at the end of each of {queue['days']} working days "
                    f"({per_day} charts arriving a day, {assumptions['coders']} coders, {hours:g} hours a day)."),
             metric_table(metrics, [n for n in _operations_names() if n in metrics], confidence)]
    body += [tag("h3", "Assumptions"), assumptions_table(assumptions)]
    return section(
        TITLE,
        "what this run's routes and errors would mean for a coding department: coder time, denied claims, rework and how "
        "long a claim waits, under the workload model whose assumptions are listed last. Each is an assumption about your "
        "department unless a source is named: set your own in conf/operations/ (or try them on this run with harness "
        "operations) before reading the figures as a forecast. Denials and coder minutes are expected values per chart; the "
        "queue is simulated.",
        *body)


def _operations_names() -> tuple[str, ...]:
    from harness.metrics.registry import names

    return names("operations")


def _baseline_table(metrics: Mapping[str, float], doc: Mapping[str, Any], confidence: float) -> Html:
    from reports.html import interval

    assumptions = doc["assumptions"]
    manual, minutes = float(assumptions["manual_coding_minutes"]), float(doc["coder_minutes_per_chart"]["all"])
    per_day, hours = int(assumptions["arrivals_per_day"]), float(assumptions["hours_per_day"])

    def row(what: str, ours: str, by_hand: str, change: str, spread: object = "") -> tuple[object, ...]:
        return what, ours, by_hand, change, spread

    review = metrics.get("review_rate", doc["charts_reviewed"] / max(doc["charts"], 1))
    rows = [
        row("Charts a coder opens (reviews)", format_value("review_rate", review), "100.0%",
            difference("review_rate", review - 1.0), interval("review_rate", metrics)),
        row("Coder minutes per chart (review, QA, rework)", _minutes(minutes), _minutes(manual),
            difference("coder_minutes_per_chart", minutes - manual), interval("coder_minutes_per_chart", metrics)),
        row("Charts per coder hour", format_value("coder_throughput_charts_per_hour", 60 / minutes) if minutes else "–",
            format_value("coder_throughput_charts_per_hour", 60 / manual),
            difference("coder_throughput_charts_per_hour", 60 / minutes - 60 / manual) if minutes else "–",
            interval("coder_throughput_charts_per_hour", metrics)),
        row("Coder hours per 1,000 charts", f"{minutes * 1000 / 60:,.1f} h", f"{manual * 1000 / 60:,.1f} h",
            f"{(minutes - manual) * 1000 / 60:+,.1f} h"),
        row(f"Coder hours a day for {per_day:,} charts", f"{minutes * per_day / 60:,.1f} h", f"{manual * per_day / 60:,.1f} h",
            f"{(minutes - manual) * per_day / 60:+,.1f} h"),
        row(f"Coders needed at {hours:g} hours a day", f"{minutes * per_day / 60 / hours:,.1f}",
            f"{manual * per_day / 60 / hours:,.1f}", f"{(minutes - manual) * per_day / 60 / hours:+,.1f}"),
        row("Coder time saved", format_value("coder_time_saved", metrics.get("coder_time_saved")), "0.0%", "",
            interval("coder_time_saved", metrics)),
        row("Claims denied (failed payer edit or wrong code)", format_value("denial_rate", metrics.get("denial_rate")),
            "not modelled", "", interval("denial_rate", metrics)),
        row("Charts back for rework", format_value("rework_rate", metrics.get("rework_rate")), "not modelled", "",
            interval("rework_rate", metrics)),
    ]
    return table(["measure", "with this pipeline", "all manual", "difference", f"{confidence:.0%} interval"], rows,
                 numeric=(1, 2, 3, 4))


def _time_table(doc: Mapping[str, Any]) -> Html:
    minutes, assumptions, n = doc["coder_minutes_per_chart"], doc["assumptions"], max(int(doc["charts"]), 1)
    split = table(["work", "coder minutes per chart", "share of coder time"],
                  [(what, _minutes(minutes[key]), f"{minutes[key] / minutes['all']:.0%}" if minutes["all"] else "–")
                   for what, key in (("review of charts routed to a coder", "review"),
                                     ("post-bill QA of a sample of automated charts", "qa"),
                                     ("rework of charts that come back", "rework"))],
                  numeric=(1, 2))
    by_family = doc.get("reviewed_by_family") or {}
    rows = [(tag("code", family), FAMILY_WORDS.get(family, ""), count, f"{count / n:.0%}",
             _minutes(float(assumptions["review_minutes"][family])))
            for family, count in by_family.items() if count]
    reviewed = (table(["reason family", "the coder has to", "charts", "share of charts", "minutes each"], rows,
                      numeric=(2, 3, 4)) if rows else note("No chart was routed to review."))
    return join([split, tag("p", "Reviewed charts by the reason that costs the most (a chart is read once, so it costs its "
                                 "most expensive reason):"), reviewed])


def _queue_statement(doc: Mapping[str, Any], metrics: Mapping[str, float], hours: float, per_day: int) -> Html:
    queue = doc["queue"]
    busy = f"{queue['utilization']:.0%}"
    demand, capacity = queue["demand_minutes_per_day"] / 60, queue["capacity_minutes_per_day"] / 60
    if queue["stable"]:
        claim = ""
        if "time_to_claim_p50_h" in metrics:
            claim = (f" A claim goes out {format_value('time_to_claim_p50_h', metrics['time_to_claim_p50_h'])} after its chart "
                     f"arrives at the median, {format_value('time_to_claim_p95_h', metrics['time_to_claim_p95_h'])} for the "
                     "slowest 5% (charts that wait overnight for review).")
        return tag("p", f"The queue keeps up: the daily {per_day:,} charts need {demand:,.1f} coder hours of the "
                        f"{capacity:,.1f} available ({busy}).{claim}")
    backlog = queue["backlog_per_day"][-1] if queue["backlog_per_day"] else 0
    return note(tag("strong", f"Unstable queue: the backlog grows by {queue['backlog_growth_per_day']:.1f} charts a day. "),
                f"The daily {per_day:,} charts need {demand:,.1f} coder hours but {capacity:,.1f} are available ({busy}); "
                f"after {queue['days']} working days {backlog:,} charts wait for review. Time to claim is not reported: it "
                "grows with the length of the period. Add coders (operations.coders), or send fewer charts to review.")


def assumptions_table(assumptions: Mapping[str, Any]) -> Html:
    """Every setting of the workload model: its value, what it means and where the figure comes from."""
    from harness.operations.config import OperationsConfig, ReviewMinutes

    defaults = OperationsConfig().model_dump(mode="json")
    rows = []
    for name, value in assumptions.items():
        if name == "name":
            continue
        if isinstance(value, Mapping):  # review_minutes, by family
            for family, minutes in value.items():
                field = ReviewMinutes.model_fields.get(family)
                rows.append((tag("code", f"operations.{name}.{family}"), _shown(minutes),
                             _docstring(field.description if field else ""),
                             _source(f"{name}.{family}", minutes, defaults.get(name, {}).get(family))))
            continue
        field = OperationsConfig.model_fields.get(name)
        rows.append((tag("code", f"operations.{name}"), _shown(value), _docstring(field.description if field else ""),
                     _source(name, value, defaults.get(name))))
    return join([tag("p", "Workload model ", tag("code", str(assumptions.get("name", "?"))), " (conf/operations/); each "
                     "setting can be changed for a job (", tag("code", "harness run operations.coders=8"), ") or for a recorded "
                     "run without running it again (", tag("code", "harness operations <run_id> operations.coders=8"), "):"),
                 table(["setting", "value", "what it means", "source"], rows)])  # a list value must wrap


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "none"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _source(name: str, value: Any, default: Any) -> str:
    cited = CITED.get(name)
    if cited is not None and value == cited[0]:
        return cited[1]
    if default is not None and value != default:
        return f"assumption, set for this run (default {_shown(default)})"
    return "assumption"


# --- the comparison page -------------------------------------------------------------------------------------------


def compare_section(pair: PairDecision) -> Section | None:
    """The comparison page's "Operations" section for run B (``pair.candidate``) against run A (``pair.baseline``):
    both runs' outcomes, B − A, and the pair's paired intervals of the outcomes that are means over charts; None when
    neither run has ``operations.json``."""
    from reports import plots

    a, b = pair.baseline, pair.candidate
    doc_a, doc_b = document(a), document(b)
    if doc_a is None and doc_b is None:
        return None
    rows = []
    for name in COMPARED:
        value_a, value_b = a.metrics.get(name), b.metrics.get(name)
        if value_a is None and value_b is None:
            continue
        value_a, value_b = _clean(value_a), _clean(value_b)
        change = difference(name, _clean(value_b - value_a)) if value_a is not None and value_b is not None else "–"
        rows.append((label(name), format_value(name, value_a), format_value(name, value_b), change,
                     *paired_cells(pair, name)))
    body: list[object] = [table(["measure", "A", "B", "B − A", "paired interval of B − A", "verdict"], rows,
                                numeric=(1, 2, 3, 4)), note(_costing(pair))]
    backlog = {which: doc["queue"]["backlog_per_day"] for which, doc in (("A", doc_a), ("B", doc_b)) if doc}
    if backlog:
        body.append(figure(plots.daily("Review backlog at the end of each day", backlog, ylabel="charts waiting for review"),
                           "Charts routed to review and not yet claimed at the end of each simulated day, each run under "
                           "its own workload model."))
    return section(
        TITLE,
        "what each run would mean for a coding department (denied claims, rework, coder time, the review queue). The A "
        "and B columns are each run's recorded figures, under its own workload model. Denials, rework and coder minutes "
        "are means of each chart's expected outcome, so they pair by chart: the paired interval costs both runs' charts "
        "under run B's workload model, so only the pipelines differ, and 'better' or 'worse' means the whole interval is "
        "on one side of zero. The queue figures come from one simulation each and have no interval.",
        *body)


def paired_cells(pair: PairDecision, name: str) -> tuple[str, Html]:
    """The comparison page's last two cells for ``name``: the pair's paired interval of B − A (blank without one) and
    the badge ``reports.sweep_decision.change`` gives it (better, worse or no clear difference by that interval, else
    the gate's own check; blank when neither)."""
    from reports.sweep_decision import BADGE_KIND, change

    found = pair.comparison.differences.get(name) if pair.comparison else None
    spread = f"{difference(name, found.low)} to {difference(name, found.high)}" if found else ""
    said = change(pair, name)[1]
    return spread, badge(said, BADGE_KIND.get(said, "neutral")) if said else Html("")


def _costing(pair: PairDecision) -> str:
    """How the paired intervals of the coding department's outcomes were costed, or why there are none."""
    comparison, config = pair.comparison, pair.gate.config
    if comparison.not_costed:
        return f"No paired intervals: {comparison.not_costed}."
    return (f"Paired intervals ({config.confidence:.0%}, {config.n_resamples} resamples of charts), run B as the "
            f"candidate. {comparison.costing}")
