"""A store that cannot be used stops the job before any chart is read, with exit 2 and the URI named."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import PROJECT_ROOT, harness, store

from harness.config import TrackingConfig
from harness.tracking.mlflow_store import Tracker, TrackingError


def test_an_unsupported_scheme_is_refused_naming_the_uri() -> None:
    with pytest.raises(TrackingError, match=r"tracking store 'bogus://nowhere' cannot be used: .*tracking.enabled=false"):
        Tracker(TrackingConfig(uri="bogus://nowhere")).check()


def test_a_usable_store_passes_the_check_and_gets_its_experiment(tmp_path: Path) -> None:
    tracker = Tracker(TrackingConfig(uri=f"sqlite:///{tmp_path / 'm.db'}", experiment="checked"))
    tracker.check()
    assert tracker.experiment_id() == tracker.experiment_id()  # created once by the check, then found


def test_the_job_stops_before_reading_charts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import harness.sources
    from harness.api import evaluate

    def no_reading(*args: object) -> None:
        raise AssertionError("charts were read before the store was checked")

    monkeypatch.setattr(harness.sources, "load_charts", no_reading)
    with pytest.raises(TrackingError):
        evaluate(["tracking.uri=bogus://nowhere"], output_dir=tmp_path)


@pytest.mark.slow
def test_the_command_exits_2_and_prints_where_the_outputs_are(tmp_path: Path) -> None:
    bad = harness(PROJECT_ROOT, "tracking.uri=bogus://nowhere", f"hydra.run.dir={tmp_path / 'bad'}", check=False, timeout=120)
    assert bad.returncode == 2 and "error: tracking store 'bogus://nowhere' cannot be used" in bad.stderr
    assert not (tmp_path / "bad" / "artifacts").exists()
    good = harness(tmp_path, "dataset.limit=2", store(tmp_path), f"hydra.run.dir={tmp_path / 'run'}")
    flat = " ".join(good.stdout.split())
    for shown in ("run_folder:", "report.html", "audit.jsonl", "audit_head:", "mlflow_run:"):
        assert shown in flat
    assert (tmp_path / "run" / "artifacts" / "report.html").is_file()
