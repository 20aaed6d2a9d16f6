"""MLflow tracking: one run per job, children grouped under a sweep's parent run.

SQLite is the default store. SQLite allows one writer at a time and MLflow creates
its schema on first use, so every write to a SQLite store holds an exclusive file
lock beside the database: parallel jobs wait for each other instead of failing
with "database is locked" (or racing on the schema) and losing a run.

The experiment is tagged as model training (:data:`EXPERIMENT_KIND`), and :func:`ui_link` gives the address that opens
its runs: MLflow 3 otherwise opens an experiment on its GenAI pages (traces, token usage), where no run shows.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.config import TrackingConfig
from harness.errors import HarnessError
from harness.user_paths import UnwritableError, writable_folder

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from harness.tracking.system_metrics import Sample

EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
"""The experiment tag MLflow 3's UI reads to show an experiment's runs (its "Model training" pages) rather than traces."""
UI_WORKFLOW = "workflowType=machine_learning"
"""The query MLflow 3.17's UI takes for its "Model training" pages: that UI picks GenAI or model training from the
address (default GenAI), not from the experiment's tag."""
UI_RUNS_ORDER = "orderByKey=metrics.%60micro_f1%60&orderByAsc=false"
"""The runs list's order in that address: best F1 first. Listed by time (its default), MLflow folds a sweep's jobs under
the sweep's run, so the page would show one row per sweep and none of its jobs."""
_MAX_PARAM_LENGTH = 6000
_BATCH = 100  # MLflow accepts at most 100 params per log_batch call


def resolve_uri(uri: str) -> str:
    """Absolute form of a SQLite URI (relative paths are taken from the current directory)."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        return prefix + str(Path(uri[len(prefix) :]).resolve())
    return uri


def _sqlite_path(uri: str) -> Path | None:
    prefix = "sqlite:///"
    return Path(uri[len(prefix) :]) if uri.startswith(prefix) else None


class TrackingError(HarnessError):
    """The configured MLflow store cannot be used; the message names the URI."""


def store_problem(uri: str, error: BaseException) -> str:
    """``tracking store '<uri>' cannot be used: <why>`` for one error line: ``error``'s first line (MLflow and SQLAlchemy
    raise many kinds for a store that is no database, unreachable or of an unknown scheme), the password masked."""
    from harness.tracking.server import mask_uri, split_password  # server imports this module

    text = str(error).strip()
    why = text.splitlines()[0].strip() if text else type(error).__name__
    if password := split_password(uri)[1]:
        why = why.replace(password, "***")
    return f"tracking store {mask_uri(uri)!r} cannot be used: {why}"


HTTP_RETRIES = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}
"""A tracking server that does not answer fails a request in seconds: two retries 2 s apart, 20 s per attempt (MLflow's
own defaults, 7 retries with a doubling wait and 120 s, take about 4 minutes). Each stays as set in the environment."""


def bound_http_retries() -> None:
    """Put :data:`HTTP_RETRIES` into the environment where not set: MLflow reads them on every request. urllib3's line per
    retry stays out of the terminal: the error that ends the retries says what failed."""
    import logging

    for name, value in HTTP_RETRIES.items():
        os.environ.setdefault(name, value)
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)


class Tracker:
    """Writes runs to one MLflow store; safe to use from several processes at once."""

    def __init__(self, config: TrackingConfig):
        self.config = config
        self.uri = resolve_uri(config.uri)
        db = _sqlite_path(self.uri)
        self._lock_path = db.with_name(db.name + ".lock") if db else None
        if db:
            try:
                writable_folder(db.parent, "its folder")
            except UnwritableError as error:  # a folder under a file, under /proc, read-only
                raise TrackingError(store_problem(self.uri, error)) from None
        self._client: MlflowClient | None = None
        self._experiment_id: str | None = None

    @contextmanager
    def _locked(self) -> Iterator[MlflowClient]:
        if self._lock_path is None:
            yield self._get_client()
            return
        with open(self._lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield self._get_client()
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _get_client(self) -> MlflowClient:
        if self._client is None:
            os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
            bound_http_retries()
            from mlflow.tracking import MlflowClient

            try:  # the client opens a SQL store at once: a file that is no database fails here
                self._client = MlflowClient(tracking_uri=self.uri)
            except Exception as error:  # noqa: BLE001 - see store_problem
                raise TrackingError(store_problem(self.uri, error)) from None
        return self._client

    def _artifact_location(self) -> str | None:
        if self.config.artifact_root:
            return self.config.artifact_root
        db = _sqlite_path(self.uri)
        return (db.parent / "mlartifacts").resolve().as_uri() if db else None

    def experiment_id(self) -> str:
        """The configured experiment's id, created on first use; looked up once per tracker."""
        if self._experiment_id is None:
            with self._locked() as client:
                experiment = client.get_experiment_by_name(self.config.experiment)
                if experiment is None:
                    self._experiment_id = self._create_experiment(client)
                else:
                    self._experiment_id = experiment.experiment_id
                    if EXPERIMENT_KIND[0] not in experiment.tags:  # created by an older harness: tag it; a kind set by hand stays
                        client.set_experiment_tag(self._experiment_id, *EXPERIMENT_KIND)
        return self._experiment_id

    def _create_experiment(self, client: MlflowClient) -> str:
        """Create the experiment; if another job created it first (parallel jobs on a tracking server, which the
        SQLite file lock does not cover), use theirs."""
        from mlflow.exceptions import MlflowException

        try:
            return client.create_experiment(self.config.experiment, artifact_location=self._artifact_location(),
                                            tags=dict([EXPERIMENT_KIND]))
        except MlflowException:
            experiment = client.get_experiment_by_name(self.config.experiment)
            if experiment is None:
                raise
            return experiment.experiment_id

    def check(self) -> None:
        """Reach the store and its experiment now, so a bad ``tracking.uri`` fails before any chart is processed."""
        try:
            self.experiment_id()
        except Exception as error:  # noqa: BLE001 - see store_problem
            problem = str(error) if isinstance(error, TrackingError) else store_problem(self.uri, error)
            raise TrackingError(f"{problem} (set tracking.uri to a sqlite:/// path or a server URL, or "
                                "tracking.enabled=false)") from None

    def start_run(self, run_name: str, tags: Mapping[str, str], parent_run_id: str | None = None,
                  start_time: float | None = None) -> str:
        """A new run in the experiment; ``start_time`` (seconds since the epoch, as ``time.time()``) is when the work
        began, for runs recorded after it (a run recorded later from its folder); default now."""
        experiment_id = self.experiment_id()
        all_tags = dict(tags)
        if parent_run_id:
            all_tags["mlflow.parentRunId"] = parent_run_id
        with self._locked() as client:
            return client.create_run(experiment_id, start_time=_epoch_ms(start_time), run_name=run_name,
                                     tags=all_tags).info.run_id

    def run_status(self, run_id: str) -> str | None:
        """The run's status (``RUNNING``, ``FINISHED``, ...); None when the store holds no such run."""
        from mlflow.exceptions import MlflowException

        with self._locked() as client:
            try:
                return client.get_run(run_id).info.status
            except MlflowException as error:
                if error.error_code == "RESOURCE_DOES_NOT_EXIST":
                    return None
                raise

    def reopen(self, run_id: str) -> None:
        """Mark an ended run as running again (a sweep re-submitted into its folder)."""
        with self._locked() as client:
            client.update_run(run_id, status="RUNNING")

    def log(
        self,
        run_id: str,
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, float] | None = None,
        tags: Mapping[str, str] | None = None,
        history: Sequence[Sample] = (),
    ) -> None:
        """Params, final metrics and tags; ``history`` adds step-wise readings (system metrics)."""
        from mlflow.entities import Metric, Param, RunTag

        now = int(time.time() * 1000)
        param_items = [Param(k, str(v)[:_MAX_PARAM_LENGTH]) for k, v in sorted((params or {}).items())]
        metric_items = [Metric(k, float(v), now, 0) for k, v in sorted((metrics or {}).items())]
        metric_items += [Metric(s.name, s.value, s.timestamp_ms, s.step) for s in history]
        tag_items = [RunTag(k, str(v)) for k, v in sorted((tags or {}).items())]
        with self._locked() as client:
            for i in range(0, len(param_items), _BATCH):
                client.log_batch(run_id, params=param_items[i : i + _BATCH])
            for i in range(0, len(metric_items), _BATCH * 10):
                client.log_batch(run_id, metrics=metric_items[i : i + _BATCH * 10])
            for i in range(0, len(tag_items), _BATCH):
                client.log_batch(run_id, tags=tag_items[i : i + _BATCH])

    def log_artifacts(self, run_id: str, folder: Path) -> None:
        # Artifacts go to files, not the database: no lock needed.
        self._get_client().log_artifacts(run_id, str(folder))

    def finish(self, run_id: str, status: str = "FINISHED", end_time: float | None = None) -> None:
        """End the run; ``end_time`` (seconds since the epoch) is when the work ended, default now."""
        with self._locked() as client:
            client.set_terminated(run_id, status, end_time=_epoch_ms(end_time))


def ui_link(server_url: str, experiment_id: str, run_id: str | None = None) -> str:
    """The MLflow UI's page of an experiment's runs, every job listed (:data:`UI_RUNS_ORDER`), or of one run, on the server
    at ``server_url``, on its model-training pages."""
    page = f"experiments/{experiment_id}/runs/{run_id}?{UI_WORKFLOW}" if run_id else \
        f"experiments/{experiment_id}/runs?{UI_WORKFLOW}&{UI_RUNS_ORDER}"
    return f"{server_url.rstrip('/')}/#/{page}"


def runs_pages(server_url: str) -> list[tuple[str, str]]:
    """Each experiment on the server at ``server_url`` that holds runs and is not tagged for GenAI: its name and the
    address of its runs (:func:`ui_link`)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=server_url)
    return [(experiment.name, ui_link(server_url, experiment.experiment_id))
            for experiment in client.search_experiments()
            if experiment.tags.get(EXPERIMENT_KIND[0], EXPERIMENT_KIND[1]) == EXPERIMENT_KIND[1]
            and client.search_runs([experiment.experiment_id], max_results=1)]


def _epoch_ms(seconds: float | None) -> int | None:
    """MLflow's run times are integer milliseconds; None lets MLflow take the current time."""
    return None if seconds is None else round(seconds * 1000)


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists stay values."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat
