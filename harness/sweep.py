"""Hydra callback: a multirun (``-m``) gets one MLflow parent run; each job logs a child under it.

The parent's id is written into the sweep folder, which every job (in this process
or a launcher's worker processes) can read from its Hydra config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

PARENT_FILE = ".mlflow_parent_run_id"


def parent_run_file(sweep_dir: str) -> Path:
    return Path(sweep_dir) / PARENT_FILE


class ParentRunCallback(Callback):
    """Opens the parent run when a sweep starts and closes it when the sweep ends."""

    def _tracker(self, config: DictConfig) -> Any:
        from harness.config import TrackingConfig
        from harness.tracking.mlflow_store import Tracker

        return Tracker(TrackingConfig.model_validate(OmegaConf.to_container(config.tracking, resolve=True)))

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not config.tracking.enabled:
            return
        sweep_dir = Path(config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        tracker = self._tracker(config)
        overrides = [o for o in config.hydra.overrides.task]
        run_id = tracker.start_run(f"sweep {sweep_dir.name}",
                                   tags={"harness.kind": "sweep", "harness.overrides": " ".join(overrides)})
        parent_run_file(str(sweep_dir)).write_text(run_id)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        path = parent_run_file(config.hydra.sweep.dir)
        if config.tracking.enabled and path.is_file():
            parent = path.read_text().strip()
            tracker = self._tracker(config)
            sweep_dir = Path(config.hydra.sweep.dir)
            _attach_sweep_report(parent, tracker.uri, sweep_dir)
            tracker.finish(parent)
            report = sweep_dir / "sweep_report.html"
            shown = report if report.is_file() else "(not written, see the warning above)"
            print(f"sweep_folder: {sweep_dir}\nsweep_report: {shown}\nmlflow_parent_run: {parent}\ntracking_uri: {tracker.uri}")


def _attach_sweep_report(parent: str, uri: str, sweep_dir: Path) -> None:
    """Compare the sweep's jobs on one page, logged to the parent run; a report failure never fails the sweep."""
    import logging
    import shutil
    import tempfile

    from harness.tracking.run_store import child_runs, load_run
    from reports.sweep_report import log_to_parent, write_sweep_report

    folder = Path(tempfile.mkdtemp(prefix="harness-sweep-"))
    try:
        runs = [load_run(run_id, uri, into=folder / run_id) for run_id in child_runs(parent, uri)]
        log_to_parent(parent, write_sweep_report(runs, sweep_dir / "sweep_report.html"), uri)
    except Exception as error:  # noqa: BLE001 - the jobs' runs are recorded already; say why the page is missing
        logging.getLogger("harness").warning("sweep report not written: %s: %s", type(error).__name__, error)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
