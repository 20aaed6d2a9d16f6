"""``harness operations``: a recorded run's operational outcomes under other assumptions, without running the pipeline.

    harness operations <run_id> [key=value ...] [--sweep KEY=V1,V2,...] [--tracking-uri URI] [--no-log]

Reads the run's per-chart results and the config it ran with from MLflow, applies the overrides, routes the recorded
results again when a ``routing.`` key changes (``harness.operations.reroute``: the codes, confidences and edits stay
as recorded), and recomputes the outcomes with the run's seed and bootstrap settings. Each scenario is logged as a
child run of the recorded run (tag ``harness.kind=operations``, ``harness.what_if_of=<run>``, the overrides in
``harness.what_if``; params: the workload model and routing policy used; metrics: the outcomes, with ``review_rate``
under the new routing; artifacts: ``operations.json`` and ``what_if.json``), and a table is printed.

Keys, checked before anything is read:
  operations.<field>   the workload model (conf/operations/default.yaml): coders, qa_sample_rate, hours_per_day,
                       arrivals_per_day, manual_coding_minutes, review_minutes.high_risk, payer_edits, ...
  routing.<field>      the routing policy (conf/routing/default.yaml): min_code_confidence,
                       review_unestimated_confidence, review_on_edits, high_risk_codes, family_thresholds.<prefix>, ...
Values are YAML (8, 0.85, true, [excludes1, mce_age]).

--sweep KEY=V1,V2,... computes one scenario per value (on top of the other overrides) and prints the curve coding
leads ask for: review share against denial rate against coder hours. Example:

    harness operations 3f2a... --sweep routing.min_code_confidence=0.5,0.6,0.7,0.8,0.9
    harness operations 3f2a... operations.coders=8 operations.qa_sample_rate=0.1

Exit codes: 0 done; 2 an unknown key or a bad value (named), a run that cannot be read or has no gold codes.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import USAGE_ERROR, HarnessError
from harness.tracking.run_store import DEFAULT_URI

if TYPE_CHECKING:
    from pydantic import BaseModel

    from harness.operations.chart_outcomes import RecordedSettings
    from harness.operations.facts import RecordedCharts
    from harness.operations.metrics import Operations
    from harness.tracking.run_store import RecordedRun

SECTIONS = ("operations", "routing")
"""The config groups a what-if may change."""
KIND = "operations"
"""``harness.kind`` of a what-if run."""
SHOWN = ("review_rate", "denial_rate", "rework_rate", "coder_minutes_per_chart", "coder_throughput_charts_per_hour",
         "coder_time_saved", "coder_utilization", "operations_stable", "review_queue_backlog", "backlog_growth_per_day",
         "time_to_claim_p50_h", "time_to_claim_p95_h")
"""The outcomes a what-if prints, in this order."""
COPIED_TAGS = ("dataset", "dataset.split", "dataset.digest", "extractor", "rules.pack", "degradation")
"""Tags of the recorded run a what-if run carries too (to find it by dataset; ``harness.kind`` keeps it out of the gate)."""


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
            return [*parts[:depth + 1], ".".join(parts[depth + 1:])]  # a code prefix may hold dots (J96.0)
        else:
            raise WhatIfError(f"unknown key {key!r}: {'.'.join([section, *parts[:depth + 1]])} has no fields below it")
    return parts


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
    """The workload model and routing policy of ``settings`` with ``overrides`` set, validated (``WhatIfError`` naming each
    problem)."""
    from pydantic import ValidationError

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
            built[section] = model.model_validate(values[section])
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
    run_id: str | None = None
    """The child run it was logged as."""

    def label(self) -> str:
        return " ".join(f"{key}={_shown(value)}" for key, value in self.overrides.items()) or "as recorded"


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
                    metrics=metrics)


def load(run_id: str, uri: str, into: Path) -> tuple[RecordedRun, RecordedCharts, RecordedSettings]:
    """The recorded run, its per-chart results and the settings it ran with; ``WhatIfError`` when it cannot be costed."""
    from pydantic import ValidationError

    from harness.operations.chart_outcomes import costable, recorded_settings
    from harness.operations.facts import load_recorded
    from harness.tracking.run_store import load_run

    run = load_run(run_id, uri, into=into)
    why = costable(run.folder)
    if why is not None:
        raise WhatIfError(f"run {run_id} ({run.name}) cannot be costed: {why}")
    try:
        settings = recorded_settings(run.folder)
    except FileNotFoundError as error:
        raise WhatIfError(f"run {run_id}: {error}") from None
    except ValidationError as error:
        raise WhatIfError(f"run {run_id}: its recorded config does not validate: {str(error).splitlines()[0]}") from None
    return run, load_recorded(run.folder), settings


# --- recording -----------------------------------------------------------------------------------------------------


def record(scenario: Scenario, run: RecordedRun, uri: str, sweep: str | None) -> str:
    """Log ``scenario`` as a child run of ``run``; returns its id."""
    from harness.config import TrackingConfig
    from harness.operations.metrics import DOCUMENT
    from harness.tracking.mlflow_store import Tracker, flatten
    from harness.tracking.run_store import client, get_run

    recorded = get_run(run.run_id, uri)
    experiment = client(uri).get_experiment(recorded.info.experiment_id).name
    tracker = Tracker(TrackingConfig(uri=uri, experiment=experiment))
    tags = {name: run.tags[name] for name in COPIED_TAGS if name in run.tags}
    tags |= {"harness.kind": KIND, "harness.what_if_of": run.run_id, "harness.what_if": scenario.label()}
    if sweep:
        tags["harness.what_if_sweep"] = sweep
    child = tracker.start_run(f"{run.name} | what-if {scenario.label()}"[:250], tags=tags, parent_run_id=run.run_id)
    try:
        params = flatten({"operations": scenario.operations.model_dump(mode="json"),
                          "routing": scenario.routing.model_dump(mode="json")})
        tracker.log(child, params=params, metrics=scenario.metrics)
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / f"{DOCUMENT}.json").write_text(json.dumps(scenario.result.document, indent=2), encoding="utf-8")
            what_if = {"of": run.run_id, "overrides": scenario.overrides, "rerouted": scenario.rerouted,
                       "routing": scenario.routing.model_dump(mode="json"),
                       "review_rate": scenario.metrics["review_rate"]}
            (Path(folder) / "what_if.json").write_text(json.dumps(what_if, indent=2), encoding="utf-8")
            tracker.log_artifacts(child, Path(folder))
    except BaseException:
        tracker.finish(child, "FAILED")
        raise
    tracker.finish(child)
    return child


# --- tables --------------------------------------------------------------------------------------------------------


def _shown(value: Any) -> str:
    """A value as it is written on the command line (YAML)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ",".join(map(_shown, value)) + "]"
    return str(value)


def _format(name: str, value: float | None) -> str:
    from reports.labels import format_value

    if value is None:
        return "–"
    if name == "operations_stable":
        return "yes" if value >= 1 else "no"
    return format_value(name, value)


def comparison_table(recorded: Scenario, what_if: Scenario) -> str:
    """The outcomes as recorded beside those of the what-if, one line each."""
    from reports.labels import difference, label

    rows = [("measure", "as recorded", "what-if", "change")]
    for name in SHOWN:
        before, after = recorded.metrics.get(name), what_if.metrics.get(name)
        if before is None and after is None:
            continue
        changed = before is not None and after is not None and name != "operations_stable"  # yes/no has no difference
        change = difference(name, after - before) if changed else "–"
        rows.append((label(name), _format(name, before), _format(name, after), change))
    if not what_if.metrics.get("operations_stable", 1.0):
        rows.append(("", "", "", ""))
        rows.append((_unstable(what_if), "", "", ""))
    return _aligned(rows)


def _unstable(scenario: Scenario) -> str:
    metrics = scenario.metrics
    return (f"unstable queue: coders needed {metrics['coder_utilization']:.0%} of their hours; the backlog grows by "
            f"{metrics['backlog_growth_per_day']:.1f} charts a day ({metrics['review_queue_backlog']:.0f} waiting after "
            f"{scenario.operations.working_days} days)")


def value_at(scenario: Scenario, key: str) -> Any:
    """The value of ``key`` (``routing.min_code_confidence``) that ``scenario`` used."""
    section = key.partition(".")[0]
    node: Any = (scenario.operations if section == "operations" else scenario.routing).model_dump(mode="json")
    for part in check_key(key):
        node = node.get(part) if isinstance(node, Mapping) else None
    return node


def curve_table(key: str, scenarios: Sequence[Scenario], recorded: Scenario | None = None) -> str:
    """One line per swept value (the recorded settings first, when given): review share, denial and rework, coder time
    per chart, per 1,000 charts and a day, the coders that takes, and the time to claim."""
    rows = [(key, "review share", "denial rate", "rework rate", "coder min/chart", "coder h/1,000 charts",
             "coder h/day", "coders needed", "time to claim p95")]
    for scenario in ([recorded] if recorded else []) + list(scenarios):
        m, model = scenario.metrics, scenario.operations
        minutes = m["coder_minutes_per_chart"]
        per_day = model.arrivals_per_day * minutes / 60.0
        claim = (_format("time_to_claim_p95_h", m.get("time_to_claim_p95_h")) if m.get("operations_stable")
                 else f"unstable: +{m['backlog_growth_per_day']:.1f}/day")
        shown = _shown(value_at(scenario, key)) + ("" if scenario.overrides else " (as recorded)")
        rows.append((shown, _format("review_rate", m["review_rate"]),
                     _format("denial_rate", m["denial_rate"]), _format("rework_rate", m["rework_rate"]),
                     f"{minutes:.2f}", f"{minutes * 1000 / 60:.1f}", f"{per_day:.1f}", f"{per_day / model.hours_per_day:.1f}",
                     claim))
    return _aligned(rows)


def _aligned(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows if len(row) > i and any(row[1:])) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        if not any(row[1:]):  # a note line runs across the columns
            lines.append(row[0])
            continue
        cells = [row[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


# --- command -------------------------------------------------------------------------------------------------------


def what_if(run_id: str, overrides: Mapping[str, Any], uri: str = DEFAULT_URI, sweep: tuple[str, list[Any]] | None = None,
            log: bool = True) -> tuple[Scenario, list[Scenario]]:
    """The run's outcomes as recorded (recomputed under its recorded settings) and each what-if scenario (one, or one per
    swept value), logged as child runs unless ``log`` is off."""
    if sweep and sweep[0] in overrides:
        raise WhatIfError(f"{sweep[0]} is both swept and set: give it once")
    with tempfile.TemporaryDirectory(prefix="harness-what-if-") as folder:
        run, charts, settings = load(run_id, uri, Path(folder))
        for values in ([{**overrides, sweep[0]: value} for value in sweep[1]] if sweep else [overrides]):
            apply(settings, values)  # every scenario's values checked before any is logged
        recorded = compute(charts, settings, {})
        scenarios = [compute(charts, settings, {**overrides, sweep[0]: value}) for value in sweep[1]] if sweep else \
            [compute(charts, settings, dict(overrides))]
        if log:
            for scenario in scenarios:
                scenario.run_id = record(scenario, run, uri, sweep[0] if sweep else None)
    return recorded, scenarios


def _known_errors() -> tuple[type[Exception], ...]:
    """Failures that mean "cannot do this what-if" (exit 2); MLflow is imported only once one reaches the handler."""
    from mlflow.exceptions import MlflowException

    return HarnessError, MlflowException, OSError


def parser() -> argparse.ArgumentParser:
    made = argparse.ArgumentParser(prog="harness operations", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    made.add_argument("run_id", help="MLflow run id of a job run with gold codes")
    made.add_argument("overrides", nargs="*", metavar="key=value", help="operations.<field>=... or routing.<field>=...")
    made.add_argument("--sweep", metavar="KEY=V1,V2,...", help="one scenario per value, printed as a curve")
    made.add_argument("--tracking-uri", default=DEFAULT_URI, metavar="URI", help=f"MLflow store (default {DEFAULT_URI})")
    made.add_argument("--no-log", action="store_true", help="print the outcomes without logging child runs")
    return made


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``harness operations``; returns the exit status."""
    import os

    args = parser().parse_intermixed_args(sys.argv[1:] if argv is None else list(argv))  # options between the overrides
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        overrides = parse_overrides(args.overrides)
        sweep = parse_sweep(args.sweep) if args.sweep else None
        if not overrides and not sweep:
            raise WhatIfError("nothing to change: give key=value overrides or --sweep KEY=V1,V2,...")
        recorded, scenarios = what_if(args.run_id, overrides, args.tracking_uri, sweep, log=not args.no_log)
    except _known_errors() as error:
        print(f"harness operations: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    print(f"run {args.run_id}: {recorded.result.document.get('charts', '?')} charts")
    if sweep:
        fixed = " ".join(f"{key}={_shown(value)}" for key, value in overrides.items())
        print(f"what-if {fixed}".rstrip() + f", sweeping {sweep[0]} (coder hours a day at "
              f"{scenarios[0].operations.arrivals_per_day} charts a day):\n")
        print(curve_table(sweep[0], scenarios, recorded))
    else:
        print(f"what-if {scenarios[0].label()}:\n")
        print(comparison_table(recorded, scenarios[0]))
    logged = [scenario.run_id for scenario in scenarios if scenario.run_id]
    if logged:
        print(f"\nlogged as child run{'s' if len(logged) > 1 else ''} of {args.run_id}: {', '.join(logged)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
