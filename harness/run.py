"""One job: build the pipeline design from the config, run it over the charts, score it.

A job is four steps, each a function: ``build_design`` (every component, before any data is read, so a bad config
fails in a second), ``run_design`` (charts in, one result per chart out), ``score`` (metrics with bootstrap intervals)
and ``harness.recording.record`` (run folder, report, MLflow, summary). ``harness.api.execute`` chains them, for the
Python API and for ``run_job``, the command line's Hydra job, with the MLflow run created RUNNING between the first two
(``harness.recording.start_run``) and marked FAILED or KILLED when a step fails or a stop signal ends the job.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from harness.config import DatasetConfig, cache_root
from harness.contracts import Chart, CodeAssignment, EditResult
from harness.errors import ConfigError
from harness.job_config import JobConfig, problems
from harness.run_record import SKIPPED_LINES_FILE

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
    from harness.installed_engines import refuse_cpu_torch
    from harness.intake.ocr import check_tesseract
    from harness.metrics.registry import load_plugins
    from harness.pipeline.chart_steps import PipelineDesign
    from harness.pipeline.extraction_cache import ExtractionCache
    from harness.pipeline.preparation import ChartPreparer
    from harness.registry import EXTRACTORS
    from harness.tracking.mlflow_store import Tracker

    load_plugins()  # a broken metric plugin stops the job now, not after every chart has run
    try:
        extractor = EXTRACTORS.resolve(job.extractor.name)(job.extractor.settings())
    except ValidationError as error:
        raise ConfigError(f"invalid config: {problems(error, 'extractor.')}") from None
    refuse_cpu_torch(extractor)  # the official vllm beside a CPU torch: say so now, not when the engine fails to start
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
        review=engine.review_reasons,
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
    from extractors.base import LearnsFromCharts
    from harness.leakage import check_disjoint
    from harness.sources import load_charts

    split = job.extractor.train_split
    if not split or not isinstance(extractor, LearnsFromCharts):
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


def run_design(job: JobConfig, built: Built, on_coded: Callable[[int], None] | None = None) -> Ran:
    """Read the charts, fit the extractor (and calibrator), and run the pipeline: one result per chart; ``on_coded(n)``
    as ``n`` more charts finish it."""
    from extractors.base import LearnsFromCharts
    from harness.pipeline.streaming import run_pipeline
    from harness.sources import load_split
    from harness.tracking.system_metrics import SystemSampler
    from harness.trust.calibration_split import calibrating

    dataset, design = job.dataset, built.design
    loaded = load_split(dataset)
    charts = loaded.charts
    labelled = dataset.is_labelled(charts)
    log.info("dataset %s/%s: %d charts%s%s", dataset.name, dataset.split, len(charts),
             f", {len(loaded.skipped)} lines skipped (listed in {SKIPPED_LINES_FILE})" if loaded.skipped else "",
             "" if labelled else ", no gold codes: accuracy not measured")
    train_charts = learning_charts(job, built.extractor, charts)
    if job.extractor.train_split and isinstance(built.extractor, LearnsFromCharts):
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
            run = run_pipeline(charts, design, job.pipeline, on_coded=on_coded)
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
    from harness.metrics.decorated_metrics import decorated_metrics
    from harness.metrics.extraction import extraction_metrics
    from harness.metrics.robustness import robustness_metrics
    from harness.metrics.trust import trust_metrics
    from harness.operations import DOCUMENT as OPERATIONS_DOCUMENT
    from harness.operations import live_facts, operations
    from harness.pipeline.chart_steps import stage_totals

    evaluation, charts, run = job.evaluation, ran.charts, ran.run
    bootstrap = {"n_resamples": evaluation.n_resamples, "confidence": evaluation.confidence, "seed": job.seed}
    metrics = evaluate(outcomes, run.wall_s, **bootstrap)
    metrics.update(decorated_metrics(outcomes, **bootstrap))  # registered with @metric, plugins' included
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


def engine_params(extractor: Extractor) -> dict[str, str]:
    """What an extractor reports of its engine (device, engine version, resolved settings), as ``engine.*`` params."""
    from extractors.base import ReportsEngine

    report = extractor.run_params() if isinstance(extractor, ReportsEngine) else {}
    return {f"engine.{key}": str(value) for key, value in report.items()}


def run_job(config: Mapping[str, Any], run_folder: Path, parent_run_id: str | None = None,
            overrides: Sequence[str] = ()) -> dict[str, float]:
    """Run one fully composed, resolved config through the Python API's path (``harness.api.execute``) into
    ``run_folder`` (Hydra's job folder); returns the metrics' values. ``overrides`` (the command line's) name the run."""
    from harness.api import execute
    from harness.job_identity import JobIdentity
    from harness.run_record import RunFolder

    identity = JobIdentity(overrides=tuple(overrides), parent_run_id=parent_run_id, started=time.time())
    run = execute(JobConfig.from_composed(config), config, RunFolder(run_folder), identity)
    return {name: measure.value for name, measure in run.metrics.items()}
