"""Chart size and time (issue 27 item 5): a chart over its time budget is coded but routed to review with the
reason, and a line over the default ``dataset.max_line_bytes`` (a size the pipeline handles in seconds) is refused."""

from __future__ import annotations

from bad_inputs.corpus import TEXT, Case, Content, chart, good, jsonl, line

BIG_NOTE = TEXT + " Plan: lisinopril. History of asthma; no chest pain.\n"


def big_chart(_) -> Content:
    """One chart of about 0.9 MB: far over a 0.01 s budget, well under the default line limit."""
    return [line(chart("c1", text=BIG_NOTE * 10_000))]


CASES: list[Case] = [
    Case("chart_over_time_budget", big_chart, jsonl("pipeline.chart_timeout_s=0.01"), charts_in=1,
         review_reasons={"chart_timeout": 1}),
    Case("line_over_default_max_line_bytes", lambda _: [*good("c1"), line(chart("c2", text="x" * 2_000_000))], jsonl(),
         exit_code=2, message="charts.jsonl:2: line longer than dataset.max_line_bytes (2000000 bytes)"),
]
