"""The sweep's decision, shown: each job against its baseline (paired differences, badges, the gate's verdict), the
designs nothing beats and the recommended one, as the sweep report's first section and as the short table that ends
``harness run -m``. The decision itself is ``harness.tracking.decision``'s; this module only words and lays it out.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.metrics.registry import gated
from harness.tracking.decision import PairDecision, SweepDecision
from harness.tracking.run_store import RecordedRun
from reports import labels
from reports.html import Html, Section, badge, esc, join, note, section, table, tag

OUTCOMES = ("denial_rate", "rework_rate", "coder_minutes_per_chart", "time_to_claim_p50_h", "time_to_claim_p95_h",
            "review_rate")
"""The coding department's outcomes every pair shows beside the gated metrics."""
TERMINAL = ("micro_f1", "denial_rate", "coder_minutes_per_chart", "review_rate")
"""The columns of the end-of-sweep table in the terminal."""
BADGE_KIND = {"better": "good", "worse": "bad", "regression": "bad", "pass": "good"}


def columns(decision: SweepDecision) -> list[str]:
    """The gated metrics, then the outcomes, then the experiment's own metrics; only those some job records."""
    wanted = dict.fromkeys([*(m.name for m in gated()), *OUTCOMES, *decision.config.metrics])
    runs = [b.run for b in decision.baselines] + [p.candidate for p in decision.pairs]
    return [name for name in wanted if any(name in run.metrics for run in runs)]


def design_names(decision: SweepDecision) -> dict[str, str]:
    """Each run's id -> the overrides that set it apart from the sweep's other jobs (a champion from outside: its id)."""
    runs = [p.candidate for p in decision.pairs] + [b.run for b in decision.baselines]
    tokens = {run.run_id: run.tags.get("harness.overrides", "").split() for run in runs}
    shared = set.intersection(*(set(t) for t in tokens.values() if t)) if any(tokens.values()) else set()
    names = {}
    for run in runs:
        own = [token for token in tokens[run.run_id] if token not in shared]
        names[run.run_id] = " ".join(own) or (run.name if tokens[run.run_id] else f"{run.name} ({run.run_id[:8]})")
    return names


def change(pair: PairDecision, metric: str) -> tuple[str, str | None]:
    """The change of ``metric`` from baseline to candidate in words (with its paired interval where there is one), and
    the badge: better / worse / no clear difference by the interval, else the gate's own check result."""
    differences = pair.comparison.differences if pair.comparison else {}
    if metric in differences:
        d = differences[metric]
        bounds = (labels.difference(metric, bound).split(" ")[0] for bound in (d.low, d.high))  # the unit once, not thrice
        return f"{labels.difference(metric, d.difference)} [{', '.join(bounds)}]", labels.verdict(metric, d.low, d.high)
    before, after = pair.baseline.metrics.get(metric), pair.candidate.metrics.get(metric)
    if before is None and after is None:
        return "–", None
    return f"{labels.format_value(metric, before)} → {labels.format_value(metric, after)}", pair.check(metric)


def marks(run: RecordedRun, decision: SweepDecision) -> list[str]:
    """What the decision says of ``run``: baseline, not beaten on every axis, recommended."""
    found = []
    if any(b.run.run_id == run.run_id for b in decision.baselines):
        found.append("baseline")
    if any(r.run_id == run.run_id for r in decision.front):
        found.append("not beaten")
    if decision.recommended is not None and decision.recommended.run_id == run.run_id:
        found.append("recommended")
    return found


def decision_section(decision: SweepDecision) -> Section:
    """The sweep report's first section: the pairs against the baseline, the front and the recommendation."""
    shown, names = columns(decision), design_names(decision)

    def cell(pair: PairDecision, metric: str) -> Html:
        if metric not in pair.candidate.metrics and metric not in (pair.comparison.differences if pair.comparison else {}):
            return esc("–")
        words, said = change(pair, metric)
        value = labels.format_value(metric, pair.candidate.metrics.get(metric))
        return join([tag("strong", value), tag("br"), tag("span", words, class_="metric-id"),
                     *([tag("br"), badge(said, BADGE_KIND.get(said, "neutral"))] if said else [])])

    def who(run: RecordedRun) -> Html:
        return join([tag("code", names[run.run_id]), *(badge(m, "good") for m in marks(run, decision))], " ")

    body: list[object] = []
    for chosen in decision.baselines:
        base = chosen.run
        rows = [(who(base), *(esc(labels.format_value(m, base.metrics.get(m))) for m in shown), esc("baseline"))]
        for pair in (p for p in decision.pairs if p.baseline is base):
            verdict = badge(pair.verdict, BADGE_KIND.get(pair.verdict, "neutral"))
            rows.append((who(pair.candidate), *(cell(pair, m) for m in shown),
                         join([verdict, *([tag("br"), esc(pair.not_comparable)] if pair.not_comparable else [])])))
        n_charts = len(base.per_chart)
        body += [tag("h3", f"{base.tags.get('dataset', '?')} / {base.tags.get('dataset.split', '?')}: against "
                           f"{names[base.run_id]}"),
                 note(f"Baseline: {chosen.why} (set another with report.baseline=<override value>). {n_charts} charts "
                      "paired by chart id."),
                 table(["design", *(labels.label(m) for m in shown), "gate verdict"], rows, numeric=range(1, len(shown) + 1))]
    body.append(tag("h3", "Designs no other design beats on every axis"))
    if decision.front:
        axes = ", ".join(labels.label(a) for a in decision.axes)
        body.append(note(f"On {axes} (the runs' own values): ", join((tag("code", names[r.run_id]) for r in decision.front),
                                                                       ", "), "."))
    else:
        body.append(note("None worked out: no axis is recorded by every job."))
    body += [note(line) for line in decision.notes]
    pick = decision.recommended
    said = (note(tag("strong", names[pick.run_id]), f": {decision.recommendation}.") if pick
            else note(f"{decision.recommendation}."))
    left_out = join((join([tag("code", names[run.run_id]), f" ({why})"]) for run, why in decision.left_out), "; ")
    body += [tag("h3", "Recommended design"), said, *([note("Left out: ", left_out, ".")] if decision.left_out else [])]
    return section(
        "Decision",
        "each design against the baseline on the same charts. Under each figure: the change from the baseline with its paired "
        "interval (resampling charts in pairs) and a badge: better or worse when the whole interval is on one side of zero, "
        "else no clear difference; figures without an interval show the gate's own check. The last column is the verdict "
        "harness gate gives the same pair (pass, regression or inconclusive, by the gate's tolerances).",
        *body)


def decision_lines(decision: SweepDecision) -> list[str]:
    """The short table that ends ``harness run -m``: each design's change in F1, denials, coder minutes and review share
    against the baseline, with its interval, badge and the gate's verdict; then the front and the recommendation."""
    names = design_names(decision)
    lines = []
    for chosen in decision.baselines:
        base = chosen.run
        header = ["design", *(labels.label(m).split(" (")[0] for m in TERMINAL), "gate"]
        rows = [[names[base.run_id], *(labels.format_value(m, base.metrics.get(m)) for m in TERMINAL), "baseline"]]
        for pair in (p for p in decision.pairs if p.baseline is base):
            cells = []
            for metric in TERMINAL:
                words, said = change(pair, metric)
                cells.append(f"{words} {said}" if said else words)
            rows.append([names[pair.candidate.run_id], *cells, pair.verdict])
        lines.append(f"against the baseline {names[base.run_id]} ({chosen.why}):")
        lines += _aligned([header, *rows])
    if decision.front:
        lines.append("not beaten on every axis: " + ", ".join(names[r.run_id] for r in decision.front))
    lines.append(f"recommended: {names[decision.recommended.run_id]} ({decision.recommendation})" if decision.recommended
                 else decision.recommendation)
    lines += [f"  left out: {names[run.run_id]} ({why})" for run, why in decision.left_out]
    return lines


def _aligned(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
