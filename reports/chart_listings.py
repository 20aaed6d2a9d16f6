"""The run report's chart-level sections: the error gallery and, for a run without gold codes, the proposed codes;
each code with its evidence, quoted from the chart only when the charts are given and the page is not redacted
(otherwise as character offsets), and each review reason with only its kind where its detail could quote text."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from reports.html import Html, Section, badge, esc, join, note, section, table, tag
from reports.run_data import ChartCodes

if TYPE_CHECKING:
    from harness.contracts import Chart, ReviewReason, Span

GALLERY_SIZE = 5
"""Charts with errors shown in the gallery, those accepted without review first."""
FREQUENT_CODES = 20
"""Codes listed among the most frequent proposed codes of a run without gold."""
PROPOSED_CHARTS = 50
"""Charts listed with their proposed codes in a run without gold (the rest are in ``predictions.jsonl``)."""
CONTEXT_CHARS = 200
"""Characters of chart text shown on each side of an evidence span."""

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

TEXT_FREE_REASONS = frozenset({"low_confidence", "unestimated_confidence", "high_risk", "edit_failed", "no_codes",
                               "needs_specificity", "missing_pages", "page_gap", "low_intake_quality"})
"""Reasons whose detail holds only codes and numbers; others can quote model output or file paths, so a
text-free page shows only their kind."""


def error_gallery(coded: Sequence[ChartCodes], charts: Sequence[Chart] | None, redact: bool, year: int) -> Section:
    from reports.icd import describe

    text = None if redact or charts is None else {chart.id: chart for chart in charts}
    wrong = sorted((c for c in coded if c.false_positives or c.false_negatives),
                   key=lambda c: (c.route != "auto", -len(c.false_positives) - len(c.false_negatives), c.chart_id))
    gold_spans = {chart.id: {g.code: g.evidence for g in chart.gold} for chart in charts or ()}
    if text is None:
        why = "it is redacted" if redact else "this page was built without the charts (for example, rebuilt from MLflow)"
        privacy = note(f"No patient text is shown because {why}: evidence appears as character offsets into the chart.")
    else:
        privacy = Html("")
    items = []
    for chart in wrong[:GALLERY_SIZE]:
        source = text.get(chart.chart_id) if text else None
        rows = []
        for code in sorted(chart.gold | chart.predicted.keys(), key=lambda c: (c in chart.correct, c)):  # errors first
            predicted = chart.predicted.get(code)
            outcome = (badge("correct", "good") if code in chart.correct else
                       badge("assigned, not in gold", "bad") if predicted else badge("missed", "bad"))
            spans = [_span(s) for s in predicted["evidence"]] if predicted else gold_spans.get(chart.chart_id, {}).get(code, [])
            rows.append((tag("code", code), describe(code, year), outcome, f"{predicted['confidence']:.2f}" if predicted else "",
                         _evidence(spans, source, cited=bool(predicted))))
        routed = ("Accepted automatically: these errors would reach billing." if chart.route == "auto" else
                  "Sent to a coder: " + "; ".join(_reason(r, text_free=text is None) for r in chart.reasons))
        codes = table(["code", "description", "outcome", "confidence", "evidence"], rows, numeric=(3,))
        items.append(tag("div", tag("h3", f"Chart {chart.chart_id}"), tag("p", routed), codes, class_="gallery-item"))
    return section(
        "Error gallery",
        "a few charts with errors, those accepted without review first. Each code is marked correct, assigned but not in gold, "
        "or missed; the highlighted text is the evidence the system cited (for missed codes, where the coders found it).",
        privacy, *(items or [note("No chart has an error.")]))


def proposed_codes(coded: Sequence[ChartCodes], charts: Sequence[Chart] | None, redact: bool, year: int) -> Section:
    """Without gold, what the system proposes: the most frequent codes, then each chart's codes with their evidence."""
    from reports.icd import describe

    text = None if redact or charts is None else {chart.id: chart for chart in charts}
    counts = Counter(code for chart in coded for code in chart.predicted)
    examples = {code: [c.chart_id for c in coded if code in c.predicted][:3] for code in counts}
    frequent = table(["code", "description", "charts", "for example"],
                     [(tag("code", code), describe(code, year), n, ", ".join(examples[code]))
                      for code, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:FREQUENT_CODES]],
                     numeric=(2,)) if counts else note("No code was proposed.")
    rows = []
    for chart in coded[:PROPOSED_CHARTS]:
        source = text.get(chart.chart_id) if text else None
        routed = ("auto" if chart.route == "auto" else
                  "review: " + "; ".join(_reason(r, text_free=text is None) for r in chart.reasons))
        for code, row in sorted(chart.predicted.items(), key=lambda item: (-item[1]["confidence"], item[0])) or [("", None)]:
            rows.append((chart.chart_id, tag("code", code) if code else "no code", describe(code, year) if code else "",
                         f"{row['confidence']:.2f}" if row else "",
                         _evidence([_span(s) for s in row["evidence"]], source, cited=True) if row else "", routed))
    shown = (f"The first {PROPOSED_CHARTS} of {len(coded)} charts." if len(coded) > PROPOSED_CHARTS else "")
    privacy = (note("Evidence appears as character offsets into the chart: "
                    + ("the page is redacted." if redact else "this page was built without the charts."))
               if text is None else Html(""))
    return section(
        "Proposed codes",
        "without gold codes nobody has checked these: they are what the system would bill, with the text it read them "
        "from and why a chart goes to a coder. Look at the most frequent codes first.",
        tag("h3", "Most frequent proposed codes"), frequent,
        tag("h3", "Codes per chart"), privacy, *([note(shown)] if shown else []),
        table(["chart", "code", "description", "confidence", "evidence", "route"], rows, numeric=(3,)) if rows
        else note("No chart was coded."))


def _span(row: Mapping[str, Any]) -> Span:
    from harness.contracts import Span

    return Span(start=row["start"], end=row["end"], page=row.get("page", 0))


def _evidence(spans: Sequence[Span], source: Chart | None, cited: bool) -> Html:
    """The first span as a highlighted excerpt of the chart (when its text may be shown), the rest as offsets."""
    if not spans:
        return esc("no evidence cited" if cited else "")
    offsets = ", ".join(f"chars {s.start}–{s.end} (page {s.page + 1})" for s in spans)
    if source is None:
        return esc(offsets)
    first, chart_text = spans[0], _CONTROL.sub(" ", source.text)  # page breaks (\f) would print as boxes
    start, end = min(first.start, len(chart_text)), min(first.end, len(chart_text))
    excerpt = tag("div", "…" if start > CONTEXT_CHARS else "", chart_text[max(0, start - CONTEXT_CHARS):start],
                  tag("mark", chart_text[start:end]), chart_text[end:end + CONTEXT_CHARS],
                  "…" if end + CONTEXT_CHARS < len(chart_text) else "", class_="excerpt")
    if not spans[1:]:
        return excerpt
    return join([excerpt, tag("div", "also at " + ", ".join(f"chars {s.start}–{s.end}" for s in spans[1:]), class_="metric-id")])


def _reason(reason: ReviewReason, text_free: bool) -> str:
    return reason if not text_free or reason.kind in TEXT_FREE_REASONS else reason.kind
