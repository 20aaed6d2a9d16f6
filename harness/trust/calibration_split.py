"""The calibrator a run uses: fitted on a calibration split, saved as a versioned artifact, reused.

The calibration charts come from ``calibration.split`` (train by default). When the extractor also
learns from that split, a seeded ``holdout_fraction`` of it is held out: the extractor is fitted on
the rest, the pipeline runs on the held-out charts, and each predicted code gives one pair
(confidence, code is in the gold set). Afterwards the extractor is refitted on the whole split, so
the evaluated pipeline loses nothing; its confidences are calibrated by a map learned out of sample.
An extractor that says its confidences are calibrated already (``calibrated = True``) is refused.

A fitted calibrator is saved under ``<cache>/calibrators/`` keyed by everything that decides it
(extractor fingerprint, rule pack, calibration settings, calibration charts), so a sweep fits it
once; ``calibration.artifact`` loads a saved one instead (its extractor and pack must match).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.config import Split
from harness.contracts import Chart, CodeAssignment, digest
from harness.trust.calibration import CalibrationConfig, CalibrationError, Calibrator

log = logging.getLogger(__name__)

TIE_BREAK = 1e-6
"""Share of the raw confidence mixed into a calibrated one: isotonic steps tie many codes, and the
raw value keeps the extractor's ranking (so MAP) intact at no visible cost to calibration."""


class CalibrationRunConfig(BaseModel):
    """Whether and how a run calibrates code confidences (``conf/calibration/<name>.yaml``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = "none"
    """Option name (equals the Hydra option)."""
    method: Literal["none", "isotonic", "platt"] = "none"
    """``none`` keeps the coded confidences; see ``harness.trust.calibration`` for the two fits."""
    per_family: bool = False
    """Separate fits per code family (first character), with a global fallback."""
    min_samples: int = Field(default=50, ge=2)
    """Fewest predicted codes the calibration split must yield."""
    split: Split = "train"
    """Split the calibration charts come from (never the evaluated one)."""
    holdout_fraction: float = Field(default=0.2, gt=0, lt=1)
    """Share of ``split`` held out from extractor fitting when the extractor learns from it."""
    max_charts: int = Field(default=200, ge=1)
    """Most calibration charts (bounds the extra pipeline pass for model-served extractors)."""
    artifact: str | None = None
    """Path of a saved calibrator to reuse instead of fitting one."""


def holdout(charts: Sequence[Chart], fraction: float, seed: int) -> tuple[list[Chart], list[Chart]]:
    """``(kept, held_out)``: each chart held out by a seeded hash of its id, so the split never depends on order."""
    def draw(chart: Chart) -> float:
        return int(hashlib.sha256(f"{seed}:{chart.id}".encode()).hexdigest()[:12], 16) / 16**12

    held = {c.id for c in charts if draw(c) < fraction}
    return [c for c in charts if c.id not in held], [c for c in charts if c.id in held]


def calibration_pairs(charts: Sequence[Chart], codes_per_chart: Sequence[Sequence[CodeAssignment]],
                      systems: Sequence[str]) -> tuple[list[float], list[bool], list[str]]:
    """One ``(confidence, correct, code)`` per distinct scored code per chart."""
    confidences, correct, codes = [], [], []
    for chart, assigned in zip(charts, codes_per_chart, strict=True):
        gold = {g.code for g in chart.gold}
        best: dict[str, float] = {}
        for code in assigned:
            if code.system in systems:
                best[code.code] = max(code.confidence, best.get(code.code, 0.0))
        for code in sorted(best):
            confidences.append(best[code])
            correct.append(code in gold)
            codes.append(code)
    return confidences, correct, codes


def load_checked(path: str, created_by: dict[str, str]) -> Calibrator:
    """A saved calibrator, refused when it was fitted for another extractor or rule pack."""
    calibrator = Calibrator.load(path)
    for key in ("extractor", "rules"):
        if calibrator.created_by.get(key) != created_by[key]:
            raise CalibrationError(f"calibrator {path} was fitted for {key} {calibrator.created_by.get(key)!r}, "
                                   f"this run uses {created_by[key]!r}")
    return calibrator


def fit_or_reuse(config: CalibrationRunConfig, charts: Sequence[Chart],
                 run_codes: Callable[[Sequence[Chart]], list[list[CodeAssignment]]],
                 systems: Sequence[str], created_by: dict[str, str], cache_dir: Path) -> Calibrator:
    """The cached calibrator for these settings and charts, or a new one fitted on ``run_codes(charts)``."""
    key = digest([created_by, config.model_dump(exclude={"name", "artifact"}), [c.content_hash() for c in charts],
                  [sorted(g.code for g in c.gold) for c in charts], sorted(systems)])
    path = cache_dir / f"{key}.json"
    if path.is_file():
        log.info("calibration: reusing %s", path.name)
        return Calibrator.load(path)
    confidences, correct, codes = calibration_pairs(charts, run_codes(charts), systems)
    settings = CalibrationConfig(method=config.method, per_family=config.per_family, min_samples=config.min_samples)
    try:
        calibrator = Calibrator.fit(confidences, correct, codes=codes, config=settings, created_by=created_by)
    except CalibrationError as error:
        raise CalibrationError(f"calibration split {config.split!r} ({len(charts)} charts): {error}") from None
    cache_dir.mkdir(parents=True, exist_ok=True)
    calibrator.save(path)
    return calibrator


def calibrating(calibrator: Calibrator) -> Callable[[list[CodeAssignment]], list[CodeAssignment]]:
    """The pipeline's calibration step: calibrated confidence in ``confidence``, the coded one in ``raw_confidence``."""
    def apply(codes: list[CodeAssignment]) -> list[CodeAssignment]:
        values = calibrator.transform([c.confidence for c in codes], codes=[c.code for c in codes])
        return [c.model_copy(update={"confidence": round(float(v) * (1 - TIE_BREAK) + TIE_BREAK * c.confidence, 9),
                                     "raw_confidence": c.confidence}) for c, v in zip(codes, values, strict=True)]

    return apply

