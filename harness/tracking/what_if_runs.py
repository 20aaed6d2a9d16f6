"""A what-if over a recorded run in the store: read the run and the settings it ran with, compute each scenario
(``harness.operations.what_if``) and log it as a child run of the recorded run (tag ``harness.kind=operations``,
``harness.what_if_of=<run>``, the overrides in ``harness.what_if``; params: the workload model and routing policy used;
metrics: the outcomes, with ``review_rate`` under the new routing; artifacts: ``operations.json`` and ``what_if.json``).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.operations.what_if import Scenario, WhatIfError, apply, compute
from harness.tracking.run_store import DEFAULT_URI

if TYPE_CHECKING:
    from harness.operations.chart_outcomes import RecordedSettings
    from harness.operations.facts import RecordedCharts
    from harness.tracking.run_store import RecordedRun

KIND = "operations"
"""``harness.kind`` of a what-if run."""
COPIED_TAGS = ("dataset", "dataset.split", "dataset.digest", "extractor", "rules.pack", "degradation")
"""Tags of the recorded run a what-if run carries too (to find it by dataset; ``harness.kind`` keeps it out of the gate)."""


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


def record(scenario: Scenario, run: RecordedRun, uri: str, sweep: str | None) -> str:
    """Log ``scenario`` as a child run of ``run``; returns its id."""
    from harness.config import TrackingConfig
    from harness.operations.metrics import DOCUMENT
    from harness.run_record import curve_file
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
            (Path(folder) / curve_file(DOCUMENT)).write_text(json.dumps(scenario.result.document, indent=2), encoding="utf-8")
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
