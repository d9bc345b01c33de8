"""Chapter 05's library: runs, claim tables and verdicts (glth_core.book.conv_analysis), weight inspection
(glth_core.book.conv_inspection) and figures (glth_core.book.chapter_figures_conv), on synthetic tables."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from glth_core.book.chapter import family
from glth_core.book.chapter_verdicts import compute_verdicts
from glth_core.analysis.verdict_tables import verdict_row
from glth_core.book import chapter_figures_conv, conv_analysis as conv, conv_inspection as inspection
from glth_core.book.profiles import chapter_parameters

ACC = {"canonical": [0.90, 0.90, 0.895, 0.894], "dct (spatial)": [0.90, 0.91, 0.905, 0.904]}


def synthetic_table(acc=ACC, seeds=3, noise=0.001):
    """A swept ticket table: accuracy per variant and round (densities 1, 0.4, 0.16, 0.064), seed noise."""
    rng = np.random.default_rng(0)
    rows = []
    for variant, curve in acc.items():
        for seed in range(seeds):
            jitter = rng.normal(0, noise, len(curve))
            for r, a in enumerate(curve):
                rows.append({"model": "small_cnn", "variant": variant, "seed": seed, "round": r,
                             "run_id": f"{variant}-{seed}",
                             "density": 0.4 ** r, "test_accuracy": a + (jitter[r] if r else 0.0)})
    return pd.DataFrame(rows)


def quick(**overrides):
    return {**chapter_parameters("05_conv", "quick"), "bases": ["canonical", "dct"], **overrides}


def test_basis_variants_and_runs_follow_the_profiles():
    profile = chapter_parameters("05_conv", "quick")
    assert list(conv.basis_variants(profile)) == ["canonical", "dct (spatial)", "random"]
    assert profile["seeds"] >= 5  # claim 3 is reported as holding or contradicted only from >= 5 seeds
    assert conv.comparisons(profile) == [("dct (spatial)", "canonical"), ("random", "canonical"),
                                         ("dct (spatial)", "random")]
    paper = chapter_parameters("05_conv", "paper")
    assert list(conv.basis_variants(paper)) == ["canonical", "dct (spatial)", "dct (spatial + channels)", "random"]
    runs = conv.chapter_runs(paper)
    assert len(runs) == 3 * 4 * 5  # models x variants x seeds
    assert sum(hp.pruning.channel_dct for hp in runs) == 3 * 5
    assert {hp.pruning.rounds for hp in runs} == {paper["rounds"]}  # the maximum; adaptive_rounds stops earlier
    assert conv.variant_order(quick(bases=["random", "dct"])) == (["random", "dct (spatial)"], "random")


def test_claim3_per_round_holds_where_the_dct_is_above_and_the_compression_of_an_unpruned_band_is_censored():
    table = synthetic_table()
    rounds = conv.claim3_rounds(table, quick())
    assert list(rounds["round"]) == [1, 2, 3]
    assert (rounds["verdict"] == "holds").all()
    assert np.allclose(rounds["estimate"], 0.01, atol=0.003)
    summary, ratios = conv.compression_tables(table, quick())
    # the DCT never leaves the band (0.89 and above): its compression is a lower bound, the verdict "censored"
    assert ratios["verdict"].tolist() == ["censored"]
    assert summary.set_index("variant").loc["dct (spatial)", "shown"].startswith("≥")


def test_claim3_is_contradicted_when_the_dct_is_below_and_the_ratio_is_uncensored():
    acc = {"canonical": [0.90, 0.90, 0.895, 0.80], "dct (spatial)": [0.90, 0.88, 0.85, 0.70]}
    table = synthetic_table(acc, seeds=5)
    rounds = conv.claim3_rounds(table, quick())
    assert (rounds["verdict"] == "contradicted").all()
    _, ratios = conv.compression_tables(table, quick())
    assert ratios["verdict"].tolist() == ["contradicted"]
    assert ratios["estimate"].iloc[0] < 1


def test_claim2_and_the_recorded_rows():
    table = synthetic_table()
    claim2 = conv.claim2_table(table, quick())
    assert sorted(set(claim2["round"])) == [1, 3]
    sparsest = claim2[claim2["round"] == 3].set_index("variant")
    assert sparsest.loc["dct (spatial)", "verdict"] == "holds"          # within 1 point of dense
    assert sparsest.loc["canonical", "verdict"] in ("holds", "inconclusive")
    assert sparsest.loc["canonical", "weights remaining (%)"] == pytest.approx(6.4)
    _, ratios = conv.compression_tables(table, quick())
    tests = [  # as chapter 05 declares them
        *family(claim2[claim2["round"] == 3], given=True, key="c5_claim2", claim="2", arm="round",
                treatment="{round}", reference=0, null=-conv.TOLERANCE,
                comparison="ticket − dense at {weights remaining (%):.1f}% of weights, claimed > -{tol:g} pp, "
                           "i.e. within {tol:g} pp ({model}, {variant})"),
        *family(ratios, given=True, key="c5_ratio", claim="3", kind="compression", arm="variant",
                treatment="{variant}", reference="canonical",
                comparison="compression {variant} / canonical at equal accuracy ({model})")]
    rows = compute_verdicts(table, tests, chapter=conv.CHAPTER, tol=100 * conv.TOLERANCE)
    assert rows["claim"].tolist() == ["2", "2", "3"]
    ratio = verdict_row(ratios.iloc[0], "greater", claim="3", chapter=conv.CHAPTER, unit="x", scale=1.0, null=1.0,
                        comparison="compression dct (spatial) / canonical at equal accuracy (small_cnn)")
    assert {k: rows.iloc[2][k] for k in ratio} == ratio
    first = claim2[claim2["round"] == 3].iloc[0]
    within = verdict_row(first, "greater", claim="2", chapter=conv.CHAPTER, null=-conv.TOLERANCE,
                         comparison=f"ticket − dense at 6.4% of weights, claimed > -1 pp, i.e. within 1 pp "
                                    f"({first['model']}, {first['variant']})")
    assert {k: rows.iloc[0][k] for k in within} == within


def test_words_and_sentences_come_from_the_data():
    assert conv.side_word(0.91, 0.90) == "at or above"
    assert conv.side_word(0.89, 0.90) == "below"
    rounds = conv.claim3_rounds(synthetic_table(), quick())
    assert conv.round_counts_sentence(rounds) == ("small CNN, dct (spatial) − canonical: holds at 3, contradicted "
                                                  "at 0 and inconclusive at 0 of 3 pruned rounds")
    assert conv.round_counts_sentence(rounds.iloc[:0]).startswith("only one basis")
    assert conv.verdict_list(rounds.iloc[:1]) == "small CNN dct (spatial) / canonical: holds"


def test_prunable_shares_of_the_small_cnn_match_the_closed_form():
    shares = inspection.prunable_shares("small_cnn", (1, 28, 28), 10)
    sizes = {"conv1": 16 * 9, "conv2": 32 * 16 * 9, "fc1": 32 * 7 * 7 * 128, "fc2": 128 * 10}
    total = sum(sizes.values())
    assert shares["layer"].iloc[0] == "fc1"
    assert shares["share (%)"].iloc[0] == pytest.approx(100 * sizes["fc1"] / total)
    conv_share = shares.loc[shares["kind"] == "conv kernels", "share (%)"].sum()
    assert conv_share == pytest.approx(100 * (sizes["conv1"] + sizes["conv2"]) / total)
    assert 96.9 < shares["share (%)"].iloc[0] < 97.2


@pytest.mark.parametrize("q", [0.01, 0.064, 0.4])
def test_noise_energy_matches_sampled_noise(q):
    rng = np.random.default_rng(1)
    n = 400_000
    for sample, closed in zip((rng.uniform(-1, 1, n), rng.standard_normal(n)), inspection.noise_energy(q)):
        energy = np.sort(sample ** 2)[::-1]
        assert energy[: int(q * n)].sum() / energy.sum() == pytest.approx(closed, abs=0.004)
    with pytest.raises(ValueError, match="fraction"):
        inspection.noise_energy(0.0)


def test_energy_numbers_words_and_the_change_since_initialisation():
    index = pd.MultiIndex.from_tuples(
        [("m", "conv kernels", "initialisation"), ("m", "conv kernels", "after dense training"),
         ("m", "fully connected", "after dense training"), ("m", "conv kernels", "sparsest ticket")],
        names=["model", "layers", "state"])
    at_k = pd.DataFrame({"canonical": [0.10, 0.30, 0.50, 0.6], "dct": [0.20, 0.35, 0.40, 0.7]}, index=index)
    numbers = inspection.energy_numbers(at_k, "m", "canonical", "dct", k_star=6.4)
    assert numbers["change"] == pytest.approx((35 - 30) - (20 - 10))
    assert (numbers["conv_word"], numbers["fc_word"]) == ("more", "less")
    assert numbers["ticket_cmp"] == pytest.approx(70)
    assert numbers["uniform"] == pytest.approx(100 * (1 - (1 - 0.064) ** 3))
    missing = inspection.energy_numbers(at_k, "m", "canonical", "random", k_star=6.4)
    assert np.isnan(missing["init_cmp"]) and missing["fc_word"] == "not measured"


def test_sparsest_densities():
    assert inspection.sparsest_densities({"fraction": 0.6}, 3) == (pytest.approx(6.4), pytest.approx(2.56))


def test_accuracy_figure_has_a_panel_per_model():
    table = synthetic_table()
    fig = chapter_figures_conv.accuracy_figure(table, ["small_cnn"], list(ACC), {"small_cnn": 0.9},
                                               tolerance=0.01, dataset="digits", titles=conv.MODEL_LABELS)
    assert [ax.get_title() for ax in fig.axes] == ["small CNN on digits"]
    assert len(fig.axes[0].get_lines()) >= 2


def table_of_runs(runs, curve_of, extra_rounds=None):
    """A swept table of chapter ``runs`` (run ids as the engine's): accuracy ``curve_of(variant, seed)`` per round;
    ``extra_rounds``: ``{(variant, seed): rounds}`` to cut a run shorter (runs stopped at different rounds)."""
    from glth_core.engine.hparams import run_key

    rows = []
    for hp, (model, variant) in runs.items():
        curve = curve_of(variant, hp.seed)
        last = (extra_rounds or {}).get((variant, hp.seed), len(curve) - 1)
        rows += [{"run_id": run_key("imp", hp), "model": model, "seed": hp.seed, "round": r, "density": 0.4 ** r,
                  "test_accuracy": curve[r], "wall_time_s": 1.0} for r in range(last + 1)]
    return pd.DataFrame(rows)


def test_random_control_pairs_only_rounds_that_every_seed_of_both_arms_reached():
    p = chapter_parameters("05_conv", "quick", seeds=3)
    runs = conv.chapter_runs(p)
    curves = {"canonical": [0.90, 0.90, 0.895, 0.87, 0.80], "dct (spatial)": [0.90, 0.91, 0.905, 0.90, 0.85],
              "random": [0.90, 0.90, 0.90, 0.885, 0.80]}
    cut = {("canonical", s): 3 for s in range(3)} | {("random", 0): 3}  # canonical and random seed 0 stopped at 3
    table = conv.label_variants(table_of_runs(runs, lambda v, s: [a + 0.001 * s for a in curves[v]], cut), runs)
    rounds = conv.claim3_rounds(table, p)
    by_pair = rounds.groupby(["variant", "reference"])["round"].apply(list).to_dict()
    assert by_pair == {("dct (spatial)", "canonical"): [1, 2, 3], ("random", "canonical"): [1, 2, 3],
                       ("dct (spatial)", "random"): [1, 2, 3]}  # round 4: random seed 0 missing
    assert (rounds["n"] == 3).all()
    _, ratios = conv.compression_tables(table, p)
    assert list(zip(ratios["variant"], ratios["reference"])) == [
        ("dct (spatial)", "canonical"), ("random", "canonical"), ("dct (spatial)", "random")]
    claim2 = conv.claim2_table(table, p)
    assert claim2[claim2["sparsest"]].set_index("variant")["round"].to_dict() == {
        "canonical": 3, "dct (spatial)": 4, "random": 3}


def test_in_band_runs_are_those_that_never_left_the_band_of_the_same_seeds_dense_canonical():
    p = chapter_parameters("05_conv", "quick", seeds=2)
    runs = conv.chapter_runs(p)
    curves = {"canonical": [0.90, 0.895, 0.85], "dct (spatial)": [0.90, 0.90, 0.895], "random": [0.90, 0.88, 0.87]}
    table = table_of_runs(runs, lambda v, s: curves[v])
    in_band = conv.in_band_runs(table, runs, p)
    labels = conv.label_variants(table, runs).drop_duplicates("run_id").set_index("run_id")["variant"]
    assert sorted(labels[list(in_band)]) == ["dct (spatial)", "dct (spatial)"]
    # the band is the dense *canonical* network's: a random dense network 2 pp higher does not move it
    shifted = table.assign(test_accuracy=table["test_accuracy"].where(
        ~(table["run_id"].isin(labels[labels == "random"].index) & (table["round"] == 0)), 0.92))
    assert conv.in_band_runs(shifted, runs, p) == in_band
    from glth_core.book.adaptive_rounds import rounds_reached

    reached = rounds_reached(conv.label_variants(table, runs), ["model", "variant"], 2, in_band)
    assert conv.rounds_sentence(reached, 2) == (
        "small CNN, canonical: 2 rounds, every run left the band; small CNN, dct (spatial): 2 rounds, 2 of 2 runs "
        "still inside the band at the maximum of 2 (censored); small CNN, random: 2 rounds, every run left the band")


def test_trained_rounds_count_the_shared_dense_round_once_per_seed():
    p = chapter_parameters("05_conv", "quick", seeds=2)
    runs = conv.chapter_runs(p)
    table = table_of_runs(runs, lambda v, s: [0.9, 0.9, 0.85])
    ablated = pd.DataFrame([{"model": "small_cnn", "seed": s, "round": r, "wall_time_s": 2.0}
                            for _ in range(2) for s in range(2) for r in (0, 1)])
    assert conv.trained_rounds(table, ablated) == 3 * 2 * 2 + 2 * 2 + 2
    assert conv.trained_rounds(table, pd.DataFrame()) == 3 * 2 * 2 + 2
    assert conv.training_minutes(table, ablated) == pytest.approx((3 * 2 * 3 + 8 * 2) / 60)
