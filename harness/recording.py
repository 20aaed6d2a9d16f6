"""Recording a scored job: its run folder (``harness.run_record``), report, audit trail, MLflow run and summary.

``record`` is the last step of a job (``harness.api.execute``) and of a merged sharded run (``harness.merge``): both hand
it what the job built, ran and scored, so a merged run is recorded exactly as a job is.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError
from harness.job_config import JobConfig
from harness.job_identity import JobIdentity, git_branch, git_commit
from harness.run_record import CALIBRATOR_FILE, SKIPPED_LINES_FILE, RunArtifacts, RunFolder
from harness.stop_signals import Stopped
from harness.tracking.mlflow_store import store_problem

if TYPE_CHECKING:
    from harness.contracts import Chart, ChartResult
    from harness.metrics.coding import ChartOutcome
    from harness.run import Built, Ran
    from harness.tracking.mlflow_store import Tracker
    from harness.tracking.system_metrics import Sample

KEY_METRICS = ("n_charts", "charts_skipped", "micro_f1", "review_rate", "auto_precision", "charts_per_s")
"""The figures ``run.json`` carries beside the run's identity (those the run recorded)."""


def write_artifacts(artifacts: RunArtifacts, config: Mapping[str, Any], charts: Sequence[Chart],
                    results: Sequence[ChartResult], per_chart: Sequence[Mapping[str, Any]], redact: bool) -> None:
    """The job's results first, most needed first (predictions, per-chart results and scores), then the format version
    and composed config: what reports and the gate read beside ``metrics.json``, which :func:`record` writes once the
    trust layer's figures are in."""
    from harness.trust.redaction import redact_result

    shown = [redact_result(r) if redact else r for r in results]
    artifacts.path.mkdir(parents=True, exist_ok=True)
    artifacts.write_predictions(charts, shown)
    artifacts.write_chart_results(shown)
    artifacts.write_per_chart_scores(per_chart)
    artifacts.write_format_version()
    artifacts.write_config(config)


def record(job: JobConfig, config: Mapping[str, Any], built: Built, ran: Ran, outcomes: Sequence[ChartOutcome],
           metrics: dict[str, float], curves: dict[str, Any], folder: RunFolder, identity: JobIdentity,
           tracked: TrackedRun | None = None) -> dict[str, Any]:
    """Write the run folder (results first, then the audit trail and billing output, metrics, the rest, the report), write
    ``run.json``, finish the MLflow run ``tracked`` (created at the job's start; a merged run's is created here) and print
    the summary; returns what ``run.json`` holds.

    A file that cannot be written (a full disk) is an :class:`OutputsIncomplete` naming the outputs kept and missing, the
    MLflow run marked FAILED; a store that cannot take the run is a :class:`NotRecorded` once the folder is complete."""
    from harness.intake.degrade.effects import unchanged_notes
    from harness.sources import dataset_digest
    from reports.summary import render_summary

    if built.tracker is not None and tracked is None:
        tracked = start_run(job, config, built, identity)
    try:
        audit_head = _write_folder(job, config, built, ran, outcomes, metrics, curves, folder)
    except OSError as error:
        raise OutputsIncomplete.of(folder, error, tracked) from None
    context = {
        "dataset": f"{job.dataset.name}/{job.dataset.split}",
        "dataset_digest": dataset_digest(ran.charts),
        "extractor": f"{built.extractor.name}@{built.extractor.version}",
        "rules": ran.design.coder_id,
        "charts": str(len(ran.charts)),
        "run_folder": str(folder.path),
        "report": str(folder.report),
        "audit": str(folder.audit),
        "audit_head": audit_head,
    }
    summary: dict[str, Any] = {**context, "labelled": ran.labelled,
                               "metrics": {name: metrics[name] for name in KEY_METRICS if name in metrics}}
    if tracked is not None:
        summary |= {"mlflow_run": tracked.run_id, "tracking_uri": tracked.tracker.uri,
                    "mlflow": tracked.ending(job, built, ran, metrics, context), **_unrecorded(_ENDED_BEFORE_RECORDING)}
    _write_summary(folder, summary, tracked)  # first, so that a job killed while it uploads can be recorded later
    if tracked is not None:
        try:
            upload(tracked.tracker, folder, summary["mlflow"], ran.history)
        except Exception as error:  # noqa: BLE001 - MLflow and HTTP raise many kinds for a store that went away
            summary |= _unrecorded(store_problem(tracked.tracker.uri, error))
            _write_summary(folder, summary, tracked)
            raise NotRecorded(f"{summary['not_recorded_why']}; the run folder {folder.path} is complete: record it with "
                              f"harness record {folder.path}") from None
        summary |= {"recorded": True, "not_recorded_why": None}
        _write_summary(folder, summary, tracked)
    notes = [*run_notes(ran), *unchanged_notes(config.get("degradation", {}), metrics)]
    print(render_summary(metrics, {**context, **_tracking_context(summary)}, notes, mode=job.summary), flush=True)
    return summary


def _write_folder(job: JobConfig, config: Mapping[str, Any], built: Built, ran: Ran, outcomes: Sequence[ChartOutcome],
                  metrics: dict[str, float], curves: dict[str, Any], folder: RunFolder) -> str:
    """The run folder's files in order of importance, so that a disk that fills up keeps the results: per-chart results,
    the audit trail and billing output, ``metrics.json``, what ``harness merge`` rebuilds from, the report last (the
    largest). Returns the audit trail's head hash."""
    from harness.metrics.coding import per_chart_scores
    from harness.pipeline.recorded_run import write_pipeline_record
    from harness.trust.artifacts import write_trust_artifacts
    from harness.trust.audit import RunMeta
    from reports.run_report import write_run_report

    extractor, charts, run, redact, artifacts = built.extractor, ran.charts, ran.run, job.tracking.redact, folder.artifacts
    write_artifacts(artifacts, config, charts, run.results, per_chart_scores(outcomes), redact)
    run_meta = RunMeta(extractor=extractor.name, extractor_version=extractor.version, model_id=extractor.model_id,
                       model_revision=extractor.model_revision, prompt_version=extractor.prompt_version,
                       pack_version=ran.design.coder_id, code_set_year=job.edits.year, degradation=job.degradation.name,
                       seed=job.seed)
    billing, audit_head = write_trust_artifacts(artifacts.path, charts, run.results, {e.chart_id: e for e in run.extractions},
                                                run_meta, curves, redact)
    metrics.update(billing)
    artifacts.write_metrics(metrics)
    write_pipeline_record(artifacts.path, run, extractor, redact)  # what ``harness merge`` rebuilds a sharded run from
    artifacts.write_skipped_lines(ran.skipped, redact)
    if ran.calibrator is not None:
        ran.calibrator.save(artifacts.file(CALIBRATOR_FILE))
    write_run_report(artifacts.path, charts, redact)
    return audit_head


_ENDED_BEFORE_RECORDING = "the job ended before its MLflow run was recorded"


def _unrecorded(why: str) -> dict[str, Any]:
    """``run.json``'s fields for a run its store does not hold yet: ``harness record <run folder>`` records it."""
    return {"recorded": False, "not_recorded_why": why}


def _tracking_context(summary: Mapping[str, Any]) -> dict[str, str]:
    return {key: summary[key] for key in ("mlflow_run", "tracking_uri") if key in summary}


def _write_summary(folder: RunFolder, summary: Mapping[str, Any], tracked: TrackedRun | None) -> None:
    try:
        folder.write_summary(summary)
    except OSError as error:
        raise OutputsIncomplete.of(folder, error, tracked) from None


class OutputsIncomplete(HarnessError):
    """A run folder file that could not be written (a full disk): the message lists the outputs kept and those missing."""

    @classmethod
    def of(cls, folder: RunFolder, error: OSError, tracked: TrackedRun | None) -> OutputsIncomplete:
        """The error for ``error`` while writing ``folder``; the MLflow run ``tracked`` is marked FAILED with the list."""
        outputs = folder.outputs()
        kept = ", ".join(name for name, there in outputs.items() if there) or "none"
        missing = ", ".join(name for name, there in outputs.items() if not there) or "none"
        problem = cls(f"the run folder {folder.path} could not be written: {error.strerror or error}"
                      f"{f' ({error.filename})' if error.filename else ''}; outputs kept: {kept}; missing: {missing}")
        if tracked is not None:
            tracked.abandon(problem, {"harness.outputs_kept": kept, "harness.outputs_missing": missing})
        return problem


class NotRecorded(HarnessError):
    """The run folder is complete but the MLflow store could not take the run: ``harness record <run folder>`` later."""


_RUN_OF_ERROR = "harness_run_id"
"""The attribute by which an error says which MLflow run it was recorded in (see :func:`recorded_in`)."""


def recorded_in(error: BaseException) -> str | None:
    """The MLflow run a job's error was recorded in (marked FAILED or KILLED), else None."""
    return getattr(error, _RUN_OF_ERROR, None)


@dataclass
class TrackedRun:
    """A job's MLflow run, created RUNNING when the job starts (:func:`start_run`): finished by :func:`record`, or marked
    FAILED or KILLED by :meth:`abandon` with how many charts the pipeline had finished."""

    tracker: Tracker
    run_id: str
    run_name: str
    tags: dict[str, str]
    """The tags set at the start."""
    parent_run_id: str | None
    started: float | None
    siblings: list[str]
    """The overrides of the other jobs of its sweep (what the run's description sets the job apart from)."""
    overrides: tuple[str, ...] = ()
    charts_finished: int = 0
    """Charts through the whole pipeline so far (counted by the pipeline's coding step)."""

    def chart_finished(self, n: int = 1) -> None:
        """Count ``n`` more charts finished."""
        self.charts_finished += n

    def ending(self, job: JobConfig, built: Built, ran: Ran, metrics: Mapping[str, float],
               context: Mapping[str, str]) -> dict[str, Any]:
        """What the run's end records beside the run folder's files (``run.json``'s ``mlflow``): the tags that need the
        results (dataset digest, calibrator, audit head, description), engine params, when it ended, and what creates
        the run again where the store lost it."""
        from harness.run import engine_params
        from harness.tracking.gate_statistics import scope_tags
        from harness.tracking.run_names import changes_the_design, distinguishing
        from reports.run_description import NOTE_TAG, describe

        changed = distinguishing(self.overrides, self.siblings)
        common = [o for o in self.overrides if changes_the_design(o) and o not in changed]
        end_tags = {
            **scope_tags(job.dataset.name, job.dataset.split, context["dataset_digest"]),
            "calibration": ran.design.calibrator_id or "none",
            "audit.head": context["audit_head"],
            NOTE_TAG: describe(metrics, changed, common, in_sweep=len(self.siblings) > 1, report=context["report"]),
        }
        return {"run_id": self.run_id, "run_name": self.run_name, "experiment": self.tracker.config.experiment,
                "parent_run_id": self.parent_run_id, "started": self.started, "ended": time.time(),
                "tags": {**self.tags, **end_tags}, "engine_params": engine_params(built.extractor)}

    def abandon(self, error: BaseException, tags: Mapping[str, str] | None = None) -> None:
        """Mark the run KILLED (a stop signal) or FAILED, tagged with the error's type, the charts finished and ``tags``;
        a store that cannot take it leaves the run RUNNING (the job's own error is what the user must see)."""
        status = "KILLED" if isinstance(error, Stopped | KeyboardInterrupt) else "FAILED"
        try:
            self.tracker.log(self.run_id, tags={"harness.error": type(error).__name__,
                                                "harness.charts_finished": str(self.charts_finished), **(tags or {})})
            self.tracker.finish(self.run_id, status)
        except Exception:  # noqa: BLE001 - see above
            return
        setattr(error, _RUN_OF_ERROR, self.run_id)
        if isinstance(error, Stopped):
            error.outcome = f"MLflow run {self.run_id} marked {status} after {self.charts_finished} charts finished"


def start_run(job: JobConfig, config: Mapping[str, Any], built: Built, identity: JobIdentity) -> TrackedRun | None:
    """Create the job's MLflow run, RUNNING, with its params and the tags known before any chart is read (None when
    tracking is off); a store that cannot take it is a ``TrackingError`` naming the store."""
    from harness.tracking.gate_statistics import scope_tags
    from harness.tracking.mlflow_store import TrackingError, flatten
    from harness.tracking.sweep_jobs import job_key, job_states

    tracker = built.tracker
    if tracker is None:
        return None
    dataset, extractor, pack = job.dataset, built.extractor, built.pack
    try:
        jobs = [state.overrides for state in job_states(identity.parent_run_id, tracker.uri)] if identity.parent_run_id else []
        # Named against the sweep's plan; a sweep without one (another sweeper) names its jobs as lone jobs.
        siblings = jobs if job_key(identity.overrides) in jobs else []
        tags = {
            "git_commit": git_commit(),
            "git_branch": git_branch(),
            **{name: value for name, value in scope_tags(dataset.name, dataset.split, "").items() if value},  # digest: at the end
            "dataset.num_shards": str(dataset.num_shards),
            "dataset.shard": str(dataset.shard),
            "rules.pack": pack.name,
            "rules.version": str(pack.version),
            "extractor": extractor.name,
            "extractor.version": extractor.version,
            "degradation": job.degradation.name,
            "harness.kind": "job",
            "harness.overrides": " ".join(identity.overrides),
            **identity.tags,
        }
        name = identity.run_name(job, siblings)
        run_id = tracker.start_run(run_name=name, tags=tags, parent_run_id=identity.parent_run_id,
                                   start_time=identity.started)
        tracker.log(run_id, params=flatten(config))
    except TrackingError:
        raise
    except Exception as error:  # noqa: BLE001 - MLflow and HTTP raise many kinds for a store that went away
        raise TrackingError(store_problem(tracker.uri, error)) from None
    return TrackedRun(tracker, run_id, name, tags, identity.parent_run_id, identity.started, siblings, identity.overrides)


def upload(tracker: Tracker, folder: RunFolder, ending: Mapping[str, Any], history: Sequence[Sample] = ()) -> str:
    """Record the run folder's run in MLflow and finish it: the run created at the job's start (``ending["run_id"]``)
    where the store holds it, else a new one with its params; tags, engine params, ``metrics.json``, the system-metric
    ``history`` and the artifacts. Returns the run's id."""
    from harness.tracking.mlflow_store import flatten

    artifacts = folder.artifacts
    run_id, params = ending.get("run_id"), dict(ending.get("engine_params") or {})
    if not run_id or tracker.run_status(run_id) is None:
        run_id = tracker.start_run(run_name=ending["run_name"], tags={}, parent_run_id=ending.get("parent_run_id"),
                                   start_time=ending.get("started"))
        params |= flatten(artifacts.config())
    tracker.log(run_id, params=params, metrics=artifacts.metrics(), tags=ending["tags"], history=history)
    tracker.log_artifacts(run_id, artifacts.path)
    tracker.finish(run_id, end_time=ending.get("ended"))
    return run_id


def run_notes(ran: Ran) -> list[str]:
    """What the summary must say about how far the run's figures go."""
    notes = [] if ran.labelled else ["no gold codes: accuracy not measured"]
    if ran.skipped:
        notes.append(f"{len(ran.skipped)} input lines skipped, listed in {SKIPPED_LINES_FILE}")
    return notes


class FolderNotRecordable(HarnessError):
    """A folder ``harness record`` cannot record: no job's run folder, or one of a job run without tracking."""


@dataclass(frozen=True)
class Recorded:
    """What ``harness record`` did: the MLflow run the folder is recorded as, and whether this call recorded it."""

    run_id: str
    uri: str
    changed: bool


def record_folder(path: str | Path, uri: str | None = None) -> Recorded:
    """Record a run folder whose store could not take its run (``run.json`` says ``recorded: false``) in the store ``uri``
    (default the one it ran with), as the run created at the job's start where the store holds it, else as a new run;
    ``run.json`` then says ``recorded: true``. A folder recorded already is left as it is (``changed`` False)."""
    from harness.config import TrackingConfig
    from harness.tracking.mlflow_store import Tracker, TrackingError, resolve_uri

    folder = RunFolder(Path(path).resolve())
    try:
        summary = folder.summary()
    except FileNotFoundError as error:
        raise FolderNotRecordable(str(error)) from None
    ending = summary.get("mlflow")
    if not isinstance(ending, dict) or "tags" not in ending:
        raise FolderNotRecordable(f"{folder.path} is the run folder of a job run with tracking.enabled=false, or of a harness "
                                  "older than harness record: there is no MLflow run to record")
    target = resolve_uri(uri) if uri else summary.get("tracking_uri", "")
    if summary.get("recorded") and target == summary.get("tracking_uri"):
        return Recorded(summary["mlflow_run"], target, changed=False)
    tracker = Tracker(TrackingConfig(uri=target, experiment=ending.get("experiment") or TrackingConfig().experiment))
    tracker.check()
    try:
        if target == summary.get("tracking_uri") and tracker.run_status(ending["run_id"]) == "FINISHED":
            run_id, changed = ending["run_id"], False  # recorded before its run.json said so (stopped in between)
        else:
            run_id, changed = upload(tracker, folder, ending), True
    except TrackingError:
        raise
    except Exception as error:  # noqa: BLE001 - MLflow and HTTP raise many kinds for a store that cannot take the run
        raise TrackingError(store_problem(target, error)) from None
    _write_summary(folder, {**summary, "mlflow_run": run_id, "tracking_uri": target, "recorded": True,
                            "not_recorded_why": None, "mlflow": {**ending, "run_id": run_id}}, None)
    return Recorded(run_id, target, changed)
