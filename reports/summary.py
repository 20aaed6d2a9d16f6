"""The one-screen summary printed at the end of a run."""

from __future__ import annotations

from collections.abc import Mapping

from harness.metrics.coding import METRIC_NAMES

EXTRA_NAMES = (
    "micro_f1_recoverable", "ocr_cer", "pages_per_s", "intake_review_rate", "quality_auroc",
    "schema_valid_rate", "unsupported_evidence_rate", "input_tokens_per_s", "output_tokens_per_s", "extraction_cache_hits",
    "automation_rate", "auto_precision", "automation_rate_at_p95", "automation_rate_at_p99", "aurc", "ece", "ece_raw",
    "evidence_f1_exact", "evidence_f1_overlap", "evidence_supported_rate", "edit_failure_rate", "billing_valid_rate",
)
"""Shown when the run produced them (degraded inputs, model-served extraction, the cache, the trust layer)."""


def render_summary(metrics: Mapping[str, float], context: Mapping[str, str]) -> str:
    """Headline metrics with their bootstrap intervals, stage times and where the run was recorded."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Run summary", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("bootstrap interval", justify="right")
    for name in [*METRIC_NAMES, *(n for n in EXTRA_NAMES if n in metrics)]:
        low, high = metrics.get(f"{name}_ci_low"), metrics.get(f"{name}_ci_high")
        interval = f"[{low:.4g}, {high:.4g}]" if low is not None and high is not None else ""
        table.add_row(name, f"{metrics[name]:.4g}", interval)
    for name in sorted(k for k in metrics if k.startswith("stage_")):
        table.add_row(name, f"{metrics[name]:.4g}", "")
    console = Console(width=100, record=True, force_terminal=False)
    with console.capture() as captured:
        console.print(table)
        for key, value in context.items():
            console.print(f"{key}: {value}", highlight=False)
    return captured.get()
