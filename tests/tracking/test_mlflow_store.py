"""Runs recorded after the work keep the work's real start and end times, so MLflow shows the job's duration."""

from __future__ import annotations

import time

import pytest

from harness.config import TrackingConfig
from harness.tracking.mlflow_store import Tracker


@pytest.fixture(scope="module")
def tracker(tmp_path_factory: pytest.TempPathFactory) -> Tracker:
    return Tracker(TrackingConfig(uri=f"sqlite:///{tmp_path_factory.mktemp('times') / 'mlflow.db'}"))


def times_ms(tracker: Tracker, run_id: str) -> tuple[int, int]:
    from mlflow.tracking import MlflowClient

    info = MlflowClient(tracking_uri=tracker.uri).get_run(run_id).info
    return info.start_time, info.end_time


def test_a_run_started_30_s_ago_lasts_30_s(tracker: Tracker) -> None:
    recording = time.time()
    run_id = tracker.start_run("job", tags={"harness.kind": "job"}, start_time=recording - 30)
    tracker.finish(run_id)
    recorded_in_ms = (time.time() - recording) * 1000  # the store's first use creates its tables: seconds on a busy machine
    start, end = times_ms(tracker, run_id)
    assert 30_000 <= end - start <= 30_000 + recorded_in_ms + 1


def test_given_start_and_end_times_are_kept_to_the_millisecond(tracker: Tracker) -> None:
    run_id = tracker.start_run("job", tags={}, start_time=1_700_000_000.1234)
    tracker.finish(run_id, "FAILED", end_time=1_700_000_042.5)
    assert times_ms(tracker, run_id) == (1_700_000_000_123, 1_700_000_042_500)


def test_without_times_the_run_spans_its_recording(tracker: Tracker) -> None:
    before = time.time() * 1000
    run_id = tracker.start_run("job", tags={})
    tracker.finish(run_id)
    start, end = times_ms(tracker, run_id)
    assert before - 1 <= start <= end <= time.time() * 1000 + 1

