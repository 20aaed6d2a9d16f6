"""The end-of-job summary in its three lengths (the job's ``summary`` setting)."""

from __future__ import annotations

from reports.summary import render_summary

METRICS = {"micro_f1": 0.462, "micro_f1_ci_low": 0.401, "micro_f1_ci_high": 0.52, "review_rate": 0.3,
           "coder_minutes_per_chart": 6.5, "denial_rate": 0.108, "n_charts": 40, "chart_latency_p95_s": 224400.0}
CONTEXT = {"dataset": "sample/dev", "extractor": "dictionary@2", "rules": "icd10cm_2026_v2@2", "charts": "40",
           "dataset_digest": "0123456789abcdef", "run_folder": "outputs/runs/x", "report": "outputs/runs/x/artifacts/report.html"}


def test_the_short_summary_speaks_in_labels_and_units() -> None:
    lines = render_summary(METRICS, {**CONTEXT, "mlflow_run": "a" * 32}, ["no gold codes"]).splitlines()
    assert lines[0] == "Run summary: sample/dev, 40 charts (dictionary@2, icd10cm_2026_v2@2)"
    assert any(line.split()[:3] == ["F1", "(all", "codes)"] and line.endswith("46.2%  [40.1%, 52.0%]") for line in lines)
    assert any(line.strip().startswith("Coder minutes per chart") and line.endswith("6.5 min") for line in lines)
    assert "note: no gold codes" in lines and lines[-3:] == [f"report: {CONTEXT['report']}", "run_folder: outputs/runs/x",
                                                             f"mlflow_run: {'a' * 32}"]
    assert "dataset_digest" not in "\n".join(lines) and "e+0" not in "\n".join(lines)


def test_full_lists_every_metric_and_false_only_where_the_run_is() -> None:
    full = render_summary(METRICS, CONTEXT, mode="full")
    assert "chart_latency_p95_s" in full and "dataset_digest: 0123456789abcdef" in full
    assert render_summary(METRICS, {**CONTEXT, "mlflow_run": "abc"}, mode=False).splitlines() == [
        "mlflow_run: abc", f"report: {CONTEXT['report']}"]
    assert render_summary(METRICS, CONTEXT, mode=False).splitlines() == [  # tracking off: the run folder names the run
        "run_folder: outputs/runs/x", f"report: {CONTEXT['report']}"]
