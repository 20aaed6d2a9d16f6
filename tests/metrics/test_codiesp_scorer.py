"""The harness's micro P/R/F1 and MAP equal the CodiEsp organisers' scorer on a toy run.

The organisers' formulas are written out here, independently of the harness, as their scripts compute them
(TeMU-BSC/codiesp-evaluation-script): micro precision, recall and F1 over distinct (document, code) pairs
(``comp_f1_diag_proc.py``), and MAP from trectools' ``get_map(trec_eval=False)`` (``codiespD_P_evaluation.py``),
which scores each document's codes in the order they were submitted: the scorer gives every code the same score.
trectools 0.0.43 (2020) keeps that order; later releases (0.0.50) sort a run by score and then by code, which
turns the submitted ranking into alphabetical order. Why the CodiEsp docs pin trectools==0.0.43
(``datasets/codiesp/README.md``).
"""

from __future__ import annotations

import pytest

from harness.metrics.coding import ChartOutcome, average_precision, evaluate, ranking

GOLD = {
    "doc-a": ["I10", "E11.9", "N18.3"],
    "doc-b": ["J18.9"],
    "doc-c": ["K21.9", "R10.13"],
    "doc-d": ["I48.91", "I50.9", "I50.9"],  # a code with two evidence rows: listed twice in the gold file
}
RUN = {  # (code, confidence), best first: the order a submission lists them in
    "doc-a": [("N18.3", 0.9), ("Z79.4", 0.8), ("I10", 0.7), ("E78.5", 0.4)],
    "doc-b": [("J18.9", 0.95), ("A41.9", 0.5)],
    "doc-c": [("R10.13", 0.6), ("C18.9", 0.3)],
    "doc-d": [("I50.9", 0.8), ("I48.91", 0.5), ("I50.9", 0.2)],  # a code predicted twice
}


def gold_rows() -> list[tuple[str, str]]:
    return [(doc, code) for doc, codes in GOLD.items() for code in codes]


def submitted_rows() -> list[tuple[str, str]]:
    """The two-column predictions file: one (document, code) row per prediction, in submission order."""
    return [(doc, code) for doc, predictions in RUN.items() for code, _ in predictions]


def organisers_micro(gold: list[tuple[str, str]], run: list[tuple[str, str]]) -> tuple[float, float, float]:
    """``comp_f1_diag_proc.calculate_metrics``: codes lower-cased, duplicate pairs dropped, true positives counted
    per gold document; every toy code is valid, so the scorer's valid-code filter drops nothing."""
    gold = [(doc, code.lower()) for doc, code in gold]
    run = [(doc, code.lower()) for doc, code in run]
    predicted_positives, gold_positives = len(set(run)), len(set(gold))
    true_positives = sum(len({c for d, c in run if d == doc} & {c for d, c in gold if d == doc}) for doc in {d for d, _ in gold})
    precision, recall = true_positives / predicted_positives, true_positives / gold_positives
    return precision, recall, 2 * precision * recall / (precision + recall)


def organisers_map(gold: list[tuple[str, str]], run: list[tuple[str, str]], codes_sorted_by_name: bool,
                   depth: int = 1000) -> tuple[float, dict[str, float]]:
    """``codiespD_P_evaluation.py`` through trectools ``get_map(trec_eval=False)``: per document, the sum of
    precision@k over the ranks k (within ``depth``) that hold a gold code, over the number of gold codes; the mean
    over documents in both the run and the gold. Duplicates are dropped keeping the first. The ranking is the
    submission order (trectools 0.0.43), or, with ``codes_sorted_by_name``, the order trectools 0.0.50 gives codes
    that all have the same score: by code."""
    relevant: dict[str, set[str]] = {}
    for doc, code in gold:
        relevant.setdefault(doc, set()).add(code.lower())
    ranked: dict[str, list[str]] = {}
    for doc, code in run:
        if code.lower() not in ranked.setdefault(doc, []):
            ranked[doc].append(code.lower())
    per_doc = {}
    for doc in ranked.keys() & relevant.keys():
        codes = sorted(ranked[doc]) if codes_sorted_by_name else ranked[doc]
        hits, total = 0, 0.0
        for rank, code in enumerate(codes[:depth], start=1):
            if code in relevant[doc]:
                hits += 1
                total += hits / rank
        per_doc[doc] = total / len(relevant[doc])
    return sum(per_doc.values()) / len(per_doc), per_doc


def harness_outcomes() -> list[ChartOutcome]:
    """The same run as the harness sees it; predictions handed over worst first, since the harness ranks by confidence."""
    return [ChartOutcome(doc, frozenset(GOLD[doc]), tuple(reversed(RUN[doc])), routed_to_review=False, latency_s=0.1)
            for doc in GOLD]


def test_the_toy_run_is_scored_as_the_organisers_scorer_with_trectools_0_0_43_scores_it() -> None:
    expected_map, expected_ap = organisers_map(gold_rows(), submitted_rows(), codes_sorted_by_name=False)
    # by hand, doc-a: gold codes at ranks 1 (N18.3) and 3 (I10) of 4, 3 gold codes: (1/1 + 2/3) / 3 = 5/9
    assert expected_ap["doc-a"] == pytest.approx(5 / 9)
    # and the run: 6 of 10 distinct predicted pairs are among the 8 distinct gold pairs
    assert organisers_micro(gold_rows(), submitted_rows()) == pytest.approx((6 / 10, 6 / 8, 2 / 3))

    for outcome in harness_outcomes():
        ranked = ranking(outcome.ranked)
        assert ranked == list(dict.fromkeys(code for code, _ in RUN[outcome.chart_id]))  # the submission order
        assert average_precision(ranked, outcome.gold) == pytest.approx(expected_ap[outcome.chart_id])
    metrics = evaluate(harness_outcomes(), wall_seconds=1.0, n_resamples=10)
    precision, recall, f1 = organisers_micro(gold_rows(), submitted_rows())
    assert (metrics["micro_precision"], metrics["micro_recall"], metrics["micro_f1"]) == pytest.approx((precision, recall, f1))
    assert metrics["map"] == pytest.approx(expected_map)


def test_trectools_0_0_50_sorting_tied_codes_by_name_changes_map() -> None:
    """The scorer scores every code 10; sorted by score and then by name, doc-a's codes become E78.5, I10, N18.3,
    Z79.4: gold codes at ranks 2 and 3, (1/2 + 2/3) / 3 = 7/18 instead of 5/9."""
    submitted, _ = organisers_map(gold_rows(), submitted_rows(), codes_sorted_by_name=False)
    by_name, per_doc = organisers_map(gold_rows(), submitted_rows(), codes_sorted_by_name=True)
    assert per_doc["doc-a"] == pytest.approx(7 / 18)
    assert by_name < submitted and evaluate(harness_outcomes(), wall_seconds=1.0, n_resamples=10)["map"] != pytest.approx(by_name)
