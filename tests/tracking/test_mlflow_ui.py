"""MLflow opens where a coding lead can read it: the experiment on its runs, each run named by what sets it apart and
described in words, checked in a real browser over a real server and store."""

from __future__ import annotations

import html
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT, harness, require, runs, store

from harness.config import DatasetConfig, TrackingConfig
from harness.processes import free_port
from harness.sources import load_charts
from harness.tracking.mlflow_store import EXPERIMENT_KIND, Tracker, ui_link
from harness.tracking.run_names import run_name
from harness.tracking.sweep_jobs import planned_jobs
from reports.run_description import NOTE_TAG, describe, describe_sweep

RULE_UPGRADE = {"rules": "icd10cm_2026_v1,icd10cm_2026_v2"}
"""The sweeper's parameters of ``conf/experiment/rule_upgrade.yaml``."""
TASK = ["+experiment=rule_upgrade", "dataset.split=dev", "dataset.limit=20", "tracking.uri=sqlite:///ci/mlflow.db"]


def test_a_sweeps_jobs_are_named_by_what_differs_among_them() -> None:
    jobs = planned_jobs(TASK, RULE_UPGRADE)
    assert [run_name(job.split(), jobs) for job in jobs] == ["rules=v1", "rules=v2"]


def test_every_job_of_a_two_way_sweep_gets_its_own_short_name() -> None:
    jobs = planned_jobs([*TASK, "degradation=clean,fax_light"], RULE_UPGRADE)
    names = [run_name(job.split(), jobs) for job in jobs]
    assert names == ["rules=v1 · clean", "rules=v1 · fax_light", "rules=v2 · clean", "rules=v2 · fax_light"]


def test_a_lone_jobs_name_leaves_out_where_and_how_it_is_recorded() -> None:
    overrides = ["degradation=fax_light", "dataset.limit=5", "summary=false", "tracking.uri=sqlite:///x.db"]
    assert run_name(overrides) == "fax_light · dataset.limit=5"
    assert run_name(["summary=false"], design="sample · dictionary · icd10cm_2026_v2") == "sample · dictionary · icd10cm_2026_v2"


def test_the_description_says_outcomes_changes_and_report_in_words() -> None:
    metrics = {"micro_f1": 0.4621, "review_rate": 0.3, "denial_rate": 0.07614999999999998, "coder_minutes_per_chart": 4.25,
               "charts_per_s": 12.0}
    note = describe(metrics, ["rules=icd10cm_2026_v2"], ["+experiment=rule_upgrade", "dataset.limit=20"], in_sweep=True,
                    report="outputs/x/artifacts/report.html")
    outcomes, changes, report = note.split("\n\n")
    assert outcomes == ("F1 46.2%, Charts sent to a coder 30.0%, Claims a payer would deny 7.6%, "
                        "Coder minutes per chart 4.25 min.")
    assert changes == ("Against the sweep's other jobs: rules icd10cm_2026_v2. "
                       "Whole sweep: experiment rule_upgrade, dataset.limit 20.")
    assert report.startswith("Report: outputs/x/artifacts/report.html")
    assert "Default settings." in describe({}, [], [], in_sweep=False, report="r.html")
    assert "no gold codes" in describe({}, [], [], in_sweep=False, report="r.html")


def test_the_sweeps_description_lists_its_jobs_by_their_differences() -> None:
    note = describe_sweep(planned_jobs(TASK, RULE_UPGRADE), "outputs/multirun/s/sweep_report.html")
    assert note.startswith("2 jobs compared: rules icd10cm_2026_v1; rules icd10cm_2026_v2.")
    assert "Whole sweep: experiment rule_upgrade, dataset.split dev, dataset.limit 20." in note and "tracking" not in note


def test_the_experiment_is_tagged_for_model_training_when_created_or_found_without_it(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    created = Tracker(TrackingConfig(uri=uri, experiment="new")).experiment_id()
    older = client.create_experiment("older")  # as a harness before this tag made it
    assert Tracker(TrackingConfig(uri=uri, experiment="older")).experiment_id() == older
    chosen = client.create_experiment("chosen", tags={EXPERIMENT_KIND[0]: "genai_development"})
    Tracker(TrackingConfig(uri=uri, experiment="chosen")).experiment_id()
    kinds = [client.get_experiment(e).tags.get(EXPERIMENT_KIND[0]) for e in (created, older, chosen)]
    assert kinds == ["custom_model_development", "custom_model_development", "genai_development"]


def test_the_ui_link_opens_model_training_pages() -> None:
    assert ui_link("http://h:5000/", "7", "abc") == "http://h:5000/#/experiments/7/runs/abc?workflowType=machine_learning"
    assert ui_link("http://h:5000", "7").startswith("http://h:5000/#/experiments/7/runs?workflowType=machine_learning&")


def _page(chromium: str, url: str, profile: Path) -> str:
    """The page's DOM after its scripts ran (virtual time: no waiting on the wall clock), in a fresh profile."""
    done = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                           "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                           "--window-size=1600,1000", "--virtual-time-budget=30000", "--dump-dom", url],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return html.unescape(done.stdout)


@pytest.mark.slow  # a two-job sweep, a real mlflow server and a real browser
def test_the_experiment_page_shows_the_runs_in_a_headless_browser(tmp_path: Path) -> None:
    chromium = shutil.which("chromium")
    require(chromium is not None, "apt-get install chromium")
    harness(tmp_path, "-m", "degradation=clean,fax_light", "dataset.limit=3", "summary=false", store(tmp_path),
            f"hydra.sweep.dir={tmp_path / 'sweep'}")
    client, recorded = runs(tmp_path)
    jobs = {run.info.run_name: run for run in recorded if run.data.tags.get("harness.kind") == "job"}
    assert set(jobs) == {"clean", "fax_light"}
    note = jobs["fax_light"].data.tags[NOTE_TAG]
    assert "Against the sweep's other jobs: degradation fax_light." in note and "report.html" in note
    texts = [" ".join(chart.text.split()) for chart in load_charts(DatasetConfig(name="sample", limit=3))]
    assert not [t[i:i + 30] for t in texts for i in range(0, len(t) - 30, 10) if t[i:i + 30] in note], "chart text in the note"
    assert client.get_experiment(recorded[0].info.experiment_id).tags[EXPERIMENT_KIND[0]] == EXPERIMENT_KIND[1]
    server = subprocess.Popen([sys.executable, "-m", "harness", "server", "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
                               "--port", str(free_port())], cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, env=os.environ.copy())
    try:
        lines = iter(server.stdout.readline, "")
        link = next(line for line in lines if "runs of coding-harness:" in line).split()[-1]  # printed once serving
        landing = _page(chromium, link, tmp_path / "profile-1")
        shown = set(re.findall(r'href="#/experiments/\d+/runs/(\w+)"[^>]*><span[^>]*>([^<]+)<', landing))
        assert {(run.info.run_id, name) for name, run in jobs.items()} <= shown, "the jobs are not listed on the landing page"
        assert "No data available" not in landing, "the GenAI overview opened instead of the runs"
        experiment = jobs["clean"].info.experiment_id
        page = _page(chromium, ui_link(link.split("/#/")[0], experiment, jobs["fax_light"].info.run_id), tmp_path / "profile-2")
        assert "Against the sweep's other jobs: degradation fax_light." in page and "No description" not in page
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
