"""Generic nonparametric bootstrap: resample items (charts) with replacement.

Metrics draw one index matrix and evaluate every statistic on the same
resamples, so intervals of related metrics are consistent; paired comparisons
reuse the same indices for both systems.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np


def draw_indices(n_items: int, n_resamples: int, seed: int) -> np.ndarray:
    """Indices of ``n_resamples`` resamples of ``n_items`` items, shape ``(B, N)``."""
    if n_items < 1:
        raise ValueError(f"cannot bootstrap {n_items} items; need at least one")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_items, size=(n_resamples, n_items))


def count_matrix(indices: np.ndarray, n_items: int) -> np.ndarray:
    """How often each item occurs in each resample, shape ``(B, N)`` (float64).

    A statistic that is a sum over items becomes ``W @ values`` for all resamples.
    """
    n_resamples = indices.shape[0]
    offsets = np.arange(n_resamples)[:, None] * n_items
    counts = np.bincount((indices + offsets).ravel(), minlength=n_resamples * n_items)
    return counts.reshape(n_resamples, n_items).astype(np.float64)


def percentile_interval(
    samples: np.ndarray, confidence: float
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of bootstrap ``samples`` along axis 0.

    With ``samples`` of shape ``(B,)`` the bounds are scalars (0-d arrays).
    """
    _check_confidence(confidence)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.percentile(samples, [100.0 * alpha, 100.0 * (1.0 - alpha)], axis=0)
    return low, high


def normal_interval(point: np.ndarray, samples: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """``point`` plus or minus ``z`` bootstrap standard errors (``samples`` along axis 0).

    For a statistic whose resamples are shifted away from the point value, where a percentile
    interval can miss the point it is meant to bound.
    """
    _check_confidence(confidence)
    half_width = NormalDist().inv_cdf(0.5 + confidence / 2.0) * np.std(samples, axis=0)
    return point - half_width, point + half_width


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
