"""Entropy weight method and the prior blend, against a hand-computed table."""

from __future__ import annotations

import numpy as np
import pytest

from scoring.normalise import minmax, percentile, robust_z
from scoring.weights import blended_weights, entropy_of, entropy_weights

NAN = float("nan")

# Four accounts × four indicators, already min-max normalised (x'):
#   A = [0, 1/3, 2/3, 1]  Σ = 2  → p = [0, 1/6, 1/3, 1/2]
#       e = −(1/ln 4)·(1/6·ln 1/6 + 1/3·ln 1/3 + 1/2·ln 1/2) = (0.29863 + 0.36620 + 0.34657)/1.38629
#         = 0.72957 → d = 0.27043
#   B = [1, 0, 0, 0]             → p = [1, 0, 0, 0], e = 0 (0·ln 0 = 0) → d = 1
#   C = [0, 0, 0, 0] (constant)  → no information, e = 1 → d = 0
#   D = [0, 1, 1, 1]             → p = 1/3 ×3, e = ln 3 / ln 4 = 0.79248 → d = 0.20752
#   Σd = 1.47795 → w = [0.18297, 0.67662, 0, 0.14041]
HAND = {
    "A": np.array([0.0, 1 / 3, 2 / 3, 1.0]),
    "B": np.array([1.0, 0.0, 0.0, 0.0]),
    "C": np.array([0.0, 0.0, 0.0, 0.0]),
    "D": np.array([0.0, 1.0, 1.0, 1.0]),
}


def test_entropy_per_column_hand_table() -> None:
    assert entropy_of(HAND["A"]) == pytest.approx(0.72957, abs=1e-5)
    assert entropy_of(HAND["B"]) == pytest.approx(0.0, abs=1e-12)
    assert entropy_of(HAND["C"]) == 1.0
    assert entropy_of(HAND["D"]) == pytest.approx(0.79248, abs=1e-5)


def test_entropy_weights_hand_table() -> None:
    w = entropy_weights(HAND)
    assert w == pytest.approx({"A": 0.18297, "B": 0.67662, "C": 0.0, "D": 0.14041}, abs=1e-5)
    assert sum(w.values()) == pytest.approx(1.0)


def test_blend_with_priors_hand_table() -> None:
    # Raw columns that min-max to the table above (min-max is applied inside blended_weights).
    raw = {"A": np.array([10.0, 20, 30, 40]), "B": np.array([5.0, 1, 1, 1]), "C": np.full(4, 7.0),
           "D": np.array([0.0, 2, 2, 2])}  # fmt: skip
    prior = {"A": 0.4, "B": 0.2, "C": 0.3, "D": 0.1}
    report = blended_weights(raw, prior, alpha=0.5, min_pool=2)
    # w = 0.5·w_entropy + 0.5·w_prior
    # A 0.5·0.18297 + 0.2 = 0.29149; B 0.5·0.67662 + 0.1 = 0.43831; C 0 + 0.15; D 0.07021 + 0.05 = 0.12021
    assert report.weights == pytest.approx({"A": 0.29149, "B": 0.43831, "C": 0.15, "D": 0.12021}, abs=1e-5)
    assert report.entropy["C"] == pytest.approx(0.0)
    assert "blended" in report.note


def test_small_columns_keep_their_prior() -> None:
    raw = {
        "A": np.array([10.0, 20, 30, 40]),
        "B": np.array([5.0, NAN, NAN, NAN]),
        "D": np.array([0.0, 2, 2, 2]),
    }
    prior = {"A": 0.5, "B": 0.3, "D": 0.2}
    report = blended_weights(raw, prior, alpha=0.5, min_pool=3)
    # B has one value (< 3): prior 0.3 kept. A and D share the remaining 0.7:
    # entropy over A, D: d = [0.27043, 0.20752] → [0.56580, 0.43420]; scaled by 0.7 → [0.39606, 0.30394]
    # A = 0.5·0.39606 + 0.5·0.5 = 0.44803; D = 0.5·0.30394 + 0.5·0.2 = 0.25197
    assert report.weights == pytest.approx({"A": 0.44803, "B": 0.3, "D": 0.25197}, abs=1e-5)
    assert report.entropy["B"] is None
    assert "B" in report.note


def test_all_constant_or_tiny_pool_falls_back_to_priors() -> None:
    prior = {"A": 0.7, "B": 0.3}
    flat = blended_weights({"A": np.full(40, 1.0), "B": np.full(40, 2.0)}, prior, alpha=0.5, min_pool=30)
    assert flat.weights == pytest.approx(prior)
    assert "prior weights only" in flat.note
    tiny = blended_weights({"A": np.arange(5.0), "B": np.arange(5.0)}, prior, alpha=0.5, min_pool=30)
    assert tiny.weights == pytest.approx(prior)


def test_blend_needs_priors() -> None:
    with pytest.raises(ValueError):
        blended_weights({"A": np.arange(3.0)}, {}, alpha=0.5, min_pool=2)


def test_minmax_and_percentile_keep_missing_values_missing() -> None:
    col = np.array([3.0, NAN, 1.0, 3.0, 5.0])
    mm = minmax(col)
    assert np.isnan(mm[1])
    assert mm[[0, 2, 3, 4]] == pytest.approx([0.5, 0.0, 0.5, 1.0])
    pct = percentile(col)
    # mid-rank: 1.0 → (0 + 0.5)/4; 3.0 (tied ×2) → (1 + 1)/4; 5.0 → (3 + 0.5)/4
    assert np.isnan(pct[1])
    assert pct[[0, 2, 3, 4]] == pytest.approx([0.5, 0.125, 0.5, 0.875])
    assert percentile(np.array([42.0]))[0] == 0.5  # a lone author sits in the middle
    assert np.isnan(percentile(np.array([NAN, NAN]))).all()


def test_robust_z_hand_values() -> None:
    # median 3, |dev| = [2, 1, 0, 1, 97] → MAD 1 → σ̂ = 1.4826; z(100) = 97 / 1.4826 = 65.43
    z = robust_z(np.array([1.0, 2, 3, 4, 100]))
    assert z[4] == pytest.approx(65.425, abs=1e-3)
    assert z[2] == 0.0
    assert (robust_z(np.full(5, 2.0)) == 0.0).all()
    # MAD = 0 (majority equal) falls back to the mean absolute deviation: [0,0,0,0,10] → 2 × 1.2533
    assert robust_z(np.array([0.0, 0, 0, 0, 10]))[4] == pytest.approx(10 / (1.2533 * 2), abs=1e-3)
