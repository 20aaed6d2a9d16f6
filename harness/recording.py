"""Recording a scored job: its run folder (``harness.run_record``), report, audit trail, MLflow run and summary.

``record`` is the last step of a job (``harness.api.execute``) and of a merged sharded run (``harness.merge``): both hand
it what the job built, ran and scored, so a merged run is recorded exactly as a job is.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.job_config import JobConfig
from harness.run_record import CALIBRATOR_FILE, SKIPPED_LINES_FILE, RunArtifacts, RunFolder

if TYPE_CHECKING:
    from harness.contracts import Chart, ChartResult
    from harness.metrics.coding import ChartOutcome
    from harness.run import Built, Ran

PROJECT_ROOT = Path(__file__).resolve().parents[1]
KEY_METRICS = ("n_charts", "charts_skipped", "micro_f1", "review_rate", "auto_precision", "charts_per_s")
"""The figures ``run.json`` carries beside the run's identity (those the run recorded)."""


@dataclass(frozen=True)
class JobIdentity:
    """What names a job's MLflow run and places it in time."""

    overrides: tuple[str, ...] = ()
    """The command-line overrides (``degradation=fax_light``): what differs from the defaults, named by the run's name
    and description."""
    parent_run_id: str | None = None
    """The sweep's parent run, for a job of a sweep."""
    started: float | None = None
    """When the job began (``time.time()``); MLflow shows it as the run's start (None: when the run is recorded)."""
    name: str | None = None
    """The run's name when not made from the job and its overrides (a merged run's)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags beside the job's own (a merged run's ``harness.merged_from``, ...)."""

    def run_name(self, job: JobConfig, siblings: Sequence[str] = ()) -> str:
        """The MLflow run name: the given name, else what tells the job from its sweep's other jobs (``siblings``, each
        one's overrides) or from the defaults (``harness.tracking.run_names``), else its dataset, extractor and rules."""
        from harness.tracking.run_names import MAX_CHARS, SEPARATOR, run_name

        if self.name:
            return self.name[:MAX_CHARS]
        return run_name(self.overrides, siblings, design=SEPARATOR.join((job.dataset.name, job.extractor.name, job.rules.name)))


def git_commit() -> str:
    """The checked-out commit of the harness ("unknown" outside a git checkout)."""
    return _git("rev-parse", "HEAD")


def git_branch() -> str:
    """The checked-out branch of the harness: CI checks out a pull request's commit detached, so there the CI's own
    variable names it (GitHub Actions' ``GITHUB_HEAD_REF``, else ``GITHUB_REF_NAME``); "unknown" when nothing does."""
    branch = _git("rev-parse", "--abbrev-ref", "HEAD")
    if branch in ("HEAD", "unknown"):
        return os.environ.get("GITHUB_HEAD_REF") or os.environ.get("GITHUB_REF_NAME") or "unknown"
    return branch


def _git(*args: str) -> str:
    """What ``git <args>`` prints in the harness's checkout ("unknown" outside a git checkout)."""
    try:
        out = subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def write_artifacts(artifacts: RunArtifacts, config: Mapping[str, Any], charts: Sequence[Chart],
                    results: Sequence[ChartResult], per_chart: Sequence[Mapping[str, Any]], metrics: Mapping[str, float],
                    redact: bool) -> None:
    """Format version, composed config, per-chart results and predictions, scores, metrics: what reports and the gate read."""
    from harness.trust.redaction import redact_result

    shown = [redact_result(r) if redact else r for r in results]
    artifacts.write_format_version()
    artifacts.write_config(config)
    artifacts.write_chart_results(shown)
    artifacts.write_predictions(charts, shown)
    artifacts.write_per_chart_scores(per_chart)
    artifacts.write_metrics(metrics)


def record(job: JobConfig, config: Mapping[str, Any], built: Built, ran: Ran, outcomes: Sequence[ChartOutcome],
           metrics: dict[str, float], curves: dict[str, Any], folder: RunFolder, identity: JobIdentity) -> dict[str, Any]:
    """Emit the billing output and audit trail, write the artifacts and report, log to MLflow, write ``run.json`` and
    print the summary; returns what ``run.json`` holds."""
    from harness.intake.degrade.effects import unchanged_notes
    from harness.metrics.coding import per_chart_scores
    from harness.pipeline.recorded_run import write_pipeline_record
    from harness.sources import dataset_digest
    from harness.trust.artifacts import write_trust_artifacts
    from harness.trust.audit import RunMeta
    from reports.run_report import write_run_report
    from reports.summary import render_summary

    dataset, extractor, charts, run = job.dataset, built.extractor, ran.charts, ran.run
    redact, artifacts = job.tracking.redact, folder.artifacts
    artifacts.path.mkdir(parents=True, exist_ok=True)
    run_meta = RunMeta(extractor=extractor.name, extractor_version=extractor.version, model_id=extractor.model_id,
                       model_revision=extractor.model_revision, prompt_version=extractor.prompt_version,
                       pack_version=ran.design.coder_id, code_set_year=job.edits.year, degradation=job.degradation.name,
                       seed=job.seed)
    billing, audit_head = write_trust_artifacts(artifacts.path, charts, run.results, {e.chart_id: e for e in run.extractions},
                                                run_meta, curves, redact)
    metrics.update(billing)
    write_artifacts(artifacts, config, charts, run.results, per_chart_scores(outcomes), metrics, redact)
    write_pipeline_record(artifacts.path, run, extractor, redact)  # what ``harness merge`` rebuilds a sharded run from
    artifacts.write_skipped_lines(ran.skipped)
    write_run_report(artifacts.path, charts, redact)
    if ran.calibrator is not None:
        ran.calibrator.save(artifacts.file(CALIBRATOR_FILE))
    context = {
        "dataset": f"{dataset.name}/{dataset.split}",
        "dataset_digest": dataset_digest(charts),
        "extractor": f"{extractor.name}@{extractor.version}",
        "rules": ran.design.coder_id,
        "charts": str(len(charts)),
        "run_folder": str(folder.path),
        "report": str(folder.report),
        "audit": str(folder.audit),
        "audit_head": audit_head,
    }
    if built.tracker is not None:
        context["mlflow_run"] = _track(job, config, built, ran, metrics, artifacts, identity, context)
        context["tracking_uri"] = built.tracker.uri
    summary = {**context, "labelled": ran.labelled,
               "metrics": {name: metrics[name] for name in KEY_METRICS if name in metrics}}
    folder.write_summary(summary)
    notes = [*run_notes(ran), *unchanged_notes(config.get("degradation", {}), metrics)]
    print(render_summary(metrics, context, notes, mode=job.summary), flush=True)
    return summary


def _track(job: JobConfig, config: Mapping[str, Any], built: Built, ran: Ran, metrics: Mapping[str, float],
           artifacts: RunArtifacts, identity: JobIdentity, context: Mapping[str, str]) -> str:
    """Log the run to MLflow (tags, params, metrics, system history, artifacts, its description); returns its run id."""
    from harness.run import engine_params
    from harness.tracking.mlflow_store import flatten
    from harness.tracking.run_names import changes_the_design, distinguishing
    from harness.tracking.sweep_jobs import job_key, job_states
    from reports.run_description import NOTE_TAG, describe

    dataset, extractor, pack, tracker = job.dataset, built.extractor, built.pack, built.tracker
    jobs = [state.overrides for state in job_states(identity.parent_run_id, tracker.uri)] if identity.parent_run_id else []
    # Named against the sweep's plan; a sweep without one (another sweeper) names its jobs as lone jobs, whatever ran first.
    siblings = jobs if job_key(identity.overrides) in jobs else []
    changed = distinguishing(identity.overrides, siblings)
    common = [o for o in identity.overrides if changes_the_design(o) and o not in changed]
    run_id = tracker.start_run(
        run_name=identity.run_name(job, siblings),
        tags={
            "git_commit": git_commit(),
            "git_branch": git_branch(),
            "dataset": dataset.name,
            "dataset.split": dataset.split,
            "dataset.digest": context["dataset_digest"],
            "dataset.num_shards": str(dataset.num_shards),
            "dataset.shard": str(dataset.shard),
            "rules.pack": pack.name,
            "rules.version": str(pack.version),
            "extractor": extractor.name,
            "extractor.version": extractor.version,
            "degradation": job.degradation.name,
            "calibration": ran.design.calibrator_id or "none",
            "audit.head": context["audit_head"],
            "harness.kind": "job",
            "harness.overrides": " ".join(identity.overrides),
            NOTE_TAG: describe(metrics, changed, common, in_sweep=len(siblings) > 1, report=context["report"]),
            **identity.tags,
        },
        parent_run_id=identity.parent_run_id,
        start_time=identity.started,
    )
    try:
        tracker.log(run_id, params=flatten(config) | engine_params(extractor), metrics=metrics, history=ran.history)
        tracker.log_artifacts(run_id, artifacts.path)
    except BaseException:
        tracker.finish(run_id, "FAILED")
        raise
    tracker.finish(run_id)
    return run_id


def run_notes(ran: Ran) -> list[str]:
    """What the summary must say about how far the run's figures go."""
    notes = [] if ran.labelled else ["no gold codes: accuracy not measured"]
    if ran.skipped:
        notes.append(f"{len(ran.skipped)} input lines skipped, listed in {SKIPPED_LINES_FILE}")
    return notes
