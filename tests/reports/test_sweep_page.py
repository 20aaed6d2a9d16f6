"""The sweep report's decision section and the end-of-sweep table on constructed runs (no store): each design's change
against the baseline with its badge and the gate's verdict, the recommendation, and the metrics the experiment lists."""

from __future__ import annotations

import html
import re
from pathlib import Path

from harness.run_record import RunArtifacts
from harness.tracking.decision import decide_sweep
from harness.tracking.run_store import RecordedRun
from reports.sweep_decision import decision_lines
from reports.sweep_report import write_sweep_report


def rows(lost: int = 0) -> list[dict]:
    return [{"chart_id": f"c{i}", "tp": 1 if i < lost else 2, "fp": 0, "fn": 1 if i < lost else 0,
             "exact_match": i >= lost, "routed_to_review": False} for i in range(40)]


def job(folder: Path, run_id: str, rules: str, lost: int, **metrics: float) -> RecordedRun:
    folder.mkdir()
    RunArtifacts(folder).write_config({"dataset": {"name": "sample", "split": "dev"}, "rules": {"name": rules},
                                       "report": {"metrics": ["ocr_cer"]}})
    tags = {"dataset": "sample", "dataset.split": "dev", "dataset.digest": "d1",
            "harness.overrides": f"rules={rules} dataset.limit=40"}
    return RecordedRun(run_id=run_id, name=run_id, tags=tags, params={"rules.name": rules},
                       metrics={"charts_per_s": 100.0, "ocr_cer": 0.1, **metrics}, folder=folder, per_chart=rows(lost))


def test_the_page_opens_with_the_decision_and_shows_the_experiments_metrics(tmp_path: Path) -> None:
    runs = [job(tmp_path / "a", "a" * 32, "v1", 0, micro_f1=1.0, coder_minutes_per_chart=6.0),
            job(tmp_path / "b", "b" * 32, "v2", 20, micro_f1=0.86, coder_minutes_per_chart=5.0)]
    decision = decide_sweep(runs)
    page = html.unescape(write_sweep_report(runs, tmp_path / "sweep.html", decision=decision).read_text(encoding="utf-8"))
    assert page.index('id="decision"') < page.index('id="runs"')
    decided = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page[page.index('id="decision"'):page.index('id="runs"')]))
    assert "against rules=v1" in decided and "Baseline: the sweep's first job" in decided
    assert re.search(r"-14\.3 pts \[[-+0-9.]+, [-+0-9.]+\] worse", decided)  # a code lost on half the charts
    assert "regression" in decided and "Recommended design rules=v1" in decided
    assert "OCR character error rate" in page[page.index('id="runs"'):]  # report.metrics of the experiment
    lines = decision_lines(decision)
    assert lines[0] == "against the baseline rules=v1 (the sweep's first job):"
    assert re.match(r"  rules=v2 +-14\.3 pts \[.*\] worse .* regression$", lines[3])
    assert lines[-2].startswith("recommended: rules=v1 (lowest coder minutes per chart among the baseline and the designs")
    assert lines[-1] == "  left out: rules=v2 (denial_rate skipped, micro_f1 regression)"  # runs without results to cost
