"""The run record: one module knows a run folder's files, every reader reads through it, and old folders read by version.

The version-1 folder is made from a real job's output: version 2 differs from it only by ``artifacts/record.json``, so
removing that file gives the layout every run had before the version was written.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT

from harness import run_record
from harness.run_record import FORMAT_VERSION, RECORD_FILE, RunArtifacts, RunFolder, RunRecordError


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run folder of a real job on 3 sample charts (tracking off), written by this harness."""
    from harness.api import evaluate

    folder = tmp_path_factory.mktemp("run_record") / "run"
    evaluate({"dataset.limit": 3, "tracking.enabled": False, "summary": False, "extraction_cache": False}, output_dir=folder)
    return folder


@pytest.fixture
def version_1(recorded: Path, tmp_path: Path) -> Path:
    """The same run as a harness wrote it before the format version existed."""
    folder = Path(shutil.copytree(recorded, tmp_path / "v1"))
    (folder / run_record.ARTIFACTS_DIR / RECORD_FILE).unlink()
    return folder


def test_a_job_writes_the_current_format(recorded: Path) -> None:
    folder = RunFolder(recorded)
    assert folder.artifacts.format_version == FORMAT_VERSION
    assert folder.summary()["run_folder"] == str(recorded) and folder.report.is_file() and folder.audit.is_file()
    assert folder.artifacts.missing(*(value for name, value in vars(run_record).items() if name.endswith("_FILE")
                                      and name not in ("RUN_FILE", "CALIBRATOR_FILE"))) == []


def test_a_version_1_folder_reads_as_the_current_one(recorded: Path, version_1: Path) -> None:
    from harness.api import load_run
    from harness.operations import load_recorded
    from harness.operations.chart_outcomes import recorded_settings
    from harness.pipeline.recorded_run import read_pipeline_record
    from reports.run_data import read_folder

    old, new = RunFolder(version_1).artifacts, RunFolder(recorded).artifacts
    assert old.format_version == 1
    a, b = load_run(version_1), load_run(recorded)
    assert (a.config, a.metrics, a.chart_results, a.per_chart) == (b.config, b.metrics, b.chart_results, b.per_chart)
    assert read_folder(old.path).predictions == read_folder(new.path).predictions
    assert load_recorded(old.path) == load_recorded(new.path)
    assert recorded_settings(old.path) == recorded_settings(new.path)
    assert read_pipeline_record(old.path).run.results == read_pipeline_record(new.path).run.results


def test_a_folder_of_a_newer_format_is_refused(version_1: Path) -> None:
    from harness.api import load_run

    (version_1 / run_record.ARTIFACTS_DIR / RECORD_FILE).write_text(json.dumps({"format_version": FORMAT_VERSION + 1}))
    with pytest.raises(RunRecordError, match=f"format {FORMAT_VERSION + 1}; this harness reads formats 1 to {FORMAT_VERSION}"):
        load_run(version_1)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=re.escape(f"{tmp_path / run_record.METRICS_FILE} is missing")):
        RunArtifacts(tmp_path).metrics()


def test_no_module_but_the_run_record_names_a_run_file() -> None:
    names = [value for name, value in vars(run_record).items() if name.endswith("_FILE")]
    literal = re.compile("[\"'/](" + "|".join(map(re.escape, names)) + ")[\"']")
    found = [f"{path.relative_to(PROJECT_ROOT)}:{number}" for package in ("harness", "reports", "extractors", "coders")
             for path in sorted((PROJECT_ROOT / package).rglob("*.py")) if path.name != "run_record.py"
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if literal.search(line)]
    assert not found, f"run files named outside harness/run_record.py: {found}"
