"""The sweep report: one page comparing the job runs of a multirun (``python -m harness -m ...``).

It opens with the decision (``reports.sweep_decision``): each job against a baseline job on the same charts, with the
paired differences, their badges and the verdict ``harness gate`` gives the pair, the designs nothing beats and the
recommended one. Then a table with one row per run (the swept params, then the headline metrics and those the
experiment lists in ``report.metrics``, with their intervals), then each of them plotted over every swept parameter: F1
and review rate per degradation level, per rule pack, per extractor. The swept params are found, not configured: they
are the params whose values differ between the runs.

    harness report sweep <parent_run_id> [--tracking-uri URI] [--out FILE]

builds the page from MLflow and logs it to the sweep's parent run as ``sweep_report.html``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.atomic_files import write_text_atomic
from harness.metrics.registry import names
from harness.tracking.decision import SweepDecision
from harness.tracking.run_store import RecordedRun
from harness.tracking.sweep_jobs import JobState
from reports import labels
from reports.html import Html, Section, esc, figure, note, page, section, table, tag
from reports.run_data import ReportError, differing_params, param_label, run_config

ARTIFACT = "sweep_report.html"


def write_sweep_report(runs: list[RecordedRun], out: Path, jobs: Sequence[JobState] = (),
                       decision: SweepDecision | None = None) -> Path:
    """Write the comparison page of ``runs`` (a sweep's finished job runs, in sweep order) to ``out``; ``jobs`` (every
    job of the sweep with its state) adds a section on the jobs that did not finish, ``decision``
    (``harness.tracking.decision.decide_sweep`` of the runs) the decision section it opens with."""
    from harness.tracking.decision import report_config
    from reports.sweep_decision import decision_section

    if not runs and not jobs:
        raise ReportError("a sweep report needs at least one run")
    unfinished = [job for job in jobs if job.status != "finished"]
    swept = differing_params(runs) if runs else []
    wanted = dict.fromkeys([*names(sweep=True), *report_config(runs).metrics])  # accuracy, review, speed; the experiment's own
    shown = [m for m in wanted if any(m in run.metrics for run in runs)]
    sections = [decision_section(decision)] if decision is not None and decision.baselines else []
    sections += [_jobs_table(unfinished, len(jobs))] if unfinished else []
    if runs:
        sections += [_runs_table(runs, swept, shown), *(_over(param, runs, swept, shown) for param in swept)]
    dataset = run_config(runs[0].folder).get("dataset", {}) if runs else {}
    identity = {
        "Runs": f"{len(runs)} finished" + (f" of {len(jobs)} jobs" if jobs else ""),
        "Swept": ", ".join(f"{param_label(p)} ({', '.join(_values(runs, p))})" for p in swept)
        or "nothing: the runs share every param",
        "Charts": f"{dataset.get('name', '?')} / {dataset.get('split', '?')}",
    }
    subtitle = "Which design to pick: each run against the baseline on the same charts, then every run side by side."
    return write_text_atomic(out, page("Sweep report", subtitle, identity, sections))


def _values(runs: Sequence[RecordedRun], param: str) -> list[str]:
    """The distinct values of ``param`` in plotting order: numeric order when all are numbers, else sweep order."""
    values = list(dict.fromkeys(run.params.get(param, "–") for run in runs))
    try:
        return sorted(values, key=float)
    except ValueError:
        return values


def _jobs_table(unfinished: Sequence[JobState], planned: int) -> Section:
    rows = [(esc(job.status), tag("code", job.overrides or "(defaults)"), tag("code", job.run_id[:8]) if job.run_id else "–",
             esc(job.error or "–")) for job in unfinished]
    return section(
        "Jobs that did not finish",
        f"{len(unfinished)} of {planned} jobs have no finished run: failed (the job raised), running, or missing (never "
        "recorded: not started, killed or pre-empted). Their figures are absent below. Re-submitting the sweep into its "
        "folder (hydra.sweep.dir=...) runs only these.",
        table(["status", "overrides", "run", "error"], rows))


def _runs_table(runs: Sequence[RecordedRun], swept: Sequence[str], shown: Sequence[str]) -> Section:
    best = {m: _best(runs, m) for m in shown}

    def cell(run: RecordedRun, metric: str) -> Html:
        if metric not in run.metrics:
            return esc("–")
        value = esc(labels.format_value(metric, run.metrics[metric]))
        low, high = run.metrics.get(f"{metric}_ci_low"), run.metrics.get(f"{metric}_ci_high")
        spread = (tag("span", f"{labels.format_value(metric, low)} – {labels.format_value(metric, high)}", class_="metric-id")
                  if low is not None and high is not None else "")
        return Html((tag("strong", value) if run.metrics[metric] == best[metric] else value) + spread)

    headers = ["run", *(param_label(p) for p in swept), *(labels.label(m) for m in shown)]
    rows = [(tag("code", run.run_id[:8] or run.name), *(run.params.get(p, "–") for p in swept), *(cell(run, m) for m in shown))
            for run in runs]
    cached = [run for run in runs if run.metrics.get("extraction_cache_hits")]
    caveat = (note(f"{len(cached)} of {len(runs)} runs reused cached extractions: their speed is overstated next to runs that "
                   "extracted afresh.") if cached and "charts_per_s" in shown else "")
    return section(
        "Runs",
        "one row per run. Under each figure is its 95% bootstrap interval; the best value of each column is in bold, but when "
        "the intervals of two runs overlap a lot the difference may be chance.",
        table(headers, rows, numeric=range(1 + len(swept), len(headers))), caveat)


def _best(runs: Sequence[RecordedRun], metric: str) -> float | None:
    direction = labels.info(metric).higher_is_better
    values = [run.metrics[metric] for run in runs if metric in run.metrics]
    if direction is None or len(values) < 2:
        return None
    return max(values) if direction else min(values)


def _over(param: str, runs: Sequence[RecordedRun], swept: Sequence[str], shown: Sequence[str]) -> Section:
    """Each metric over the values of ``param``; one line per combination of the other swept params."""
    from reports import plots

    x_values = _values(runs, param)
    others = [p for p in swept if p != param]

    def series_of(run: RecordedRun) -> str:
        return ", ".join(f"{param_label(p)}={run.params.get(p, '–')}" for p in others)

    series = list(dict.fromkeys(series_of(run) for run in runs))
    panels = []
    for metric in shown:
        lines: dict[str, list[Any]] = {name: [None] * len(x_values) for name in series}
        for run in runs:
            slot = x_values.index(run.params.get(param, "–"))
            if metric in run.metrics and lines[series_of(run)][slot] is None:  # a repeated config keeps its first run
                lines[series_of(run)][slot] = (run.metrics[metric], run.metrics.get(f"{metric}_ci_low"),
                                               run.metrics.get(f"{metric}_ci_high"))
        panels.append(plots.Panel(labels.label(metric), lines, share=labels.info(metric).unit == "share"))
    name = param_label(param)
    chart = plots.lines(f"Metrics by {name}", x_values, panels, xlabel=name)
    return section(
        f"Metrics by {name}",
        f"each panel is one measure across the values of {name}; each point is a run, its bar the 95% interval. Points whose "
        "bars overlap do not show a clear difference.",
        figure(chart, f"x: {name}" + (f"; one line per {', '.join(param_label(p) for p in others)}" if others else "")))


def log_to_parent(parent_id: str, report: Path, uri: str) -> None:
    """Attach ``report`` to the sweep's parent run as ``sweep_report.html``, whatever its file is called here."""
    from harness.tracking.run_store import client

    with tempfile.TemporaryDirectory() as folder:
        named = Path(folder) / ARTIFACT
        shutil.copyfile(report, named)
        client(uri).log_artifact(parent_id, str(named))


def report_recorded_sweep(parent_run_id: str, uri: str, out: Path) -> Path:
    """Write the report of the sweep under ``parent_run_id`` (its job runs, jobs' states and decision) to ``out`` and log
    it to the parent run."""
    report, _ = build_recorded_sweep_report(parent_run_id, uri, out)
    log_to_parent(parent_run_id, report, uri)
    return report


def build_recorded_sweep_report(parent_run_id: str, uri: str, out: Path, required: bool = True,
                                states: Sequence[JobState] | None = None) -> tuple[Path, SweepDecision | None]:
    """Download the sweep's finished job runs (and a champion baseline) into a temporary folder, decide and write the page
    to ``out``; returns it with the decision (None without runs). ``required``: a sweep without finished runs is an
    error; ``states``: the jobs' states when the caller has them already."""
    from harness.tracking.decision import decide_recorded_sweep
    from harness.tracking.run_store import child_runs, load_run
    from harness.tracking.sweep_jobs import job_states

    with tempfile.TemporaryDirectory(prefix="harness-sweep-") as folder:
        runs = [load_run(run_id, uri, into=_subfolder(folder, run_id)) for run_id in child_runs(parent_run_id, uri, required)]
        decision = decide_recorded_sweep(runs, uri, folder) if runs else None
        states = job_states(parent_run_id, uri) if states is None else states
        return write_sweep_report(runs, out, states, decision), decision


def _subfolder(root: str, name: str) -> Path:
    path = Path(root) / name
    path.mkdir()
    return path
