"""The one-screen summary printed at the end of a run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from harness.metrics import registry


def render_summary(metrics: Mapping[str, float], context: Mapping[str, str], notes: Sequence[str] = ()) -> str:
    """The recorded metrics the registry marks for the summary, in its order, with their bootstrap intervals; then the
    ``notes`` on what the figures leave out; then where the run and its outputs are."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Run summary", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("bootstrap interval", justify="right")
    for name in registry.present(metrics, summary=True):
        low, high = metrics.get(f"{name}_ci_low"), metrics.get(f"{name}_ci_high")
        interval = f"[{low:.4g}, {high:.4g}]" if low is not None and high is not None else ""
        table.add_row(name, f"{metrics[name]:.4g}", interval)
    console = Console(width=100, record=True, force_terminal=False)
    with console.capture() as captured:
        console.print(table)
        for line in notes:
            console.print(f"note: {line}", highlight=False)
        for key, value in context.items():
            console.print(f"{key}: {value}", highlight=False)
    return captured.get()
