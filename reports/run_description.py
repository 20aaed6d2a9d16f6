"""A job's description on its MLflow run page (the ``mlflow.note.content`` tag), in words a coding lead reads.

Three lines: the headline outcomes with their labels and units (``harness.metrics.registry``); what the job changed,
against the other jobs of its sweep or against the defaults; and where its report is. Only figures and settings: no
chart text, so nothing of a patient's record reaches the store's tags.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from reports.labels import format_value, label

NOTE_TAG = "mlflow.note.content"
"""The run tag MLflow's UI shows (Markdown) as the run's description."""
OUTCOMES = ("micro_f1", "review_rate", "denial_rate", "coder_minutes_per_chart")
"""The outcomes the first line names, those the run recorded: accuracy, then the coding department's."""


def _short_label(name: str) -> str:
    """The registry's label without its explanation in brackets: ``F1 (all codes)`` -> ``F1``."""
    return re.sub(r"\s*\(.*\)$", "", label(name))


def outcomes_line(metrics: Mapping[str, float]) -> str:
    """``F1 46.2%, Charts sent to a coder 30.0%, ...``: the recorded :data:`OUTCOMES` in their units."""
    shown = [f"{_short_label(name)} {format_value(name, metrics[name])}" for name in OUTCOMES if name in metrics]
    return ", ".join(shown) + "." if shown else "No accuracy or workload measured (no gold codes)."


def _settings(overrides: Sequence[str]) -> str:
    return ", ".join(f"{key.lstrip('+~')} {value}" for key, _, value in (o.partition("=") for o in overrides))


def changes_line(changed: Sequence[str], common: Sequence[str], in_sweep: bool) -> str:
    """What the job changed: ``changed`` against the sweep's other jobs (``in_sweep``) or against the defaults; ``common``
    the settings the whole sweep shares."""
    if in_sweep:
        line = f"Against the sweep's other jobs: {_settings(changed) or 'no difference'}."
        return line + (f" Whole sweep: {_settings(common)}." if common else "")
    return f"Against the defaults: {_settings(changed)}." if changed else "Default settings."


def describe_sweep(jobs: Sequence[str], report: str) -> str:
    """A sweep's parent run's description: its planned ``jobs`` (each one's overrides, space-separated) by what sets each
    apart, the settings they share, and the path of the sweep ``report``."""
    from harness.tracking.run_names import changes_the_design, distinguishing

    shared = [o for o in jobs[0].split() if changes_the_design(o) and all(o in job.split() for job in jobs)] if jobs else []
    listed = "; ".join(_settings(distinguishing(job.split(), jobs)) for job in jobs)
    lines = [f"{len(jobs)} jobs compared: {listed}." if jobs else "The jobs compared are listed in the report.",
             f"Whole sweep: {_settings(shared) or 'default settings'}.",
             f"Report: {report} (also sweep_report.html among the run's artifacts)."]
    return "\n\n".join(lines)


def describe(metrics: Mapping[str, float], changed: Sequence[str], common: Sequence[str], in_sweep: bool,
             report: str) -> str:
    """The run's description: outcomes, changes (see :func:`changes_line`), and the path of its ``report``."""
    lines = [outcomes_line(metrics), changes_line(changed, common, in_sweep),
             f"Report: {report} (also report.html among the run's artifacts)."]
    return "\n\n".join(lines)  # Markdown: a blank line keeps each on its own line
