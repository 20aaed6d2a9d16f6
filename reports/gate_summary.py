"""The regression gate's result as a pull-request reviewer reads it, and as a machine reads it.

:func:`publish` writes what the gate leaves on the candidate run: the Markdown summary (:data:`SUMMARY_FILE`), the
machine-readable result (:data:`RESULT_FILE`, valid against :data:`SCHEMA`) and the paired comparison report
(:data:`COMPARISON_FILE`, ``reports.compare_report``). The summary's first line is the verdict and its reason in the
registry's labels and units; then both runs by commit, branch and dataset, every check, and the charts and codes that
got worse most.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.contracts import DEFAULT_CODE_SET_YEAR
from harness.tracking.gate_policy import CHAMPION, CHARTS, PASS, REGRESSION, SKIPPED, Check, GateReport
from harness.tracking.run_store import RecordedRun
from reports import labels
from reports.run_data import run_config

SUMMARY_FILE = "gate_summary.md"
RESULT_FILE = "gate_result.json"
COMPARISON_FILE = "gate_comparison.html"
"""Artifact names on the candidate run."""
SCHEMA = Path(__file__).with_name("gate_result.schema.json")
"""JSON Schema of :data:`RESULT_FILE`."""
RESULT_VERSION = 1
"""Version of the result's layout (``schema_version``); raised when a field changes meaning or goes."""
TOP = 5
"""Charts and codes listed as the ones that got worse most."""
SAME = 1e-9
"""Per-chart F1 changes smaller than this are floating-point noise."""
CHARTS_LABEL = "Paired charts"
PER_CHART = {"micro_f1": ("f1", "F1 per chart")}
"""Gated statistics whose per-chart value the score rows carry under another name, and its label."""


@dataclass(frozen=True)
class Published:
    """What :func:`publish` wrote, for the command to print and save."""

    summary: str
    result: dict[str, Any]


def publish(report: GateReport, folder: Path) -> Published:
    """Write the summary, the JSON result and the comparison report of ``report`` into ``folder`` (the artifacts the gate
    logs to the candidate run)."""
    from reports.compare_report import write_comparison

    write_comparison(report.baseline, report.candidate, folder / COMPARISON_FILE, report.config)  # judged as the gate judged
    text, data = summary(report), result(report)
    (folder / SUMMARY_FILE).write_text(text, encoding="utf-8")
    (folder / RESULT_FILE).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return Published(text, data)


def headline(report: GateReport) -> str:
    """The first line: the verdict and the reason, in words and units."""
    failing = report.failing
    if not failing:
        checked = sum(k.result == PASS for k in report.checks)
        return (f"Regression gate: PASS. {checked} checks on {report.n_charts} paired charts, none worse than its "
                "tolerance allows.")
    more = f" (and {len(failing) - 1} more below)" if len(failing) > 1 else ""
    word = "REGRESSION" if report.verdict == REGRESSION else "INCONCLUSIVE, not a pass"
    return f"Regression gate: {word}. {reason(failing[0], report)}{more}."


def reason(check: Check, report: GateReport) -> str:
    """One check in words: the values, the change and its interval, and what is allowed."""
    if check.metric == CHARTS:
        return f"{CHARTS_LABEL}: {check.candidate:.0f}; at least {check.limit:.0f} needed for a verdict"
    name, label = check.metric, labels.label(check.metric)
    if check.result == SKIPPED or check.candidate is None:
        return f"{label}: not judged ({check.note})"
    allowed = _allowed(check)
    if check.test == "floor":
        return f"{label}: {labels.format_value(name, check.candidate)}; allowed {allowed}"
    moved = f"{label}: {labels.format_value(name, check.baseline)} -> {labels.format_value(name, check.candidate)}"
    if check.test == "ratio":
        text = f"{moved}, {check.difference:+.0%}; allowed {allowed}"
        return f"{text} ({check.note})" if check.note else text
    if check.test == "mcnemar":
        test = report.mcnemar[name]
        return f"{moved}; {test.b} charts lost, {test.c} gained (McNemar p = {test.p_value:.2g}); allowed {allowed}"
    return (f"{moved}, {labels.difference(name, check.difference)} [{labels.difference(name, check.low)}, "
            f"{labels.difference(name, check.high)}]; allowed {allowed}")


def summary(report: GateReport) -> str:
    """The Markdown summary: the headline, the runs, the checks, what got worse most, and the attached comparison."""
    cfg, baseline = report.config, report.baseline
    champion = " (the champion)" if baseline.tags.get(CHAMPION) == "true" else ""
    lines = [headline(report), ""]
    more = [f"- {reason(k, report)}: **{k.result}**" for k in report.failing[1:]]
    lines += [*more, *([""] if more else []),
        f"- candidate: {_who(report.candidate)}",
        f"- baseline{champion}: {_who(baseline)}",
        f"- charts: {report.candidate.tags.get('dataset')}/{report.candidate.tags.get('dataset.split')}, "
        f"{report.n_charts} paired by chart id; intervals {cfg.confidence:.0%} from {cfg.n_resamples} paired resamples "
        f"(seed {cfg.seed})",
        f"- comparison report: `{COMPARISON_FILE}` among the candidate run's artifacts "
        f"(`runs:/{report.candidate.run_id}/{COMPARISON_FILE}`)",
        "",
        "| measure | baseline | candidate | change [interval] | allowed | result |",
        "|---|---:|---:|---|---|---|",
        *(_row(k, report) for k in report.checks),
    ]
    lines += [f"\n{line}" for line in report.notes]
    lines += _got_worse(report)
    return "\n".join(lines) + "\n"


def _who(run: RecordedRun) -> str:
    commit, pack = run.tags.get("git_commit", "unknown"), run.tags.get("rules.pack")
    return (f"`{run.run_id}` ({run.name}), commit {commit[:12]} on branch {run.tags.get('git_branch', 'unknown')}"
            + (f", rules {pack}" if pack else ""))


def _row(check: Check, report: GateReport) -> str:
    name = check.metric
    if name == CHARTS:
        shown = (CHARTS_LABEL, str(check.baseline), str(check.candidate), "–", f"at least {check.limit:.0f}")
    else:
        change = "–" if check.difference is None else (
            f"{check.difference:+.0%}" if check.test == "ratio" else labels.difference(name, check.difference))
        if check.low is not None:
            change += f" [{labels.difference(name, check.low)}, {labels.difference(name, check.high)}]"
        test = report.mcnemar.get(name)
        if test is not None:
            change += f"; {test.b} charts lost, {test.c} gained (McNemar p = {test.p_value:.2g})"
        allowed = _allowed(check)
        shown = (f"{labels.label(name)} `{name}`", labels.format_value(name, check.baseline),
                 labels.format_value(name, check.candidate), change, allowed + (f"; {check.note}" if check.note else ""))
    return "| " + " | ".join((*shown, check.result)) + " |"


def _allowed(check: Check) -> str:
    """The check's tolerance or limit in the metric's unit."""
    up = labels.info(check.metric).higher_is_better
    if check.test == "floor":
        return f"{'at least' if up else 'at most'} {labels.format_value(check.metric, check.limit)}"
    if check.test == "mcnemar":
        return f"no significant loss (p < {check.limit:g})"
    if check.test == "ratio":
        return f"{'-' if up else '+'}{check.limit:.0%}"
    return labels.difference(check.metric, -check.limit if up else check.limit)


def worse_charts(report: GateReport) -> dict[str, list[tuple[str, float, float]]]:
    """Per measure, the charts that got worse most, as (chart id, baseline value, candidate value): F1 per chart always,
    and each chart's expected outcome (``harness.operations``, costed as the gate costs it) for a coding-department check
    that did not pass."""
    from harness.metrics.paired_stats import CHART_MEANS
    from harness.tracking.gate_statistics import costed_rows

    measures = {"micro_f1": (report.candidate.per_chart, report.baseline.per_chart)}
    failing = [k.metric for k in report.failing if k.metric in CHART_MEANS]
    if failing:  # a check of these failed, so decide costed both runs: so can this
        candidate_rows, baseline_rows, _ = costed_rows(report.candidate, report.baseline)
        measures |= dict.fromkeys(failing, (candidate_rows, baseline_rows))
    return {metric: _worst(metric, *rows) for metric, rows in measures.items()}


def _worst(metric: str, candidate_rows: list[dict], baseline_rows: list[dict]) -> list[tuple[str, float, float]]:
    key = PER_CHART.get(metric, (metric,))[0]
    up = labels.info(metric).higher_is_better
    before = {row["chart_id"]: row[key] for row in baseline_rows}
    after = {row["chart_id"]: row[key] for row in candidate_rows}
    better = sorted(((after[chart] - before[chart]) * (1 if up else -1), chart) for chart in after)
    return [(chart, before[chart], after[chart]) for change, chart in better[:TOP] if change < -SAME]


def worse_codes(report: GateReport) -> list[Any]:
    """The codes the candidate gets right on fewer charts than the baseline, largest loss first
    (``reports.code_errors.CodeChange``)."""
    from reports.code_errors import code_changes
    from reports.run_data import chart_codes

    changes = code_changes(chart_codes(report.baseline), chart_codes(report.candidate))
    return [c for c in reversed(changes) if c.change < 0][:TOP]


def _got_worse(report: GateReport) -> list[str]:
    from reports.icd import describe

    year = int(run_config(report.candidate.folder).get("dataset", {}).get("code_set_year", DEFAULT_CODE_SET_YEAR))
    lines = ["", "Charts that got worse most:"]
    for metric, charts in worse_charts(report).items():
        shown = ", ".join(f"`{chart}` {labels.format_value(metric, before)} -> {labels.format_value(metric, after)}"
                          for chart, before, after in charts)
        lines.append(f"- {PER_CHART.get(metric, (metric, labels.label(metric)))[1]}: {shown or 'none'}")
    codes = worse_codes(report)
    lines += ["", "Codes that got worse most (charts coded right): " + (
        "; ".join(f"`{c.code}` {describe(c.code, year)}: {c.correct_a} -> {c.correct_b} (e.g. {', '.join(c.lost)})"
                  for c in codes) if codes else "none.")]
    return lines


def result(report: GateReport) -> dict[str, Any]:
    """The machine-readable result (:data:`SCHEMA`): verdict, exit code, runs, and each check with its values."""
    return {
        "schema_version": RESULT_VERSION,
        "verdict": report.verdict,
        "exit_code": report.exit_code,
        "reason": headline(report),
        "candidate": _run(report.candidate),
        "baseline": _run(report.baseline),
        "n_charts": report.n_charts,
        "confidence": report.config.confidence,
        "checks": [_check(k, report) for k in report.checks],
        "worse_charts": [{"metric": metric, "chart_id": chart, "baseline": before, "candidate": after}
                         for metric, charts in worse_charts(report).items() for chart, before, after in charts],
        "worse_codes": [{"code": c.code, "baseline_correct": c.correct_a, "candidate_correct": c.correct_b}
                        for c in worse_codes(report)],
        "artifacts": {"summary": SUMMARY_FILE, "comparison_report": COMPARISON_FILE},
    }


def _run(run: RecordedRun) -> dict[str, Any]:
    tags = run.tags
    return {"run_id": run.run_id, "name": run.name, "commit": tags.get("git_commit"), "branch": tags.get("git_branch"),
            "dataset": tags.get("dataset"), "split": tags.get("dataset.split"), "digest": tags.get("dataset.digest"),
            "champion": tags.get(CHAMPION) == "true"}


def _check(check: Check, report: GateReport) -> dict[str, Any]:
    metric = labels.info(check.metric)
    found = {"metric": check.metric, "label": CHARTS_LABEL if check.metric == CHARTS else metric.label,
             "unit": metric.unit, "test": check.test, "result": check.result,
             "baseline": _number(check.baseline), "candidate": _number(check.candidate),
             "difference": _number(check.difference),
             "interval": None if check.low is None else [_number(check.low), _number(check.high)],
             "threshold": {"limit": check.limit, "rule": check.threshold}, "note": check.note or None}
    test = report.mcnemar.get(check.metric)
    if test is not None:
        found["mcnemar"] = {"charts_lost": test.b, "charts_gained": test.c, "p_value": test.p_value}
    return found


def _number(value: float | None) -> float | None:
    """JSON has no NaN: a value that could not be computed is null."""
    return None if value is None or math.isnan(value) else value
