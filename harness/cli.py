"""``python -m harness``: Hydra entry point. Imports stay light so ``--help`` is instant."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")
USAGE_ERROR = 2
"""Exit status for bad config or bad input data (the message says which and where)."""


@hydra.main(config_path=CONF_DIR, config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from coders.rule_pack import RulePackError
    from harness.intake.ocr import IntakeError
    from harness.registry import UnknownName
    from harness.run import ConfigError, run_job
    from harness.sources.errors import DataError
    from harness.tracking.sweep import parent_run_file
    from harness.trust.calibration import CalibrationError

    hydra_cfg = HydraConfig.get()
    parent = None
    if hydra_cfg.mode == RunMode.MULTIRUN:
        path = parent_run_file(hydra_cfg.sweep.dir)
        parent = path.read_text().strip() if path.is_file() else None
    try:
        config = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
        metrics = run_job(config, Path(hydra_cfg.runtime.output_dir) / "artifacts", parent_run_id=parent)
    except MissingMandatoryValue as error:
        print(f"error: config value {error.full_key} is required (set {error.full_key}=...)", file=sys.stderr)
        sys.exit(USAGE_ERROR)
    except (CalibrationError, ConfigError, DataError, IntakeError, RulePackError, UnknownName, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(USAGE_ERROR)
    return metrics["micro_f1"]
