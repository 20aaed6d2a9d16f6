"""``python -m harness``: Hydra entry point. Imports stay light so ``--help`` is instant."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf


CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")


@hydra.main(config_path=CONF_DIR, config_name="config", version_base="1.3")
def _main(cfg: DictConfig) -> float:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from harness.run import run_job
    from harness.sweep_tracking import parent_run_file

    hydra_cfg = HydraConfig.get()
    parent = None
    if hydra_cfg.mode == RunMode.MULTIRUN:
        path = parent_run_file(hydra_cfg.sweep.dir)
        parent = path.read_text().strip() if path.is_file() else None
    config = OmegaConf.to_container(cfg, resolve=True)
    metrics = run_job(config, Path(hydra_cfg.runtime.output_dir) / "artifacts", parent_run_id=parent)
    return metrics["micro_f1"]


def main() -> None:
    from harness.run import ConfigError
    from harness.sources.errors import DataError
    from harness.registry import UnknownName

    try:
        _main()
    except (ConfigError, DataError, UnknownName, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
