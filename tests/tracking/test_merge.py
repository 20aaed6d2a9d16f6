"""``harness merge``: the shard runs of a sweep over ``dataset.shard`` as one run, equal to an unsharded run but for timing.

Fast: the shard-set checks, the recorded pipeline read back and combined, and a refusal through the command on runs
recorded into a temporary store as a job records them. Slow: real sharded sweeps through ``python -m harness``, merged
and compared with an unsharded run on the same charts, and a merge refused for a missing shard and a changed dataset.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import harness, runs, store

from harness.contracts import AuditEvent, ChartResult, CodeAssignment, Extraction, Finding, ReviewReason, Span
from harness.merge import MergeRefused, ShardRun, check_shard_set, merged_system
from harness.metrics.registry import measures_the_machine
from harness.metrics.robustness import ChartIntake
from harness.pipeline.chart_steps import PipelineRun
from harness.pipeline.recorded_run import combined, read_pipeline_record, write_pipeline_record

# -- the shard-set checks ---------------------------------------------------------------------------------------------

PARAMS = {"dataset.name": "sample", "dataset.limit": "None", "rules.name": "icd10cm_2026_v2", "tracking.redact": "False",
          "engine.engine_starts_in_process": "1"}
TAGS = {"harness.kind": "job", "git_commit": "abc", "rules.version": "2", "calibration": "none"}


def shard(run_id: str, index: int, of: int = 4, **params: str) -> ShardRun:
    return ShardRun(run_id, {**PARAMS, "dataset.num_shards": str(of), "dataset.shard": str(index), **params}, dict(TAGS))


def refusal(runs: list[ShardRun]) -> str:
    with pytest.raises(MergeRefused) as refused:
        check_shard_set(runs, "run P")
    return str(refused.value)


def test_a_complete_shard_set_comes_back_in_shard_order() -> None:
    found = [shard("c", 2), shard("a", 0), shard("d", 3, **{"engine.engine_starts_in_process": "0"}), shard("b", 1)]
    assert [run.run_id for run in check_shard_set(found)] == ["a", "b", "c", "d"]  # which engine start it was: run-local


def test_a_missing_shard_is_named() -> None:
    assert "missing shard 2 of 4 (no finished job run with that dataset.shard" in refusal(
        [shard("a", 0), shard("b", 1), shard("d", 3)])
    assert "missing shards 1, 2 of 3" in refusal([shard("a", 0, 3)])


def test_a_shard_recorded_twice_names_both_runs() -> None:
    message = refusal([shard("a", 0, 2), shard("b", 1, 2), shard("b2", 1, 2)])
    assert "shard 1 of 2 recorded twice (runs b, b2)" in message and "missing" not in message


def test_mixed_shard_counts_are_named() -> None:
    message = refusal([shard("a", 0, 2), shard("b", 1, 2), shard("x", 1, 3)])
    assert "run x has dataset.num_shards=3 but the others 2" in message
    assert "the runs disagree on dataset.num_shards: 2 (runs a), 3 (runs b)" in refusal([shard("a", 0, 2), shard("b", 1, 3)])


def test_a_shard_of_another_config_is_named_with_the_difference() -> None:
    message = refusal([shard("a", 0, 2), shard("y", 1, 2, **{"rules.name": "icd10cm_2026_v1"})])
    assert "run y differs from run a in rules.name: 'icd10cm_2026_v2' vs 'icd10cm_2026_v1'" in message
    other_code = shard("z", 1, 2)
    other_code.tags["git_commit"] = "def"
    assert "run z differs from run a in tag git_commit: 'abc' vs 'def'" in refusal([shard("a", 0, 2), other_code])
    many = shard("m", 1, 2, **{f"extractor.k{i}": str(i) for i in range(5)})
    assert "(and 2 more)" in refusal([shard("a", 0, 2), many])


def test_redacted_shards_are_refused() -> None:
    message = refusal([shard("a", 0, 2, **{"tracking.redact": "True"}), shard("b", 1, 2, **{"tracking.redact": "True"})])
    assert "runs a, b recorded with tracking.redact=true" in message and "evidence metrics" in message


def test_runs_that_are_not_sharded_or_none_at_all_are_refused() -> None:
    assert "not sharded (dataset.num_shards=1): nothing to merge" in refusal([shard("a", 0, 1), shard("b", 0, 1)])
    assert "has no finished job runs" in refusal([])


def test_system_figures_of_shards_are_their_peaks_and_weighted_means() -> None:
    shards = [{"gpu_count": 1.0, "system_memory_peak_mb": 900.0, "gpu_utilization_mean_pct": 90.0},
              {"gpu_count": 1.0, "system_memory_peak_mb": 1200.0, "gpu_utilization_mean_pct": 30.0}, {"gpu_count": 0.0}]
    assert merged_system(shards, [1.0, 3.0, 5.0]) == {"gpu_count": 1.0, "system_memory_peak_mb": 1200.0,
                                                      "gpu_utilization_mean_pct": 45.0}


# -- the recorded pipeline, read back and combined --------------------------------------------------------------------

TEXT = "Hypertension. Type 2 diabetes."


def pipeline_run(ids: list[str], wall: float) -> PipelineRun:
    results, intake, extractions = [], [], []
    for i, chart_id in enumerate(ids):
        span = Span(start=0, end=12, text=TEXT[:12])
        reasons = [ReviewReason("low_confidence", "I10 0.50 < 0.9")] if i % 2 else []
        code = CodeAssignment(code="I10", confidence=0.5 + i / 10, evidence=[span])
        results.append(ChartResult(chart_id=chart_id, codes=[code], route="review" if reasons else "auto", reasons=reasons,
                                   stage_seconds={"extract": 0.1 * i}, audit=[AuditEvent(stage="route", actor="routing")]))
        intake.append(ChartIntake(kept_ranges=((0, 12), (14, 30)), source_chars=30, edit_distance=i, pages_read=1, intake_s=0.2,
                                  quality=0.9, reasons=(ReviewReason("page_gap", "2"),) if i else ()))
        if i != 1:  # the second chart had no readable text: no extraction
            extractions.append(Extraction(chart_id=chart_id, extractor="dictionary", model_revision="r1", raw_output=TEXT,
                                          findings=[Finding(text=TEXT[:12], spans=[span], attributes={"said": TEXT})]))
    return PipelineRun(results, intake, wall, cache_hits=1, extractions=extractions, extract_busy_s=wall / 2, extract_calls=2,
                       peak_in_flight=len(ids))


class _Extractor:
    name, version, model_id, model_revision, prompt_version = "dictionary", "2", None, "r1", None


def _written(folder: Path, run: PipelineRun, redact: bool) -> Path:
    folder.mkdir()
    (folder / "chart_results.jsonl").write_text("".join(r.model_dump_json() + "\n" for r in run.results))
    write_pipeline_record(folder, run, _Extractor(), redact)
    return folder


def test_a_recorded_pipeline_reads_back_as_it_ran(tmp_path: Path) -> None:
    run = pipeline_run(["c1", "c2", "c3"], 2.0)
    back = read_pipeline_record(_written(tmp_path / "run", run, redact=False), {"device": "cpu"})
    assert back.run == run and not back.redacted
    assert back.extractor.identity() == {"name": "dictionary", "version": "2", "model_id": None, "model_revision": "r1",
                                         "prompt_version": None}
    assert back.extractor.run_params() == {"device": "cpu"}
    assert back.run.intake[1].reasons[0].kind == "page_gap"


def test_a_redacted_record_holds_no_text(tmp_path: Path) -> None:
    folder = _written(tmp_path / "run", pipeline_run(["c1", "c2"], 1.0), redact=True)
    written = (folder / "chart_pipeline.jsonl").read_text()
    assert "Hypertension" not in written and "[REDACTED]" in written
    assert read_pipeline_record(folder).redacted


def test_a_record_without_its_files_is_named(tmp_path: Path) -> None:
    folder = _written(tmp_path / "run", pipeline_run(["c1"], 1.0), redact=False)
    (folder / "chart_pipeline.jsonl").unlink()
    with pytest.raises(FileNotFoundError, match="chart_pipeline.jsonl is missing"):
        read_pipeline_record(folder)


def test_shards_combine_in_the_given_chart_order() -> None:
    first, second = pipeline_run(["a", "c", "e"], 2.0), pipeline_run(["b", "d"], 3.0)
    run = combined([first, second], ["a", "b", "c", "d", "e"])
    assert [r.chart_id for r in run.results] == ["a", "b", "c", "d", "e"]
    assert run.intake == [first.intake[0], second.intake[0], first.intake[1], second.intake[1], first.intake[2]]
    assert [e.chart_id for e in run.extractions] == ["a", "b", "e"]  # c and d had none
    assert (run.wall_s, run.cache_hits, run.extract_busy_s, run.extract_calls, run.peak_in_flight) == (5.0, 2, 2.5, 4, 3)
    with pytest.raises(ValueError, match="not disjoint"):
        combined([first, pipeline_run(["a"], 1.0)], ["a", "c", "e"])
    with pytest.raises(ValueError, match="not the charts"):
        combined([first, second], ["a", "b", "c", "d"])


# -- the command on a store ------------------------------------------------------------------------------------------


def test_the_command_refuses_an_incomplete_set_with_status_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from harness.cli.merge import main
    from harness.config import TrackingConfig
    from harness.tracking.mlflow_store import Tracker

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = Tracker(TrackingConfig(uri=uri))
    parent = tracker.start_run("sweep", tags={"harness.kind": "sweep"})
    ids = {}
    for index in (0, 1, 3):
        ids[index] = tracker.start_run(f"shard {index}", tags=TAGS, parent_run_id=parent)
        tracker.log(ids[index], params={**PARAMS, "dataset.num_shards": "4", "dataset.shard": str(index)})
        tracker.finish(ids[index])
    failed = tracker.start_run("shard 2", tags=TAGS, parent_run_id=parent)  # a failed job leaves its shard missing
    tracker.log(failed, params={**PARAMS, "dataset.num_shards": "4", "dataset.shard": "2"})
    tracker.finish(failed, "FAILED")
    assert main([parent, "--tracking-uri", uri]) == 2
    assert f"error: cannot merge the shards under run {parent}: missing shard 2 of 4" in capsys.readouterr().err
    assert main([ids[0], "--tracking-uri", uri]) == 2  # a shard run is no parent
    assert "has no finished job runs" in capsys.readouterr().err


# -- real sweeps ------------------------------------------------------------------------------------------------------


def _parent(sweep: Path) -> str:
    return (sweep / ".mlflow_parent_run_id").read_text().strip()


def _metrics(folder: Path) -> dict[str, float]:
    return json.loads((folder / "metrics.json").read_text())


@pytest.mark.slow
def test_merged_shards_equal_an_unsharded_run_on_the_same_charts(tmp_path: Path) -> None:
    from harness.tracking.run_store import newest_job_run

    uri = store(tmp_path).removeprefix("tracking.uri=")
    harness(tmp_path, "-m", "dataset.num_shards=4", "dataset.shard=0,1,2,3", "dataset.limit=30", "summary=false", store(tmp_path),
            f"hydra.sweep.dir={tmp_path / 'sweep'}")
    merged = harness(tmp_path, "merge", _parent(tmp_path / "sweep"), "--tracking-uri", uri,
                     "--output-dir", str(tmp_path / "merged"))
    assert f"report: {tmp_path / 'merged' / 'artifacts' / 'report.html'}" in merged.stdout
    merged_id = merged.stdout.split("merged_run: ")[1].split()[0]
    assert newest_job_run(uri) == merged_id  # what `harness gate --candidate latest` gates
    harness(tmp_path, "dataset.limit=30", "summary=false", store(tmp_path), f"hydra.run.dir={tmp_path / 'whole'}")

    client, found = runs(tmp_path)
    by_id = {run.info.run_id: run for run in found}
    shards = [run for run in found if run.data.tags.get("mlflow.parentRunId") == _parent(tmp_path / "sweep")]
    assert sorted(run.data.tags["dataset.shard"] for run in shards) == ["0", "1", "2", "3"]
    assert sum(run.data.metrics["n_charts"] for run in shards) == 30 and all(run.data.metrics["n_charts"] < 30 for run in shards)
    tags = by_id[merged_id].data.tags
    assert tags["harness.kind"] == "job" and tags["harness.merge_of"] == _parent(tmp_path / "sweep")
    in_order = sorted(shards, key=lambda run: run.data.tags["dataset.shard"])
    assert tags["harness.merged_from"].split(",") == [run.info.run_id for run in in_order]
    assert "mlflow.parentRunId" not in tags and tags["dataset.num_shards"] == "1"
    whole = found[-1]
    assert whole.data.params == by_id[merged_id].data.params  # the unsharded job's config

    got, expected = _metrics(tmp_path / "merged" / "artifacts"), _metrics(tmp_path / "whole" / "artifacts")
    assert set(got) == set(expected)
    decisions = sorted(name for name in expected if not measures_the_machine(name))
    assert len(decisions) > 40 and {"micro_f1_ci_low", "review_rate_ci_high", "macro_f1_ci_low", "map_ci_high"} <= set(decisions)
    assert {name: got[name] for name in decisions} == {name: expected[name] for name in decisions}
    assert by_id[merged_id].data.metrics["micro_f1_ci_low"] == whole.data.metrics["micro_f1_ci_low"]
    assert got["wall_s"] == pytest.approx(sum(run.data.metrics["wall_s"] for run in shards))
    for name in ("predictions.jsonl", "billing.csv", "risk_coverage.json", "reliability.json"):
        assert (tmp_path / "merged/artifacts" / name).read_text() == (tmp_path / "whole/artifacts" / name).read_text(), name
    assert "<svg" in (tmp_path / "merged" / "artifacts" / "report.html").read_text()


def _write_charts(path: Path, limit: int) -> None:
    from harness.config import DatasetConfig
    from harness.sources import load_charts

    charts = load_charts(DatasetConfig(name="sample", split="dev", limit=limit))
    path.write_text("".join(json.dumps(chart.model_dump(mode="json")) + "\n" for chart in charts))


@pytest.mark.slow
def test_a_merge_is_refused_for_a_missing_shard_and_for_a_changed_dataset(tmp_path: Path) -> None:
    _write_charts(tmp_path / "charts.jsonl", 12)
    job = ["dataset=jsonl", f"dataset.path={tmp_path / 'charts.jsonl'}", "extractor=oracle", "extractor.train_split=null",
           "dataset.num_shards=3", "summary=false", store(tmp_path), f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    uri = store(tmp_path).removeprefix("tracking.uri=")
    harness(tmp_path, "-m", *job, "dataset.shard=0,1")
    parent = _parent(tmp_path / "sweep")
    refused = harness(tmp_path, "merge", parent, "--tracking-uri", uri, check=False)
    assert refused.returncode == 2 and "missing shard 2 of 3" in refused.stderr, refused.stderr[-2000:]

    harness(tmp_path, "-m", *job, "dataset.shard=2")  # the same sweep folder: the same parent run
    assert harness(tmp_path, "merge", parent, "--tracking-uri", uri).returncode == 0

    _write_charts(tmp_path / "charts.jsonl", 13)  # one chart more since the shards ran
    changed = harness(tmp_path, "merge", parent, "--tracking-uri", uri, check=False)
    assert changed.returncode == 2 and "the dataset changed since the shards ran" in changed.stderr, changed.stderr[-2000:]
