"""Metrics registered at the function that computes them, and metric plugins found by their entry point.

The outcomes are those of the bundled sample's golden run (``tests/golden/sample/predictions.jsonl``); the plugin
is a module with a dist-info folder beside it, as pip leaves an installed distribution on ``sys.path``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT, harness, runs, store

from harness.errors import ConfigError
from harness.metrics import registry
from harness.metrics.coding import ChartOutcome
from harness.metrics.decorated_metrics import decorated_metrics
from harness.registry import Registry

SAMPLE_PREDICTIONS = PROJECT_ROOT / "tests" / "golden" / "sample" / "predictions.jsonl"
PLUGIN_MODULE = "charts_without_codes_plugin"
PLUGIN = '''"""A metric plugin: one decorated function, named by an entry point."""

from harness.metrics.registry import DOWN, metric


@metric("charts_without_codes", "Charts given no code", "share", DOWN, "codes", interval=True)
def charts_without_codes(outcomes):
    return sum(not outcome.ranked for outcome in outcomes) / len(outcomes)
'''


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """The registry with only its built-in metrics; what a test registers is gone after it."""
    monkeypatch.setattr(registry, "_added", [])
    monkeypatch.setattr(registry, "_computers", [])
    monkeypatch.setattr(registry, "_plugins_loaded", False)
    monkeypatch.setattr(registry, "PLUGINS", Registry(registry.PLUGINS.kind, packages=(), group=registry.PLUGINS.group))


def install_plugin(root: Path) -> Path:
    """The plugin module and its distribution's metadata under ``root``, the entry point naming the function."""
    root.mkdir(exist_ok=True)
    (root / f"{PLUGIN_MODULE}.py").write_text(PLUGIN)
    info = root / f"{PLUGIN_MODULE}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {PLUGIN_MODULE}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{registry.PLUGINS.group}]\n"
                                          f"charts_without_codes = {PLUGIN_MODULE}:charts_without_codes\n")
    return root


def sample_rows() -> list[dict]:
    return [json.loads(line) for line in SAMPLE_PREDICTIONS.read_text().splitlines()]


def sample_outcomes() -> list[ChartOutcome]:
    return [ChartOutcome(row["chart_id"], frozenset(row["gold"]), tuple((c["code"], c["confidence"]) for c in row["codes"]),
                         row["route"] == "review", 0.0) for row in sample_rows()]


def test_a_metric_registered_at_its_function_is_known_and_computed(fresh_registry: None) -> None:
    @registry.metric("charts_without_codes", "Charts given no code", "share", registry.DOWN, "codes", interval=True)
    def charts_without_codes(outcomes: list[ChartOutcome]) -> float:
        return sum(not outcome.ranked for outcome in outcomes) / len(outcomes)

    found = registry.get("charts_without_codes")
    assert found.label == "Charts given no code" and found.interval and not found.measures_the_machine
    assert registry.is_registered("charts_without_codes_ci_high") and "charts_without_codes" in registry.names("codes")

    rows = sample_rows()
    got = decorated_metrics(sample_outcomes(), n_resamples=200, confidence=0.95, seed=0)
    share = sum(not row["codes"] for row in rows) / len(rows)
    assert share == 2 / 40 and got["charts_without_codes"] == share
    assert 0.0 <= got["charts_without_codes_ci_low"] < share < got["charts_without_codes_ci_high"]
    assert decorated_metrics(sample_outcomes(), n_resamples=200, confidence=0.95, seed=0) == got  # same seed, same bounds


def test_one_function_may_register_several_metrics(fresh_registry: None) -> None:
    @registry.metric("charts_reviewed", "Charts reviewed", "count", registry.NEITHER, "review")
    @registry.metric("charts_automated", "Charts not reviewed", "count", registry.NEITHER, "review")
    def routes(outcomes: list[ChartOutcome]) -> dict[str, float]:
        reviewed = sum(outcome.routed_to_review for outcome in outcomes)
        return {"charts_reviewed": reviewed, "charts_automated": len(outcomes) - reviewed}

    got = decorated_metrics(sample_outcomes(), n_resamples=10, confidence=0.95, seed=0)
    assert got == {"charts_reviewed": 26.0, "charts_automated": 14.0}


def test_a_function_returning_other_names_than_it_registers_is_refused(fresh_registry: None) -> None:
    @registry.metric("charts_reviewed", "Charts reviewed", "count", registry.NEITHER, "review")
    @registry.metric("charts_automated", "Charts not reviewed", "count", registry.NEITHER, "review")
    def routes(outcomes: list[ChartOutcome]) -> float:
        return 1.0

    with pytest.raises(ValueError, match=r"routes returned one value; it registers \['charts_reviewed', 'charts_automated'\]"):
        decorated_metrics(sample_outcomes(), n_resamples=10, confidence=0.95, seed=0)


def test_a_name_already_registered_is_refused(fresh_registry: None) -> None:
    with pytest.raises(ConfigError, match="metric 'micro_f1' of .*: the name is already registered"):
        registry.metric("micro_f1", "My F1", "share", registry.UP, "codes")(lambda outcomes: 0.0)
    with pytest.raises(ConfigError, match="metric 'stage_extract_s' .* already registered"):  # a built-in family's member
        registry.metric("stage_extract_s", "Extract", "seconds", registry.DOWN, "throughput")(lambda outcomes: 0.0)


def test_a_plugin_is_found_by_its_entry_point(fresh_registry: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(install_plugin(tmp_path)))
    monkeypatch.delitem(sys.modules, PLUGIN_MODULE, raising=False)

    assert registry.get("charts_without_codes").group == "codes"
    assert PLUGIN_MODULE in [compute.__module__ for compute in registry.computers()]
    got = decorated_metrics(sample_outcomes(), n_resamples=50, confidence=0.95, seed=0)
    assert sorted(got) == ["charts_without_codes", "charts_without_codes_ci_high", "charts_without_codes_ci_low"]


def test_an_entry_point_that_is_no_decorated_function_is_refused(fresh_registry: None, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    install_plugin(tmp_path)
    (tmp_path / f"{PLUGIN_MODULE}.py").write_text("def charts_without_codes(outcomes):\n    return 0.0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, PLUGIN_MODULE, raising=False)

    refused = r"metric plugin 'charts_without_codes' \(entry point group coding_harness.metrics\) is not a function decorated"
    with pytest.raises(ConfigError, match=refused):
        registry.find("micro_f1")


@pytest.mark.slow
def test_a_job_records_a_plugin_metric_in_metrics_json_and_mlflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plugin = install_plugin(tmp_path / "site")  # on the job's PYTHONPATH, as if installed
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(plugin), os.environ.get("PYTHONPATH")])))
    harness(tmp_path, "dataset.limit=10", "summary=false", "extraction_cache=false", store(tmp_path),
            f"hydra.run.dir={tmp_path / 'run'}")

    metrics = json.loads((tmp_path / "run" / "artifacts" / "metrics.json").read_text())
    assert metrics["charts_without_codes_ci_low"] <= metrics["charts_without_codes"] <= metrics["charts_without_codes_ci_high"]
    _, (run,) = runs(tmp_path)
    assert run.data.metrics["charts_without_codes"] == metrics["charts_without_codes"]
