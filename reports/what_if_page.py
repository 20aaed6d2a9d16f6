"""The page ``harness operations --sweep`` writes: one recorded run's outcomes over the values of one setting.

One panel per outcome (review share, denials, rework, coder minutes, time to claim) with its bootstrap interval, then the
table the terminal prints, with the intervals. The recorded settings appear once: as the swept value they equal, or as an
extra first point. The page holds figures only, never chart text.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from harness.atomic_files import write_text_atomic
from reports import labels
from reports.html import figure, metric_name, note, page, section, table

if TYPE_CHECKING:
    from harness.operations.what_if import Scenario

CURVE = ("review_rate", "denial_rate", "rework_rate", "coder_minutes_per_chart", "coder_time_saved", "time_to_claim_p95_h")
"""The outcomes drawn and listed, in this order."""


def write_sweep_page(run_id: str, key: str, recorded: Scenario, scenarios: Sequence[Scenario], out: Path) -> Path:
    """Write the page of a what-if sweep of ``key`` over the recorded run ``run_id`` to ``out``."""
    from harness.operations.what_if import curve
    from reports import plots

    rows = curve(key, recorded, scenarios)
    shown = [name for name in CURVE if any(name in s.metrics for _, s in rows)]
    confidence = recorded.confidence

    def point(scenario: Scenario, name: str) -> tuple[float, float | None, float | None] | None:
        m = scenario.metrics
        if name not in m:
            return None
        return m[name], m.get(f"{name}_ci_low"), m.get(f"{name}_ci_high")

    panels = [plots.Panel(labels.label(name), {"": [point(s, name) for _, s in rows]},
                          share=labels.info(name).unit == "share") for name in shown]
    values = [value for value, _ in rows]
    chart = plots.lines(f"Outcomes over {key}", values, panels, xlabel=key)

    def cell(scenario: Scenario, name: str) -> str:
        m = scenario.metrics
        shown_value = labels.format_value(name, m.get(name))
        if f"{name}_ci_low" not in m:
            return shown_value
        low, high = (labels.format_value(name, m[f"{name}_ci{side}"]) for side in ("_low", "_high"))
        return f"{shown_value} [{low}, {high}]"

    table_rows = [(value, *(cell(s, name) for name in shown), labels.format_value("operations_stable",
                                                                             s.metrics.get("operations_stable")))
                  for value, s in rows]
    headers = [key, *(metric_name(name) for name in shown), labels.label("operations_stable")]
    fixed = " ".join(f"{k}={v}" for k, v in scenarios[0].overrides.items() if k != key) if scenarios else ""
    body = section(
        "Outcomes by setting",
        f"each point is this run's charts routed and costed again with {key} at that value (the codes, confidences and "
        f"edits stay as recorded); whiskers and brackets are {confidence:.0%} bootstrap intervals over the charts. Denials, "
        "rework and coder minutes are expected values per chart under the workload model; the queue is simulated.",
        figure(chart, f"One panel per outcome; x: the values of {key}."),
        table(headers, table_rows, numeric=range(1, len(headers))),
        *([note(f"Also set in every scenario: {fixed}.")] if fixed else []))
    identity = {"Run": run_id, "Swept": key, "Charts": recorded.result.document.get("charts", "?")}
    return write_text_atomic(out, page("What-if sweep", f"How {key} trades review work against denials and coder time.",
                                       identity, [body]))
