"""The metrics registered with ``harness.metrics.registry.metric`` (plugins' included), computed for a run.

Each decorated function computes its metrics from the run's chart outcomes; those registered with ``interval=True``
get bootstrap bounds from the function run again on resampled charts, the same resamples as
:func:`harness.metrics.coding.evaluate` draws for the same seed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from harness.metrics import registry
from harness.metrics.bootstrap import draw_indices, percentile_interval
from harness.metrics.coding import ChartOutcome


def decorated_metrics(outcomes: Sequence[ChartOutcome], *, n_resamples: int, confidence: float, seed: int) -> dict[str, float]:
    """Every registered function's metrics for ``outcomes``, with ``<name>_ci_low`` / ``<name>_ci_high`` for those
    registered with an interval (``n_resamples`` chart resamples drawn with ``seed``)."""
    result: dict[str, float] = {}
    indices = None
    for compute in registry.computers():
        result.update(_values(compute, outcomes))
        bounded = [spec.name for spec in compute.registered_metrics if spec.interval]
        if not bounded:
            continue
        if indices is None:
            indices = draw_indices(len(outcomes), n_resamples, seed)
        samples = [_values(compute, [outcomes[i] for i in row]) for row in indices]
        for name in bounded:
            low, high = percentile_interval(np.array([sample[name] for sample in samples]), confidence)
            result[f"{name}_ci_low"], result[f"{name}_ci_high"] = float(low), float(high)
    return result


def _values(compute: Callable[..., Any], outcomes: Sequence[ChartOutcome]) -> dict[str, float]:
    """What ``compute`` returns for ``outcomes``, by metric name; a return that does not match its registration is a
    ``ValueError`` naming the function."""
    names = [spec.name for spec in compute.registered_metrics]
    value = compute(outcomes)
    if not isinstance(value, Mapping):
        if len(names) == 1:
            return {names[0]: float(value)}
        value = {}
    if set(value) != set(names):
        raise ValueError(f"metric function {compute.__module__}.{compute.__qualname__} returned "
                         f"{sorted(value) or 'one value'}; it registers {names}, so it must return a mapping of exactly those")
    return {name: float(value[name]) for name in names}
