"""Chart size and time are bounded (issue 27 item 5): a chart over ``pipeline.chart_timeout_s`` is routed to review
with the reason, and the dictionary's matching does work linear in the chart's size (counted, not timed)."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import PROJECT_ROOT, harness, store

from extractors.dictionary import headings
from extractors.dictionary.term_matching import TermMatcher, normalize_term, tokenize
from harness.pipeline.config import PipelineConfig

NOTES = [json.loads(row)["text"] for row in (PROJECT_ROOT / "datasets" / "sample" / "charts.jsonl").read_text().splitlines()]


def test_a_chart_over_its_time_budget_is_coded_and_routed_to_review_with_the_reason(tmp_path: Path) -> None:
    big = "\n\n".join(NOTES[:40])  # realistic notes, about 100 kB: far over a budget of 0.01 s
    path = tmp_path / "charts.jsonl"
    path.write_text(json.dumps({"id": "big", "language": "en", "text": big}) + "\n")
    run_dir = tmp_path / "run"
    harness(tmp_path, "dataset=jsonl", f"dataset.path={path}", "dataset.labelled=false", "extractor.train_split=null",
            "pipeline.chart_timeout_s=0.01", f"hydra.run.dir={run_dir}", store(tmp_path))
    (result,) = [json.loads(row) for row in (run_dir / "artifacts" / "chart_results.jsonl").read_text().splitlines()]
    assert result["route"] == "review"
    assert result["reasons"][0] == "chart_timeout: over 0.01 s"
    assert sum(result["stage_seconds"].values()) > 0.01
    assert result["codes"]  # still coded: the codes are the reviewer's draft
    assert {"stage": "budget", "detail": {"budget_s": 0.01, "route": "review"}}.items() <= {
        "stage": result["audit"][-1]["stage"], "detail": result["audit"][-1]["detail"]}.items()


def test_the_time_budget_is_on_by_default_and_can_be_switched_off() -> None:
    assert PipelineConfig().chart_timeout_s == 600.0
    assert PipelineConfig(chart_timeout_s=None).chart_timeout_s is None


class _CountingTerms(set):
    """A term set that counts the n-gram lookups made in it: the matcher's work."""

    lookups = 0

    def __contains__(self, item: object) -> bool:
        self.lookups += 1
        return super().__contains__(item)


def test_term_matching_looks_up_a_bounded_number_of_ngrams_per_word() -> None:
    terms = _CountingTerms(normalize_term(t) for t in ("essential hypertension", "chest pain", "type 2 diabetes mellitus",
                                                       "chronic obstructive pulmonary disease", "cough", "asthma"))
    matcher = TermMatcher(terms, max_tokens=12)
    note = "\n".join(NOTES[:10])
    counts = []
    for copies in (1, 2, 4, 8):
        terms.lookups = 0
        text = "\n".join([note] * copies)
        matches = matcher.find(text)
        counts.append((terms.lookups, len(matches)))
        assert terms.lookups <= 12 * len(tokenize(text))  # at most max_tokens lookups per word, whatever the text
    # the same note twice is twice the work and twice the matches: linear, exactly
    assert counts == [(counts[0][0] * k, counts[0][1] * k) for k in (1, 2, 4, 8)] and counts[0][1] > 0


class _CountingLabel:
    """Stands in for the heading label pattern and counts the characters it is asked to match."""

    def __init__(self, pattern) -> None:
        self.pattern, self.calls, self.chars = pattern, 0, 0

    def fullmatch(self, text: str, start: int, end: int):
        self.calls, self.chars = self.calls + 1, self.chars + end - start
        return self.pattern.fullmatch(text, start, end)


def test_heading_detection_reads_each_character_once_even_on_padded_lines(monkeypatch) -> None:
    # a line padded with blanks (fax tables, column layouts) made one regular expression backtrack for minutes
    text = "\n".join(["Hypertension" + " " * 200_000 + ":", "PLAN" + "\t" * 100_000, "Assessment" + " " * 50_000 + "x",
                      *NOTES[:5]])
    counting = _CountingLabel(headings._LABEL)
    monkeypatch.setattr(headings, "_LABEL", counting)
    spans = headings.heading_spans(text)
    assert counting.calls <= text.count("\n") + 1 and counting.chars <= len(text)
    assert spans[:2] == [(0, 12), (200_014, 200_018)]
    assert text[spans[0][0]:spans[0][1]] == "Hypertension" and "Assessment" not in {text[s:e] for s, e in spans}
