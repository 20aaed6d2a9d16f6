"""No chart text reaches a job's console or log files: stdout, stderr and every ``*.log`` under the run dir.

The predictions and chart results (artifacts) carry evidence text on purpose; what a terminal, a CI log
or a log shipper sees must not. Snippets of 30 characters are taken across each chart's text.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import harness

pytestmark = pytest.mark.slow  # a whole harness job in a subprocess

SNIPPET = 30


def _flat(text: str) -> str:
    return " ".join(text.split())


def snippets(chart, others, per_chart: int = 6) -> list[str]:
    """Up to ``per_chart`` windows of ``SNIPPET`` characters spread over the chart's (whitespace-normalised) text:
    mostly letters, and found in no other chart of the split (a shared header or signature says nothing)."""
    flat, other_texts = _flat(chart.text), [_flat(o.text) for o in others if o.id != chart.id]
    windows = [flat[start : start + SNIPPET] for start in range(0, len(flat) - SNIPPET + 1, 10)]
    distinctive = [w for w in windows if sum(c.isalpha() for c in w) >= 20 and not any(w in o for o in other_texts)]
    step = max(len(distinctive) // per_chart, 1)
    return distinctive[::step][:per_chart]


def leaks(charts, split, outputs: dict[str, str]) -> list[tuple[str, str, str]]:
    """(chart id, snippet, where) for every snippet of a chart found in an output (whitespace-normalised)."""
    flat = {name: _flat(text) for name, text in outputs.items()}
    return [(chart.id, snippet, name) for chart in charts for snippet in snippets(chart, split) for name, text in flat.items()
            if snippet in text]


def test_job_prints_and_logs_no_chart_text(tmp_path: Path) -> None:
    from harness.config import DatasetConfig, config_option
    from harness.sources import load_charts

    split = load_charts(DatasetConfig.model_validate(config_option("dataset", "sample")))
    charts = load_charts(DatasetConfig.model_validate(config_option("dataset", "sample") | {"limit": 3}))
    assert len(charts) == 3 and all(len(snippets(chart, split)) == 6 for chart in charts)

    run_dir = tmp_path / "run"
    job = harness(tmp_path, "dataset.limit=3", f"tracking.uri=sqlite:///{tmp_path / 'm.db'}", f"hydra.run.dir={run_dir}",
                  check=False)
    assert job.returncode == 0, job.stderr[-3000:]
    assert "Run summary" in job.stdout and "sample/dev: 3 charts" in job.stdout + job.stderr  # the job did run on them
    logs = {str(path.relative_to(tmp_path)): path.read_text(errors="replace") for path in sorted(run_dir.rglob("*.log"))}
    assert logs, f"no log file under {run_dir}"
    outputs = {"stdout": job.stdout, "stderr": job.stderr, **logs}
    # the check finds chart text where there is some: one planted sentence of the second chart
    planted = next(line for line in charts[1].text.splitlines() if any(s in _flat(line) for s in snippets(charts[1], split)))
    assert {chart for chart, _, _ in leaks(charts, split, {"stdout": job.stdout + planted})} == {charts[1].id}
    assert leaks(charts, split, outputs) == []
