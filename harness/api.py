"""The Python API: run a job, read a run back, compare two runs, as a notebook or script does.

    import harness
    run = harness.evaluate(["dataset.limit=3"])       # composed like the command line's key=value overrides
    run.metrics["micro_f1"]                          # Measure(value=..., low=..., high=...)
    again = harness.load_run(run.folder)              # a run folder, an artifact folder, or an MLflow run id
    harness.compare(run, other).differences["micro_f1"]

The command line's job (``harness.run.run_job``) goes through :func:`execute`, the very path :func:`evaluate` takes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import ConfigError
from harness.job_config import JobConfig
from harness.run_record import RunArtifacts, RunFolder, artifacts_of

if TYPE_CHECKING:
    from harness.contracts import ChartResult
    from harness.job_identity import JobIdentity
    from harness.tracking.gate_config import GateConfig
    from harness.tracking.gate_statistics import RunComparison
    from harness.tracking.run_store import RecordedRun

DEFAULT_OUTPUT_ROOT = Path("outputs") / "runs"
"""Where :func:`evaluate` puts a run folder when given none (relative to the working folder, as the command line does)."""


@dataclass(frozen=True)
class Measure:
    """A metric's value with its bootstrap interval (None where the metric has none)."""

    value: float
    low: float | None = None
    high: float | None = None

    def __str__(self) -> str:
        return f"{self.value:.4g}" if self.low is None or self.high is None else \
            f"{self.value:.4g} [{self.low:.4g}, {self.high:.4g}]"


def measures(recorded: Mapping[str, float]) -> dict[str, Measure]:
    """Recorded metrics (bounds as ``<name>_ci_low`` / ``<name>_ci_high`` keys) as one :class:`Measure` per metric."""
    from harness.metrics.registry import BOUNDS

    low_suffix, high_suffix = BOUNDS
    bounds = {key for key in recorded for suffix in BOUNDS if key.endswith(suffix) and key.removesuffix(suffix) in recorded}
    return {name: Measure(value, recorded.get(f"{name}{low_suffix}"), recorded.get(f"{name}{high_suffix}"))
            for name, value in recorded.items() if name not in bounds}


@dataclass(frozen=True)
class Run:
    """One job's run: its config, metrics with intervals, per-chart results and where it is recorded."""

    config: JobConfig
    metrics: dict[str, Measure]
    """Every metric the run recorded, with its interval."""
    chart_results: list[ChartResult]
    """Each chart's result (codes, route and reasons, edits), in run order."""
    per_chart: list[dict[str, Any]]
    """Each chart's scores (chart_id, tp, fp, fn, exact_match, ...): what :func:`compare` pairs."""
    artifacts: RunArtifacts
    """The run's artifact folder (for a run read from MLflow, a local copy)."""
    folder: Path | None = None
    """The run folder (``run.json`` beside ``artifacts/``); None for a run read from MLflow."""
    run_id: str | None = None
    """The MLflow run, when the run was tracked."""
    tracking_uri: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    """``run.json`` (dataset digest, audit head, key figures); empty for a run read from MLflow."""
    tags: dict[str, str] = field(default_factory=dict)
    """The MLflow tags of a run read from MLflow; for a run on disk, the dataset tags that scope a comparison."""

    @property
    def report(self) -> Path:
        """The run's HTML report."""
        from harness.run_record import REPORT_FILE

        return self.artifacts.file(REPORT_FILE)

    def recorded(self) -> RecordedRun:
        """The run as the gate's statistics read a recorded run."""
        from harness.tracking.run_store import RecordedRun

        raw = {name: measure.value for name, measure in self.metrics.items()}
        who = self.run_id or str(self.folder or self.artifacts.path)
        return RecordedRun(run_id=who, name=who, tags=self.tags, params={}, metrics=raw, folder=self.artifacts.path,
                           per_chart=self.per_chart)

    @property
    def labelled(self) -> bool:
        """Whether the run was scored against gold codes."""
        return "n_gold_codes" in self.metrics


def compose(overrides: Sequence[str] = ()) -> dict[str, Any]:
    """The job config Hydra composes from ``conf/`` with ``key=value`` overrides, resolved, as the command line's job gets it."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

    from harness.config import CONF_DIR
    from harness.job_config import register_model_defaults

    register_model_defaults()  # the groups' typed defaults, which conf/config.yaml merges each option over
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            composed = hydra_compose("config", overrides=list(overrides))
        return OmegaConf.to_container(composed, resolve=True, throw_on_missing=True)
    except MissingMandatoryValue as error:
        raise ConfigError(f"config value {error.full_key} is required (set {error.full_key}=...)") from None
    except (HydraException, OmegaConfBaseException) as error:
        raise ConfigError(f"overrides {' '.join(overrides) or '(none)'}: {str(error).splitlines()[0]}") from None


def _overrides(config: Sequence[str] | Mapping[str, Any]) -> tuple[str, ...]:
    if isinstance(config, str):
        raise ConfigError(f"overrides must be a list of key=value strings, not one string {config!r}")
    if isinstance(config, Mapping):  # values as Hydra's override grammar reads them (false, null, [1, 2])
        return tuple(f"{key}={value if isinstance(value, str) else json.dumps(value)}" for key, value in config.items())
    return tuple(config)


def _new_run_folder(job: JobConfig, output_dir: str | Path | None = None) -> RunFolder:
    """The run folder: ``output_dir``, else a fresh folder under :data:`DEFAULT_OUTPUT_ROOT` named as the command line
    names its run folders. Created now, so one that cannot be written (under a file, read-only) is an ``UnwritableError``
    naming it before any chart is read."""
    from harness.user_paths import writable_folder

    if output_dir is not None:
        return RunFolder(writable_folder(Path(output_dir).resolve(), "output_dir"))
    base = DEFAULT_OUTPUT_ROOT / f"{time.strftime('%Y-%m-%d_%H-%M-%S')}_{job.dataset.name}_{job.extractor.name}_{job.rules.name}"
    path, n = base, 1
    while path.exists():  # two runs in one second
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return RunFolder(writable_folder(path.resolve(), "run folder"))


def evaluate(config: Sequence[str] | Mapping[str, Any] | JobConfig = (), *, output_dir: str | Path | None = None,
             parent_run_id: str | None = None) -> Run:
    """Run one job and return its :class:`Run`.

    ``config``: ``key=value`` overrides as on the command line (``["dataset.limit=3", "extractor=oracle"]``), the same as
    a mapping (``{"dataset.limit": 3}``), or a whole ``JobConfig``. ``output_dir``: the run folder (``run.json`` beside
    ``artifacts/``; default a new folder under ``outputs/runs/``). ``parent_run_id``: an MLflow run to record it under.
    A bad config raises ``ConfigError``, a run folder that cannot be written ``UnwritableError``, before any chart is
    read."""
    from harness.job_identity import JobIdentity

    if isinstance(config, JobConfig):
        job, composed, overrides = config, config.model_dump(mode="json"), ()
    else:
        overrides = _overrides(config)
        composed = compose(overrides)
        job = JobConfig.from_composed(composed)
    folder = _new_run_folder(job, output_dir)
    return execute(job, composed, folder, JobIdentity(overrides=overrides, parent_run_id=parent_run_id, started=time.time()))


def execute(job: JobConfig, composed: Mapping[str, Any], folder: RunFolder, identity: JobIdentity) -> Run:
    """Build, run, score and record one job (``composed`` is the config as written into the record); the one path of a
    job, from Python and from the command line. Its MLflow run is created RUNNING once the job is built; an error or a
    stop signal (SIGINT, SIGTERM: ``harness.stop_signals.Stopped``) marks it FAILED or KILLED with the charts finished."""
    from harness.metrics.coding import per_chart_scores
    from harness.recording import NotRecorded, OutputsIncomplete, record, start_run
    from harness.run import build_design, outcomes_of, run_design, score
    from harness.stop_signals import stop_signals

    with stop_signals():
        built = build_design(job)
        tracked = None
        try:
            try:
                tracked = start_run(job, composed, built, identity)
                ran = run_design(job, built, on_coded=tracked.chart_finished if tracked is not None else None)
            finally:
                built.extractor.close()
            outcomes = outcomes_of(job, ran)
            metrics, curves = score(job, ran, outcomes)
            summary = record(job, composed, built, ran, outcomes, metrics, curves, folder, identity, tracked)
        except BaseException as error:
            # A store lost mid-run leaves the run to ``harness record``; a full disk marked it FAILED already.
            if tracked is not None and not isinstance(error, NotRecorded | OutputsIncomplete):
                tracked.abandon(error)
            raise
    return Run(config=job, metrics=measures(metrics), chart_results=list(ran.run.results), per_chart=per_chart_scores(outcomes),
               artifacts=folder.artifacts, folder=folder.path, run_id=summary.get("mlflow_run"),
               tracking_uri=summary.get("tracking_uri"), summary=summary, tags=_dataset_tags(job, summary))


def load_run(id_or_path: str | Path, *, tracking_uri: str | None = None) -> Run:
    """A recorded run: a run folder or artifact folder on disk, else a job run in the store at ``tracking_uri`` (default
    the jobs' default store) named as every command names one: its id, 6+ of its first characters, its name, ``latest``
    or ``champion`` (``harness.tracking.run_ids``); its artifacts are then downloaded into a temporary folder."""
    path = Path(id_or_path)
    if not path.is_dir() and (isinstance(id_or_path, Path) or "/" in str(id_or_path)):
        raise FileNotFoundError(f"no run folder at {path}")
    if path.is_dir():
        artifacts = artifacts_of(path)
        folder = artifacts.path.parent if artifacts.path != path else None
        summary = RunFolder(folder).summary() if folder is not None else {}
        return _read(artifacts, folder, summary.get("mlflow_run"), summary.get("tracking_uri"), summary)
    from harness.tracking.run_ids import resolve_run
    from harness.tracking.run_store import DEFAULT_URI
    from harness.tracking.run_store import load_run as download

    uri = tracking_uri or DEFAULT_URI
    recorded = download(resolve_run(str(id_or_path), uri), uri)
    return _read(RunArtifacts(recorded.folder), None, recorded.run_id, uri, {}, recorded.tags)


def _read(artifacts: RunArtifacts, folder: Path | None, run_id: str | None, uri: str | None,
          summary: dict[str, Any], tags: dict[str, str] | None = None) -> Run:
    config = JobConfig.from_composed(artifacts.config())
    return Run(config=config, metrics=measures(artifacts.metrics()),
               chart_results=artifacts.chart_results(), per_chart=artifacts.per_chart_scores(), artifacts=artifacts,
               folder=folder, run_id=run_id, tracking_uri=uri, summary=summary,
               tags=tags if tags is not None else _dataset_tags(config, summary))


def _dataset_tags(job: JobConfig, summary: Mapping[str, Any]) -> dict[str, str]:
    """The tags that scope a comparison (dataset, split, digest of the charts), as a tracked run carries them."""
    from harness.tracking.gate_statistics import scope_tags

    return scope_tags(job.dataset.name, job.dataset.split, str(summary.get("dataset_digest", "")))


def compare(baseline: Run, candidate: Run, config: GateConfig | None = None) -> RunComparison:
    """``candidate`` minus ``baseline`` on the same charts: the one paired comparison the gate judges
    (``harness.tracking.gate_statistics.compare_runs``), with paired bootstrap intervals over charts for every statistic,
    the coding department's outcomes costed under the candidate's workload model, and McNemar's test of exact match.
    ``config`` sets the bootstrap (default: the gate's defaults). ``RunsNotComparable`` (a ``HarnessError``) when the runs
    did not score the same charts of the same dataset split."""
    from harness.tracking.gate_statistics import compare_runs

    return compare_runs(candidate.recorded(), baseline.recorded(), config)
