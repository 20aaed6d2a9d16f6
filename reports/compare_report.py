"""The comparison report: run b against run a on the same charts, paired chart by chart.

One comparison (``harness.tracking.decision.decide_pair``, what the sweep report and ``harness gate`` use) gives
everything the page says is better or worse: the verdict ``harness gate`` would give the pair, the headline
differences with their paired bootstrap intervals, and the coding department's outcomes (denials, rework and coder
minutes paired by chart, both runs costed under b's workload model; the review queue). Then the per-chart change in F1
(a histogram and how many charts got better, worse or stayed the same), and the codes b gets right more or less often
than a, with example charts. The page names codes and chart ids only, never chart text.

    harness report compare <run_a> <run_b> [--tracking-uri URI] [--out FILE]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.atomic_files import write_text_atomic
from harness.contracts import DEFAULT_CODE_SET_YEAR
from harness.metrics.registry import headline
from harness.tracking.run_store import RecordedRun
from reports import labels
from reports.html import Html, Section, badge, figure, note, page, section, table, tag, tiles
from reports.operations import compare_section, paired_cells
from reports.run_data import ReportError, chart_codes, differing_params, param_label, run_config

if TYPE_CHECKING:
    from harness.tracking.decision import PairDecision
    from harness.tracking.gate_config import GateConfig

TOP_CODES = 10
TOP_CHARTS = 5
SAME = 1e-9
"""Per-chart F1 changes smaller than this count as the same (floating-point noise)."""


def write_comparison(a: RecordedRun, b: RecordedRun, out: Path, gate: GateConfig | None = None) -> Path:
    """Write the paired comparison of ``b`` against ``a`` to ``out``, judged by ``gate`` (the gate that attaches the page
    passes its own config; default: the default gate bootstrapping as run A's intervals were).

    Raises ``ReportError`` (a ``ValueError``) naming both runs unless they scored the same charts of the same dataset
    split (``harness.tracking.gate_statistics.check_comparable``).
    """
    from harness.tracking.decision import decide_pair

    _check_same_charts(a, b)
    pair = decide_pair(_identified(b), _identified(a), gate or _gate_config(a))
    if pair.not_comparable:
        raise ReportError(f"cannot compare run A {_who(a)} with run B {_who(b)}: {_why_not(pair)}")
    operations = compare_section(pair)  # None when neither run has operations.json
    sections = [_verdict(pair, "the gate's own config" if gate else None), _headline(pair),
                *([operations] if operations is not None else []), _per_chart(a, b), _codes(a, b)]
    changed = differing_params([a, b])
    identity = {"Run A": _who(a), "Run B": _who(b), "Charts": f"{len(a.per_chart)} charts, paired by chart id",
                "What differs": "; ".join(f"{param_label(p)}: {a.params.get(p, '–')} → {b.params.get(p, '–')}" for p in changed)
                or "no param: same configuration"}
    return write_text_atomic(out, page("Run comparison", "Run B against run A on the same charts: what changed, and is it more "
                                       "than chance?", identity, sections))


def _gate_config(a: RecordedRun) -> GateConfig:
    """The default gate, bootstrapping as run A's intervals were (its recorded ``evaluation`` settings)."""
    from pydantic import ValidationError

    from harness.tracking.gate_config import GateConfig

    evaluation = run_config(a.folder).get("evaluation", {})
    try:
        return GateConfig(**{key: evaluation[key] for key in ("n_resamples", "confidence") if key in evaluation})
    except ValidationError:  # fewer resamples than the gate allows: the gate's own settings, which the page states
        return GateConfig()


def _identified(run: RecordedRun) -> RecordedRun:
    """``run`` with an id: the gate refuses two runs of one id, and an artifact folder read from disk has none (its
    folder names it)."""
    return run if run.run_id else replace(run, run_id=str(run.folder))


def _why_not(pair: PairDecision) -> str:
    """Why the pair is not comparable; a run read from disk without its job's ``run.json`` has no dataset digest."""
    runs = (("A", pair.baseline), ("B", pair.candidate))
    missing = [which for which, run in runs if not run.tags.get("dataset.digest")]
    if missing:
        return (f"not comparable: no dataset digest for run {' and '.join(missing)} (a job's run.json beside its "
                "artifact folder records it), so the charts cannot be shown to be the same")
    return f"not comparable: {pair.not_comparable}"


def _who(run: RecordedRun) -> str:
    return f"{run.name} ({run.run_id})" if run.run_id else f"{run.name} ({run.folder})"


def _check_same_charts(a: RecordedRun, b: RecordedRun) -> None:
    ids_a, ids_b = {row["chart_id"] for row in a.per_chart}, {row["chart_id"] for row in b.per_chart}
    if ids_a != ids_b or not ids_a:
        only_a, only_b = sorted(ids_a - ids_b), sorted(ids_b - ids_a)
        raise ReportError(f"cannot compare run A {_who(a)} with run B {_who(b)}: they scored different charts "
                          f"({len(only_a)} only in A, e.g. {only_a[:3]}; {len(only_b)} only in B, e.g. {only_b[:3]}); "
                          "a paired comparison needs the same charts")


def _verdict(pair: PairDecision, judged_by: str | None) -> Section:
    """What ``harness gate`` would decide for B as the candidate against A, with its first failing check in the gate's
    own words."""
    from reports.gate_summary import reason
    from reports.sweep_decision import BADGE_KIND

    report = pair.gate
    failing = report.failing
    said = reason(failing[0], report) if failing else "no check is worse than its tolerance allows"
    others = len(failing) - 1
    more = f" ({others} more {'check' if others == 1 else 'checks'} did not pass: harness gate lists them)" if others else ""
    return section(
        "Gate verdict",
        "what harness gate would decide for run B as the candidate and run A as the baseline: pass, regression, or "
        "inconclusive (too few charts, or an interval that reaches past a tolerance). "
        + (f"Judged by {judged_by}, from {report.config.n_resamples} paired resamples at {report.config.confidence:.0%}."
           if judged_by else
           "Judged by the default gate's thresholds (harness gate --config default) from "
           f"{report.config.n_resamples} paired resamples at {report.config.confidence:.0%} (run A's own bootstrap "
           "settings, where the gate allows them); a stricter gate config can decide otherwise."),
        tag("p", badge(report.verdict, BADGE_KIND.get(report.verdict, "neutral")), f" {said}{more}."))


def _headline(pair: PairDecision) -> Section:
    a, b = pair.baseline, pair.candidate
    rows = [(labels.label(name), labels.format_value(name, a.metrics[name]), labels.format_value(name, b.metrics[name]),
             labels.difference(name, b.metrics[name] - a.metrics[name]), *paired_cells(pair, name))
            for name in headline() if name in a.metrics and name in b.metrics]
    return section(
        "Headline differences",
        f"B minus A on the same charts. Where a paired interval is shown ({pair.gate.config.confidence:.0%}, resampling "
        "the charts in pairs), 'better' or 'worse' means the whole interval is on one side of zero; otherwise the change "
        "may be chance. A badge without an interval is the gate's own check of that measure.",
        table(["measure", "A", "B", "B − A", "paired interval of B − A", "verdict"], rows, numeric=(1, 2, 3, 4)))


def _per_chart(a: RecordedRun, b: RecordedRun) -> Section:
    from reports import plots

    f1_a = {row["chart_id"]: row["f1"] for row in a.per_chart}
    changes = sorted((row["f1"] - f1_a[row["chart_id"]], row["chart_id"]) for row in b.per_chart)
    better = sum(delta > SAME for delta, _ in changes)
    worse = sum(delta < -SAME for delta, _ in changes)
    counts = tiles([(better, "charts better in B", "higher F1"), (worse, "charts worse in B", "lower F1"),
                    (len(changes) - better - worse, "charts the same", "equal F1")])
    edges = [(i - 0.5) / 10 for i in range(-10, 12)]  # 0.1 wide, one bin centred on zero (no change)
    chart = plots.histogram("Change in F1 per chart", [delta for delta, _ in changes], edges, xlabel="F1 of B minus F1 of A")
    extremes = [c for c in changes if c[0] < -SAME][:TOP_CHARTS] + [c for c in reversed(changes) if c[0] > SAME][:TOP_CHARTS]
    rows = [(tag("code", chart_id), f"{f1_a[chart_id]:.2f}", f"{f1_a[chart_id] + delta:.2f}", f"{delta:+.2f}")
            for delta, chart_id in extremes]
    return section(
        "Per-chart differences",
        "each chart scored by both runs: red bars are charts where B's F1 is lower than A's, green where it is higher, the "
        "middle bar charts where nothing changed. Many charts on both sides means the change trades some charts for others.",
        counts, figure(chart, "F1 per chart: 2 × correct / (2 × correct + wrong + missed)."),
        tag("h3", "Charts that changed most (largest drops, then largest gains)"),
        table(["chart", "F1 of A", "F1 of B", "change"], rows, numeric=(1, 2, 3)) if rows else note("No chart changed."))


def _codes(a: RecordedRun, b: RecordedRun) -> Section:
    from reports.code_errors import code_changes
    from reports.icd import describe

    year = int(run_config(a.folder).get("dataset", {}).get("code_set_year", DEFAULT_CODE_SET_YEAR))
    changes = code_changes(chart_codes(a), chart_codes(b))

    def listing(found: Sequence[Any], examples: str) -> Html:
        if not found:
            return note("None.")
        return table(["code", "description", "correct in A", "correct in B", "change", "for example"],
                     [(tag("code", c.code), describe(c.code, year), c.correct_a, c.correct_b, f"{c.change:+d}",
                       ", ".join(getattr(c, examples))) for c in found], numeric=(2, 3, 4))

    return section(
        "Codes that got better or worse",
        "how many times each code was assigned correctly by A and by B, over the same charts. Codes B gets right more often come "
        "first; the example charts are where only one of the runs got the code right.",
        tag("h3", "Better in B"), listing([c for c in changes if c.change > 0][:TOP_CODES], "gained"),
        tag("h3", "Worse in B"), listing([c for c in reversed(changes) if c.change < 0][:TOP_CODES], "lost"))


def report_recorded_comparison(run_a: str, run_b: str, uri: str, out: Path) -> Path:
    """Write the paired comparison of the recorded job run ``run_b`` against ``run_a`` (both in the store at ``uri``)."""
    from harness.tracking.run_store import load_run

    return write_comparison(load_run(run_a, uri), load_run(run_b, uri), out)
