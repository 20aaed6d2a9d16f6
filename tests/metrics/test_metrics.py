"""Tests of the code metrics and their bootstrap intervals."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness.metrics import registry
from harness.metrics.bootstrap import count_matrix, draw_indices, percentile_interval
from harness.metrics.coding import (
    METRIC_NAMES,
    ChartOutcome,
    average_precision,
    evaluate,
    per_chart_scores,
    ranking,
)


def chart(
    chart_id: str,
    gold: set[str],
    ranked: list[tuple[str, float]],
    *,
    review: bool = False,
    latency: float = 1.0,
) -> ChartOutcome:
    return ChartOutcome(chart_id, frozenset(gold), tuple(ranked), review, latency)


def random_outcomes(n_charts: int, n_labels: int, seed: int) -> list[ChartOutcome]:
    """Noisy predictions: most gold codes found, some spurious ones added."""
    rng = np.random.default_rng(seed)
    labels = [f"C{j:04d}" for j in range(n_labels)]
    outcomes = []
    for i in range(n_charts):
        gold = set(rng.choice(labels, size=rng.integers(0, 6), replace=False))
        kept = {code for code in sorted(gold) if rng.random() < 0.7}  # sorted: set order varies by process
        extra = set(rng.choice(labels, size=rng.integers(0, 4), replace=False))
        ranked = [(str(code), float(rng.random())) for code in sorted(kept | extra)]
        outcomes.append(
            chart(
                f"c{i}",
                {str(code) for code in gold},
                ranked,
                review=bool(rng.random() < 0.3),
                latency=float(rng.lognormal(0.0, 0.5)),
            )
        )
    return outcomes


# A: gold {a,b,c}, predicted {a,d,b}          -> tp 2, fp 1, fn 1
# B: gold {e},     predicted {f,e,g}          -> tp 1, fp 2, fn 0
# C: gold {h,i,j}, no predictions             -> tp 0, fp 0, fn 3
# D: no gold,      predicted {x}              -> tp 0, fp 1, fn 0
# E: gold {k},     predicted {k}              -> tp 1, fp 0, fn 0
HAND = [
    chart("A", {"a", "b", "c"}, [("b", 0.7), ("a", 0.9), ("d", 0.8)], latency=1.0),
    chart("B", {"e"}, [("g", 0.5), ("f", 0.9), ("e", 0.5)], review=True, latency=2.0),
    chart("C", {"h", "i", "j"}, [], review=True, latency=3.0),
    chart("D", set(), [("x", 0.4)], latency=4.0),
    chart("E", {"k"}, [("k", 0.99)], latency=10.0),
]


def test_micro_precision_recall_f1_by_hand() -> None:
    result = evaluate(HAND, wall_seconds=2.5, n_resamples=10)
    # totals: tp = 2+1+0+0+1 = 4, fp = 1+2+0+1+0 = 4, fn = 1+0+3+0+0 = 4
    # P = 4 / (4 + 4) = 0.5, R = 4 / (4 + 4) = 0.5, F1 = 2*4 / (2*4 + 4 + 4) = 0.5
    assert result["micro_precision"] == pytest.approx(0.5)
    assert result["micro_recall"] == pytest.approx(0.5)
    assert result["micro_f1"] == pytest.approx(0.5)
    # Without chart D: tp 4, fp 3, fn 4 -> P = 4/7, R = 4/8 = 0.5,
    # F1 = 8 / (8 + 3 + 4) = 8/15 (= 2 * 4/7 * 1/2 / (4/7 + 1/2)).
    without_d = evaluate([c for c in HAND if c.chart_id != "D"], 2.5, n_resamples=10)
    assert without_d["micro_precision"] == pytest.approx(4 / 7)
    assert without_d["micro_recall"] == pytest.approx(0.5)
    assert without_d["micro_f1"] == pytest.approx(8 / 15)
    assert result["n_charts"] == 5
    assert result["n_gold_codes"] == 3 + 1 + 3 + 0 + 1
    assert result["n_predicted_codes"] == 3 + 3 + 0 + 1 + 1


def test_map_by_hand() -> None:
    # A ranked a(.9) d(.8) b(.7): hits at ranks 1 and 3 -> (1/1 + 2/3) / 3 gold = 5/9
    # B ranked f(.9) e(.5) g(.5), tie broken by code (e < g): hit at rank 2
    #   -> (1/2) / 1 gold = 1/2
    # C no predictions -> 0;  D no gold -> not averaged;  E k at rank 1 -> 1
    # MAP = (5/9 + 1/2 + 0 + 1) / 4 = (10/18 + 9/18 + 18/18) / 4 = 37/72
    rows = {row["chart_id"]: row for row in per_chart_scores(HAND)}
    assert rows["A"]["average_precision"] == pytest.approx(5 / 9)
    assert rows["B"]["average_precision"] == pytest.approx(1 / 2)
    assert rows["C"]["average_precision"] == 0.0
    assert rows["D"]["average_precision"] is None
    assert rows["E"]["average_precision"] == 1.0
    assert evaluate(HAND, 2.5, n_resamples=10)["map"] == pytest.approx(37 / 72)


def test_ranking_ties_and_duplicates() -> None:
    # Equal confidence: code order decides, so "a" is ranked before "b".
    assert ranking([("b", 0.5), ("a", 0.5)]) == ["a", "b"]
    assert average_precision(ranking([("b", 0.5), ("a", 0.5)]), frozenset({"b"})) == 0.5
    assert average_precision(ranking([("b", 0.5), ("a", 0.5)]), frozenset({"a"})) == 1.0
    # A repeated code keeps its best confidence and counts once.
    assert ranking([("a", 0.1), ("b", 0.5), ("a", 0.9)]) == ["a", "b"]
    assert average_precision([], frozenset({"a"})) == 0.0
    assert average_precision(["a"], frozenset()) is None


def test_map_is_zero_without_gold_charts() -> None:
    result = evaluate([chart("x", set(), [("a", 1.0)])], 1.0, n_resamples=5)
    assert result["map"] == 0.0


def test_exact_match_review_rate_throughput_and_latency_by_hand() -> None:
    result = evaluate(HAND, wall_seconds=2.5, n_resamples=10)
    # exact: only E ({k} == {k}) -> 1/5; D predicts {x} against an empty gold set.
    assert result["exact_match"] == pytest.approx(1 / 5)
    # review: B and C -> 2/5
    assert result["review_rate"] == pytest.approx(2 / 5)
    # 5 charts in 2.5 s -> 2 charts/s
    assert result["charts_per_s"] == pytest.approx(2.0)
    # latencies sorted 1, 2, 3, 4, 10: p50 = 3;
    # p95 at position 0.95 * (5 - 1) = 3.8 -> 4 + 0.8 * (10 - 4) = 8.8
    assert result["chart_latency_p50_s"] == pytest.approx(3.0)
    assert result["chart_latency_p95_s"] == pytest.approx(8.8)
    assert chart("y", set(), [], latency=0.0).latency_s == 0.0
    with pytest.raises(ValueError, match="latency_s"):
        chart("z", set(), [], latency=-1.0)


def test_per_chart_scores_rows() -> None:
    rows = per_chart_scores(HAND)
    assert [row["chart_id"] for row in rows] == ["A", "B", "C", "D", "E"]
    a = rows[0]
    # A: tp 2, fp 1, fn 1 -> P = 2/3, R = 2/3, F1 = 4 / (4 + 1 + 1) = 2/3
    assert (a["tp"], a["fp"], a["fn"]) == (2, 1, 1)
    assert a["precision"] == pytest.approx(2 / 3)
    assert a["recall"] == pytest.approx(2 / 3)
    assert a["f1"] == pytest.approx(2 / 3)
    assert rows[2]["precision"] == 0.0  # C predicts nothing: 0/0 -> 0
    assert rows[1]["routed_to_review"] is True
    assert rows[4]["exact_match"] is True
    assert set(a) == {
        "chart_id", "tp", "fp", "fn", "precision", "recall", "f1",
        "average_precision", "exact_match", "routed_to_review", "latency_s",
    }
    json.dumps(rows)


def test_macro_and_micro_agree_with_sklearn() -> None:
    from sklearn.metrics import f1_score, precision_score, recall_score
    from sklearn.preprocessing import MultiLabelBinarizer

    outcomes = random_outcomes(120, 40, seed=7)
    gold = [outcome.gold for outcome in outcomes]
    predicted = [{code for code, _ in outcome.ranked} for outcome in outcomes]
    binarizer = MultiLabelBinarizer(classes=sorted(set().union(*gold, *predicted)))
    y_true = binarizer.fit_transform(gold)
    y_pred = binarizer.transform(predicted)

    result = evaluate(outcomes, 10.0, n_resamples=20)
    for average in ("macro", "micro"):
        expected = f1_score(y_true, y_pred, average=average, zero_division=0)
        assert result[f"{average}_f1"] == pytest.approx(expected)
    assert result["micro_precision"] == pytest.approx(
        precision_score(y_true, y_pred, average="micro", zero_division=0)
    )
    assert result["micro_recall"] == pytest.approx(
        recall_score(y_true, y_pred, average="micro", zero_division=0)
    )


def test_bootstrap_sample_equals_metrics_of_resampled_charts() -> None:
    # With one resample both bounds are that resample's value, which must equal
    # the point value computed on the resampled chart list (charts_per_s aside:
    # it depends on wall time, not only on the charts; macro_f1 aside: its
    # interval is centred on the point value, tested below).
    outcomes = random_outcomes(80, 30, seed=3)
    seed = 11
    (indices,) = draw_indices(len(outcomes), 1, seed)
    resampled = evaluate([outcomes[i] for i in indices], 1.0, n_resamples=2)
    single = evaluate(outcomes, 1.0, n_resamples=1, seed=seed)
    for name in METRIC_NAMES:
        if name in ("charts_per_s", "macro_f1"):
            continue
        assert single[f"{name}_ci_low"] == pytest.approx(resampled[name]), name
        assert single[f"{name}_ci_high"] == pytest.approx(resampled[name]), name


def test_intervals_contain_point_and_narrow_with_more_charts() -> None:
    small = evaluate(random_outcomes(40, 60, seed=1), 10.0, seed=5)
    large = evaluate(random_outcomes(640, 60, seed=2), 10.0, seed=5)
    for result in (small, large):
        for name in METRIC_NAMES:
            assert result[f"{name}_ci_low"] <= result[name] <= result[f"{name}_ci_high"], name
    # 16x the charts -> about 4x narrower; ask for at least 2x.
    for name in ("micro_f1", "macro_f1", "map", "exact_match", "review_rate",
                 "chart_latency_p50_s"):
        small_width = small[f"{name}_ci_high"] - small[f"{name}_ci_low"]
        large_width = large[f"{name}_ci_high"] - large[f"{name}_ci_low"]
        assert 0 < large_width < small_width / 2, name


def test_macro_f1_interval_contains_its_point_on_a_long_tailed_code_set() -> None:
    # As on CodiEsp: a few common codes found well, and many codes of one chart each, mostly
    # missed. A resample leaves out 37% of the one-chart codes, so resampled values
    # sit above the point value, where a percentile interval would miss it.
    rng = np.random.default_rng(0)
    outcomes = []
    for i in range(200):
        common = {f"A{j}" for j in range(20) if rng.random() < 0.5}
        found = {code for code in sorted(common) if rng.random() < 0.9}
        ranked = [(code, 1.0) for code in sorted(found | ({f"S{i}"} if rng.random() < 0.1 else set()))]
        outcomes.append(chart(f"c{i}", common | {f"R{i}", f"S{i}"}, ranked))
    result = evaluate(outcomes, 1.0, n_resamples=200, seed=1)
    resampled = [evaluate([outcomes[i] for i in indices], 1.0, n_resamples=1)["macro_f1"]
                 for indices in draw_indices(len(outcomes), 20, seed=2)]
    assert min(resampled) > result["macro_f1"]
    assert result["macro_f1_ci_low"] < result["macro_f1"] < result["macro_f1_ci_high"]
    # centred on the point value: z bootstrap standard errors either side
    assert result["macro_f1"] - result["macro_f1_ci_low"] == pytest.approx(result["macro_f1_ci_high"] - result["macro_f1"])


def test_charts_per_s_interval_scales_with_resampled_latency() -> None:
    # Equal latencies: every resample has the same total latency, so no spread.
    outcomes = [chart(f"c{i}", {"a"}, [("a", 1.0)], latency=0.5) for i in range(30)]
    result = evaluate(outcomes, wall_seconds=6.0, n_resamples=50)
    assert result["charts_per_s"] == pytest.approx(5.0)
    assert result["charts_per_s_ci_low"] == pytest.approx(5.0)
    assert result["charts_per_s_ci_high"] == pytest.approx(5.0)


def test_seed_determinism() -> None:
    outcomes = random_outcomes(60, 30, seed=4)
    first = evaluate(outcomes, 3.0, seed=123)
    assert evaluate(outcomes, 3.0, seed=123) == first
    other = evaluate(outcomes, 3.0, seed=124)
    assert all(other[name] == first[name] for name in METRIC_NAMES)
    assert any(other[f"{name}_ci_low"] != first[f"{name}_ci_low"] for name in METRIC_NAMES)
    # the keys as the registry knows them (no literal list to update when evaluate gains a metric)
    assert [key for key in first if not registry.is_registered(key)] == []
    bounded = [name for name in first if (found := registry.find(name)) is not None and found.interval]
    assert sorted(bounded) == sorted(METRIC_NAMES)
    assert {f"{name}{bound}" for name in bounded for bound in registry.BOUNDS} <= first.keys()


def test_invalid_input() -> None:
    with pytest.raises(ValueError, match="at least one chart"):
        evaluate([], 1.0)
    with pytest.raises(ValueError, match="wall_seconds"):
        evaluate(HAND, 0.0)
    with pytest.raises(ValueError, match="confidence"):
        evaluate(HAND, 1.0, confidence=1.5)
    with pytest.raises(ValueError, match="n_resamples"):
        evaluate(HAND, 1.0, n_resamples=0)


def test_bootstrap_helpers() -> None:
    indices = np.array([[0, 0, 2], [1, 2, 2]])
    # resample 0 draws item 0 twice and item 2 once; resample 1 draws 1 once, 2 twice
    np.testing.assert_array_equal(count_matrix(indices, 3), [[2, 0, 1], [0, 1, 2]])
    np.testing.assert_array_equal(draw_indices(5, 4, seed=9), draw_indices(5, 4, seed=9))
    low, high = percentile_interval(np.arange(101.0), 0.9)
    assert (float(low), float(high)) == pytest.approx((5.0, 95.0))
