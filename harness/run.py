"""One job: build the pipeline design from the config, run it over the charts, score it, record it.

``run_job`` is four steps, each a function: ``build_design`` (every component, before any data is
read, so a bad config fails in a second), ``run_design`` (charts in, one result per chart out),
``score`` (metrics with bootstrap intervals) and ``record`` (artifacts, report, MLflow, summary).
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from harness.config import DatasetConfig, cache_root
from harness.contracts import Chart, ChartResult, CodeAssignment, EditResult
from harness.errors import ConfigError
from harness.job_config import JobConfig, problems

if TYPE_CHECKING:
    from coders.edits import EditConfig
    from coders.rule_pack import RulePack
    from extractors.base import Extractor
    from harness.metrics.coding import ChartOutcome
    from harness.pipeline.chart_steps import PipelineDesign, PipelineRun
    from harness.pipeline.preparation import ChartPreparer
    from harness.sources import SkippedLine
    from harness.tracking.mlflow_store import Tracker
    from harness.trust.calibration import Calibrator
    from harness.trust.calibration_split import CalibrationRunConfig

log = logging.getLogger("harness")
PROJECT_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Built:
    """The components of one job, built and checked before any chart is read."""

    design: PipelineDesign
    extractor: Extractor
    pack: RulePack
    preparer: ChartPreparer
    tracker: Tracker | None
    """The MLflow store, already reached (None when tracking is off)."""


@dataclass
class Ran:
    """The charts a job read and what the pipeline made of them."""

    charts: list[Chart]
    labelled: bool
    """Whether the charts carry gold codes (else accuracy is not measured)."""
    skipped: list[SkippedLine]
    """Input lines the dataset's ``on_bad_line=skip`` policy left out (and charts in unknown splits), with why."""
    run: PipelineRun
    design: PipelineDesign
    """The design as run (with its calibrator, when the job calibrates)."""
    calibrator: Calibrator | None
    history: list[dict[str, float]]
    """System-metric samples taken while the pipeline ran."""
    system: dict[str, float]
    """Their summary (``system/*`` metrics)."""


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def write_artifacts(folder: Path, config: Mapping[str, Any], charts: Sequence[Chart], results: Sequence[ChartResult],
                    per_chart: Sequence[Mapping[str, Any]], metrics: Mapping[str, float], redact: bool) -> None:
    """Composed config, predictions, per-chart results and scores, metrics: everything a report or gate reads."""
    import yaml

    from harness.atomic_files import atomic_write, write_text_atomic
    from harness.trust.redaction import redact_result

    # Each file whole or not at all: a full disk must not leave a cut-off file that a report or the gate reads.
    write_text_atomic(folder / "config.yaml", yaml.safe_dump(dict(config), sort_keys=False))
    shown = [redact_result(r) if redact else r for r in results]
    with atomic_write(folder / "chart_results.jsonl") as out:
        for result in shown:
            out.write(result.model_dump_json() + "\n")
    with atomic_write(folder / "predictions.jsonl") as out:
        for chart, result in zip(charts, shown):
            row = {
                "chart_id": chart.id,
                "route": result.route,
                "reasons": result.reasons,
                "codes": [c.model_dump(mode="json", include={"code", "system", "confidence", "evidence"}) for c in result.codes],
                "gold": sorted(g.code for g in chart.gold),
            }
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    with atomic_write(folder / "per_chart_scores.jsonl") as out:
        for row in per_chart:
            out.write(json.dumps(row) + "\n")
    write_text_atomic(folder / "metrics.json", json.dumps(dict(metrics), indent=2, sort_keys=True))


def chart_edits(config: EditConfig) -> Callable[[Chart, list[CodeAssignment]], list[EditResult]]:
    """The pipeline's edit step: the configured edits on a chart's ICD-10-CM codes, with the demographics its text states."""
    from coders.demographics import demographics
    from coders.edits import run_edits

    def edit(chart: Chart, codes: list[CodeAssignment]) -> list[EditResult]:
        found = demographics(chart)
        diagnoses = [c.code for c in codes if c.system == "icd10cm"]
        return run_edits(diagnoses, config.year, {"age": found.age, "sex": found.sex}, config)

    return edit


def calibrator_for(calibration: CalibrationRunConfig, design: PipelineDesign, dataset: DatasetConfig, degradation: str,
                   train_split: str | None, train_charts: Sequence[Chart], evaluated: Sequence[Chart], seed: int) -> Calibrator:
    """Load the configured calibrator, or fit one on the calibration split (see ``harness.trust.calibration_split``).

    The calibration charts must carry gold codes and be disjoint from the ``evaluated`` ones."""
    from harness.leakage import check_disjoint
    from harness.pipeline.extraction_cache import extractor_fingerprint
    from harness.pipeline.streaming import run_pipeline
    from harness.sources import load_charts
    from harness.trust.calibration_split import fit_or_reuse, holdout, load_checked

    created_by = {"extractor": f"{design.extractor.name}@{design.extractor.version}", "rules": design.coder_id,
                  "dataset": dataset.name, "degradation": degradation}
    if calibration.artifact:
        return load_checked(calibration.artifact, created_by)
    if calibration.split == dataset.split:
        raise ConfigError(f"calibration.split {calibration.split!r} is the split being evaluated: calibrate on another")
    held_out = train_split == calibration.split  # then hold charts out of the extractor's training: pairs out of sample
    if held_out:
        kept, charts = holdout(train_charts, calibration.holdout_fraction, seed)
        design.extractor.fit(kept)
    else:
        charts = load_charts(dataset.model_copy(update={"split": calibration.split, "limit": None}), purpose="learn")
        check_disjoint(charts, evaluated, "calibrator")
    if not any(chart.gold for chart in charts):
        raise ConfigError(f"calibration needs labelled charts and split {calibration.split!r} of dataset {dataset.name!r} has "
                          "none: set calibration.split to a labelled split, or use calibration=none")
    created_by["extractor_fingerprint"] = extractor_fingerprint(design.extractor)[:16]

    def run_codes(batch: Sequence[Chart]) -> list[list[CodeAssignment]]:
        return [result.codes for result in run_pipeline(batch, design, progress=False).results]

    log.info("calibration: fitting %s on %d charts of %s/%s", calibration.method, min(len(charts), calibration.max_charts),
             dataset.name, calibration.split)
    calibrator = fit_or_reuse(calibration, charts[: calibration.max_charts], run_codes, dataset.code_systems, created_by,
                              cache_root() / "calibrators")
    if held_out:
        design.extractor.fit(train_charts)  # the evaluated extractor learns from the whole split
    return calibrator


def build_design(job: JobConfig) -> Built:
    """Every component of the pipeline, built before reading data, so a bad config fails in a second."""
    from coders.engine import RuleEngine
    from coders.routing import route
    from coders.rule_pack import load_pack
    from harness.intake.ocr import check_tesseract
    from harness.pipeline.chart_steps import PipelineDesign
    from harness.pipeline.extraction_cache import ExtractionCache
    from harness.pipeline.preparation import ChartPreparer
    from harness.registry import EXTRACTORS
    from harness.tracking.mlflow_store import Tracker

    try:
        extractor = EXTRACTORS.resolve(job.extractor.name)(job.extractor.settings())
    except ValidationError as error:
        raise ConfigError(f"invalid config: {problems(error, 'extractor.')}") from None
    if job.calibration.method != "none" and extractor.calibrated:
        raise ConfigError(f"extractor {extractor.name!r} reports calibrated probabilities already: use calibration=none")
    pack = load_pack(job.rules.pack)
    engine = RuleEngine(pack)
    if job.degradation.render is not None:
        check_tesseract(job.intake)  # fail now, not as a review reason on every chart
    routing = job.routing
    preparer = ChartPreparer(job.degradation, job.intake, seed=job.seed)
    design = PipelineDesign(
        extractor=extractor,
        code=engine.code,
        coder_id=f"{pack.name}@{pack.version}",
        route=lambda extraction, codes, edits: route(extraction, codes, routing, edits),
        router_id=routing.name,
        prepare=preparer,
        cache=ExtractionCache(cache_root() / "extractions") if job.extraction_cache else None,
        edit=chart_edits(job.edits) if job.edits.edits else None,
    )
    tracker = Tracker(job.tracking) if job.tracking.enabled else None
    if tracker is not None:
        tracker.check()  # last (it loads MLflow), but before any chart: a bad store must not cost a whole run
    return Built(design=design, extractor=extractor, pack=pack, preparer=preparer, tracker=tracker)


def learning_charts(job: JobConfig, extractor: Extractor, evaluated: Sequence[Chart]) -> list[Chart]:
    """The charts the extractor learns from: its ``train_split``, disjoint from ``evaluated`` (else ``LeakageError``).

    Charts without ``meta.split`` are never among them. With no labelled chart there, an extractor that can run
    untrained gets none (it says so itself); one that cannot stops the run with the fix named.
    """
    from harness.leakage import check_disjoint
    from harness.sources import load_charts

    split = job.extractor.train_split
    if not split or not extractor.learns_from_charts:
        return []
    charts = load_charts(job.dataset.model_copy(update={"split": split, "limit": None}), purpose="learn")
    check_disjoint(charts, evaluated, f"extractor {extractor.name!r}")
    if any(chart.gold for chart in charts):
        return charts
    if not extractor.runs_untrained:
        raise ConfigError(f"extractor {extractor.name!r} needs labelled training charts and split {split!r} of dataset "
                          f"{job.dataset.name!r} has none: add charts with meta.split={split!r} and gold codes, or use a "
                          f"{{split}} path with a {split} file")
    return []


def run_design(job: JobConfig, built: Built) -> Ran:
    """Read the charts, fit the extractor (and calibrator), and run the pipeline: one result per chart."""
    from harness.pipeline.streaming import run_pipeline
    from harness.sources import load_split
    from harness.tracking.system_metrics import SystemSampler
    from harness.trust.calibration_split import calibrating

    dataset, design = job.dataset, built.design
    loaded = load_split(dataset)
    charts = loaded.charts
    labelled = dataset.is_labelled(charts)
    log.info("dataset %s/%s: %d charts%s%s", dataset.name, dataset.split, len(charts),
             f", {len(loaded.skipped)} lines skipped (listed in skipped_lines.jsonl)" if loaded.skipped else "",
             "" if labelled else ", no gold codes: accuracy not measured")
    train_charts = learning_charts(job, built.extractor, charts)
    if job.extractor.train_split and built.extractor.learns_from_charts:
        built.extractor.fit(train_charts)
    calibrator = None
    if job.calibration.method != "none":
        calibrator = calibrator_for(job.calibration, design, dataset, job.degradation.name, job.extractor.train_split,
                                    train_charts, charts, job.seed)
        design = replace(design, calibrate=calibrating(calibrator),
                         calibrator_id=f"{job.calibration.method}:{calibrator.data_digest[:12]}")

    tracking = job.tracking
    sampler = SystemSampler(tracking.system_metrics_interval_s) if tracking.enabled and tracking.system_metrics else nullcontext()
    try:
        with sampler:
            run = run_pipeline(charts, design, job.pipeline)
    finally:
        built.preparer.close()
    if len(run.results) != len(charts):
        raise RuntimeError(f"{len(charts)} charts in, {len(run.results)} results out")
    sampled = isinstance(sampler, SystemSampler) and sampler.samples
    return Ran(charts=charts, labelled=labelled, skipped=loaded.skipped, run=run, design=design, calibrator=calibrator,
               history=sampler.samples if sampled else [],
               system=sampler.summary() if sampled else {})


def outcomes_of(job: JobConfig, ran: Ran) -> list[ChartOutcome]:
    """Each chart's gold codes beside its scored predictions, route and latency."""
    from harness.metrics.coding import ChartOutcome

    scored = set(job.dataset.code_systems)
    return [
        ChartOutcome(
            chart_id=chart.id,
            gold=frozenset(g.code for g in chart.gold),
            ranked=tuple((c.code, c.confidence) for c in result.codes if c.system in scored),
            routed_to_review=result.route == "review",
            latency_s=sum(result.stage_seconds.values()),
        )
        for chart, result in zip(ran.charts, ran.run.results)
    ]


def score(job: JobConfig, ran: Ran, outcomes: Sequence[ChartOutcome]) -> tuple[dict[str, float], dict[str, Any]]:
    """Every metric of the run (intervals by chart-level bootstrap) and the documents written beside them (the trust
    layer's curves, the operations model's ``operations.json``); without gold codes, only what needs none."""
    from harness.metrics import registry
    from harness.metrics.capacity import capacity
    from harness.metrics.coding import evaluate
    from harness.metrics.extraction import extraction_metrics
    from harness.metrics.robustness import robustness_metrics
    from harness.metrics.trust import trust_metrics
    from harness.operations import DOCUMENT as OPERATIONS_DOCUMENT
    from harness.operations import live_facts, operations
    from harness.pipeline.chart_steps import stage_totals

    evaluation, charts, run = job.evaluation, ran.charts, ran.run
    bootstrap = {"n_resamples": evaluation.n_resamples, "confidence": evaluation.confidence, "seed": job.seed}
    metrics = evaluate(outcomes, run.wall_s, **bootstrap)
    metrics.update(robustness_metrics(charts, outcomes, run.intake, **bootstrap))
    metrics.update(capacity(metrics["charts_per_s"], evaluation.capacity_target_charts_per_day,
                            evaluation.capacity_hours_per_day))
    metrics.update({f"stage_{stage}_s": seconds for stage, seconds in stage_totals(run.results).items()})
    metrics["wall_s"] = run.wall_s
    if evaluation.machine_usd_per_hour is not None and charts:
        metrics["cost_per_1k_charts_usd"] = run.wall_s / len(charts) * 1000 / 3600 * evaluation.machine_usd_per_hour
    metrics["extraction_cache_hits"] = run.cache_hits
    metrics["extract_busy_share"] = run.extract_busy_s / run.wall_s if run.wall_s > 0 else float("nan")
    metrics.update(extraction_metrics(run.extractions))
    metrics.update(ran.system)
    trust, curves = trust_metrics(charts, run.results, job.dataset.code_systems)
    metrics.update(trust)
    metrics["charts_skipped"] = len(ran.skipped)
    if ran.labelled:  # the workload model needs to know which charts carry a wrong or missing code
        ops = operations(live_facts(run.results, outcomes, ran.labelled), job.operations, **bootstrap)
        metrics.update(ops.metrics)
        curves[OPERATIONS_DOCUMENT] = ops.document  # written beside the curves: operations.json
    if not ran.labelled:  # not zero: a figure measured against no gold would read as a result
        metrics = registry.without_gold(metrics)
        curves = {}
    return metrics, curves


@dataclass(frozen=True)
class JobIdentity:
    """What names a job's MLflow run and places it in time."""

    overrides: tuple[str, ...] = ()
    """The command-line overrides (``degradation=fax_light``): what differs from the defaults, shown in the run name."""
    parent_run_id: str | None = None
    """The sweep's parent run, for a job of a sweep."""
    started: float | None = None
    """When the job began (``time.time()``); MLflow shows it as the run's start (None: when the run is recorded)."""
    name: str | None = None
    """The run's name when not made from the job and its overrides (a merged run's)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags beside the job's own (a merged run's ``harness.merged_from``, ...)."""

    def run_name(self, job: JobConfig) -> str:
        if self.name:
            return self.name[:_RUN_NAME_CHARS]
        base = f"{job.dataset.name}-{job.extractor.name}-{job.rules.name}"
        return f"{base} {' '.join(self.overrides)}"[:_RUN_NAME_CHARS] if self.overrides else base


_RUN_NAME_CHARS = 250
"""MLflow keeps run names this long at most."""


def record(job: JobConfig, config: Mapping[str, Any], built: Built, ran: Ran, outcomes: Sequence[ChartOutcome],
           metrics: dict[str, float], curves: dict[str, Any], output_dir: Path, identity: JobIdentity) -> None:
    """Emit the billing output and audit trail, write the artifacts and report, log to MLflow, write ``run.json`` beside
    the artifacts and print the summary."""
    from harness.metrics.coding import per_chart_scores
    from harness.pipeline.recorded_run import write_pipeline_record
    from harness.sources import dataset_digest
    from harness.tracking.mlflow_store import flatten
    from harness.trust.artifacts import write_trust_artifacts
    from harness.trust.audit import RunMeta
    from reports.run_report import write_run_report
    from reports.summary import render_summary

    dataset, extractor, pack, charts, run = job.dataset, built.extractor, built.pack, ran.charts, ran.run
    redact = job.tracking.redact
    output_dir.mkdir(parents=True, exist_ok=True)
    run_meta = RunMeta(extractor=extractor.name, extractor_version=extractor.version, model_id=extractor.model_id,
                       model_revision=extractor.model_revision, prompt_version=extractor.prompt_version,
                       pack_version=ran.design.coder_id, code_set_year=job.edits.year, degradation=job.degradation.name,
                       seed=job.seed)
    billing, audit_head = write_trust_artifacts(output_dir, charts, run.results, {e.chart_id: e for e in run.extractions},
                                                run_meta, curves, redact)
    metrics.update(billing)
    write_artifacts(output_dir, config, charts, run.results, per_chart_scores(outcomes), metrics, redact)
    write_pipeline_record(output_dir, run, extractor, redact)  # what ``harness merge`` rebuilds a sharded run from
    write_skipped_lines(output_dir / "skipped_lines.jsonl", ran.skipped)
    write_run_report(output_dir, charts, redact)
    if ran.calibrator is not None:
        ran.calibrator.save(output_dir / "calibrator.json")
    context = {
        "dataset": f"{dataset.name}/{dataset.split}",
        "dataset_digest": dataset_digest(charts),
        "extractor": f"{extractor.name}@{extractor.version}",
        "rules": ran.design.coder_id,
        "charts": str(len(charts)),
    }
    context["run_folder"] = str(output_dir.parent)
    context["report"] = str(output_dir / "report.html")
    context["audit"] = str(output_dir / "audit.jsonl")
    context["audit_head"] = audit_head
    tracker = built.tracker
    if tracker is not None:
        run_id = tracker.start_run(
            run_name=identity.run_name(job),
            tags={
                "git_commit": git_commit(),
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
                "audit.head": audit_head,
                "harness.kind": "job",
                "harness.overrides": " ".join(identity.overrides),
                **identity.tags,
            },
            parent_run_id=identity.parent_run_id,
            start_time=identity.started,
        )
        try:
            tracker.log(run_id, params=flatten(config) | engine_params(extractor), metrics=metrics, history=ran.history)
            tracker.log_artifacts(run_id, output_dir)
        except BaseException:
            tracker.finish(run_id, "FAILED")
            raise
        tracker.finish(run_id)
        context["mlflow_run"] = run_id
        context["tracking_uri"] = tracker.uri
    write_run_json(output_dir.parent / "run.json", context, metrics, ran)
    if job.summary:
        print(render_summary(metrics, context, notes=run_notes(ran)))


def engine_params(extractor: Extractor) -> dict[str, str]:
    """What an extractor reports of its engine (device, engine version, resolved settings), as ``engine.*`` params."""
    report = getattr(extractor, "run_params", None)
    return {f"engine.{key}": str(value) for key, value in (report() if report else {}).items()}


def write_skipped_lines(path: Path, skipped: Sequence[SkippedLine]) -> None:
    """One JSON object per input line left out (where, problem); the problems name fields, never chart text."""
    from harness.atomic_files import write_text_atomic

    write_text_atomic(path, "".join(line.model_dump_json() + "\n" for line in skipped))


def run_notes(ran: Ran) -> list[str]:
    """What the summary must say about how far the run's figures go."""
    notes = [] if ran.labelled else ["no gold codes: accuracy not measured"]
    if ran.skipped:
        notes.append(f"{len(ran.skipped)} input lines skipped, listed in skipped_lines.jsonl")
    return notes


KEY_METRICS = ("n_charts", "charts_skipped", "micro_f1", "review_rate", "auto_precision", "charts_per_s")
"""The figures ``run.json`` carries beside the run's identity (those the run recorded)."""


def write_run_json(path: Path, context: Mapping[str, str], metrics: Mapping[str, float], ran: Ran) -> None:
    """The run's identity, outputs and key figures, for CI scripts that must not parse the summary."""
    from harness.atomic_files import write_text_atomic

    document = {**context, "labelled": ran.labelled, "metrics": {name: metrics[name] for name in KEY_METRICS if name in metrics}}
    write_text_atomic(path, json.dumps(document, indent=2) + "\n")


def run_job(config: Mapping[str, Any], output_dir: Path, parent_run_id: str | None = None,
            overrides: Sequence[str] = ()) -> dict[str, float]:
    """Run one fully composed, resolved config; returns the metrics. ``overrides`` (the command line's) name the run."""
    identity = JobIdentity(overrides=tuple(overrides), parent_run_id=parent_run_id, started=time.time())
    job = JobConfig.from_composed(config)
    built = build_design(job)
    try:
        ran = run_design(job, built)
    finally:
        built.extractor.close()
    outcomes = outcomes_of(job, ran)
    metrics, curves = score(job, ran, outcomes)
    record(job, config, built, ran, outcomes, metrics, curves, output_dir, identity)
    return metrics
