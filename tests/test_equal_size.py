"""glth_core.analysis.equal_size: interpolation in log size, equal-size pairing, intrinsic dimensions."""
import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from glth_core.analysis.equal_size import at_equal_size, equal_size_difference, interpolate_log, intrinsic_dimensions


def test_interpolate_log_is_exact_for_a_line_in_log_x_and_nan_outside():
    x = np.array([1000.0, 10.0, 100.0])  # any order
    y = 2.0 + 0.5 * np.log(x)
    new = np.array([31.6, 500.0, 10.0, 1000.0, 5.0, 2000.0])
    got = interpolate_log(new, x, y)
    np.testing.assert_allclose(got[:4], 2.0 + 0.5 * np.log(new[:4]))
    assert np.isnan(got[4]) and np.isnan(got[5])


def test_interpolate_log_refuses_bad_input():
    with pytest.raises(ValueError, match="positive"):
        interpolate_log([1.0], [0.0, 1.0], [0.1, 0.2])
    with pytest.raises(ValueError, match="repeated"):
        interpolate_log([1.0], [1.0, 1.0], [0.1, 0.2])
    with pytest.raises(ValueError, match="same non-zero length"):
        interpolate_log([1.0], [1.0, 2.0], [0.1])


def _reference():
    # per seed s: accuracy a = 0.5 + 0.1 * log10(d) + 0.01 * s at d in {100, 1000, 10000}
    rows = [{"seed": s, "dimension": d, "test_accuracy": 0.5 + 0.1 * math.log10(d) + 0.01 * s}
            for s in range(4) for d in (100, 1000, 10000)]
    return pd.DataFrame(rows)


def test_at_equal_size_pairs_by_seed():
    treatment = pd.DataFrame({"seed": [2, 0, 1, 3], "coefficients": [316.23, 5000.0, 20000.0, 1000.0],
                              "test_accuracy": [0.9, 0.9, 0.9, 0.9]})
    got = at_equal_size(treatment, _reference(), x="coefficients", reference_x="dimension")
    expected = [0.5 + 0.1 * math.log10(316.23) + 0.02, 0.5 + 0.1 * math.log10(5000) + 0.0, math.nan, 0.83]
    np.testing.assert_allclose(got["reference"], expected)
    np.testing.assert_allclose(got["difference"], 0.9 - np.array(expected))


def test_equal_size_difference_matches_ttest_rel_on_the_pairs():
    rng = np.random.default_rng(0)
    treatment = pd.DataFrame({"seed": list(range(4)) * 2, "round": [1] * 4 + [2] * 4,
                              "coefficients": [3000.0] * 4 + [300.0] * 4,
                              "test_accuracy": rng.uniform(0.7, 0.9, size=8)})
    effects = equal_size_difference(treatment, _reference(), x="coefficients", reference_x="dimension", by=["round"])
    assert list(effects["round"]) == [1, 2] and list(effects["n"]) == [4, 4]
    for _, row in effects.iterrows():
        part = treatment[treatment["round"] == row["round"]]
        ref = 0.5 + 0.1 * math.log10(part.coefficients.iloc[0]) + 0.01 * part.seed.to_numpy()
        result = scipy.stats.ttest_rel(part.test_accuracy.to_numpy(), ref)
        ci = result.confidence_interval(0.95)
        assert row["estimate"] == pytest.approx(float(np.mean(part.test_accuracy.to_numpy() - ref)))
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((ci.low, ci.high))
        assert row["p_value"] == pytest.approx(result.pvalue)
        assert row["coefficients"] == pytest.approx(part.coefficients.iloc[0])


def test_equal_size_difference_leaves_out_uncovered_sizes():
    treatment = pd.DataFrame({"seed": [0, 1], "round": [1, 1], "coefficients": [50.0, 50.0],
                              "test_accuracy": [0.8, 0.8]})
    effects = equal_size_difference(treatment, _reference(), x="coefficients", reference_x="dimension", by=["round"])
    assert effects.empty and "estimate" in effects.columns


def test_intrinsic_dimensions_grid_interpolated_and_censored():
    sub = pd.DataFrame({"seed": [0] * 3 + [1] * 3 + [2] * 3, "dimension": [100, 1000, 10000] * 3,
                        "test_accuracy": [0.5, 0.7, 0.9,   0.85, 0.88, 0.9,   0.1, 0.2, 0.3]})
    got = intrinsic_dimensions(sub, {0: 0.9, 1: 0.9, 2: 0.9}, threshold=0.8).set_index("seed")
    # seed 0: target 0.72; 10000 (0.9) inside, 1000 (0.7) below: crossing at log d = log 10000 + (0.72 - 0.9) * (log 1000 - log 10000) / (0.7 - 0.9)
    expected = math.exp(math.log(10000) + (0.72 - 0.9) * (math.log(1000) - math.log(10000)) / (0.7 - 0.9))
    assert got.loc[0, "grid"] == 10000 and got.loc[0, "interpolated"] == pytest.approx(expected)
    assert not got.loc[0, "censored"]
    assert got.loc[1, "grid"] == 100 and got.loc[1, "censored"] and got.loc[1, "interpolated"] == 100
    assert got.loc[2, "grid"] is None or pd.isna(got.loc[2, "grid"])
    assert math.isnan(got.loc[2, "interpolated"])
    with pytest.raises(ValueError, match="dense has no accuracy"):
        intrinsic_dimensions(sub, {0: 0.9}, threshold=0.8)
