"""Chapter 02's one-sided ablation and equivariance check (glth_core.book.bases_ablation): the runs, the
layers they reach, the paired effects against scipy, and the words the prose reads from them."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from glth_core.book import bases_ablation as ablation
from glth_core.book import bases_study as study
from glth_core.book.chapter_runs import SPECS
from glth_core.book.profiles import chapter_parameters
from glth_core.core.parametrization import generalized_weight
from glth_core.engine.lottery import generalized_model, run_imp
from glth_core.engine.run_identity import run_key


def _bases_of(net) -> dict:
    """``{layer: (basis name, transformed view axes)}`` of a generalized model."""
    return {name: (gw.basis.name, tuple(j for j, _ in gw.basis.active_axes))
            for name, module in net.named_modules() if (gw := generalized_weight(module)) is not None}


@pytest.fixture(scope="module")
def params():
    return chapter_parameters("02_bases", "quick", smoke=True)


def test_one_sided_runs_prune_once_to_the_density_of_the_iterative_round(params):
    runs = ablation.one_sided_runs(params, "dct")
    assert sorted(set(runs.values())) == ["canonical", "dct", "dct:in", "dct:out"]
    assert len(runs) == 4 * params["seeds"] and study.RUN_GROUPS["one_sided"](params) == list(runs)
    for hp in runs:
        assert hp.pruning.one_shot and hp.pruning.rounds == 1 and hp.pruning.control == "ticket"
        # the profile's 60% (output 30%) per round, three rounds: densities 0.4^3 and 0.7^3 in one pruning
        assert 1 - hp.pruning.fraction == pytest.approx(0.4 ** 3)
        assert 1 - hp.pruning.output_fraction == pytest.approx(0.7 ** 3)
    layer_bases = {name: hp.pruning.layer_bases for hp, name in runs.items()}
    assert layer_bases == {"canonical": "", "dct": "", "dct:in": "fc1=dct:in", "dct:out": "fc1=dct:out"}


def test_one_sided_configurations_reach_fc1_only_and_the_input_side_is_image_aware(params):
    by_name = {name: hp for hp, name in ablation.one_sided_runs(params, "dct").items() if hp.seed == 0}
    shape = (1, 8, 8)  # the smoke data set's images (digits): fc1 reads 64 inputs viewed as 1 x 8 x 8
    seen = {name: _bases_of(generalized_model(hp, shape, 10)) for name, hp in by_name.items()}
    assert seen["dct:in"] == {"fc1": ("dct", (2, 3)), "fc2": ("canonical", ()), "fc3": ("canonical", ())}
    assert seen["dct:out"] == {"fc1": ("dct", (0,)), "fc2": ("canonical", ()), "fc3": ("canonical", ())}
    assert seen["dct"]["fc1"] == ("dct", (0, 2, 3)) and seen["dct"]["fc2"] == ("dct", (0, 1))
    assert set(seen["canonical"].values()) == {("canonical", ())}


def test_a_one_sided_run_of_the_engine_prunes_fc1_to_the_target_density(params, tmp_path):
    hp = next(hp for hp, name in ablation.one_sided_runs({**params, "epochs": 1, "milestones": []}, "dct").items()
              if name == "dct:in" and hp.seed == 0)
    table = run_imp(hp, tmp_path, device="cpu", progress=False)
    densities = json.loads(table.set_index("round").layer_densities[1])
    assert densities["fc1"] == pytest.approx(0.4 ** 3, abs=1e-3)
    assert densities["fc2"] == pytest.approx(0.4 ** 3, abs=1e-2)
    assert densities["fc3"] == pytest.approx(0.7 ** 3, abs=1e-2)
    labelled = ablation.label_configurations(table, {hp: "dct:in"})
    assert set(labelled.configuration) == {"dct:in"} and table.run_id.iloc[0] == run_key("imp", hp)
    with pytest.raises(ValueError, match="none of the ablation's runs"):
        ablation.label_configurations(table, {})


def one_sided_table(shift: dict, seeds: int = 5) -> pd.DataFrame:
    """Rounds 0 and 1 of the four configurations; round-1 accuracy 0.80 + shift[configuration] + noise."""
    rng = np.random.default_rng(1)
    rows = []
    for name in ("canonical", "dct", "dct:in", "dct:out"):
        for seed in range(seeds):
            rows.append({"configuration": name, "seed": seed, "round": 0, "density": 1.0, "test_accuracy": 0.85})
            rows.append({"configuration": name, "seed": seed, "round": 1, "density": 0.07,
                         "test_accuracy": 0.80 + shift.get(name, 0.0) + 0.001 * rng.standard_normal()})
    return pd.DataFrame(rows)


def test_one_sided_effects_are_paired_t_intervals_computed_as_scipy_does():
    table = one_sided_table({"dct": -0.02, "dct:in": -0.02})
    effects = ablation.one_sided_effects(table, "dct")
    assert list(zip(effects.configuration, effects.reference)) == [
        ("dct", "canonical"), ("dct:in", "canonical"), ("dct:out", "canonical"), ("dct:in", "dct"), ("dct:out", "dct")]
    pruned = table[table["round"] == 1].set_index(["configuration", "seed"]).test_accuracy
    differences = (pruned["dct:out"] - pruned["dct"]).to_numpy()
    low, high = scipy_stats.t.interval(0.95, len(differences) - 1, loc=differences.mean(),
                                       scale=scipy_stats.sem(differences))
    row = effects.iloc[4]
    assert (row.estimate, row.ci_low, row.ci_high) == pytest.approx((differences.mean(), low, high))
    assert row.verdict == "holds" and effects.verdict.iloc[0] == "contradicted"  # claimed greater
    assert effects.label.tolist()[1:3] == ["DCT on fc1's input axis", "DCT on fc1's output axis"]
    assert set(effects.weights) == {"7%"}


@pytest.mark.parametrize("shift, expected", [
    ({"dct": -0.02, "dct:in": -0.02}, "below the canonical one; the DCT on fc1's input axis alone reproduces that, "
                                      "the other axis alone does not"),
    ({"dct": 0.02, "dct:out": 0.02}, "above the canonical one; the DCT on fc1's output axis alone reproduces"),
    ({"dct": -0.02, "dct:in": -0.02, "dct:out": -0.02}, "the DCT on either axis of fc1 alone reproduces that"),
    ({"dct": -0.02, "dct:in": -0.01, "dct:out": -0.01}, "neither axis of fc1 alone reproduces that"),
    ({"dct:out": 0.02}, "indistinguishable from the canonical one, while the DCT on fc1's output axis alone is above "
                        "it: there is no effect of the full DCT to locate"),
    ({}, "indistinguishable from the canonical one, and so is each axis alone: there is no effect"),
])
def test_effect_location_reads_the_intervals(shift, expected):
    effects = ablation.one_sided_effects(one_sided_table(shift), "dct")
    assert expected in ablation.effect_location(effects, "dct")


def test_one_sided_numbers_and_accuracy_table(params):
    table = one_sided_table({"dct": -0.02})
    numbers = ablation.one_sided_numbers(params, ablation.one_sided_effects(table, "dct"), "dct")
    assert numbers["c2_os_round"] == 3 and numbers["c2_os_hidden"] == pytest.approx(6.4)
    assert numbers["c2_os_output"] == pytest.approx(34.3)
    assert numbers["c2_os_vs_full"].startswith("DCT on fc1's input axis: holds (n = 5")
    shown = ablation.one_sided_accuracy(table)
    assert shown.configuration.tolist() == ["canonical", "DCT", "DCT on fc1's input axis", "DCT on fc1's output axis"]
    assert shown["one-shot (%)"].iloc[1] == pytest.approx(78.0, abs=0.2) and shown["dense (%)"].iloc[0] == 85.0
    text = ablation.one_sided_text(table, ablation.one_sided_effects(table, "dct"))
    assert "DCT on fc1's output axis" in text and text.count("holds") + text.count("contradicted") >= 2


def test_own_dense_runs_train_round_0_in_each_rotated_basis(params):
    runs = ablation.own_dense_runs(params)
    assert [(hp.pruning.basis, hp.seed) for hp in runs] == [("dct", 0), ("dct", 1), ("random", 0), ("random", 1)]
    assert all(hp.pruning.rounds == 0 for hp in runs)
    for name, value in ablation.OWN_DENSE.items():  # the engine's switch, once it has it
        assert all(getattr(hp.pruning, name) == value for hp in runs)
    rule = next(r for r in SPECS["02_bases"].rules if getattr(r, "__qualname__", "").startswith("_at_most_seeds"))
    with pytest.raises(ValueError, match="equivariance_seeds must be at most seeds"):
        rule({**params, "equivariance_seeds": params["seeds"] + 1})


def test_equivariance_table_pairs_own_and_mapped_dense_networks_with_the_shared_canonical_one():
    tickets = pd.DataFrame([{"basis": b, "seed": s, "round": r, "test_accuracy": 0.85 + (0.0001 if b == "dct" else 0)}
                            for b in ("canonical", "dct") for s in range(3) for r in (0, 1)])
    own = pd.DataFrame([{"basis": "dct", "seed": s, "round": 0, "test_accuracy": 0.85 + 0.001 * (s + 1)}
                        for s in range(2)])
    table = ablation.equivariance_table(tickets, own, ["dct"]).iloc[0]
    assert table.n == 2 and table["mean difference (pp)"] == pytest.approx(0.15)
    assert table["max |difference| (pp)"] == pytest.approx(0.2)
    assert table["mapped: max |difference| (pp)"] == pytest.approx(0.01)


@pytest.mark.parametrize("relation, low, high, expected", [
    ("fewer than", -0.01, -0.005, "more compactly than the canonical basis, and its tickets are below the canonical "
                                  "ones: here compaction and the tickets point opposite ways"),
    ("more than", 0.003, 0.01, "less compactly than the canonical basis, and its tickets are above the canonical "
                               "ones: here compaction and the tickets point opposite ways"),
    ("fewer than", 0.003, 0.01, "point the same way"),
    ("fewer than", -0.01, 0.01, "neither supports nor contradicts compaction"),
    ("about as many as", 0.003, 0.01, "compaction does not separate the bases, the tickets do"),
])
def test_compaction_versus_tickets(relation, low, high, expected):
    sentence = ablation.compaction_versus_tickets(relation, {"ci_low": low, "ci_high": high}, "dct")
    assert sentence.startswith("the DCT writes the trained fc1") and expected in sentence


def test_a_one_sided_round_that_prunes_everything_is_refused_naming_the_parameter(params):
    from glth_core.book.chapter_runs import _one_sided_density

    _one_sided_density(params)  # the profile's round 3: fine
    with pytest.raises(ValueError, match="parameter one_sided_round is too large"):
        _one_sided_density({**params, "one_sided_round": 10 ** 6})
