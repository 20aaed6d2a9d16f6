"""The run report: one self-contained HTML page per job, for coding leads.

Sections: headline metrics; accuracy against review (risk-coverage); operations (coder time, denials,
the review queue and the workload model's assumptions, from ``operations.json``); reliability of the
confidence scores; metrics per ICD-10 chapter; most frequent errors; an error gallery; throughput and
cost; input degradation and OCR; every recorded metric. Each opens with one line on how to read it. A run
without gold codes has no accuracy sections; it shows the proposed codes instead (the most frequent ones, and
each chart's codes with their evidence and review reasons).

Patient text appears only in the error gallery and the proposed codes, and only when the charts are given and
``redact`` is off; otherwise evidence is shown as character offsets.

    harness report run <run_id> [--tracking-uri URI] [--out FILE]

rebuilds the page of a recorded run from MLflow (without the charts, so without text).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.atomic_files import write_text_atomic
from harness.contracts import DEFAULT_CODE_SET_YEAR
from harness.metrics.registry import headline, names
from harness.run_record import REPORT_FILE, RunArtifacts
from reports import labels
from reports.chart_listings import error_gallery, proposed_codes
from reports.html import Html, Section, cards, facts, figure, join, metric_table, note, page, section, table, tag
from reports.labels import format_value
from reports.operations import run_section
from reports.run_data import ChartCodes, chart_codes, identity, read_folder, run_config

if TYPE_CHECKING:
    from harness.contracts import Chart, ReasonKind
    from harness.tracking.run_store import RecordedRun
    from reports.icd import ChapterScore

FEW_CODES = 10
"""A chapter with fewer gold codes than this is marked: one chart can swing its figures, intervals included."""

REVIEW_REASONS: dict[ReasonKind, str] = {
    "low_confidence": "a code below its confidence threshold",
    "unestimated_confidence": "a code whose confidence the extractor could not estimate (no training evidence)",
    "high_risk": "a high-risk code (audit target), always reviewed",
    "edit_failed": "failed a validation edit",
    "no_codes": "no code found",
    "needs_specificity": "a category or subcategory whose billable code the evidence does not settle",
    "empty_chart": "the chart has no text",
    "extraction_failed": "the extractor failed",
    "coding_failed": "the rule engine failed",
    "edits_failed": "the validation edits could not run",
    "unreadable_page": "a page could not be read",
    "no_page_images": "no page image arrived",
    "missing_pages": "pages are missing",
    "page_gap": "a gap in the page numbers",
    "low_intake_quality": "poor scan quality",
    "ocr_unavailable": "OCR was not available",
    "intake_failed": "intake failed",
    "chart_timeout": "the chart took longer than its time budget",
}
"""Plain words for each ``ReviewReason`` kind (``harness.contracts.ReasonKind``)."""


def write_run_report(folder: Path, charts: Sequence[Chart] | None = None, redact: bool = False) -> Path:
    """Write ``folder/report.html`` from a job's artifact folder; ``charts`` add their text to the gallery unless ``redact``."""
    return write_text_atomic(RunArtifacts(folder).file(REPORT_FILE), _page(read_folder(folder), charts, redact))


def _page(run: RecordedRun, charts: Sequence[Chart] | None, redact: bool) -> str:
    config = run_config(run.folder)
    metrics = run.metrics
    confidence = float(config.get("evaluation", {}).get("confidence", 0.95))
    coded, year = chart_codes(run), int(config.get("dataset", {}).get("code_set_year", DEFAULT_CODE_SET_YEAR))
    if not graded(metrics):
        sections = [_headline(metrics, confidence), _review(run, config, coded, confidence),
                    proposed_codes(coded, charts, redact, year), _throughput(metrics, config, confidence),
                    _degradation(metrics, config, confidence), _all_metrics(metrics, confidence)]
        return page("Coding evaluation report", f"{len(coded)} charts coded. {NOT_GRADED}", identity(run), sections)
    operations = run_section(run, confidence)  # None for a run recorded without operations.json
    sections = [
        _headline(metrics, confidence),
        _review(run, config, coded, confidence),
        *([operations] if operations is not None else []),
        _reliability(run, metrics, confidence),
        _chapters(coded, config, confidence),
        _frequent_errors(coded, year),
        error_gallery(coded, charts, redact, year),
        _throughput(metrics, config, confidence),
        _degradation(metrics, config, confidence),
        _all_metrics(metrics, confidence),
    ]
    subtitle = f"{len(coded)} charts coded and compared with the coders' gold codes."
    return page("Coding evaluation report", subtitle, identity(run), sections)


NOT_GRADED = "No gold codes: accuracy not measured; the figures below need none (review, edits, throughput)."


def graded(metrics: Mapping[str, float]) -> bool:
    """Whether the run was scored against gold codes (an evaluation-only run records no gold-code count)."""
    return "n_gold_codes" in metrics


def _headline(metrics: Mapping[str, float], confidence: float) -> Section:
    return section(
        "Headline metrics",
        f"each figure is measured on this run's charts; the range under it is the {confidence:.0%} bootstrap interval, where "
        "the figure would likely land on another set of similar charts. When two runs' ranges overlap a lot, neither is clearly "
        "better.",
        cards(metrics, names(card=True)),
        metric_table(metrics, headline(), confidence),
        tag("h3", "Evidence and claims"),
        metric_table(metrics, names("evidence", "edits", "billing", "extraction"), confidence),
        tag("h3", "What the terms mean"),
        facts({labels.label(n): labels.info(n).definition for n in names() if n in metrics and labels.info(n).definition}),
    )


def _review(run: RecordedRun, config: Mapping[str, Any], coded: Sequence[ChartCodes], confidence: float) -> Section:
    from reports import plots

    curve = run.curve("risk_coverage")
    threshold = config.get("routing", {}).get("min_code_confidence")
    shown = (figure(plots.risk_coverage(curve, threshold),
                    "Each step is a confidence threshold: codes at or above it are accepted without a coder.")
             if curve else note("No codes were assigned, so there is no curve." if graded(run.metrics) else NOT_GRADED))
    reasons = Counter(kind for chart in coded for kind in {reason.kind for reason in chart.reasons})
    reason_rows = [(tag("code", kind), REVIEW_REASONS.get(kind, ""), count, f"{count / len(coded):.0%}")
                   for kind, count in sorted(reasons.items(), key=lambda item: (-item[1], item[0]))]
    return section(
        "Accuracy against review rate",
        "moving right, more codes pass without a coder and precision falls. The dashed line is 95% precision; the dot is how far "
        "automation could go while staying above it; the diamond is where this run's routing threshold sits.",
        shown,
        *([_automation_setting(run, curve, threshold)] if curve else []),
        metric_table(run.metrics, names("review"), confidence),
        tag("h3", "Why charts went to review"),
        table(["reason", "meaning", "charts", "share of charts"], reason_rows, numeric=(2, 3)) if reason_rows
        else note("No chart was sent to review."),
    )


AUTOMATION_PRECISION = 0.95
"""The precision the automation figure and the dot of the risk-coverage plot hold to."""


def _automation_setting(run: RecordedRun, curve: Sequence[Mapping[str, float]], current: float | None) -> Html:
    """The confidence threshold behind the automation figure, the setting that applies it, and what that setting would
    mean for this run's charts (a what-if on its recorded results: review share, denials, coder minutes)."""
    from harness.metrics.review import threshold_for_precision
    from harness.operations.chart_outcomes import costable, recorded_settings
    from harness.operations.facts import load_recorded
    from harness.operations.what_if import compute

    best = threshold_for_precision(curve, AUTOMATION_PRECISION)
    if best is None:
        return note(f"No confidence threshold keeps the accepted codes at {AUTOMATION_PRECISION:.0%} precision on these charts.")
    setting = f"routing.min_code_confidence={best.threshold:g}"
    said = [f"{best.coverage:.0%} of codes are accepted at {best.precision:.1%} precision when codes with confidence ≥ "
            f"{best.threshold:g} pass without a coder: the setting ", tag("code", setting),
            f" (this run used {current:g}). " if current is not None else ". "]
    if costable(run.folder) is None:
        charts, recorded = load_recorded(run.folder), recorded_settings(run.folder)
        now = compute(charts, recorded, {}).metrics
        then = compute(charts, recorded, {"routing.min_code_confidence": best.threshold}).metrics
        changes = [f"{labels.label(n).split(' (')[0].lower()} {format_value(n, now[n])} → {format_value(n, then[n])}"
                   for n in ("review_rate", "denial_rate", "coder_minutes_per_chart")]
        said += [f"On this run's charts that setting gives: {'; '.join(changes)} (the other routing rules, such as "
                 "high-risk codes and failed edits, still send charts to review; ", tag("code", f"harness operations "
                 f"<run> {setting}"), " logs the full what-if)."]
    return note(*said)


def _reliability(run: RecordedRun, metrics: Mapping[str, float], confidence: float) -> Section:
    from reports import plots

    bins = run.curve("reliability")
    shown = (figure(plots.reliability(bins), "Bars: share of codes that were right, per confidence band; n = codes in the band.")
             if any(b["count"] for b in bins) else note("No codes were assigned, so there is nothing to calibrate."))
    return section(
        "Reliability of confidence scores",
        "on the dashed diagonal, codes given 90% confidence are right 90% of the time. Bars below it mean the system is "
        "overconfident there, above it underconfident. Bands with few codes (small n) say little.",
        shown, metric_table(metrics, names("calibration"), confidence))


def _chapters(coded: Sequence[ChartCodes], config: Mapping[str, Any], confidence: float) -> Section:
    from reports import plots
    from reports.icd import chapter_scores

    how = ("where in the code set the system is strong or weak. Whiskers are the interval of F1. Chapters with fewer than "
           f"{FEW_CODES} gold codes are marked 'few codes': one chart can swing them, so do not act on them alone.")
    resamples = int(config.get("evaluation", {}).get("n_resamples", 1000))
    scores = chapter_scores(coded, resamples, confidence, int(config.get("seed", 0)))
    if not scores:
        return section("Metrics per ICD-10 chapter", how, note("No gold or assigned codes."))
    chart = plots.bars("F1 per ICD-10 chapter", [_short(s.title) for s in scores], [s.f1 for s in scores], xlabel="F1",
                       intervals=[(s.f1_low, s.f1_high) if s.gold >= FEW_CODES else (s.f1, s.f1) for s in scores],
                       notes=[f"n={s.gold}" for s in scores])

    def spread(score: ChapterScore) -> str:
        if score.gold < FEW_CODES:
            return "few codes"
        return f"{format_value('micro_f1', score.f1_low)} – {format_value('micro_f1', score.f1_high)}"

    rows = [(s.title, s.gold, s.predicted, s.correct, format_value("micro_precision", s.precision),
             format_value("micro_recall", s.recall), format_value("micro_f1", s.f1), spread(s)) for s in scores]
    headers = ["chapter", "gold codes", "assigned", "correct", "precision", "recall", "F1", f"F1 {confidence:.0%} interval"]
    return section("Metrics per ICD-10 chapter", how, figure(chart, "n = gold codes in the chapter; no whisker: few codes."),
                   table(headers, rows, numeric=range(1, len(headers))))


def _short(title: str, width: int = 48) -> str:
    return title if len(title) <= width else title[: width - 1].rstrip() + "…"


def _frequent_errors(coded: Sequence[ChartCodes], year: int) -> Section:
    from reports.code_errors import most_frequent
    from reports.icd import describe

    def listing(kind: str) -> Html:
        found = most_frequent(coded, kind)
        if not found:
            return note("None.")
        return table(["code", "description", "charts", "for example"],
                     [(tag("code", c.code), describe(c.code, year), c.count, ", ".join(c.charts)) for c in found], numeric=(2,))

    return section(
        "Most frequent errors",
        "false positives are codes the system assigned that the coders did not; false negatives are codes the coders assigned "
        "that the system missed. The most frequent ones are the rules or terms to look at first.",
        tag("h3", "Assigned but not in gold (false positives)"), listing("false_positives"),
        tag("h3", "Missed (false negatives)"), listing("false_negatives"))


def _throughput(metrics: Mapping[str, float], config: Mapping[str, Any], confidence: float) -> Section:
    from reports import plots

    price = config.get("evaluation", {}).get("machine_usd_per_hour")
    cost = (f"{format_value('cost_per_1k_charts_usd', metrics['cost_per_1k_charts_usd'])} at ${price:,.2f} per machine hour"
            if "cost_per_1k_charts_usd" in metrics else tag("span", "not set: ", tag("code", "evaluation.machine_usd_per_hour")))
    stages = sorted((n for n in metrics if n.startswith("stage_") and n.endswith("_s")), key=lambda n: -metrics[n])
    total = sum(metrics[n] for n in stages) or 1.0
    body: list[object] = [facts({"Cost per 1,000 charts": cost, **_capacity(metrics, config)})]
    hits = metrics.get("extraction_cache_hits", 0)
    if hits:
        body.append(note(f"{int(hits)} of {int(metrics.get('n_charts', 0))} extractions were reused from the cache, so "
                         "extraction time and throughput are understated: rerun with extraction_cache=false to time the "
                         "extractor."))
    body.append(metric_table(metrics, names("throughput"), confidence))
    if stages:
        body.append(figure(plots.bars("Time per stage (all charts)", [n[6:-2] for n in stages], [metrics[n] for n in stages],
                                      xlabel="seconds", share=False,
                                      notes=[f"{format_value(n, metrics[n])} ({metrics[n] / total:.0%})" for n in stages]),
                           "Where the pipeline spent its time, summed over charts."))
    body.append(metric_table(metrics, names("system"), confidence))
    return section("Throughput and cost",
                   "how fast charts went through, where the time went, what 1,000 charts cost on this machine "
                   "(machine price per hour times time per chart), and how many such engines a daily volume needs "
                   "(assuming throughput grows with engines).", *body)


def _capacity(metrics: Mapping[str, float], config: Mapping[str, Any]) -> dict[str, object]:
    """The capacity line: charts per hour of one engine and engines for the daily target, with the target and hours
    it assumes; nothing for a run recorded before capacity was measured."""
    from harness.config import EvaluationConfig

    if "charts_per_hour_per_engine" not in metrics:
        return {}
    evaluation, defaults = config.get("evaluation", {}), EvaluationConfig()
    target = float(evaluation.get("capacity_target_charts_per_day", defaults.capacity_target_charts_per_day))
    hours = float(evaluation.get("capacity_hours_per_day", defaults.capacity_hours_per_day))
    per_hour = format_value("charts_per_hour_per_engine", metrics["charts_per_hour_per_engine"]).removesuffix(" /h")
    needed = metrics.get("engines_for_target")
    engines = format_value("engines_for_target", needed) + (" engine" if needed == 1 else " engines")
    return {"Capacity": join([
        f"{per_hour} charts per hour per engine; {engines} for {target:,.0f} charts a day at {hours:g} hours a day (",
        tag("code", "evaluation.capacity_target_charts_per_day"), ", ", tag("code", "evaluation.capacity_hours_per_day"),
        ")"])}


def _degradation(metrics: Mapping[str, float], config: Mapping[str, Any], confidence: float) -> Section:
    from harness.intake.degrade.effects import unchanged_notes
    from harness.tracking.mlflow_store import flatten

    degradation = dict(config.get("degradation", {}))
    name = str(degradation.pop("name", "unknown"))
    settings = {key: str(value) for key, value in flatten(degradation).items()}
    body: list[object] = [facts({"Degradation": tag("code", name), **settings})]
    if "pages_per_s" in metrics:
        body += [tag("h3", "Reading the pages (OCR)"), metric_table(metrics, names("intake"), confidence)]
    else:
        body.append(note("The charts were read as text: no pages were rendered or OCR'd."))
    body += [note(line) for line in unchanged_notes(config.get("degradation", {}), metrics)]
    if name != "clean":
        cost = [name for kept in names("recoverable") for name in (kept.removesuffix("_recoverable"), kept)]  # all, then kept
        body += [tag("h3", "What the damage cost"), metric_table(metrics, cost, confidence)]
    return section("Input quality and degradation",
                   "what was done to the charts before coding (clean text, faxed or scanned pages, OCR noise, missing pages) and "
                   "how well their text was recovered. F1 on recoverable codes scores only codes whose evidence survived.", *body)


def _all_metrics(metrics: Mapping[str, float], confidence: float) -> Section:
    names = sorted(n for n in metrics if not n.endswith(("_ci_low", "_ci_high")) and "/" not in n)  # "/": MLflow system history
    return section("All recorded metrics", "every number this run logged to MLflow, under its MLflow name, for engineers and "
                   "audits.", metric_table(metrics, names, confidence))


def report_recorded_run(run_id: str, uri: str, out: Path) -> Path:
    """Rebuild the HTML report of the recorded job run ``run_id`` from the store at ``uri`` into ``out``."""
    from harness.tracking.run_store import load_run

    return write_text_atomic(out, _page(load_run(run_id, uri), None, redact=False))
