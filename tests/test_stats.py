"""glth_core.analysis.stats against scipy.stats, closed forms and hand-made tables."""
import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from glth_core.analysis import stats

# fixed data: 5 seeds, two arms, values as the engine writes them (fractions)
TREATED = np.array([0.861, 0.874, 0.852, 0.869, 0.880])
REFERENCE = np.array([0.850, 0.866, 0.851, 0.860, 0.871])


def _two_arm_table(treated=TREATED, reference=REFERENCE, arm="basis", names=("dct", "canonical"), rnd=3):
    rows = [{arm: name, "seed": s, "round": rnd, "test_accuracy": v}
            for name, values in zip(names, (treated, reference)) for s, v in enumerate(values)]
    return pd.DataFrame(rows).sample(frac=1.0, random_state=0)  # row order must not matter


# --------------------------------------------------------------------------- t intervals


def test_t_interval_matches_scipy_t_interval():
    low, high = stats.t_interval(TREATED, 0.95)
    expected = scipy.stats.t.interval(0.95, df=4, loc=TREATED.mean(), scale=scipy.stats.sem(TREATED))
    assert (low, high) == pytest.approx(expected, rel=1e-12)
    low90, high90 = stats.t_interval(TREATED, 0.90)
    assert high90 - low90 < high - low


def test_t_interval_closed_form():
    # mean 2, sd 1, n 3: half width t_{0.975, 2} / sqrt(3) with t_{0.975, 2} = 4.302652729749464
    assert stats.t_interval([1.0, 2.0, 3.0]) == pytest.approx((2 - 4.302652729749464 / math.sqrt(3),
                                                               2 + 4.302652729749464 / math.sqrt(3)), rel=1e-9)


def test_t_interval_degenerate_and_bad_input():
    assert all(math.isnan(v) for v in stats.t_interval([0.5]))
    assert stats.t_interval([0.5, 0.5, 0.5]) == (0.5, 0.5)
    with pytest.raises(ValueError, match="NaN"):
        stats.t_interval([0.5, np.nan])
    with pytest.raises(ValueError, match="confidence"):
        stats.t_interval([0.5, 0.6], confidence=95)


def test_summarize_per_group_matches_scipy():
    table = _two_arm_table()
    table = pd.concat([table, table.assign(round=4, test_accuracy=table.test_accuracy - 0.1)])
    table["density"] = 0.8 ** table["round"]
    out = stats.summarize(table, ["basis", "round"], means=["density"])
    assert list(out.columns) == ["basis", "round", "n", "mean", "sd", "ci_low", "ci_high", "density"]
    assert len(out) == 4
    row = out[(out.basis == "canonical") & (out["round"] == 4)].iloc[0]
    values = REFERENCE - 0.1
    assert row.n == 5
    assert row["mean"] == pytest.approx(values.mean())
    assert row.sd == pytest.approx(np.std(values, ddof=1))
    assert (row.ci_low, row.ci_high) == pytest.approx(
        scipy.stats.t.interval(0.95, 4, loc=values.mean(), scale=scipy.stats.sem(values)))
    assert row.density == pytest.approx(0.8 ** 4)


def test_summarize_names_missing_column():
    with pytest.raises(ValueError, match="no column"):
        stats.summarize(_two_arm_table(), ["basis", "nope"])
    with pytest.raises(TypeError, match="DataFrame"):
        stats.summarize([1, 2], ["basis"])


def test_with_dense_round_copies_ticket_round0_to_controls():
    table = pd.DataFrame({"control": ["ticket", "ticket", "reinit"], "seed": 0, "round": [0, 1, 1],
                          "test_accuracy": [0.9, 0.91, 0.85]})
    out = stats.with_dense_round(table)
    dense = out[(out.control == "reinit") & (out["round"] == 0)]
    assert len(out) == 4 and dense.test_accuracy.tolist() == [0.9]


# --------------------------------------------------------------------------- paired differences


def test_paired_difference_matches_ttest_rel():
    out = stats.paired_difference(_two_arm_table(), "basis", "dct", "canonical")
    assert len(out) == 1
    row = out.iloc[0]
    d = TREATED - REFERENCE
    reference = scipy.stats.ttest_rel(TREATED, REFERENCE)
    assert row.n == 5
    assert row.estimate == pytest.approx(d.mean())
    assert row.sd == pytest.approx(np.std(d, ddof=1))
    assert row.p_value == pytest.approx(reference.pvalue, rel=1e-10)
    # independent of ttest_rel: the t interval of the differences
    assert (row.ci_low, row.ci_high) == pytest.approx(
        scipy.stats.t.interval(0.95, 4, loc=d.mean(), scale=scipy.stats.sem(d)), rel=1e-10)
    assert row.treatment_mean == pytest.approx(TREATED.mean())


def test_paired_difference_pairs_by_seed_not_by_position():
    table = _two_arm_table()
    swapped = table.copy()
    swapped.loc[swapped.basis == "canonical", "seed"] = 4 - swapped.loc[swapped.basis == "canonical", "seed"]
    paired = stats.paired_difference(table, "basis", "dct", "canonical").iloc[0]
    mismatched = stats.paired_difference(swapped, "basis", "dct", "canonical").iloc[0]
    assert paired.estimate == pytest.approx(mismatched.estimate)  # same means
    assert paired.sd != pytest.approx(mismatched.sd)  # but different pairs


def test_paired_difference_drops_unmatched_and_groups():
    table = _two_arm_table()
    table = table[~((table.basis == "canonical") & (table.seed == 4))]  # seed 4 lacks a reference
    table = pd.concat([table, _two_arm_table(rnd=5)])
    out = stats.paired_difference(table, "basis", "dct", "canonical", by=["round"])
    assert out["round"].tolist() == [3, 5]
    assert out.n.tolist() == [4, 5]
    assert out.estimate.iloc[0] == pytest.approx((TREATED - REFERENCE)[:4].mean())


def test_paired_difference_refuses_ambiguous_rows():
    table = pd.concat([_two_arm_table(), _two_arm_table().assign(control="reinit")])
    with pytest.raises(ValueError, match="several rows"):
        stats.paired_difference(table, "basis", "dct", "canonical")
    assert len(stats.paired_difference(table.fillna({"control": "ticket"}), "basis", "dct", "canonical",
                                       by=["control", "round"])) == 2
    with pytest.raises(ValueError, match="no rows with basis == 'hadamard'"):
        stats.paired_difference(table, "basis", "hadamard", "canonical")


def test_paired_difference_one_pair_and_identical_pairs():
    one = stats.paired_difference(_two_arm_table(TREATED[:1], REFERENCE[:1]), "basis", "dct", "canonical").iloc[0]
    assert one.n == 1 and math.isnan(one.ci_low) and math.isnan(one.p_value)
    same = stats.paired_difference(_two_arm_table(TREATED, TREATED), "basis", "dct", "canonical").iloc[0]
    assert (same.estimate, same.ci_low, same.ci_high) == (0.0, 0.0, 0.0)


# --------------------------------------------------------------------------- interpolation and compression


def test_sparsest_within():
    acc = pd.Series([0.90, 0.91, 0.895, 0.87, 0.90], index=[0, 1, 2, 3, 4])
    assert stats.sparsest_within(acc, 0.89) == (2, True)
    assert stats.sparsest_within(acc.iloc[::-1], 0.89) == (2, True)  # order of the index does not matter
    assert stats.sparsest_within(acc, 0.80) == (4, False)
    assert stats.sparsest_within(acc, 0.95) == (None, True)


def test_crossing_linear_in_log_density_is_exact():
    # accuracy = 0.9 + 0.02 log10(density): it reaches 0.87 at density 10^-1.5 exactly
    density = 0.5 ** np.arange(8)
    accuracy = 0.9 + 0.02 * np.log10(density)
    at, censored = stats.crossing(density, accuracy, 0.87)
    assert not censored
    assert at == pytest.approx(10 ** -1.5, rel=1e-12)


def test_crossing_interpolates_between_the_two_rounds():
    # between (0.25, 0.88) and (0.125, 0.84) the threshold 0.87 is a quarter of the way in log density
    at, censored = stats.crossing([1.0, 0.5, 0.25, 0.125], [0.90, 0.91, 0.88, 0.84], 0.87)
    assert at == pytest.approx(0.25 * 0.5 ** 0.25) and not censored


def test_crossing_censored_and_below_at_start():
    assert stats.crossing([1.0, 0.5, 0.25], [0.9, 0.9, 0.89], 0.85) == (0.25, True)
    at, censored = stats.crossing([1.0, 0.5], [0.80, 0.9], 0.85)
    assert math.isnan(at) and not censored
    with pytest.raises(ValueError, match="positive"):
        stats.crossing([1.0, 0.0], [0.9, 0.8], 0.85)


def _curves():
    """Two bases x three seeds; accuracy linear in log2 density with a per-basis slope."""
    rows = []
    for basis, slope in (("canonical", 0.02), ("dct", 0.01)):
        for seed in range(3):
            dense = 0.88 + 0.002 * seed
            for r in range(6):
                density = 0.5 ** r
                accuracy = dense + (slope if r else 0) * np.log2(density)
                rows.append({"basis": basis, "control": "ticket", "seed": seed, "round": r, "density": density,
                             "params": 1000 * density, "test_accuracy": accuracy})
    return pd.DataFrame(rows)


def test_compression_own_reference_closed_form():
    out = stats.compression(_curves(), 0.03, reference="own")
    canonical = out[out.basis == "canonical"]
    # canonical: 0.02 * log2(d) = -0.03 -> d = 2^-1.5, compression 2^1.5; dct: 2^-3 -> 8
    assert canonical.compression.to_numpy() == pytest.approx([2 ** 1.5] * 3)
    assert out[out.basis == "dct"].compression.to_numpy() == pytest.approx([8.0] * 3)
    assert not out.censored.any()
    assert (out.threshold == out.reference - 0.03).all()
    by_params = stats.compression(_curves(), 0.03, x="params")
    assert by_params.compression.to_numpy() == pytest.approx(out.compression.to_numpy())


def test_compression_reference_of_another_basis_and_censoring():
    table = _curves()
    table.loc[table.basis == "dct", "test_accuracy"] += 0.01  # dct's own dense is higher
    out = stats.compression(table, 0.03, reference={"basis": "canonical"})
    dct = out[out.basis == "dct"]
    # relative to canonical's dense: 0.01 log2(d) + 0.01 = -0.03 -> d = 2^-4 = 1/16, still inside round 5
    assert dct.compression.to_numpy() == pytest.approx([16.0] * 3)
    wide = stats.compression(table, 0.06, reference={"basis": "canonical"})
    dct = wide[wide.basis == "dct"]
    assert dct.censored.all()  # never leaves the band: lower bound at the sparsest round, 2^5
    assert dct.compression.to_numpy() == pytest.approx([32.0] * 3)
    assert stats.format_compression(32.0, censored=True) == "≥ 32x"
    assert stats.format_compression(2.83, digits=1) == "2.8x"


def test_compression_bad_arguments():
    with pytest.raises(ValueError, match="tolerance"):
        stats.compression(_curves(), -0.01)
    with pytest.raises(ValueError, match="exactly one"):
        stats.compression(_curves(), 0.01, reference={"basis": "hadamard"})
    with pytest.raises(ValueError, match="reference must be"):
        stats.compression(_curves(), 0.01, reference="canonical")
    with pytest.raises(ValueError, match="round 0"):
        stats.compression(_curves().query("round > 0"), 0.01)


def test_summarize_compression_matches_scipy_bootstrap():
    values = np.array([1.5, 2.5, 3.0, 4.0, 2.0])
    per_seed = pd.DataFrame({"basis": "dct", "seed": range(5), "compression": values,
                             "censored": [False, False, True, False, False]})
    out = stats.summarize_compression(per_seed, seed=7, method="percentile").iloc[0]
    expected = scipy.stats.bootstrap((np.log(values),), np.mean, confidence_level=0.95, n_resamples=9999,
                                     method="percentile", rng=np.random.default_rng(7)).confidence_interval
    assert out.compression == pytest.approx(scipy.stats.gmean(values))
    assert (out.ci_low, out.ci_high) == pytest.approx((math.exp(expected.low), math.exp(expected.high)))
    assert out.n == 5 and out.censored == 1 and out.bound == "lower"
    again = stats.summarize_compression(per_seed, seed=7, method="percentile").iloc[0]
    assert (again.ci_low, again.ci_high) == (out.ci_low, out.ci_high)  # seeded


def test_summarize_compression_default_is_the_t_interval_of_the_logs():
    values = np.array([1.5, 2.5, 3.0, 4.0, 2.0])
    per_seed = pd.DataFrame({"basis": "dct", "seed": range(5), "compression": values, "censored": False})
    out = stats.summarize_compression(per_seed).iloc[0]
    logs = np.log(values)
    low, high = scipy.stats.t.interval(0.95, df=4, loc=logs.mean(), scale=scipy.stats.sem(logs))
    assert (out.ci_low, out.ci_high) == pytest.approx((math.exp(low), math.exp(high)), rel=1e-12)
    assert out.bound == "exact"
    with pytest.raises(ValueError, match="method must be one of"):
        stats.summarize_compression(per_seed, method="bootstrap")


def test_compression_ratio_paired_and_bounds():
    per_seed = stats.compression(_curves(), 0.03)
    out = stats.compression_ratio(per_seed, "basis", "dct", "canonical").iloc[0]
    assert out.estimate == pytest.approx(8.0 / 2 ** 1.5)
    assert out.ci_low == pytest.approx(out.estimate) and out.bound == "exact"  # identical ratios: no spread
    per_seed.loc[(per_seed.basis == "dct") & (per_seed.seed == 0), "censored"] = True
    assert stats.compression_ratio(per_seed, "basis", "dct", "canonical").bound.item() == "lower"
    per_seed.loc[(per_seed.basis == "canonical") & (per_seed.seed == 1), "censored"] = True
    assert stats.compression_ratio(per_seed, "basis", "dct", "canonical").bound.item() == "unknown"


# --------------------------------------------------------------------------- the verdict rule


@pytest.mark.parametrize("interval, side, expected", [
    ((0.1, 0.5), "greater", "holds"),
    ((-0.5, -0.1), "greater", "contradicted"),
    ((-0.1, 0.5), "greater", "inconclusive"),
    ((0.0, 0.5), "greater", "inconclusive"),      # touching the null is not enough
    ((-0.5, 0.0), "greater", "inconclusive"),
    ((-0.5, -0.1), "less", "holds"),
    ((0.1, 0.5), "less", "contradicted"),
    ((-0.5, 0.0), "less", "inconclusive"),
    ((math.nan, math.nan), "greater", "inconclusive"),
])
def test_verdict_rule(interval, side, expected):
    assert stats.verdict(interval, side) == expected


def test_verdict_null_and_bounds():
    assert stats.verdict((1.1, 2.0), "greater", null=1.0) == "holds"
    assert stats.verdict((0.5, 1.0), "greater", null=1.0) == "inconclusive"
    assert stats.verdict((0.5, 0.9), "greater", null=1.0) == "contradicted"
    # a censored side is reported as such, never as holds (nor contradicted), whatever the interval
    for bound in ("lower", "upper", "unknown"):
        for interval in ((1.1, 2.0), (0.5, 0.9), (0.5, 2.0), (math.nan, math.nan)):
            for side in stats.SIDES:
                assert stats.verdict(interval, side, null=1.0, bound=bound) == "censored"
    with pytest.raises(ValueError, match="bound"):
        stats.verdict((1.1, 2.0), "greater", null=1.0, bound="left")
    with pytest.raises(ValueError, match="claimed_side"):
        stats.verdict((0.1, 0.2), "positive")
    with pytest.raises(ValueError, match="low <= high"):
        stats.verdict((0.3, 0.2), "greater")


def test_verdict_sentence_prints_n_difference_and_interval():
    effect = {"n": 5, "estimate": 0.0123, "ci_low": 0.0040, "ci_high": 0.0206}
    assert stats.verdict_sentence(effect, "greater") == "holds (n = 5, difference +1.23 pp, 95% CI [+0.40, +2.06])"
    assert stats.verdict_sentence(effect, "less").startswith("contradicted (n = 5")
    ratio = {"n": 3, "estimate": 1.8, "ci_low": 1.2, "ci_high": 2.7, "bound": "lower"}
    assert stats.verdict_sentence(ratio, "greater", unit="x", scale=1, null=1) == (
        "censored (n = 3, ratio 1.80x, 95% CI [1.20x, 2.70x], lower bound: censored runs)")
    assert stats.verdict_sentence({**ratio, "bound": "exact"}, "greater", unit="x", scale=1, null=1) == (
        "holds (n = 3, ratio 1.80x, 95% CI [1.20x, 2.70x])")
    with pytest.raises(ValueError, match="missing"):
        stats.verdict_sentence({"n": 3}, "greater")


def test_with_verdicts_on_paired_differences():
    table = pd.concat([_two_arm_table(), _two_arm_table(TREATED, TREATED + 0.001, rnd=5)])
    out = stats.with_verdicts(stats.paired_difference(table, "basis", "dct", "canonical"), "greater")
    assert out.verdict.tolist() == ["holds", "contradicted"]
    assert out.sentence.iloc[1].startswith("contradicted (n = 5, difference -0.10 pp, 95% CI [-0.10, -0.10]")


def test_with_verdicts_uses_its_null_option_and_zero_by_default():
    # ratios (null 1): [0.5, 0.9] lies below 1 (contradicted) but above 0 (it would "hold" against null 0)
    ratios = pd.DataFrame({"n": [5, 5], "estimate": [0.7, 1.5], "ci_low": [0.5, 1.2], "ci_high": [0.9, 1.9]})
    out = stats.with_verdicts(ratios, "greater", unit="x", scale=1, null=1.0)
    assert out.verdict.tolist() == ["contradicted", "holds"]
    assert out.sentence.iloc[0].startswith("contradicted (n = 5, ratio 0.70x")
    # differences (default null 0): [0.2, 0.6] holds; against a null of 1 it would be contradicted
    differences = pd.DataFrame({"n": [5], "estimate": [0.4], "ci_low": [0.2], "ci_high": [0.6]})
    assert stats.with_verdicts(differences, "greater").verdict.tolist() == ["holds"]
    # a non-default null on differences: -1 pp tolerance, [-0.5, 0.3] pp lies above -1
    tolerance = pd.DataFrame({"n": [3], "estimate": [-0.001], "ci_low": [-0.005], "ci_high": [0.003]})
    assert stats.with_verdicts(tolerance, "greater").verdict.tolist() == ["inconclusive"]
    assert stats.with_verdicts(tolerance, "greater", null=-0.01).verdict.tolist() == ["holds"]


# --------------------------------------------------------------------------- censoring directions


def _censored_pairs(treatment_censored, reference_censored):
    rows = []
    for seed in range(4):
        rows.append({"basis": "dct", "seed": seed, "compression": 3.0 + 0.2 * seed,
                     "censored": seed in treatment_censored})
        rows.append({"basis": "canonical", "seed": seed, "compression": 2.0 + 0.1 * seed,
                     "censored": seed in reference_censored})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("treatment_censored, reference_censored, bound", [
    ((), (), "exact"),
    ((1,), (), "lower"),      # treatment's true compression is higher: the ratio is a lower bound
    ((), (2,), "upper"),      # reference's true compression is higher: the ratio is an upper bound
    ((0,), (3,), "unknown"),
])
def test_compression_ratio_censoring_direction(treatment_censored, reference_censored, bound):
    out = stats.compression_ratio(_censored_pairs(treatment_censored, reference_censored), "basis", "dct",
                                  "canonical").iloc[0]
    assert out.bound == bound
    assert (out.censored_treatment, out.censored_reference) == (len(treatment_censored), len(reference_censored))
    # the interval is above 1 (every ratio is > 1.4): exact holds, any censored side is reported as censored
    assert out.ci_low > 1
    effect = stats.with_verdicts(pd.DataFrame([out]), "greater", unit="x", scale=1, null=1.0).iloc[0]
    assert effect.verdict == ("holds" if bound == "exact" else "censored")
    note = {"exact": ")", "lower": "lower bound: censored runs)", "upper": "upper bound: censored runs)",
            "unknown": "censored on both sides)"}[bound]
    assert effect.sentence.endswith(note)


def test_compression_ratio_reversed_roles_swap_the_censoring_direction():
    per_seed = _censored_pairs((), (2,))
    assert stats.compression_ratio(per_seed, "basis", "dct", "canonical").bound.item() == "upper"
    assert stats.compression_ratio(per_seed, "basis", "canonical", "dct").bound.item() == "lower"


def test_summarize_compression_marks_censored_groups_as_lower_bounds():
    out = stats.summarize_compression(_censored_pairs((1,), ())).set_index("basis")
    assert out.loc["dct", "bound"] == "lower" and out.loc["canonical", "bound"] == "exact"


# --------------------------------------------------------------------------- coverage at small n

#: Simulated samples per n; the binomial sd of a 95% coverage estimate is sqrt(.95 .05 / 4000) = 0.0034,
#: so a tolerance of 0.015 is 4.4 sd: an interval with the right coverage fails it with probability < 1e-4.
COVERAGE_REPLICATES = 4000
COVERAGE_TOLERANCE = 0.015


def _lognormal_per_seed(n, replicates, rng, geometric_mean=2.0, sigma=0.4):
    """``replicates`` independent experiments of ``n`` seeds; true geometric mean ``geometric_mean``."""
    values = geometric_mean * np.exp(sigma * rng.standard_normal((replicates, n)))
    return pd.DataFrame({"rep": np.repeat(np.arange(replicates), n), "seed": np.tile(np.arange(n), replicates),
                         "compression": values.ravel(), "censored": False})


@pytest.mark.parametrize("n", [3, 5, 10])
def test_compression_interval_covers_the_geometric_mean_95_percent_at_small_n(n):
    rng = np.random.default_rng(20261206 + n)
    out = stats.summarize_compression(_lognormal_per_seed(n, COVERAGE_REPLICATES, rng), by=["rep"])
    coverage = float(((out.ci_low < 2.0) & (2.0 < out.ci_high)).mean())
    assert abs(coverage - 0.95) <= COVERAGE_TOLERANCE, coverage


@pytest.mark.parametrize("n", [3, 10])
def test_compression_ratio_interval_covers_the_true_ratio_95_percent(n):
    # paired seeds: a shared seed effect cancels in the ratio; the true geometric mean ratio is 1.5
    rng = np.random.default_rng(7 + n)
    replicates = COVERAGE_REPLICATES // 4
    seed_effect = np.exp(0.5 * rng.standard_normal((replicates, n)))
    reference = 2.0 * seed_effect * np.exp(0.1 * rng.standard_normal((replicates, n)))
    treatment = 1.5 * reference * np.exp(0.3 * rng.standard_normal((replicates, n)))
    rows = [pd.DataFrame({"rep": np.repeat(np.arange(replicates), n), "seed": np.tile(np.arange(n), replicates),
                          "basis": name, "compression": values.ravel(), "censored": False})
            for name, values in (("dct", treatment), ("canonical", reference))]
    out = stats.compression_ratio(pd.concat(rows), "basis", "dct", "canonical", by=["rep"])
    coverage = float(((out.ci_low < 1.5) & (1.5 < out.ci_high)).mean())
    assert abs(coverage - 0.95) <= 2 * COVERAGE_TOLERANCE, coverage  # a quarter of the replicates: twice the tolerance


def test_percentile_bootstrap_would_fail_the_coverage_tolerance_at_n3():
    # the method of earlier versions: at n = 3 its interval is about the range of three numbers
    rng = np.random.default_rng(3)
    per_seed = _lognormal_per_seed(3, 400, rng)
    out = stats.summarize_compression(per_seed, by=["rep"], method="percentile", n_resamples=999)
    coverage = float(((out.ci_low < 2.0) & (2.0 < out.ci_high)).mean())
    assert coverage < 0.95 - COVERAGE_TOLERANCE - 0.1, coverage  # far below: binomial sd at 400 is 0.011
