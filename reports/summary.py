"""What the terminal shows at the end of a job, in one of three lengths (the job's ``summary`` setting).

- ``True`` (default): the headline outcomes in words and units with their intervals, the notes on what the figures
  leave out, and where the outputs are (about a dozen lines);
- ``"full"``: every metric the registry marks for the summary, as raw numbers, and every fact of the run;
- ``False``: only the MLflow run id (or the run folder without tracking) and the report.

Lines are plain text, never wrapped: a path or id copied from a CI log must come out whole.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from harness.metrics import registry
from reports.labels import format_value, label

SummaryMode = Literal[True, False, "full"]

SHORT = ("micro_f1", "review_rate", "automation_rate", "denial_rate", "rework_rate", "coder_minutes_per_chart",
         "time_to_claim_p50_h", "charts_per_s", "cost_per_1k_charts_usd")
"""The headline outcomes of the short summary, in its order (those the run recorded): accuracy, the coding department's
outcomes under the workload model, and the machine's speed and cost."""
WHERE = ("report", "run_folder", "audit", "audit_head", "mlflow_run", "tracking_uri")
"""The facts that say where the outputs are, in the short summary's order."""
_FULL_TABLE_WIDTH = 100
"""Width of the full table: its three columns fit, on a terminal or off it."""


def render_summary(metrics: Mapping[str, float], context: Mapping[str, str], notes: Sequence[str] = (),
                   mode: SummaryMode = True) -> str:
    """The end-of-job text for ``mode`` (see the module's docstring); ``context`` holds the run's facts (dataset,
    extractor, rules, charts, report, run folder, MLflow run, ...), ``notes`` what the figures leave out."""
    if mode is False:
        where = "mlflow_run" if "mlflow_run" in context else "run_folder"
        return "\n".join(f"{key}: {context[key]}" for key in (where, "report") if key in context)
    if mode == "full":
        return "\n".join([_full_table(metrics), *_notes(notes), *(f"{key}: {value}" for key, value in context.items())])
    return "\n".join([_heading(context), *_outcomes(metrics), *_notes(notes),
                      *(f"{key}: {context[key]}" for key in WHERE if key in context)])


def _heading(context: Mapping[str, str]) -> str:
    design = ", ".join(context[key] for key in ("extractor", "rules") if key in context)
    charts = f", {context['charts']} charts" if "charts" in context else ""
    return f"Run summary: {context.get('dataset', '')}{charts} ({design})"


def _outcomes(metrics: Mapping[str, float]) -> list[str]:
    """One line per recorded headline outcome: label, value in its unit, bootstrap interval."""
    shown = [name for name in SHORT if name in metrics]
    width = max((len(label(name)) for name in shown), default=0)
    lines = []
    for name in shown:
        low, high = metrics.get(f"{name}_ci_low"), metrics.get(f"{name}_ci_high")
        interval = f"  [{format_value(name, low)}, {format_value(name, high)}]" if low is not None and high is not None else ""
        lines.append(f"  {label(name):<{width}}  {format_value(name, metrics[name]):>9}{interval}")
    return lines


def _notes(notes: Sequence[str]) -> list[str]:
    return [f"note: {line}" for line in notes]


def _full_table(metrics: Mapping[str, float]) -> str:
    """Every summary metric the run recorded, in the registry's order, as raw numbers with their bootstrap intervals."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Run summary", title_justify="left")
    table.add_column("metric", no_wrap=True)
    table.add_column("value", justify="right")
    table.add_column("bootstrap interval", justify="right")
    for name in registry.present(metrics, summary=True):
        low, high = metrics.get(f"{name}_ci_low"), metrics.get(f"{name}_ci_high")
        interval = f"[{low:.4g}, {high:.4g}]" if low is not None and high is not None else ""
        table.add_row(name, f"{metrics[name]:.4g}", interval)
    console = Console(width=_FULL_TABLE_WIDTH, force_terminal=False)
    with console.capture() as captured:
        console.print(table)
    return captured.get().rstrip("\n")
