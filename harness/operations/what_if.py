"""What-if scenarios over a recorded run: its charts' operational outcomes under other assumptions, without running the
pipeline again.

A scenario changes ``operations.<field>`` (the workload model) or ``routing.<field>`` (the routing policy) by ``key=value``
overrides, checked against the models before anything is read (:func:`parse_overrides`, :func:`parse_sweep`).
:func:`compute` applies them to the settings the run was recorded with, routes the recorded results again when a
``routing.`` key changes (``harness.operations.reroute``: the codes, confidences and edits stay as recorded), and
recomputes the outcomes with the run's seed and bootstrap settings. Reading the run and logging each scenario as a child
run is ``harness.tracking.what_if_runs``; the command, ``harness operations``, is ``harness.cli.operations``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from harness.operations.chart_outcomes import RecordedSettings
    from harness.operations.facts import RecordedCharts
    from harness.operations.metrics import Operations

SECTIONS = ("operations", "routing")
"""The config groups a what-if may change."""


class WhatIfError(HarnessError, ValueError):
    """An override or a run that a what-if cannot use; the message names it."""


# --- overrides -----------------------------------------------------------------------------------------------------


def models() -> dict[str, type[BaseModel]]:
    from coders.routing import RoutingConfig
    from harness.operations.config import OperationsConfig

    return {"operations": OperationsConfig, "routing": RoutingConfig}


def parse_value(key: str, raw: str) -> Any:
    """A value as YAML (``8``, ``0.85``, ``true``, ``[a, b]``); text that is not YAML stays text."""
    import yaml

    try:
        return yaml.safe_load(raw) if raw.strip() else raw
    except yaml.YAMLError:
        raise WhatIfError(f"{key}={raw}: the value is not YAML") from None


def check_key(key: str) -> list[str]:
    """The path of ``key`` below its section; ``WhatIfError`` naming it unless it is a field of the workload model or the
    routing policy (a dict field takes one key below it: ``routing.family_thresholds.J96.0``)."""
    import typing

    from pydantic import BaseModel

    section, _, rest = key.partition(".")
    if section not in SECTIONS or not rest:
        raise WhatIfError(f"unknown key {key!r}: a what-if changes operations.<field> or routing.<field> (the pipeline's "
                          "other settings need a new run)")
    model, parts = models()[section], rest.split(".")
    for depth, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            raise WhatIfError(f"unknown key {key!r}: {'.'.join([section, *parts[:depth]])} has no field {part!r} "
                              f"(known: {', '.join(model.model_fields)})")
        annotation = field.annotation
        if depth == len(parts) - 1:
            return parts
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        elif typing.get_origin(annotation) is dict:
            below = ".".join(parts[depth + 1:])  # a code prefix may hold dots (J96.0)
            return [*parts[:depth + 1], routed_prefix(below) if section == "routing" else below]
        else:
            raise WhatIfError(f"unknown key {key!r}: {'.'.join([section, *parts[:depth + 1]])} has no fields below it")
    return parts


def routed_prefix(text: str) -> str:
    """A code prefix as the routing policy keeps it (``j96`` -> ``J96``), so an override replaces the recorded entry
    and a sweep reads its value back; text of no code's shape stays as typed, for the policy's error to quote."""
    from coders.routing import normal_prefix, shaped_prefix

    prefix = normal_prefix(text)
    return prefix if shaped_prefix(prefix) else text


def parse_overrides(texts: Sequence[str]) -> dict[str, Any]:
    """``key=value`` arguments as ``{key: value}``, each key checked (a repeated key keeps its last value)."""
    found: dict[str, Any] = {}
    for text in texts:
        key, sep, raw = text.partition("=")
        if not sep or not key.strip():
            raise WhatIfError(f"{text!r} is not key=value (e.g. operations.coders=8)")
        check_key(key.strip())
        found[key.strip()] = parse_value(key, raw)
    return found


def parse_sweep(text: str) -> tuple[str, list[Any]]:
    """``KEY=V1,V2,...`` as the key and its values (each YAML)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    values = [part for part in raw.split(",") if part.strip()]
    if not sep or not key or not values:
        raise WhatIfError(f"--sweep {text!r} is not KEY=V1,V2,... (e.g. routing.min_code_confidence=0.5,0.7,0.9)")
    check_key(key)
    return key, [parse_value(key, value) for value in values]


def apply(settings: RecordedSettings, overrides: Mapping[str, Any]) -> tuple[Any, Any]:
    """The workload model and routing policy of ``settings`` with ``overrides`` set, validated as a job validates them
    (routing's code lists in the run's code-set year; ``WhatIfError`` naming each problem)."""
    from pydantic import ValidationError

    from coders.routing import CODE_SET_YEAR

    values = {"operations": settings.operations.model_dump(), "routing": settings.routing.model_dump()}
    for key, value in overrides.items():
        section = key.partition(".")[0]
        node = values[section]
        *parents, last = check_key(key)
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    built = {}
    for section, model in models().items():
        try:
            built[section] = model.model_validate(values[section], context={CODE_SET_YEAR: settings.code_set_year})
        except ValidationError as error:
            problems = "; ".join(f"{section}.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
            raise WhatIfError(f"invalid value: {problems}") from None
    return built["operations"], built["routing"]


# --- outcomes ------------------------------------------------------------------------------------------------------


@dataclass
class Scenario:
    """One set of assumptions and the outcomes they give."""

    overrides: dict[str, Any]
    operations: Any
    """The ``OperationsConfig`` used."""
    routing: Any
    """The ``RoutingConfig`` used."""
    rerouted: bool
    """The recorded results were routed again (a ``routing.`` key was given)."""
    result: Operations
    metrics: dict[str, float]
    """The outcomes with ``review_rate`` (and its interval) under the routing used."""
    confidence: float = 0.95
    """Of the intervals in ``metrics`` (the run's bootstrap setting)."""
    run_id: str | None = None
    """The child run it was logged as."""

    def label(self) -> str:
        return " ".join(f"{key}={written(value)}" for key, value in self.overrides.items()) or "as recorded"


@contextmanager
def _quiet() -> Any:
    """The workload model warns about a queue that does not keep up; the table says so in its own words."""
    logger = logging.getLogger("harness")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def compute(charts: RecordedCharts, settings: RecordedSettings, overrides: Mapping[str, Any]) -> Scenario:
    """The outcomes of the recorded charts under ``settings`` with ``overrides``."""
    import numpy as np

    from harness.metrics.bootstrap import count_matrix, draw_indices, percentile_interval
    from harness.operations.metrics import operations

    model, routing = apply(settings, overrides)
    rerouted = any(key.startswith("routing.") for key in overrides)
    facts = charts.facts(routing if rerouted else None)
    with _quiet():
        result = operations(facts, model, n_resamples=settings.n_resamples, confidence=settings.confidence,
                            seed=settings.seed)
    reviewed = np.array([chart.route == "review" for chart in facts], dtype=np.float64)
    resampled = count_matrix(draw_indices(len(facts), settings.n_resamples, settings.seed), len(facts)) @ reviewed / len(facts)
    low, high = percentile_interval(resampled, settings.confidence)
    metrics = {"review_rate": float(reviewed.mean()), "review_rate_ci_low": float(low), "review_rate_ci_high": float(high),
               **result.metrics}
    return Scenario(overrides=dict(overrides), operations=model, routing=routing, rerouted=rerouted, result=result,
                    metrics=metrics, confidence=settings.confidence)


def written(value: Any) -> str:
    """A value as it is written on the command line (YAML)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ",".join(map(written, value)) + "]"
    return str(value)


def curve(key: str, recorded: Scenario, scenarios: Sequence[Scenario]) -> list[tuple[str, Scenario]]:
    """The rows of a sweep over ``key``, each with its value as written: the recorded settings first, unless a swept
    scenario changes nothing else and has the recorded value (that row is then marked, not repeated)."""
    at = value_at(recorded, key)
    same = {id(s) for s in scenarios if value_at(s, key) == at and set(s.overrides) == {key}}
    rows = [] if same else [(f"{written(at)} (as recorded)", recorded)]
    return rows + [(written(value_at(s, key)) + (" (as recorded)" if id(s) in same else ""), s) for s in scenarios]


def value_at(scenario: Scenario, key: str) -> Any:
    """The value of ``key`` (``routing.min_code_confidence``) that ``scenario`` used."""
    section = key.partition(".")[0]
    node: Any = (scenario.operations if section == "operations" else scenario.routing).model_dump(mode="json")
    for part in check_key(key):
        node = node.get(part) if isinstance(node, Mapping) else None
    return node
