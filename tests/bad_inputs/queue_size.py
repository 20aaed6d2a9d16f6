"""``pipeline.queue_size`` and ``pipeline.batch_size`` (issue 28 item 6): a number of charts, or ``auto`` (sized for the
extractor's engine); anything else is one error line naming the key and what it takes."""

from __future__ import annotations

from bad_inputs.corpus import Case, good, jsonl

EXPECTED = "expected a number of charts (1 or more) or auto"

CASES: list[Case] = [
    Case("queue_size_auto", lambda _: good("c1", "c2"), jsonl("pipeline.queue_size=auto"), charts_in=2),
    Case("batch_size_auto_stop_and_go", lambda _: good("c1", "c2"),
         jsonl("pipeline=stop_and_go", "pipeline.batch_size=auto"), charts_in=2),
    Case("queue_size_word", lambda _: good("c1"), jsonl("pipeline.queue_size=many"), exit_code=2,
         message=f"pipeline.queue_size: Value error, {EXPECTED}, got 'many'"),
    Case("batch_size_fraction", lambda _: good("c1"), jsonl("pipeline=stop_and_go", "pipeline.batch_size=2.5"),
         exit_code=2, message=f"pipeline.batch_size: Value error, {EXPECTED}, got 2.5"),
    Case("queue_size_boolean", lambda _: good("c1"), jsonl("pipeline.queue_size=true"), exit_code=2,
         message=f"pipeline.queue_size: Value error, {EXPECTED}, got True"),
]
