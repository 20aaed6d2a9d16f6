"""One job: load charts, build the pipeline design from the config, run, evaluate, record."""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from harness.config import DatasetConfig, DegradationConfig, EvaluationConfig, RulesConfig, TrackingConfig, cache_root
from harness.contracts import Chart, ChartResult, CodeAssignment, EditResult

if TYPE_CHECKING:
    from coders.edits import EditConfig
    from harness.pipeline.batched import PipelineDesign
    from harness.trust.calibration import Calibrator
    from harness.trust.calibration_split import CalibrationRunConfig

log = logging.getLogger("harness")
PROJECT_ROOT = Path(__file__).resolve().parents[1]
REDACTED = "[REDACTED]"
M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """A composed config that does not validate; the message names the key."""


def validated(model: type[M], group: str, values: Mapping[str, Any]) -> M:
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise ConfigError(f"invalid config: {_problems(group, error)}") from None


def _problems(group: str, error: ValidationError) -> str:
    return "; ".join(f"{group}.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def _redact(result: ChartResult) -> ChartResult:
    redacted = result.model_copy(deep=True)
    for code in redacted.codes:
        for span in code.evidence:
            span.text = REDACTED
    return redacted


def write_artifacts(folder: Path, config: Mapping[str, Any], charts: Sequence[Chart], results: Sequence[ChartResult],
                    per_chart: Sequence[Mapping[str, Any]], metrics: Mapping[str, float], redact: bool) -> None:
    """Composed config, predictions, per-chart results and scores, metrics: everything a report or gate reads."""
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(dict(config), sort_keys=False))
    shown = [_redact(r) if redact else r for r in results]
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


def run_job(config: Mapping[str, Any], output_dir: Path, parent_run_id: str | None = None) -> dict[str, float]:
    """Run one fully composed, resolved config; returns the metrics."""
    from coders.edits import EditConfig
    from coders.engine import RuleEngine
    from coders.routing import RoutingConfig, route
    from coders.rule_pack import load_pack
    from harness.intake.ocr import IntakeConfig, check_tesseract
    from harness.metrics.coding import ChartOutcome, evaluate, per_chart_scores
    from harness.metrics.extraction import extraction_metrics
    from harness.metrics.robustness import robustness_metrics
    from harness.metrics.trust import trust_metrics
    from harness.pipeline.batched import PipelineDesign, run_pipeline, stage_totals
    from harness.pipeline.extraction_cache import ExtractionCache
    from harness.pipeline.preparation import ChartPreparer
    from harness.registry import EXTRACTORS
    from harness.sources import dataset_digest, load_charts
    from harness.tracking.mlflow_store import Tracker, flatten
    from harness.tracking.system_metrics import SystemSampler
    from harness.trust.artifacts import write_trust_artifacts
    from harness.trust.audit import RunMeta
    from harness.trust.calibration_split import CalibrationRunConfig, calibrating
    from reports.run_report import write_run_report
    from reports.summary import render_summary

    dataset = validated(DatasetConfig, "dataset", config["dataset"])
    rules = validated(RulesConfig, "rules", config["rules"])
    degradation = validated(DegradationConfig, "degradation", config["degradation"])
    intake = validated(IntakeConfig, "intake", config["intake"])
    routing = validated(RoutingConfig, "routing", config["routing"])
    calibration = validated(CalibrationRunConfig, "calibration", config.get("calibration", {}))
    edit_config = validated(EditConfig, "edits", config.get("edits", {"edits": []}))
    tracking = validated(TrackingConfig, "tracking", config["tracking"])
    evaluation = validated(EvaluationConfig, "evaluation", config["evaluation"])
    extractor_config = dict(config["extractor"])

    # Build every component before reading data, so a bad config fails in a second.
    try:
        extractor = EXTRACTORS.resolve(extractor_config["name"])(extractor_config)
    except ValidationError as error:
        raise ConfigError(f"invalid config: {_problems('extractor', error)}") from None
    if calibration.method != "none" and getattr(extractor, "calibrated", False):
        raise ConfigError(f"extractor {extractor.name!r} reports calibrated probabilities already: use calibration=none")
    pack = load_pack(rules.pack)
    engine = RuleEngine(pack)
    if degradation.render is not None:
        check_tesseract(intake)  # fail now, not as a review reason on every chart

    charts = load_charts(dataset)
    if len({c.id for c in charts}) != len(charts):
        raise ConfigError(f"dataset {dataset.name!r} has repeated chart ids")
    log.info("dataset %s/%s: %d charts", dataset.name, dataset.split, len(charts))
    train_split = extractor_config.get("train_split")
    train_charts = load_charts(dataset.model_copy(update={"split": train_split, "limit": None})) if train_split else []
    if train_split == dataset.split:
        log.warning("extractor learns from split %r, the split being evaluated: scores will be optimistic", train_split)
    preparer = ChartPreparer(degradation, intake, seed=int(config["seed"]))
    design = PipelineDesign(
        extractor=extractor,
        code=engine.code,
        coder_id=f"{pack.name}@{pack.version}",
        route=lambda extraction, codes, edits: route(extraction, codes, routing, edits),
        router_id=routing.name,
        prepare=preparer,
        cache=ExtractionCache(cache_root() / "extractions") if config.get("extraction_cache", True) else None,
        edit=chart_edits(edit_config) if edit_config.edits else None,
    )
    if train_split:
        extractor.fit(train_charts)
    calibrator, calibrator_id = None, ""
    if calibration.method != "none":
        calibrator = calibrator_for(calibration, design, dataset, degradation.name, train_split, train_charts, int(config["seed"]))
        calibrator_id = f"{calibration.method}:{calibrator.data_digest[:12]}"
        design = replace(design, calibrate=calibrating(calibrator), calibrator_id=calibrator_id)

    sampler = SystemSampler(tracking.system_metrics_interval_s) if tracking.enabled and tracking.system_metrics else nullcontext()
    try:
        with sampler:
            run = run_pipeline(charts, design, batch_size=int(config["batch_size"]))
    finally:
        preparer.close()
    results, wall = run.results, run.wall_s
    if len(results) != len(charts):
        raise RuntimeError(f"{len(charts)} charts in, {len(results)} results out")

    scored = set(dataset.code_systems)
    outcomes = [
        ChartOutcome(
            chart_id=chart.id,
            gold=frozenset(g.code for g in chart.gold),
            ranked=tuple((c.code, c.confidence) for c in result.codes if c.system in scored),
            routed_to_review=result.route == "review",
            latency_s=sum(result.stage_seconds.values()),
        )
        for chart, result in zip(charts, results)
    ]
    metrics = evaluate(outcomes, wall, n_resamples=evaluation.n_resamples, confidence=evaluation.confidence, seed=int(config["seed"]))
    metrics.update(
        robustness_metrics(charts, outcomes, run.intake, n_resamples=evaluation.n_resamples, confidence=evaluation.confidence,
                           seed=int(config["seed"]))
    )
    metrics.update({f"stage_{stage}_s": seconds for stage, seconds in stage_totals(results).items()})
    metrics["wall_s"] = wall
    if evaluation.machine_usd_per_hour is not None and charts:
        metrics["cost_per_1k_charts_usd"] = wall / len(charts) * 1000 / 3600 * evaluation.machine_usd_per_hour
    metrics["extraction_cache_hits"] = run.cache_hits
    metrics.update(extraction_metrics(run.extractions))
    history = sampler.samples if isinstance(sampler, SystemSampler) else []
    if history:
        metrics.update(sampler.summary())

    trust, curves = trust_metrics(charts, results, dataset.code_systems)
    metrics.update(trust)

    output_dir.mkdir(parents=True, exist_ok=True)
    run_meta = RunMeta(extractor=extractor.name, extractor_version=extractor.version, model_id=getattr(extractor, "model_id", None),
                       model_revision=getattr(extractor, "model_revision", None), prompt_version=getattr(extractor, "prompt_version", None),
                       pack_version=design.coder_id, code_set_year=edit_config.year, degradation=degradation.name, seed=int(config["seed"]))
    billing, audit_head = write_trust_artifacts(output_dir, charts, results, {e.chart_id: e for e in run.extractions}, run_meta,
                                                curves, tracking.redact)
    metrics.update(billing)
    write_artifacts(output_dir, config, charts, results, per_chart_scores(outcomes), metrics, tracking.redact)
    write_run_report(output_dir, charts, tracking.redact)
    if calibrator is not None:
        calibrator.save(output_dir / "calibrator.json")
    context = {
        "dataset": f"{dataset.name}/{dataset.split}",
        "dataset_digest": dataset_digest(charts),
        "extractor": f"{extractor.name}@{extractor.version}",
        "rules": design.coder_id,
        "charts": str(len(charts)),
    }
    if tracking.enabled:
        tracker = Tracker(tracking)
        run_id = tracker.start_run(
            run_name=f"{dataset.name}-{extractor.name}-{rules.name}",
            tags={
                "git_commit": git_commit(),
                "dataset": dataset.name,
                "dataset.split": dataset.split,
                "dataset.digest": context["dataset_digest"],
                "rules.pack": pack.name,
                "rules.version": str(pack.version),
                "extractor": extractor.name,
                "extractor.version": extractor.version,
                "degradation": degradation.name,
                "calibration": calibrator_id or "none",
                "audit.head": audit_head,
                "harness.kind": "job",
            },
            parent_run_id=parent_run_id,
        )
        try:
            tracker.log(run_id, params=flatten(config), metrics=metrics, history=history)
            tracker.log_artifacts(run_id, output_dir)
        except BaseException:
            tracker.finish(run_id, "FAILED")
            raise
        tracker.finish(run_id)
        context["mlflow_run"] = run_id
        context["tracking_uri"] = tracker.uri
    if config.get("summary", True):
        print(render_summary(metrics, context))
    return metrics
