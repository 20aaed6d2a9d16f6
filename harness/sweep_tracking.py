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
        from harness.tracking import Tracker

        return Tracker(TrackingConfig.model_validate(OmegaConf.to_container(config.tracking, resolve=True)))

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not config.tracking.enabled:
            return
        sweep_dir = Path(config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        tracker = self._tracker(config)
        overrides = [o for o in config.hydra.overrides.task]
        run_id = tracker.start_run(f"sweep {sweep_dir.name}", tags={"harness.kind": "sweep", "harness.overrides": " ".join(overrides)})
        parent_run_file(str(sweep_dir)).write_text(run_id)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        path = parent_run_file(config.hydra.sweep.dir)
        if config.tracking.enabled and path.is_file():
            self._tracker(config).finish(path.read_text().strip())
