"""A pipeline run as a job records it, read back and combined: what ``harness merge`` rebuilds a run from.

Beside ``chart_results.jsonl`` (each chart's ``ChartResult``) a job writes the rest of what scoring reads (the files
are ``harness.run_record``'s; this module turns the pipeline's objects into their rows and back):

- ``chart_pipeline.jsonl``: one row per chart, in run order: its id, what degradation and intake did
  (``ChartIntake``) and its ``Extraction`` (null for a chart without readable text). With ``tracking.redact`` the
  extraction's findings carry no text and its raw output is left out, as in the audit trail; such a record cannot be
  scored again (``redacted`` says so).
- ``pipeline_run.json``: the run-level facts (pipeline seconds, cache hits, extractor busy seconds and calls, most
  charts in flight, scheduling policy), whether the files were redacted, and the extractor as it ran (name, version,
  model and revision, prompt version: the revision of an extractor that learns is only known after it learned).

:func:`read_pipeline_record` gives back the ``PipelineRun`` (results included) and :func:`combined` joins the runs of
disjoint shards into one, in a given chart order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from extractors.base import ReportsEngine
from harness.contracts import ChartResult, Extraction, ReviewReason
from harness.metrics.robustness import ChartIntake
from harness.pipeline.chart_steps import PipelineRun
from harness.run_record import CHART_PIPELINE_FILE, RESULTS_FILE, RunArtifacts


@ReportsEngine.register  # its engine report goes on the merged run as a live extractor's would
@dataclass(frozen=True)
class RecordedExtractor:
    """The extractor of a recorded run: what a run's records name it by (the ``Extractor`` fields ``record`` reads)."""

    name: str
    version: str
    model_id: str | None = None
    model_revision: str | None = None
    prompt_version: str | None = None
    engine: Mapping[str, str] = field(default_factory=dict)
    """Its engine as the run's ``engine.*`` params reported it (device, engine version, settings); not in the files."""

    def run_params(self) -> dict[str, str]:
        """The engine report, as a live extractor's ``run_params`` gives it."""
        return dict(self.engine)

    @classmethod
    def of(cls, extractor: Any) -> RecordedExtractor:
        return cls(name=extractor.name, version=extractor.version, model_id=extractor.model_id,
                   model_revision=extractor.model_revision, prompt_version=extractor.prompt_version)

    def identity(self) -> dict[str, str | None]:
        """The fields two shards of one sweep must agree on."""
        return {"name": self.name, "version": self.version, "model_id": self.model_id,
                "model_revision": self.model_revision, "prompt_version": self.prompt_version}


@dataclass
class PipelineRecord:
    """One recorded run's pipeline, read back."""

    run: PipelineRun
    extractor: RecordedExtractor
    redacted: bool
    """Evidence and finding text replaced by ``[REDACTED]``: text-based metrics cannot be computed from it again."""


def _intake_row(facts: ChartIntake) -> dict[str, Any]:
    row = dataclasses.asdict(facts)
    row["reasons"] = [str(reason) for reason in facts.reasons]
    return row


def _intake(row: Mapping[str, Any]) -> ChartIntake:
    return ChartIntake(**{**row, "kept_ranges": tuple(tuple(r) for r in row["kept_ranges"]),
                          "reasons": tuple(ReviewReason.parse(r) for r in row["reasons"])})


def _redacted(extraction: Extraction) -> Extraction:
    from harness.trust.redaction import redact_finding

    return extraction.model_copy(update={"findings": [redact_finding(f) for f in extraction.findings], "raw_output": None})


def write_pipeline_record(folder: Path, run: PipelineRun, extractor: Any, redact: bool) -> None:
    """``chart_pipeline.jsonl`` and ``pipeline_run.json`` of ``run`` into artifact folder ``folder`` (each whole or not
    at all)."""
    extractions = {e.chart_id: e for e in run.extractions}

    def row(result: ChartResult, facts: ChartIntake) -> dict[str, Any]:
        extraction = extractions.get(result.chart_id)
        if extraction is not None and redact:
            extraction = _redacted(extraction)
        return {"chart_id": result.chart_id, "intake": _intake_row(facts),
                "extraction": extraction.model_dump(mode="json") if extraction is not None else None}

    facts = {"wall_s": run.wall_s, "cache_hits": run.cache_hits, "extract_busy_s": run.extract_busy_s,
             "extract_calls": run.extract_calls, "peak_in_flight": run.peak_in_flight, "policy": run.policy,
             "redacted": redact, "extractor": RecordedExtractor.of(extractor).identity()}
    RunArtifacts(folder).write_chart_pipeline((row(result, intake) for result, intake in zip(run.results, run.intake,
                                                                                             strict=True)), facts)


def read_pipeline_record(folder: Path, engine: Mapping[str, str] | None = None) -> PipelineRecord:
    """The run recorded in artifact folder ``folder`` (``FileNotFoundError`` naming the file when one is missing);
    ``engine`` is the run's engine report (its ``engine.*`` params without the prefix)."""
    artifacts = RunArtifacts(folder)
    facts, results, rows = artifacts.pipeline_facts(), artifacts.chart_results(), artifacts.chart_pipeline()
    if [r.chart_id for r in results] != [row["chart_id"] for row in rows]:
        raise ValueError(f"{folder}: {RESULTS_FILE} and {CHART_PIPELINE_FILE} list different charts")
    run = PipelineRun(results=results, intake=[_intake(row["intake"]) for row in rows], wall_s=facts["wall_s"],
                      cache_hits=facts["cache_hits"],
                      extractions=[Extraction.model_validate(row["extraction"]) for row in rows if row["extraction"]],
                      policy=facts["policy"], extract_busy_s=facts["extract_busy_s"], extract_calls=facts["extract_calls"],
                      peak_in_flight=facts["peak_in_flight"])
    extractor = RecordedExtractor(**facts["extractor"], engine=dict(engine or {}))
    return PipelineRecord(run=run, extractor=extractor, redacted=facts["redacted"])


def combined(runs: Sequence[PipelineRun], chart_ids: Sequence[str]) -> PipelineRun:
    """One run of the disjoint ``runs`` (shards) with its charts in the order of ``chart_ids``, which must list each of
    their charts exactly once (else ``ValueError``).

    Per-chart records (results with their stage seconds, intake facts, extractions) are kept as they are. The run-level
    timings add up as if one engine had run the shards one after another: ``wall_s``, extractor busy seconds, calls and
    cache hits are sums (so charts per second is charts over the shards' summed pipeline seconds: one engine's
    throughput, what the capacity figures assume); ``peak_in_flight`` is the largest shard's."""
    if not runs:
        raise ValueError("no runs to combine")
    results = {r.chart_id: (run_index, i) for run_index, run in enumerate(runs) for i, r in enumerate(run.results)}
    if len(results) != sum(len(run.results) for run in runs):
        raise ValueError("the runs share charts: they are not disjoint shards")
    if sorted(results) != sorted(chart_ids):
        raise ValueError("the runs' charts are not the charts to combine them into")
    extractions = {e.chart_id: e for run in runs for e in run.extractions}
    placed = [results[chart_id] for chart_id in chart_ids]
    policies = {run.policy for run in runs}
    return PipelineRun(
        results=[runs[r].results[i] for r, i in placed],
        intake=[runs[r].intake[i] for r, i in placed],
        wall_s=sum(run.wall_s for run in runs),
        cache_hits=sum(run.cache_hits for run in runs),
        extractions=[extractions[chart_id] for chart_id in chart_ids if chart_id in extractions],
        policy=policies.pop() if len(policies) == 1 else "mixed",
        extract_busy_s=sum(run.extract_busy_s for run in runs),
        extract_calls=sum(run.extract_calls for run in runs),
        peak_in_flight=max(run.peak_in_flight for run in runs),
    )
