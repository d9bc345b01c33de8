"""The summary's mechanism section: pairing, the fixed density, layer weighting, missing runs, sentences."""
import math

import numpy as np
import pandas as pd
import pytest

from glth_core.analysis import mechanisms as mech
from glth_core.book import chapter_runs, claim3_mechanisms as c3, claim3_tables, profiles
from glth_core.engine import hparams as H
from glth_core.engine.lottery import run_imp
from glth_core.runs.sweep import grid


def _hp(**flags):
    base = dict(model="lenet300", dataset="digits", epochs=1, batch_size=64, rounds=3, fraction=0.6, seed=0)
    return H.update(H.ImpHparams(), **{**base, **flags})


# ------------------------------------------------------------------------------------ pairing and density


def test_each_configuration_is_paired_with_the_canonical_one_that_differs_only_in_its_basis():
    runs = [_hp(seed=s, **f) for s in (0, 1) for f in (
        {}, {"basis": "dct"}, {"basis": "random", "basis_seed": 3}, {"layer_bases": "fc1=dct:in"},
        {"one_shot": True, "fraction": 1 - 0.4 ** 3, "rounds": 1, "layer_bases": "fc1=dct:out"},
        {"basis": "dct", "epochs": 2})]  # no canonical run with 2 epochs
    runs.append(_hp(basis="dct", seed=2))  # a seed without its canonical partner
    pairs, notes = c3.pair_runs(runs + runs[:3])  # duplicates count once
    partner = {(c3.configuration_label(hp), hp.seed, hp.training.epochs): ref for hp, ref in pairs}
    assert set(partner) == {(label, s, 1) for label in ("DCT", "random orthogonal", "fc1=dct:in") for s in (0, 1)}
    for (label, seed, _), ref in partner.items():
        assert ref == _hp(seed=seed)  # same seed, every non-basis setting the same
    assert len(pairs) == 6
    assert any("fc1=dct:out, one-shot" in n and "[0, 1]" in n for n in notes)  # no one-shot canonical run
    assert any("DCT" in n and "[0, 1]" in n for n in notes) and any("[2]" in n for n in notes)


def test_one_density_for_iterative_and_one_shot_runs():
    density = c3.target_density({"fraction": 0.6, "rounds": 5})
    assert density == pytest.approx(0.4 ** 3)
    assert c3.round_at_density(_hp(rounds=5), density) == 3
    assert c3.round_at_density(_hp(one_shot=True, rounds=1, fraction=1 - 0.4 ** 3), density) == 1
    assert c3.round_at_density(_hp(one_shot=True, rounds=3), density) == 3  # one-shot to (1-p)^r as well
    assert c3.round_at_density(_hp(rounds=2), density) is None  # never reaches it
    assert c3.round_at_density(_hp(fraction=0.5, rounds=6), density) is None
    assert c3.target_density({"fraction": 0.2, "rounds": 2}) == pytest.approx(0.64)  # fewer rounds: the last


# --------------------------------------------------------------------------------------- layer weighting


def test_layer_weighted_is_the_weight_share_average():
    layers = pd.DataFrame({"weights": [300, 100], "a": [1.0, 0.0], "b": [0.2, 0.6], "c": [1.0, np.nan]})
    out = mech.layer_weighted(layers, ["a", "b", "c"])
    assert out.a == pytest.approx(0.75) and out.b == pytest.approx(0.75 * 0.2 + 0.25 * 0.6)
    assert math.isnan(out.c)  # a layer with no value makes the network's value unknown
    with pytest.raises(ValueError, match="no column"):
        mech.layer_weighted(layers, ["d"])
    with pytest.raises(ValueError, match="positive"):
        mech.layer_weighted(layers.assign(weights=[0, 1]), ["a"])


# ------------------------------------------------------------------------- the points from declared groups


def _layers(energy_dense: float, dead: float, accuracy: float) -> pd.DataFrame:
    """A two-layer measurement table: layer fc1 (900 weights) carries the values, fc2 (100) holds zeros."""
    base = dict.fromkeys(mech.MEASUREMENT_COLUMNS[3:], 0.0)
    rows = [{**base, "layer": "fc1", "basis": "x", "density": 0.064, "energy_dense": energy_dense,
             "dead_outputs": dead, "dead_inputs": dead, "weights": 900},
            {**base, "layer": "fc2", "basis": "x", "density": 0.3, "weights": 100}]
    return pd.DataFrame(rows).assign(test_accuracy=accuracy)


@pytest.fixture
def fake_chapter(monkeypatch):
    """A chapter "98_fake" with groups of ticket runs, and a results folder that holds some of them."""
    monkeypatch.setitem(profiles.CHAPTERS, "98_fake", {"quick": {**profiles.LENET["quick"], "seeds": 2}})
    spec = chapter_runs.ChapterSpec(runs={
        "tickets": lambda p: grid(profiles.imp_base(p), basis=["canonical", "dct"], seed=list(range(p["seeds"]))),
        "reinit": lambda p: grid(profiles.imp_base(p, control="reinit"), seed=[0])})  # a control: never read
    monkeypatch.setitem(chapter_runs.SPECS, "98_fake", spec)
    finished = set()
    monkeypatch.setattr(c3, "_finished", lambda hp, r, results_dir: hp in finished)
    values = {("canonical", 0): (0.5, 0.2, 0.80), ("canonical", 1): (0.5, 0.2, 0.82),
              ("dct", 0): (0.6, 0.0, 0.79), ("dct", 1): (0.7, 0.0, 0.80),
              ("fc1=dct:in", 0): (0.4, 0.1, 0.85), ("fc1=dct:in", 1): (0.5, 0.1, 0.86)}
    measured = []

    def measure(hp, round_index, results_dir):
        measured.append((hp, round_index))
        return _layers(*values[(hp.pruning.layer_bases or hp.pruning.basis, hp.seed)])
    return spec, finished, measure, measured


def test_points_pair_every_finished_configuration_and_weight_its_layers(fake_chapter):
    spec, finished, measure, measured = fake_chapter
    params = profiles.chapter_parameters("98_fake", "quick")
    finished.update(spec.runs["tickets"](params))
    points, notes = c3.mechanism_points("quick", False, chapters=["98_fake"], measure=measure)
    assert notes == []
    assert {r for _, r in measured} == {3}  # iterative: round 3 (6.4%, fixed in advance)
    assert list(points.configuration) == ["DCT", "DCT"] and list(points.seed) == [0, 1]
    assert points.effect.tolist() == pytest.approx([-1.0, -2.0])  # pp, treatment minus canonical, same seed
    # only fc1 differs and it holds 90% of the weights: differences are 0.9 x the layer's
    assert points.energy_dense.tolist() == pytest.approx([0.9 * 0.1, 0.9 * 0.2])
    assert points.connected_outputs.tolist() == pytest.approx([0.9 * 0.2, 0.9 * 0.2])  # fewer dead units: positive
    assert points.density.tolist() == pytest.approx([0.064, 0.064])

    # a group that another chapter helper adds later is picked up without a change here
    spec.runs["one_sided"] = lambda p: grid(profiles.imp_base(p, layer_bases="fc1=dct:in"), seed=[0, 1])
    finished.update(spec.runs["one_sided"](params))
    points, _ = c3.mechanism_points("quick", False, chapters=["98_fake"], measure=measure)
    config = c3.by_configuration(points).set_index("configuration")
    assert config.loc["fc1=dct:in", "effect"] == pytest.approx(4.5) and config.loc["DCT", "seeds"] == 2
    assert config.loc["fc1=dct:in", "energy_dense"] == pytest.approx(0.9 * (-0.1 + 0.0) / 2)  # seed mean


def test_missing_runs_are_left_out_with_a_note_naming_the_chapter(fake_chapter):
    spec, finished, measure, measured = fake_chapter
    params = profiles.chapter_parameters("98_fake", "quick")
    runs = spec.runs["tickets"](params)
    points, notes = c3.mechanism_points("quick", False, chapters=["98_fake"], measure=measure)
    assert points.empty and measured == []
    assert notes == ["chapter 98_fake, group 'tickets': 4 of 4 runs are not in the results folder; "
                     "run chapter 98_fake (profile quick) first"]
    finished.update(r for r in runs if not (r.pruning.basis == "canonical" and r.seed == 1))
    points, notes = c3.mechanism_points("quick", False, chapters=["98_fake"], measure=measure)
    assert list(points.seed) == [0]  # the seed without its canonical ticket is left out
    assert any("1 of 4 runs" in n for n in notes) and any("seed(s) [1]" in n for n in notes)


# ------------------------------------------------------------------------------------------- sentences


def test_prediction_sentences_say_only_what_the_table_supports():
    rng = np.random.default_rng(1)
    x = rng.normal(size=12)
    table = pd.DataFrame({"effect": x, "good": x + 0.1 * rng.normal(size=12), "noise": rng.normal(size=12),
                          "wrong": -x})
    power = mech.predictive_power(table, "effect", ["good", "noise", "wrong"])
    text = " ".join(mech.prediction_sentences(power, {"good": "G", "noise": "N", "wrong": "W"}))
    assert "G is positively correlated" in text and "W is negatively correlated" in text
    assert "N is" not in text  # its interval includes 0: no statement about its correlation
    assert "G agrees in sign with the effect in 12 of 12 configurations" in text and "more often than not" in text
    assert "W agrees in sign with the effect in 0 of 12 configurations" in text and "less often than not" in text
    assert "necessary" not in text and "sufficient" not in text
    none = mech.prediction_sentences(mech.predictive_power(table, "effect", ["noise"]))
    assert none[0] == "No candidate's correlation interval excludes 0."
    small = mech.prediction_sentences(mech.predictive_power(table.head(3), "effect", ["good"]))
    assert small[0].startswith("With n = 3 configurations, no correlation has an interval")


def test_network_lines_quote_the_recorded_controls():
    points = pd.DataFrame({"chapter": "02_bases", "model_name": "lenet300", "configuration": "DCT",
                           "density": 0.064, "effect": [-0.4, -0.5, -0.3]})
    verdicts = pd.DataFrame({"claim": ["3", "3", "3", "2"], "chapter": "02_bases", "comparison": [
        "compression DCT / canonical within 1 pp (LeNet)", "DCT − random orthogonal at 6.4% of weights (LeNet)",
        "random orthogonal − canonical at 6.4% of weights (LeNet)", "DCT ticket − reinit (LeNet)"],
        "sentence": ["contradicted (ratio 0.72x)", "inconclusive (+0.1 pp)", "x", "y"]})
    lines = claim3_tables.network_lines(points, verdicts, {"02_bases": ["lenet300"], "05_conv": ["small_cnn"]})
    lenet, cnn = lines.iloc[0], lines.iloc[1]
    low, high = -0.4 - 4.302652729911275 * 0.1 / math.sqrt(3), -0.4 + 4.302652729911275 * 0.1 / math.sqrt(3)
    assert lenet["DCT − canonical (95% CI)"] == f"-0.40 pp [{low:+.2f}, {high:+.2f}] at 6.4% of weights, n = 3"
    assert lenet["compression DCT / canonical (recorded)"] == "contradicted (ratio 0.72x)"
    assert lenet["controls: DCT − random (recorded)"] == ("DCT − random orthogonal at 6.4% of weights (LeNet): "
                                                          "inconclusive (+0.1 pp)")
    assert cnn["DCT − canonical (95% CI)"].startswith("not measured")
    assert cnn["controls: DCT − random (recorded)"] == "not recorded by chapter 05_conv"
    # records that name their model: each network gets its own (chapter 05 of the paper profile has three)
    conv = pd.DataFrame({"claim": "3", "chapter": "05_conv", "model": ["conv2", "conv4"],
                         "comparison": "DCT − random at 6.4% of weights", "sentence": ["a", "b"]})
    lines = claim3_tables.network_lines(points.head(0), conv, {"05_conv": ["conv2", "conv4"]})
    assert [s.split(": ")[-1] for s in lines["controls: DCT − random (recorded)"]] == ["a", "b"]


# ------------------------------------------------------------------------------ a real run, measured once


def test_run_measurements_of_a_finished_run_are_cached(tmp_path):
    hp = _hp(model="mlp1d", basis="dct", rounds=2, fraction=0.5)
    with pytest.raises(KeyError, match="not finished"):
        c3.run_measurements(hp, 1, tmp_path)
    table = run_imp(hp, tmp_path, progress=False)
    first = c3.run_measurements(hp, 2, tmp_path)
    assert first.test_accuracy.iloc[0] == pytest.approx(table.test_accuracy.iloc[2])
    assert first.density.iloc[0] == pytest.approx(0.25, abs=0.01)  # iterative, half of what remains, twice
    assert first.overlap_init_magnitude.between(0, 1).all() and (first.weights > 0).all()
    cached = list((tmp_path / "mechanisms").glob("*.csv"))
    assert len(cached) == 1
    pd.testing.assert_frame_equal(c3.run_measurements(hp, 2, tmp_path), first, check_dtype=False)
    values = c3.network_values(first)
    assert set(c3.CANDIDATES) <= set(values.index) and values.test_accuracy == first.test_accuracy.iloc[0]
