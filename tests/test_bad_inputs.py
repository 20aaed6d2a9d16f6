"""The bad-input corpus through the real ``harness`` command: each case ends as expected, and no chart is lost
(charts in = charts coded + charts reviewed + lines reported skipped)."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest
from bad_inputs import artifacts, chart_size, exit_codes, ids, openai_server, queue_size, routing
from bad_inputs.corpus import CASES as CORPUS
from bad_inputs.corpus import Case
from conftest import harness

CASES: list[Case] = [*CORPUS, *routing.CASES, *ids.CASES, *exit_codes.CASES, *chart_size.CASES, *artifacts.CASES,
                     *queue_size.CASES, *openai_server.CASES]
"""The corpus and the cases added with issue 27's fixes (routing's safety lists, ids, redaction, paths and exit codes,
chart size and time, trusted artifacts) and issue 28's (queue sizes, the server's settings)."""


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[case.kind for case in CASES])
def test_bad_input(case: Case, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    run_dir = tmp_path / "run"
    overrides = ["dataset=jsonl", "extractor.train_split=null", "tracking.enabled=false", "extraction_cache=false",
                 f"hydra.run.dir={run_dir}", *case.prepare(folder)]
    env = {**os.environ, "HARNESS_CACHE_DIR": str(folder / "cache")} if case.kind == "corrupt_extraction_cache" else None
    if env is not None:
        overrides.remove("extraction_cache=false")
    done = harness(tmp_path, *overrides, check=False, env=env, timeout=300)
    said = done.stdout + done.stderr
    assert done.returncode == case.exit_code, said[-3000:]
    assert case.message in said, said[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    if case.exit_code != 0:
        return
    summary = json.loads((run_dir / "run.json").read_text())
    rows = [json.loads(row) for row in (run_dir / "artifacts" / "predictions.jsonl").read_text().splitlines()]
    routes = Counter(row["route"] for row in rows)
    assert routes["auto"] + routes["review"] == case.charts_in == summary["metrics"]["n_charts"]
    assert summary["metrics"]["charts_skipped"] == case.skipped
    skipped = (run_dir / "artifacts" / "skipped_lines.jsonl").read_text().splitlines()
    assert len(skipped) == case.skipped
    reasons = Counter(kind for row in rows for kind in {reason.split(":")[0] for reason in row["reasons"]})
    for kind, charts in case.review_reasons.items():
        assert reasons[kind] == charts, reasons


def test_the_corpus_has_forty_distinct_kinds() -> None:
    kinds = [case.kind for case in CASES]
    assert len(kinds) >= 40 and len(set(kinds)) == len(kinds)
