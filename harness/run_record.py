"""The run record: the one module that knows a run folder's layout, its file names, schemas and format version.

A job's run folder holds ``run.json`` (identity, outputs and key figures, for scripts) beside ``artifacts/``, the files
MLflow keeps and every reader starts from (reports, the gate, ``harness merge``, ``harness operations``, the Python API):

- ``config.yaml``: the composed config the job ran with;
- ``metrics.json``: every metric, bounds as ``<name>_ci_low`` / ``<name>_ci_high``;
- ``chart_results.jsonl``: each chart's ``ChartResult``; ``predictions.jsonl``: its codes beside its gold codes;
  ``per_chart_scores.jsonl``: its tp, fp, fn, ... (what paired comparisons resample);
- ``chart_pipeline.jsonl`` and ``pipeline_run.json``: the pipeline as it ran (``harness.pipeline.recorded_run``);
- ``skipped_lines.jsonl``: input lines the dataset left out; ``calibrator.json``: the fitted calibrator;
- ``<curve>.json``: the trust curves and ``operations.json``; ``audit.jsonl``, ``claims.ndjson``, ``billing.csv``,
  ``report.html``: written by the trust layer and the report;
- ``record.json``: the format version of the folder (:data:`FORMAT_VERSION`).

Old runs are read by their version: a folder without ``record.json`` is version 1, the layout before the version was
written (the same files); a folder written by a newer harness is refused with one clear error. Writers write whole
files or none (``harness.atomic_files``), so a full disk never leaves a cut-off file that a reader would trust.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

from harness.atomic_files import atomic_write, write_text_atomic
from harness.contracts import Chart, ChartResult
from harness.errors import HarnessError

FORMAT_VERSION = 2
"""Version 2 writes ``record.json``; version 1 (no ``record.json``) has the same files otherwise."""

RUN_FILE = "run.json"
ARTIFACTS_DIR = "artifacts"
RECORD_FILE = "record.json"
CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.json"
RESULTS_FILE = "chart_results.jsonl"
PREDICTIONS_FILE = "predictions.jsonl"
SCORES_FILE = "per_chart_scores.jsonl"
CHART_PIPELINE_FILE = "chart_pipeline.jsonl"
PIPELINE_RUN_FILE = "pipeline_run.json"
SKIPPED_LINES_FILE = "skipped_lines.jsonl"
CALIBRATOR_FILE = "calibrator.json"
AUDIT_FILE = "audit.jsonl"
CLAIMS_FILE = "claims.ndjson"
BILLING_FILE = "billing.csv"
REPORT_FILE = "report.html"
OUTPUTS = (PREDICTIONS_FILE, RESULTS_FILE, SCORES_FILE, CONFIG_FILE, AUDIT_FILE, BILLING_FILE, METRICS_FILE,
           CHART_PIPELINE_FILE, REPORT_FILE)
"""A job's main artifacts in the order it writes them, most needed first, so that a full disk keeps the results; then
``run.json``."""


class SkippedRow(Protocol):
    """A skipped input line as ``harness.sources.SkippedLine`` holds it (this layer does not import the sources)."""

    def model_dump_json(self) -> str:
        """The row: where, problem."""
        ...

    def redacted(self) -> SkippedRow:
        """The same line with no value from it quoted in its problem."""
        ...


class RunRecordError(HarnessError, ValueError):
    """A run folder this harness cannot read: written by a newer harness, or with a file that does not parse."""


def curve_file(name: str) -> str:
    """The file of curve or document ``name`` (``reliability``, ``risk_coverage``, ``operations``)."""
    return f"{name}.json"


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _write_rows(path: Path, rows: Iterable[str]) -> None:
    with atomic_write(path) as out:
        for row in rows:
            out.write(row + "\n")


class RunArtifacts:
    """A run's ``artifacts/`` folder (a job's, or a run downloaded from MLflow): typed writes and reads of its files.

    Reads raise ``FileNotFoundError`` naming the file when it is missing (:meth:`has` asks first)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunArtifacts({str(self.path)!r})"

    def file(self, name: str) -> Path:
        """Where file ``name`` of the record lies (one of this module's ``*_FILE`` names, or :func:`curve_file`)."""
        return self.path / name

    def has(self, *names: str) -> bool:
        """Whether every one of the files ``names`` is there."""
        return not self.missing(*names)

    def missing(self, *names: str) -> list[str]:
        """Those of ``names`` that the folder lacks."""
        return [name for name in names if not self.file(name).is_file()]

    @cached_property
    def format_version(self) -> int:
        """The folder's format version (1 without ``record.json``); ``RunRecordError`` for one newer than this harness."""
        path = self.file(RECORD_FILE)
        version = json.loads(path.read_text(encoding="utf-8"))["format_version"] if path.is_file() else 1
        if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
            raise RunRecordError(f"{self.path} holds a run record of format {version!r}; this harness reads formats 1 to "
                                 f"{FORMAT_VERSION}: upgrade the harness to read it")
        return version

    def _read(self, name: str) -> Path:
        """The file's path once the folder's version is known to be readable and the file is there."""
        path = self.file(name)
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing")
        self.format_version  # noqa: B018 - refuses a folder of a newer format before any file is parsed
        return path

    # --- writes (each file whole or not at all) ------------------------------------------------------------------

    def write_format_version(self) -> None:
        """``record.json``: the format this harness writes."""
        write_text_atomic(self.file(RECORD_FILE), json.dumps({"format_version": FORMAT_VERSION}) + "\n")

    def write_config(self, config: Mapping[str, Any]) -> None:
        """``config.yaml``: the composed config, keys in their composed order."""
        import yaml

        write_text_atomic(self.file(CONFIG_FILE), yaml.safe_dump(dict(config), sort_keys=False))

    def write_chart_results(self, results: Sequence[ChartResult]) -> None:
        """``chart_results.jsonl``: one ``ChartResult`` per line, as given (redacted by the caller where it must be)."""
        _write_rows(self.file(RESULTS_FILE), (result.model_dump_json() for result in results))

    def write_predictions(self, charts: Sequence[Chart], results: Sequence[ChartResult]) -> None:
        """``predictions.jsonl``: each chart's route, reasons and codes (with evidence) beside its sorted gold codes."""
        fields = {"code", "system", "confidence", "evidence"}
        _write_rows(self.file(PREDICTIONS_FILE), (json.dumps({
            "chart_id": chart.id,
            "route": result.route,
            "reasons": result.reasons,
            "codes": [code.model_dump(mode="json", include=fields) for code in result.codes],
            "gold": sorted(gold.code for gold in chart.gold),
        }, ensure_ascii=False) for chart, result in zip(charts, results)))

    def write_per_chart_scores(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """``per_chart_scores.jsonl``: one row of scores per chart (``harness.metrics.coding.per_chart_scores``)."""
        _write_rows(self.file(SCORES_FILE), (json.dumps(row) for row in rows))

    def write_metrics(self, metrics: Mapping[str, float]) -> None:
        """``metrics.json``: every metric, keys sorted."""
        write_text_atomic(self.file(METRICS_FILE), json.dumps(dict(metrics), indent=2, sort_keys=True))

    def write_chart_pipeline(self, rows: Iterable[Mapping[str, Any]], facts: Mapping[str, Any]) -> None:
        """``chart_pipeline.jsonl`` (one row per chart, in run order) and ``pipeline_run.json`` (the run-level facts)."""
        _write_rows(self.file(CHART_PIPELINE_FILE), (json.dumps(row, ensure_ascii=False) for row in rows))
        write_text_atomic(self.file(PIPELINE_RUN_FILE), json.dumps(dict(facts), indent=1) + "\n")

    def write_skipped_lines(self, skipped: Iterable[SkippedRow], redact: bool) -> None:
        """``skipped_lines.jsonl``: one object per input line left out (where, problem); never chart text. With ``redact``
        (``tracking.redact``) a problem quotes no value from the line either (ids, codes, paths): file, line and field
        names stay."""
        _write_rows(self.file(SKIPPED_LINES_FILE), ((line.redacted() if redact else line).model_dump_json() for line in skipped))

    def write_curve(self, name: str, rows: Any) -> None:
        """``<name>.json``: a curve's rows or a document (``operations``)."""
        write_text_atomic(self.file(curve_file(name)), json.dumps(rows, indent=1))

    # --- reads ---------------------------------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """The composed config the job ran with."""
        import yaml

        return yaml.safe_load(self._read(CONFIG_FILE).read_text(encoding="utf-8")) or {}

    def metrics(self) -> dict[str, float]:
        """Every metric the run recorded (bounds as ``<name>_ci_low`` / ``<name>_ci_high``)."""
        return json.loads(self._read(METRICS_FILE).read_text(encoding="utf-8"))

    def chart_results(self) -> list[ChartResult]:
        """Each chart's result, in run order."""
        return [ChartResult.model_validate(row) for row in _rows(self._read(RESULTS_FILE))]

    def predictions(self) -> list[dict[str, Any]]:
        """``predictions.jsonl`` rows: chart_id, route, reasons, codes (with evidence), gold."""
        return _rows(self._read(PREDICTIONS_FILE))

    def per_chart_scores(self) -> list[dict[str, Any]]:
        """``per_chart_scores.jsonl`` rows: chart_id, tp, fp, fn, exact_match, routed_to_review, latency_s, ..."""
        return _rows(self._read(SCORES_FILE))

    def chart_pipeline(self) -> list[dict[str, Any]]:
        """``chart_pipeline.jsonl`` rows: chart_id, intake facts, extraction (null without readable text)."""
        return _rows(self._read(CHART_PIPELINE_FILE))

    def pipeline_facts(self) -> dict[str, Any]:
        """``pipeline_run.json``: the run-level facts of the pipeline and the extractor as it ran."""
        return json.loads(self._read(PIPELINE_RUN_FILE).read_text(encoding="utf-8"))

    def skipped_lines(self) -> list[dict[str, Any]]:
        """``skipped_lines.jsonl`` rows: where, problem."""
        return _rows(self._read(SKIPPED_LINES_FILE))

    def curve(self, name: str) -> Any:
        """Rows of curve ``name`` (or the ``operations`` document); empty when the run has none."""
        path = self.file(curve_file(name))
        return json.loads(self._read(curve_file(name)).read_text(encoding="utf-8")) if path.is_file() else []


class RunFolder:
    """A job's run folder: ``run.json`` beside ``artifacts/`` (:class:`RunArtifacts`)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.artifacts = RunArtifacts(self.path / ARTIFACTS_DIR)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    @property
    def report(self) -> Path:
        """The run's HTML report."""
        return self.artifacts.file(REPORT_FILE)

    @property
    def audit(self) -> Path:
        """The run's hash-chained audit trail."""
        return self.artifacts.file(AUDIT_FILE)

    def outputs(self) -> dict[str, bool]:
        """Whether each of the run's main outputs is there, most needed first (the order a job writes them in)."""
        shown = {name: self.artifacts.file(name) for name in OUTPUTS}
        return {**{name: path.is_file() for name, path in shown.items()}, RUN_FILE: (self.path / RUN_FILE).is_file()}

    def write_summary(self, summary: Mapping[str, Any]) -> None:
        """``run.json``: the run's identity, outputs and key figures, for CI scripts that must not parse the summary; for a
        tracked run also ``recorded`` (whether its MLflow run is complete), ``not_recorded_why`` and ``mlflow`` (what
        ``harness record`` records the run from when its store could not take it)."""
        write_text_atomic(self.path / RUN_FILE, json.dumps(dict(summary), indent=2) + "\n")

    def summary(self) -> dict[str, Any]:
        """``run.json`` as written (``FileNotFoundError`` naming it when the run did not finish recording)."""
        path = self.path / RUN_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{self.path} has no {RUN_FILE}: not a job's run folder, or the job did not finish")
        self.artifacts.format_version  # noqa: B018 - a newer format is refused here too
        return json.loads(path.read_text(encoding="utf-8"))


def artifacts_of(path: str | Path) -> RunArtifacts:
    """The artifacts of ``path``: a job's run folder (``run.json`` beside ``artifacts/``) or an artifact folder itself."""
    path = Path(path)
    return RunFolder(path).artifacts if (path / ARTIFACTS_DIR).is_dir() else RunArtifacts(path)
