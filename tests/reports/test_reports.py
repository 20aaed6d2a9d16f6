"""Reports for coding leads: the run, sweep and comparison pages built from real harness runs, and a real browser.

The pages must be self-contained (no network), show every section, keep patient text out when asked,
and render in headless Chromium without errors.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT, harness, require, runs, store
from faults import disk_full_after

RUN_SECTIONS = ("Headline metrics", "Accuracy against review rate", "Operations", "Reliability of confidence scores",
                "Metrics per ICD-10 chapter", "Most frequent errors", "Error gallery", "Throughput and cost",
                "Input quality and degradation", "All recorded metrics")
NETWORK = re.compile(r"""\b(?:src|href|action|poster)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//|@import""",
                     re.I)
"""Anything that would make a browser fetch from the network: resource attributes, CSS urls and imports."""


def uri(folder: Path) -> str:
    return f"sqlite:///{folder / 'mlflow.db'}"


@pytest.fixture(scope="module")
def jobs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One store with three job runs of the bundled sample: two identical (10 charts), one over 5 charts."""
    folder = tmp_path_factory.mktemp("report-jobs")
    for name, limit in (("a", 10), ("b", 10), ("c", 5)):
        harness(folder, f"hydra.run.dir={folder / name}", f"dataset.limit={limit}", "summary=false", store(folder))
    return folder


def sample_charts(limit: int):
    from harness.config import DatasetConfig
    from harness.sources import load_charts

    return load_charts(DatasetConfig(name="sample", limit=limit))


def chart_contexts(folder: Path, charts) -> list[str]:
    """For each cited evidence span, the 40 characters of chart text before it: what an excerpt would show."""
    text = {chart.id: chart.text for chart in charts}
    contexts = []
    for line in (folder / "predictions.jsonl").read_text().splitlines():
        row = json.loads(line)
        for code in row["codes"]:
            for span in code["evidence"]:
                context = text[row["chart_id"]][max(0, span["start"] - 40):span["start"]]
                if len(context.strip()) > 20 and not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", context):
                    contexts.append(html.escape(context))
    return contexts


def assert_self_contained(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page.lower()
    assert not NETWORK.search(page), NETWORK.search(page).group(0)
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page


# --- pieces, without a run -------------------------------------------------------------------------------------------


def test_plots_are_deterministic_inline_svg() -> None:
    from reports import plots

    rows = [{"threshold": t / 10, "coverage": 1 - t / 12, "precision": 0.8 + t / 60} for t in range(11)]
    first, second = plots.risk_coverage(rows, 0.5), plots.risk_coverage(rows, 0.5)
    assert first == second and first.startswith("<svg") and first.endswith("</svg>")
    assert "<metadata" not in first and "<?xml" not in first and "DOCTYPE" not in first
    other = plots.bars("Time per stage", ["extract", "code"], [2.0, 1.0], xlabel="seconds", share=False)
    ids = lambda svg: set(re.findall(r' id="([^"]+)"', svg))  # noqa: E731
    assert not ids(first) & ids(other), "inline figures of one page must not share element ids"


def test_html_kit_escapes_text_but_not_markup() -> None:
    from reports.html import Html, esc, section, table, tag

    assert tag("td", "<script>alert(1)</script>") == "<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>"
    assert tag("td", Html("<b>x</b>")) == "<td><b>x</b></td>" and esc('"') == "&quot;"
    built = section("Per chapter & more", "read <this>", table(["a"], [["<i>"]]))
    assert built.title == "Per chapter & more" and 'id="per-chapter-more"' in built and "&lt;i&gt;" in built


def test_metric_labels_format_each_unit() -> None:
    from reports.labels import difference, format_value, label, verdict

    assert format_value("micro_f1", 0.8396) == "84.0%" and format_value("chart_latency_p50_s", 0.000536) == "0.536 ms"
    assert format_value("charts_per_s", 975.8) == "976 /s" and format_value("cost_per_1k_charts_usd", 1.1404) == "$1.14"
    assert label("stage_extract_s") == "Time in stage 'extract'" and format_value("ece", float("nan")) == "–"
    assert difference("micro_f1", -0.021) == "-2.1 pts" and verdict("review_rate", -0.3, -0.1) == "better"
    assert verdict("micro_f1", -0.01, 0.02) == "no clear difference"


def test_swept_params_are_the_differing_ones_with_group_choices_collapsed(tmp_path: Path) -> None:
    from harness.tracking.run_store import RecordedRun
    from reports.run_data import differing_params

    def run(**params: str) -> RecordedRun:
        return RecordedRun(run_id="", name="", tags={}, params={"seed": "0", **params}, metrics={}, folder=tmp_path)

    noisy = {"degradation.name": "ocr_noise", "degradation.text_noise": "0.02", "routing.min_code_confidence": "0.6"}
    found = differing_params([run(**{"degradation.name": "clean"}), run(**noisy)])
    assert found == ["degradation.name", "routing.min_code_confidence"]


def test_chapters_come_from_the_tabular() -> None:
    from reports.icd import OTHER, chapter_of, chapter_title

    assert chapter_of("I10") == "9" and chapter_of("E11.9") == "4" and chapter_of("0DTJ4ZZ") == OTHER
    assert chapter_title("9") == "I00-I99 Diseases of the circulatory system"


# --- pages from real runs --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_run_report_shows_every_section_self_contained(jobs: Path) -> None:
    from reports.run_report import write_run_report

    folder, charts = jobs / "a" / "artifacts", sample_charts(10)
    out = write_run_report(folder, charts)
    page = out.read_text()
    assert out == folder / "report.html"
    for title in RUN_SECTIONS:
        assert f"<h2>{html.escape(title)}</h2>" in page, title
    assert_self_contained(page)
    assert page.count("<svg") >= 4  # risk-coverage, reliability, chapters, stage times
    assert "not set: " in page and "evaluation.machine_usd_per_hour" in page
    # the gallery quotes the charts: evidence highlighted in its context
    assert "<mark>" in page and any(context in page for context in chart_contexts(folder, charts))
    assert write_run_report(folder, charts).read_text() == page, "the same run must give the same page"


@pytest.mark.slow
@pytest.mark.parametrize("redact", [True, False])
def test_run_report_without_text_shows_offsets_only(jobs: Path, redact: bool) -> None:
    """Redacted, or built without the charts: no patient text at all, evidence as offsets."""
    from reports.run_report import write_run_report

    folder, charts = jobs / "a" / "artifacts", sample_charts(10)
    page = write_run_report(folder, charts if redact else None, redact=redact).read_text()
    contexts = chart_contexts(folder, charts)
    assert contexts and not any(context in page for context in contexts)
    assert "<mark>" not in page and "No patient text is shown" in page and re.search(r"chars \d+–\d+ \(page \d+\)", page)


@pytest.mark.slow
def test_run_report_cli_rebuilds_from_mlflow(jobs: Path, tmp_path: Path) -> None:
    from harness.cli.report import run as report_run

    _, found = runs(jobs)
    out = tmp_path / "rebuilt.html"
    assert report_run([found[0].info.run_id, "--tracking-uri", uri(jobs), "--out", str(out)]) == 0
    page = out.read_text()
    assert all(f"<h2>{html.escape(title)}</h2>" in page for title in RUN_SECTIONS)
    assert "built without the charts" in page and "<mark>" not in page and found[0].info.run_id in page


@pytest.mark.slow
def test_comparison_of_identical_configs_changes_nothing(jobs: Path, tmp_path: Path) -> None:
    from harness.tracking.gate_config import GateConfig
    from harness.tracking.gate_policy import decide
    from harness.tracking.run_store import load_run
    from reports.compare_report import write_comparison
    from reports.gate_summary import reason

    _, (a, b, _) = runs(jobs)
    run_a, run_b = load_run(a.info.run_id, uri(jobs)), load_run(b.info.run_id, uri(jobs))
    page = write_comparison(run_a, run_b, tmp_path / "c.html").read_text()
    tile = lambda name: int(re.search(rf'<div class="value">(\d+)</div><div class="name">{name}</div>', page).group(1))  # noqa: E731
    assert tile("charts better in B") == 0 and tile("charts worse in B") == 0 and tile("charts the same") == 10
    assert "no param: same configuration" in page and "<svg" in page
    assert_self_contained(page)

    # the verdict harness gate gives the same pair: 10 paired charts are too few for one
    gate = decide(run_b, run_a, GateConfig(n_resamples=1000, confidence=0.95))
    verdict = html.unescape(re.search(r'<section id="gate-verdict">.*?</section>', page, re.S).group(0))
    assert gate.verdict == "inconclusive" and f'<span class="tag neutral">{gate.verdict}</span>' in verdict
    assert f" {reason(gate.failing[0], gate)}." in verdict and "at least 30 needed for a verdict" in verdict
    f1 = re.search(r"<tr><td>F1 \(all codes\).*?</tr>", page).group(0)
    assert "+0.0 pts to +0.0 pts" in f1 and "no clear difference" in f1  # the pair's own paired interval


@pytest.mark.slow
def test_a_full_disk_leaves_the_earlier_report_whole_and_no_cut_off_page(jobs: Path, tmp_path: Path) -> None:
    from harness.tracking.run_store import load_run
    from reports.compare_report import write_comparison
    from reports.run_report import write_run_report

    folder = tmp_path / "artifacts"
    shutil.copytree(jobs / "a" / "artifacts", folder)
    earlier = (folder / "report.html").read_bytes()
    assert len(earlier) > 8192
    with disk_full_after(8192), pytest.raises(OSError):
        write_run_report(folder, sample_charts(10))
    assert (folder / "report.html").read_bytes() == earlier and not list(folder.glob(".*"))  # no temporary file left

    _, (a, b, _) = runs(jobs)
    run_a, run_b = load_run(a.info.run_id, uri(jobs)), load_run(b.info.run_id, uri(jobs))
    with disk_full_after(8192), pytest.raises(OSError):
        write_comparison(run_a, run_b, tmp_path / "out" / "c.html")
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.slow
def test_comparison_refuses_different_chart_sets(jobs: Path, tmp_path: Path) -> None:
    from harness.tracking.run_store import load_run
    from reports.compare_report import write_comparison

    _, (a, _, c) = runs(jobs)
    with pytest.raises(ValueError, match="different charts") as refused:
        write_comparison(load_run(a.info.run_id, uri(jobs)), load_run(c.info.run_id, uri(jobs)), tmp_path / "c.html")
    assert a.info.run_id in str(refused.value) and c.info.run_id in str(refused.value)
    assert not (tmp_path / "c.html").exists()


@pytest.mark.slow
def test_sweep_report_has_a_row_per_child_and_plots_over_the_swept_param(tmp_path: Path) -> None:
    from harness.cli.report import sweep as report_sweep
    from harness.tracking.run_store import child_runs, client, load_run
    from reports.sweep_report import write_sweep_report

    harness(tmp_path, "-m", "degradation=clean,ocr_noise", "dataset.limit=10", "summary=false",
            f"hydra.sweep.dir={tmp_path / 'sweep'}", store(tmp_path))
    _, found = runs(tmp_path)
    (parent,) = [r.info.run_id for r in found if r.data.tags.get("harness.kind") == "sweep"]
    children = [load_run(run_id, uri(tmp_path)) for run_id in child_runs(parent, uri(tmp_path))]
    page = write_sweep_report(children, tmp_path / "sweep.html").read_text()
    rows = re.search(r"<h2>Runs</h2>.*?<tbody>(.*?)</tbody>", page, re.S).group(1)
    assert rows.count("<tr") == 2 and all(f"<code>{child.run_id[:8]}</code>" in rows for child in children)
    assert "<td>clean</td>" in rows and "<td>ocr_noise</td>" in rows
    assert "<h2>Metrics by degradation</h2>" in page and page.count("<svg") == 1
    assert_self_contained(page)
    # the command logs the page to the sweep's parent run
    assert report_sweep([parent, "--tracking-uri", uri(tmp_path), "--out", str(tmp_path / "logged.html")]) == 0
    assert "sweep_report.html" in [a.path for a in client(uri(tmp_path)).list_artifacts(parent)]


@pytest.mark.slow
@pytest.mark.parametrize("command", [["run", "no-such-run"], ["sweep", "no-such-run"],
                                     ["compare", "no-such-run", "no-such-run-either"]])
def test_cli_with_a_bad_run_id_exits_2(jobs: Path, command: list[str]) -> None:
    out = harness(PROJECT_ROOT, "report", *command, "--tracking-uri", uri(jobs), check=False, timeout=120)
    assert out.returncode == 2, out.stderr
    assert "no-such-run" in out.stderr and "Traceback" not in out.stderr and out.stdout == ""


@pytest.mark.slow  # a subprocess that imports mlflow
def test_cli_with_an_unreachable_store_exits_2(tmp_path: Path) -> None:
    out = harness(PROJECT_ROOT, "report", "run", "abc", "--tracking-uri", uri(tmp_path / "nowhere"), check=False, timeout=120)
    assert out.returncode == 2 and "no MLflow store" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.slow
def test_run_report_renders_in_a_headless_browser(jobs: Path, tmp_path: Path) -> None:
    """Real Chromium, no network: the page paints (not blank), logs no script or console errors, and has its sections."""
    from PIL import Image

    from reports.run_report import write_run_report

    chromium = shutil.which("chromium")
    require(chromium is not None, "apt-get install chromium")
    report = write_run_report(jobs / "a" / "artifacts", sample_charts(10))
    base = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--enable-logging=stderr", "--v=0"]
    shot = tmp_path / "report.png"
    painted = subprocess.run([*base, f"--user-data-dir={tmp_path / 'profile-1'}", f"--screenshot={shot}",
                              "--window-size=1280,2000", report.as_uri()], capture_output=True, text=True, timeout=60)
    assert shot.is_file(), painted.stderr[-2000:]
    image = Image.open(shot).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20)
    assert len(colours) > 50 and image.getextrema() != ((255, 255), (255, 255), (255, 255)), "the page rendered blank"
    dom = subprocess.run([*base, f"--user-data-dir={tmp_path / 'profile-2'}", "--dump-dom", report.as_uri()], capture_output=True,
                         text=True, timeout=60)
    for run in (painted, dom):
        errors = [line for line in run.stderr.splitlines() if "Uncaught" in line or ":CONSOLE" in line]  # the page has no script
        assert not errors, errors
    for title in RUN_SECTIONS:
        assert f'<section id="{re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")}">' in dom.stdout, title
    assert dom.stdout.count("<svg") >= 4


def test_throughput_section_shows_capacity_with_its_assumptions() -> None:
    from harness.metrics.capacity import capacity
    from reports.labels import format_value
    from reports.run_report import _throughput

    metrics = {"charts_per_s": 0.1, "wall_s": 100.0, **capacity(0.1, 20_000, 8)}
    config = {"evaluation": {"capacity_target_charts_per_day": 20_000, "capacity_hours_per_day": 8}}
    section = _throughput(metrics, config, 0.95)
    assert "360 charts per hour per engine; 7 engines for 20,000 charts a day at 8 hours a day" in section
    assert "evaluation.capacity_target_charts_per_day" in section and "evaluation.capacity_hours_per_day" in section
    assert "engines_for_target" in section  # and in the throughput table, under its MLflow name
    assert format_value("charts_per_hour_per_engine", 3512.4) == "3,512 /h"
    one = _throughput({"charts_per_s": 1.0, **capacity(1.0, 10_000, 24)}, {}, 0.95)  # defaults when the config is silent
    assert "1 engine for 10,000 charts a day at 24 hours a day" in one
    assert "Capacity" not in _throughput({"charts_per_s": 0.1}, {}, 0.95), "a run recorded before capacity shows none"
