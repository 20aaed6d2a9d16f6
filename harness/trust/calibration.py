"""Confidence calibration of predicted codes: isotonic or Platt scaling, optionally per code family.

A :class:`Calibrator` maps a predicted code's raw confidence to the probability
that the code is correct (in its chart's gold set). It is fitted on
``(confidence, correct)`` pairs from a calibration split that the evaluation
split does not overlap. With ``per_family`` every code family (first character
of the code: the ICD-10-CM chapter letter) that has enough samples of both
classes gets its own fit; the other families use the global fit.

A fitted calibrator is saved as a versioned JSON artifact (never pickle): its
format name and version, config, fitted points, split size and positives, a
digest of the training pairs and who created it. :meth:`Calibrator.load`
refuses any other format or version.

:func:`ece` and :func:`reliability_bins` measure calibration on equal-width
confidence bins.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.errors import HarnessError

ARTIFACT_FORMAT = "harness.calibrator"
"""``format`` field of a saved calibrator."""
ARTIFACT_VERSION = "1"
"""``version`` field of a saved calibrator; bump it when the artifact layout changes."""

_LOGIT_EPS = 1e-6  # keeps logit finite for confidences of exactly 0 or 1 (the Finding default is 1.0)


class CalibrationError(HarnessError, ValueError):
    """A calibrator cannot be fitted (too few samples, one class only) or loaded (bad artifact)."""


class CalibrationConfig(BaseModel):
    """How to fit a calibrator."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["isotonic", "platt"] = "isotonic"
    """``isotonic``: monotone piecewise-linear fit (sklearn IsotonicRegression, clipped outside the
    fitted range); ``platt``: logistic regression on the logit of the confidence."""
    per_family: bool = False
    """Fit each code family (first character of the code) on its own, falling back to the global fit."""
    min_samples: int = Field(default=50, ge=2)
    """Fewest predicted codes a calibration split may have; fewer raise :class:`CalibrationError`."""
    min_family_samples: int = Field(default=100, ge=2)
    """Fewest predicted codes a family needs (with both classes present) for its own fit."""


class _Fit(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    n_samples: int = Field(ge=2)
    """Pairs the fit was made on."""
    positives: int = Field(ge=1)
    """Correct codes among them."""


class IsotonicFit(_Fit):
    """Isotonic calibration map: linear between thresholds, constant outside them."""

    kind: Literal["isotonic"] = "isotonic"
    x: list[float] = Field(min_length=1)
    """Confidence thresholds, ascending (sklearn ``X_thresholds_``)."""
    y: list[float] = Field(min_length=1)
    """Calibrated value at each threshold (sklearn ``y_thresholds_``)."""

    @model_validator(mode="after")
    def _monotone(self) -> IsotonicFit:
        x, y = np.array(self.x), np.array(self.y)
        if len(x) != len(y) or np.any(np.diff(x) < 0) or np.any((y < 0) | (y > 1)):
            raise ValueError("isotonic points need equally many ascending x and y values in [0, 1]")
        return self

    def apply(self, confidences: np.ndarray) -> np.ndarray:
        """Calibrated confidences (what IsotonicRegression.predict gives with out_of_bounds="clip")."""
        return np.interp(confidences, self.x, self.y)


class PlattFit(_Fit):
    """Platt calibration map: ``sigmoid(coef * logit(confidence) + intercept)``."""

    kind: Literal["platt"] = "platt"
    coef: float
    """Slope on the logit of the confidence."""
    intercept: float
    """Intercept of the logistic fit."""

    def apply(self, confidences: np.ndarray) -> np.ndarray:
        """Calibrated confidences."""
        z = self.coef * _logit(confidences) + self.intercept
        return 0.5 * (1.0 + np.tanh(0.5 * z))  # sigmoid that cannot overflow


Fit = Annotated[IsotonicFit | PlattFit, Field(discriminator="kind")]
"""A fitted map of either method, told apart by its ``kind``."""


class Calibrator(BaseModel):
    """A fitted calibrator; its JSON dump is the saved artifact. Build it with :meth:`fit` or :meth:`load`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["harness.calibrator"] = ARTIFACT_FORMAT
    """Artifact kind, checked on load."""
    version: Literal["1"] = ARTIFACT_VERSION
    """Artifact layout version, checked on load."""
    config: CalibrationConfig
    """Settings the calibrator was fitted with."""
    n_samples: int = Field(ge=2)
    """Predicted codes in the calibration split."""
    positives: int = Field(ge=1)
    """Correct codes among them."""
    data_digest: str
    """sha256 of the training pairs (and families), independent of their order."""
    created_by: dict[str, str] = Field(default_factory=dict)
    """Provenance supplied by the caller (run id, model, split, commit...)."""
    overall: Fit
    """Global fit, used for every family without its own."""
    families: dict[str, Fit] = Field(default_factory=dict)
    """Per-family fits, keyed by the code's first character."""

    @model_validator(mode="after")
    def _consistent(self) -> Calibrator:
        kinds = {self.overall.kind, *(fit.kind for fit in self.families.values())}
        if kinds != {self.config.method}:
            raise ValueError(f"fits of kind {sorted(kinds)} do not match method {self.config.method!r}")
        if self.families and not self.config.per_family:
            raise ValueError("family fits present but per_family is false")
        return self

    @classmethod
    def fit(
        cls,
        confidences: ArrayLike,
        correct: ArrayLike,
        *,
        codes: Sequence[str] | None = None,
        config: CalibrationConfig | None = None,
        created_by: Mapping[str, str] | None = None,
    ) -> Calibrator:
        """Fit on one ``(confidence, correct)`` pair per predicted code.

        ``codes`` (the predicted code of each pair) is required with ``per_family``.
        Raises :class:`CalibrationError` when the split has fewer than
        ``config.min_samples`` pairs or only one class.
        """
        config = config or CalibrationConfig()
        conf, hit = _pairs(confidences, correct)
        families = _families(codes, len(conf)) if config.per_family else None
        n, positives = len(conf), int(hit.sum())
        if n < config.min_samples:
            raise CalibrationError(
                f"calibration split has {n} predicted codes; at least {config.min_samples} are needed (min_samples)"
            )
        if positives in (0, n):
            only = "correct" if positives else "incorrect"
            raise CalibrationError(f"calibration split of {n} predicted codes has only {only} codes; both classes are needed")
        family_fits = {}
        for family in np.unique(families) if families is not None else ():
            mask = families == family
            size, family_positives = int(mask.sum()), int(hit[mask].sum())
            if size >= config.min_family_samples and 0 < family_positives < size:
                family_fits[str(family)] = _fit_curve(config.method, conf[mask], hit[mask])
        return cls(
            config=config,
            n_samples=n,
            positives=positives,
            data_digest=_data_digest(conf, hit, families),
            created_by=dict(created_by or {}),
            overall=_fit_curve(config.method, conf, hit),
            families=family_fits,
        )

    def transform(self, confidences: ArrayLike, codes: Sequence[str] | None = None) -> np.ndarray:
        """Calibrated confidences, same length as ``confidences``.

        ``codes`` (one per confidence) is required by a per-family calibrator and ignored otherwise.
        """
        conf = _confidences(confidences)
        calibrated = self.overall.apply(conf)
        if not self.config.per_family:
            return calibrated
        families = _families(codes, len(conf))
        for family, fit in self.families.items():
            mask = families == family
            if mask.any():
                calibrated[mask] = fit.apply(conf[mask])
        return calibrated

    def save(self, path: str | Path) -> Path:
        """Write the artifact as JSON; returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> Calibrator:
        """Read an artifact written by :meth:`save`; :class:`CalibrationError` naming ``path`` if it is not one."""
        path = Path(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise CalibrationError(f"{path}: not a JSON calibration artifact ({error})") from error
        if not isinstance(raw, dict) or raw.get("format") != ARTIFACT_FORMAT:
            found = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
            raise CalibrationError(f"{path}: not a calibration artifact (format {found!r}, expected {ARTIFACT_FORMAT!r})")
        if raw.get("version") != ARTIFACT_VERSION:
            raise CalibrationError(
                f"{path}: calibration artifact version {raw.get('version')!r} is not supported "
                f"(this harness reads version {ARTIFACT_VERSION!r}); refit the calibrator"
            )
        try:
            return cls.model_validate(raw)
        except ValidationError as error:
            raise CalibrationError(f"{path}: invalid calibration artifact: {error}") from error


class ReliabilityBin(NamedTuple):
    """One bin of a reliability diagram."""

    lower: float
    """Lower edge (inclusive)."""
    upper: float
    """Upper edge (exclusive; the last bin includes 1.0)."""
    count: int
    """Predicted codes whose confidence falls in the bin."""
    mean_confidence: float
    """Their mean confidence; NaN for an empty bin."""
    accuracy: float
    """Share of them that are correct; NaN for an empty bin."""


def reliability_bins(confidences: ArrayLike, correct: ArrayLike, n_bins: int = 10) -> list[ReliabilityBin]:
    """Per-bin counts, mean confidence and accuracy over ``n_bins`` equal-width bins of [0, 1].

    Bin ``i`` holds confidences in ``[i/n_bins, (i+1)/n_bins)``; the last bin also holds 1.0.
    Every bin is returned, empty ones included, so diagrams share their x axis.
    """
    edges, count, mean_confidence, accuracy = _bin_stats(confidences, correct, n_bins)
    return [
        ReliabilityBin(float(edges[i]), float(edges[i + 1]), int(count[i]), float(mean_confidence[i]), float(accuracy[i]))
        for i in range(n_bins)
    ]


def ece(confidences: ArrayLike, correct: ArrayLike, n_bins: int = 10) -> float:
    """Expected calibration error: ``sum_b (n_b / N) * |accuracy_b - mean_confidence_b|``.

    Bins as in :func:`reliability_bins`; empty bins weigh nothing. NaN for no pairs.
    """
    _, count, mean_confidence, accuracy = _bin_stats(confidences, correct, n_bins)
    total = count.sum()
    if total == 0:
        return math.nan
    filled = count > 0
    return float(count[filled] @ np.abs(accuracy[filled] - mean_confidence[filled]) / total)


def _bin_stats(confidences: ArrayLike, correct: ArrayLike, n_bins: int) -> tuple[np.ndarray, ...]:
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    conf, hit = _pairs(confidences, correct)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # side="right": a confidence on an inner edge opens the upper bin; 1.0 lands in the last bin
    index = np.searchsorted(edges[1:-1], conf, side="right")
    count = np.bincount(index, minlength=n_bins)
    with np.errstate(invalid="ignore"):
        mean_confidence = np.bincount(index, weights=conf, minlength=n_bins) / count
        accuracy = np.bincount(index, weights=hit, minlength=n_bins) / count
    return edges, count, mean_confidence, accuracy


def _fit_curve(method: str, conf: np.ndarray, hit: np.ndarray) -> IsotonicFit | PlattFit:
    counts = {"n_samples": len(conf), "positives": int(hit.sum())}
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(conf, hit)
        return IsotonicFit(x=model.X_thresholds_.tolist(), y=model.y_thresholds_.tolist(), **counts)
    from sklearn.linear_model import LogisticRegression

    # C=inf: Platt scaling is an unpenalised two-parameter fit
    model = LogisticRegression(C=np.inf, max_iter=1000).fit(_logit(conf)[:, None], hit.astype(int))
    return PlattFit(coef=float(model.coef_[0, 0]), intercept=float(model.intercept_[0]), **counts)


def _logit(conf: np.ndarray) -> np.ndarray:
    clipped = np.clip(conf, _LOGIT_EPS, 1.0 - _LOGIT_EPS)
    return np.log(clipped) - np.log1p(-clipped)


def _confidences(confidences: ArrayLike) -> np.ndarray:
    conf = np.asarray(confidences, dtype=np.float64)
    if conf.ndim != 1:
        raise ValueError(f"confidences must be one-dimensional, got shape {conf.shape}")
    if not np.all(np.isfinite(conf) & (conf >= 0.0) & (conf <= 1.0)):
        raise ValueError("confidences must be finite and within [0, 1]")
    return conf


def _pairs(confidences: ArrayLike, correct: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validated confidences and 0/1 correctness as float arrays of equal length."""
    conf = _confidences(confidences)
    hit = np.asarray(correct)
    if hit.shape != conf.shape:
        raise ValueError(f"got {len(conf)} confidences but correct has shape {hit.shape}")
    if not np.isin(hit, (0, 1)).all():
        raise ValueError("correct must hold booleans (or 0/1)")
    return conf, hit.astype(np.float64)


def _families(codes: Sequence[str] | None, n: int) -> np.ndarray:
    if codes is None:
        raise ValueError("a per-family calibrator needs the predicted code of every confidence (codes=...)")
    families = np.array([str(code).strip()[:1].upper() for code in codes], dtype=str)
    if len(families) != n:
        raise ValueError(f"got {n} confidences but {len(families)} codes")
    if n and not np.all(np.char.str_len(families) == 1):
        raise ValueError("every code must be non-empty to have a family")
    return families


def _data_digest(conf: np.ndarray, hit: np.ndarray, families: np.ndarray | None) -> str:
    keys = (hit, conf) if families is None else (hit, conf, families)
    order = np.lexsort(keys)  # sorted first: the digest identifies the pairs, not their order
    digest = hashlib.sha256(conf[order].astype("<f8").tobytes() + hit[order].astype("u1").tobytes())
    if families is not None:
        digest.update("\n".join(families[order]).encode())
    return digest.hexdigest()
