"""The run report of charts without gold codes shows what the system proposes: codes, evidence, review reasons."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import harness, store

NOTE = ("Follow-up visit during the COVID-19 pandemic. Type 2 diabetes with chronic kidney disease stage 3. "
        "Hypertension. Heart failure. He denies weight gain, swelling, fatigue, headache, nausea, vomiting, and diarrhea.")
CHARTS = [{"id": "n1", "text": NOTE, "gold": [], "meta": {"split": "dev"}},
          {"id": "n2", "text": "Low back pain. Constipation.", "gold": [], "meta": {"split": "dev"}}]


def _run(tmp_path: Path, *overrides: str) -> str:
    charts = tmp_path / "charts.jsonl"
    charts.write_text("".join(json.dumps(chart) + "\n" for chart in CHARTS))
    out = tmp_path / "run"
    harness(tmp_path, "dataset=jsonl", f"dataset.path={charts}", "extractor.train_split=null", "rules=icd10cm_2026_v3",
            "extraction_cache=false", "summary=false", store(tmp_path), f"hydra.run.dir={out}", *overrides)
    return (out / "artifacts" / "report.html").read_text()


def _rows(page: str, chart_id: str) -> list[str]:
    section = page[page.index("Codes per chart"):]
    return [row for row in re.findall(r"<tr>(.*?)</tr>", section, re.S) if f">{chart_id}<" in row]


@pytest.mark.slow
def test_a_run_without_gold_lists_proposed_codes_with_evidence_and_reasons(tmp_path: Path) -> None:
    page = _run(tmp_path)
    assert "Proposed codes" in page and "Most frequent proposed codes" in page
    n1 = " ".join(_rows(page, "n1"))
    # "with": E11 + CKD -> E11.22 (+ N18.30), hypertension + heart failure + CKD -> I13.0 (+ I50.9)
    for code in ("E11.22", "N18.30", "I13.0", "I50.9"):
        assert f"<code>{code}</code>" in n1, code
    # negated list items and the pandemic are not proposed; no category reaches the proposal unflagged
    for code in ("R11.0", "R11.10", "R19.7", "U07.1", "I10", "E11<"):
        assert f"<code>{code}</code>" not in n1, code
    assert "<mark>Heart failure</mark>" in n1  # evidence text: the charts are given and the page is not redacted
    n2 = " ".join(_rows(page, "n2"))
    assert "<code>M54.50</code>" in n2 and "<code>K59.00</code>" in n2


@pytest.mark.slow
def test_a_redacted_run_without_gold_shows_offsets_not_text(tmp_path: Path) -> None:
    page = _run(tmp_path, "tracking.redact=true")
    rows = " ".join(_rows(page, "n1"))
    assert "<code>E11.22</code>" in rows and "chars " in rows
    assert "<mark>" not in page and "Type 2 diabetes with chronic" not in page
