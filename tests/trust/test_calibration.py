"""Calibration: fitting lowers ECE on held-out data, artifacts round-trip, bad inputs fail clearly."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from harness.trust.calibration import (
    CalibrationConfig,
    CalibrationError,
    Calibrator,
    ece,
    reliability_bins,
)


def synthetic(n: int, seed: int, power: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """True probability p of being correct, reported confidence p**power (underconfident for power > 1)."""
    rng = np.random.default_rng(seed)
    p = rng.beta(2.0, 1.5, n)
    return p**power, rng.random(n) < p


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_calibration_lowers_ece_on_the_held_out_half(method: str) -> None:
    confidence, correct = synthetic(4000, seed=1)
    fit_half, eval_half = slice(0, 2000), slice(2000, None)
    calibrator = Calibrator.fit(confidence[fit_half], correct[fit_half], config=CalibrationConfig(method=method))
    before = ece(confidence[eval_half], correct[eval_half])
    after = ece(calibrator.transform(confidence[eval_half]), correct[eval_half])
    assert before > 0.2
    assert after < before / 4  # ~0.29 -> ~0.03-0.04 at this split size


def test_isotonic_transform_is_sklearn_predict() -> None:
    from sklearn.isotonic import IsotonicRegression

    confidence, correct = synthetic(500, seed=2)
    reference = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(confidence, correct)
    calibrator = Calibrator.fit(confidence, correct)
    grid = np.linspace(0.0, 1.0, 201)
    np.testing.assert_allclose(calibrator.transform(grid), reference.predict(grid), atol=1e-12)


def test_per_family_fits_beat_one_global_fit_and_small_families_fall_back() -> None:
    under, under_correct = synthetic(3000, seed=3, power=3.0)  # family I: underconfident
    over, over_correct = synthetic(3000, seed=4, power=0.3)  # family E: overconfident
    rare, rare_correct = synthetic(20, seed=5)  # family Z: too few for its own fit
    confidence = np.concatenate([under, over, rare])
    correct = np.concatenate([under_correct, over_correct, rare_correct])
    codes = ["I10"] * 3000 + ["E11.9"] * 3000 + ["Z79.4"] * 20
    train = np.arange(len(codes)) % 2 == 0
    codes_train = [c for c, keep in zip(codes, train) if keep]
    codes_test = [c for c, keep in zip(codes, train) if not keep]

    global_fit = Calibrator.fit(confidence[train], correct[train])
    family_fit = Calibrator.fit(
        confidence[train], correct[train], codes=codes_train, config=CalibrationConfig(per_family=True, min_family_samples=100)
    )
    assert sorted(family_fit.families) == ["E", "I"]
    assert family_fit.families["I"].n_samples == 1500
    test_conf, test_correct = confidence[~train], correct[~train]
    by_family, pooled = family_fit.transform(test_conf, codes_test), global_fit.transform(test_conf)
    family = np.array([c[0] for c in codes_test])
    for letter in "IE":  # pooled ECE hides it: one global map is miscalibrated within each family
        mask = family == letter
        assert ece(by_family[mask], test_correct[mask]) < ece(pooled[mask], test_correct[mask]) / 2
    rare = family == "Z"
    np.testing.assert_array_equal(by_family[rare], family_fit.overall.apply(test_conf[rare]))
    with pytest.raises(ValueError, match="codes"):
        family_fit.transform(test_conf)


def test_too_small_or_one_class_split_raises() -> None:
    confidence, correct = synthetic(49, seed=6)
    with pytest.raises(CalibrationError, match=r"49 predicted codes; at least 50"):
        Calibrator.fit(confidence, correct)
    with pytest.raises(CalibrationError, match=r"10 predicted codes; at least 20"):
        Calibrator.fit(confidence[:10], correct[:10], config=CalibrationConfig(method="platt", min_samples=20))
    with pytest.raises(CalibrationError, match="only correct codes"):
        Calibrator.fit(np.linspace(0, 1, 60), np.ones(60, dtype=bool))
    with pytest.raises(ValueError, match="within"):
        Calibrator.fit(np.full(60, 1.5), np.ones(60, dtype=bool))


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_save_load_round_trip_gives_identical_transforms(method: str, tmp_path) -> None:
    confidence, correct = synthetic(1000, seed=7)
    codes = ["I10" if i % 3 else "E11.9" for i in range(1000)]
    config = CalibrationConfig(method=method, per_family=True, min_family_samples=200)
    calibrator = Calibrator.fit(confidence, correct, codes=codes, config=config, created_by={"run_id": "r1", "split": "dev"})
    path = calibrator.save(tmp_path / "calibrator.json")

    loaded = Calibrator.load(path)
    grid = np.linspace(0.0, 1.0, 1001)
    grid_codes = ["I10", "E11.9", "Z00"] * 333 + ["I10", "I10"]
    np.testing.assert_array_equal(loaded.transform(grid, grid_codes), calibrator.transform(grid, grid_codes))
    assert loaded == calibrator
    artifact = json.loads(path.read_text())
    assert (artifact["format"], artifact["version"], artifact["config"]["method"]) == ("harness.calibrator", "1", method)
    assert (artifact["n_samples"], artifact["positives"]) == (1000, int(correct.sum()))
    assert artifact["created_by"] == {"run_id": "r1", "split": "dev"}
    assert set(artifact["families"]) == {"E", "I"}


def test_data_digest_identifies_the_pairs_not_their_order() -> None:
    confidence, correct = synthetic(200, seed=8)
    digest = Calibrator.fit(confidence, correct).data_digest
    order = np.random.default_rng(0).permutation(200)
    assert Calibrator.fit(confidence[order], correct[order]).data_digest == digest
    flipped = correct.copy()
    flipped[0] = not flipped[0]
    assert Calibrator.fit(confidence, flipped).data_digest != digest


def test_tampered_or_foreign_artifacts_raise_naming_the_path(tmp_path) -> None:
    confidence, correct = synthetic(200, seed=9)
    path = Calibrator.fit(confidence, correct).save(tmp_path / "calibrator.json")
    artifact = json.loads(path.read_text())

    def rewritten(**changes: object) -> str:
        path.write_text(json.dumps({**artifact, **changes}))
        return str(path)

    with pytest.raises(CalibrationError, match=rf"{path}.*version '2' is not supported"):
        Calibrator.load(rewritten(version="2"))
    with pytest.raises(CalibrationError, match=rf"{path}.*not a calibration artifact"):
        Calibrator.load(rewritten(format="something-else"))
    with pytest.raises(CalibrationError, match=rf"{path}.*invalid calibration artifact"):
        Calibrator.load(rewritten(config={**artifact["config"], "method": "platt"}))  # isotonic points, platt method
    with pytest.raises(CalibrationError, match=rf"{path}.*invalid calibration artifact"):
        Calibrator.load(rewritten(overall={**artifact["overall"], "y": artifact["overall"]["y"][:-1]}))
    path.write_text("not json")
    with pytest.raises(CalibrationError, match=rf"{path}.*not a JSON"):
        Calibrator.load(path)


def test_ece_by_hand() -> None:
    # 10 bins; 0.05 -> bin 0, 0.15 and 0.15 -> bin 1, 0.95 and 1.0 -> bin 9 (1.0 joins the last bin)
    # bin 0: conf 0.05,  acc 0/1 -> |0 - 0.05|    = 0.05,  weight 1/5
    # bin 1: conf 0.15,  acc 1/2 -> |0.5 - 0.15|  = 0.35,  weight 2/5
    # bin 9: conf 0.975, acc 2/2 -> |1 - 0.975|   = 0.025, weight 2/5
    # ECE = (0.05 + 2 * 0.35 + 2 * 0.025) / 5 = 0.8 / 5 = 0.16
    confidence = [0.05, 0.15, 0.15, 0.95, 1.0]
    correct = [False, True, False, True, True]
    assert ece(confidence, correct) == pytest.approx(0.16)

    bins = reliability_bins(confidence, correct)
    assert len(bins) == 10
    assert [b.count for b in bins] == [1, 2, 0, 0, 0, 0, 0, 0, 0, 2]
    assert bins[1] == pytest.approx((0.1, 0.2, 2, 0.15, 0.5))
    assert math.isnan(bins[2].mean_confidence) and math.isnan(bins[2].accuracy)


def test_bin_edges_belong_to_the_upper_bin_and_empty_input_is_nan() -> None:
    assert [b.count for b in reliability_bins([0.0, 0.2, 0.4, 1.0], [1, 1, 0, 1], n_bins=5)] == [1, 1, 1, 0, 1]
    assert math.isnan(ece([], []))
    with pytest.raises(ValueError, match="n_bins"):
        ece([0.5], [1], n_bins=0)
