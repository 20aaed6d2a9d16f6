"""One job: build the pipeline design from the config, run it over the charts, score it, record it.

``run_job`` is four steps, each a function: ``build_design`` (every component, before any data is
read, so a bad config fails in a second), ``run_design`` (charts in, one result per chart out),
``score`` (metrics with bootstrap intervals) and ``record`` (artifacts, report, MLflow, summary).
"""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
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
    from harness.pipeline.batched import PipelineDesign, PipelineRun
    from harness.pipeline.preparation import ChartPreparer
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

    from harness.trust.redaction import redact_result

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(dict(config), sort_keys=False))
    shown = [redact_result(r) if redact else r for r in results]
    with open(folder / "chart_results.jsonl", "w") as out:
        for result in shown:
            out.write(result.model_dump_json() + "\n")
    with open(folder / "predictions.jsonl", "w") as out:
        for chart, result in zip(charts, shown):
            row = {
                "chart_id": chart.id,
                "route": result.route,
                "reasons": result.reasons,
                "codes": [c.model_dump(mode="json", include={"code", "system", "confidence", "evidence"}) for c in result.codes],
                "gold": sorted(g.code for g in chart.gold),
            }
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    with open(folder / "per_chart_scores.jsonl", "w") as out:
        for row in per_chart:
            out.write(json.dumps(row) + "\n")
    (folder / "metrics.json").write_text(json.dumps(dict(metrics), indent=2, sort_keys=True))


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
                   train_split: str | None, train_charts: Sequence[Chart], seed: int) -> Calibrator:
    """Load the configured calibrator, or fit one on the calibration split (see ``harness.trust.calibration_split``)."""
    from harness.pipeline.batched import run_pipeline
    from harness.pipeline.extraction_cache import extractor_fingerprint
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
        charts = load_charts(dataset.model_copy(update={"split": calibration.split, "limit": None}))
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
    from harness.pipeline.batched import PipelineDesign
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


def run_design(job: JobConfig, built: Built) -> Ran:
    """Read the charts, fit the extractor (and calibrator), and run the pipeline: one result per chart."""
    from harness.pipeline.batched import run_pipeline
    from harness.sources import load_charts
    from harness.tracking.system_metrics import SystemSampler
    from harness.trust.calibration_split import calibrating

    dataset, design = job.dataset, built.design
    charts = load_charts(dataset)
    if len({c.id for c in charts}) != len(charts):
        raise ConfigError(f"dataset {dataset.name!r} has repeated chart ids")
    log.info("dataset %s/%s: %d charts", dataset.name, dataset.split, len(charts))
    train_split = job.extractor.train_split
    train_charts = load_charts(dataset.model_copy(update={"split": train_split, "limit": None})) if train_split else []
    if train_split == dataset.split:
        log.warning("extractor learns from split %r, the split being evaluated: scores will be optimistic", train_split)
    if train_split:
        built.extractor.fit(train_charts)
    calibrator = None
    if job.calibration.method != "none":
        calibrator = calibrator_for(job.calibration, design, dataset, job.degradation.name, train_split, train_charts, job.seed)
        design = replace(design, calibrate=calibrating(calibrator),
                         calibrator_id=f"{job.calibration.method}:{calibrator.data_digest[:12]}")

    tracking = job.tracking
    sampler = SystemSampler(tracking.system_metrics_interval_s) if tracking.enabled and tracking.system_metrics else nullcontext()
    try:
        with sampler:
            run = run_pipeline(charts, design, batch_size=job.batch_size)
    finally:
        built.preparer.close()
    if len(run.results) != len(charts):
        raise RuntimeError(f"{len(charts)} charts in, {len(run.results)} results out")
    sampled = isinstance(sampler, SystemSampler) and sampler.samples
    return Ran(charts=charts, run=run, design=design, calibrator=calibrator, history=sampler.samples if sampled else [],
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
    """Every metric of the run (intervals by chart-level bootstrap) and the trust layer's curves."""
    from harness.metrics.coding import evaluate
    from harness.metrics.extraction import extraction_metrics
    from harness.metrics.robustness import robustness_metrics
    from harness.metrics.trust import trust_metrics
    from harness.pipeline.batched import stage_totals

    evaluation, charts, run = job.evaluation, ran.charts, ran.run
    bootstrap = {"n_resamples": evaluation.n_resamples, "confidence": evaluation.confidence, "seed": job.seed}
    metrics = evaluate(outcomes, run.wall_s, **bootstrap)
    metrics.update(robustness_metrics(charts, outcomes, run.intake, **bootstrap))
    metrics.update({f"stage_{stage}_s": seconds for stage, seconds in stage_totals(run.results).items()})
    metrics["wall_s"] = run.wall_s
    if evaluation.machine_usd_per_hour is not None and charts:
        metrics["cost_per_1k_charts_usd"] = run.wall_s / len(charts) * 1000 / 3600 * evaluation.machine_usd_per_hour
    metrics["extraction_cache_hits"] = run.cache_hits
    metrics.update(extraction_metrics(run.extractions))
    metrics.update(ran.system)
    trust, curves = trust_metrics(charts, run.results, job.dataset.code_systems)
    metrics.update(trust)
    return metrics, curves


def record(job: JobConfig, config: Mapping[str, Any], built: Built, ran: Ran, outcomes: Sequence[ChartOutcome],
           metrics: dict[str, float], curves: dict[str, Any], output_dir: Path, parent_run_id: str | None) -> None:
    """Emit the billing output and audit trail, write the artifacts and report, log to MLflow, print the summary."""
    from harness.metrics.coding import per_chart_scores
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
            run_name=f"{dataset.name}-{extractor.name}-{job.rules.name}",
            tags={
                "git_commit": git_commit(),
                "dataset": dataset.name,
                "dataset.split": dataset.split,
                "dataset.digest": context["dataset_digest"],
                "rules.pack": pack.name,
                "rules.version": str(pack.version),
                "extractor": extractor.name,
                "extractor.version": extractor.version,
                "degradation": job.degradation.name,
                "calibration": ran.design.calibrator_id or "none",
                "audit.head": audit_head,
                "harness.kind": "job",
            },
            parent_run_id=parent_run_id,
        )
        try:
            tracker.log(run_id, params=flatten(config), metrics=metrics, history=ran.history)
            tracker.log_artifacts(run_id, output_dir)
        except BaseException:
            tracker.finish(run_id, "FAILED")
            raise
        tracker.finish(run_id)
        context["mlflow_run"] = run_id
        context["tracking_uri"] = tracker.uri
    if job.summary:
        print(render_summary(metrics, context))


def run_job(config: Mapping[str, Any], output_dir: Path, parent_run_id: str | None = None) -> dict[str, float]:
    """Run one fully composed, resolved config; returns the metrics."""
    job = JobConfig.from_composed(config)
    built = build_design(job)
    try:
        ran = run_design(job, built)
    finally:
        built.extractor.close()
    outcomes = outcomes_of(job, ran)
    metrics, curves = score(job, ran, outcomes)
    record(job, config, built, ran, outcomes, metrics, curves, output_dir, parent_run_id)
    return metrics
