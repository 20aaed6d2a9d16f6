"""Bad-input cases for chart ids, gold evidence text and chart languages (issue 27, item 8)."""

from __future__ import annotations

import unicodedata

from bad_inputs.corpus import SKIP, TEXT, Case, chart, good, jsonl, line

NFC, NFD = unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")
EVIDENCE = {"start": 12, "end": 34}
LONG_ID = "x" * 200_000

CASES: list[Case] = [
    Case("id_composed_and_decomposed", lambda _: [line(chart(NFD)), line(chart(NFC))], jsonl(), exit_code=2,
         message=f"charts.jsonl:2: id {NFC!r} repeats the chart at"),
    Case("id_composed_and_decomposed_skipped", lambda _: [*good("c1"), line(chart(NFD)), line(chart(NFC))], jsonl(SKIP),
         charts_in=2, skipped=1),
    Case("id_too_long", lambda _: [*good("c1"), line(chart(LONG_ID))], jsonl(), exit_code=2,
         message="charts.jsonl:2: id: 200000 characters, more than dataset.max_id_chars (256)"),
    Case("id_too_long_skipped", lambda _: [*good("c1"), line(chart(LONG_ID)), *good("c2")], jsonl(SKIP), charts_in=2,
         skipped=1),
    Case("id_long_allowed", lambda _: [*good("c1"), line(chart(LONG_ID))], jsonl("dataset.max_id_chars=200000"), charts_in=2),
    Case("evidence_text_contradicts_offsets",
         lambda _: [*good("c1"), line(chart("c2", gold=[{"code": "I10", "evidence": [EVIDENCE | {"text": "asthma"}]}]))],
         jsonl(), exit_code=2, message="charts.jsonl:2: gold[0].evidence[0].text: is not the chart text at 12-34"),
    Case("evidence_text_matches_offsets",
         lambda _: [*good("c1"), line(chart("c2", gold=[{"code": "I10", "evidence": [EVIDENCE | {"text": TEXT[12:34]}]}]))],
         jsonl(), charts_in=2),
    Case("language_unknown", lambda _: [*good("c1"), line(chart("c2", language="fr"))], jsonl(), exit_code=2,
         message="charts.jsonl:2: language: Input should be 'en' or 'es'"),
    Case("language_unknown_skipped", lambda _: [*good("c1"), line(chart("c2", language="klingon"))], jsonl(SKIP),
         charts_in=1, skipped=1),
    Case("language_spanish", lambda _: [*good("c1"), line(chart("c2", language="es"))], jsonl(), charts_in=2),
    Case("redacted_skipped_lines", lambda _: [*good("c1", "c1"), line(chart("c2", gold=[{"code": "Q99.99"}]))],
         jsonl(SKIP, "tracking.redact=true"), charts_in=1, skipped=2),
]
"""Chart ids (NFC, ``dataset.max_id_chars``), gold evidence text against its offsets, ``language``, redacted skipped lines."""
