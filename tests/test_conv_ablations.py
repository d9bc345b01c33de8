"""Chapter 05's ablations (glth_core.book.conv_ablations): one-shot runs at the iterative round's density, layer
bases valid for the models, the minimum-seeds rule, and the deciding-layer sentence computed from the numbers."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from glth_core.book import conv_ablations as ablate
from glth_core.book.chapter_runs import SPECS
from glth_core.book.profiles import chapter_parameters
from glth_core.core.layer_bases import resolve_layer_bases
from glth_core.core.parametrization import prunable_layers
from glth_core.engine.hparams import run_key
from glth_core.engine.models import build_model


def params(profile="quick", **overrides):
    return {**chapter_parameters("05_conv", profile), **overrides}


@pytest.mark.parametrize("profile", ["quick", "paper"])
def test_one_shot_runs_reach_the_density_of_the_iterative_round(profile):
    p = params(profile, ablations=list(ablate.ABLATIONS))
    runs = ablate.ablation_runs(p)
    assert len(runs) == len(ablate.ABLATIONS) * p["ablation_seeds"]
    k = p["ablation_round"]
    for hp in runs:
        assert hp.pruning.one_shot and hp.pruning.rounds == 1 and hp.model.name == p["models"][0]
        # one-shot keeps 1 - f of the dense coefficients; iterative round k keeps (1 - fraction)^k
        assert 1 - hp.pruning.fraction == pytest.approx((1 - p["fraction"]) ** k)
        assert 1 - hp.pruning.output_fraction == pytest.approx((1 - p["output_fraction"]) ** k)
        assert hp.training == next(iter(runs)).training  # the same training as every configuration
    if profile == "quick":
        assert all(hp.pruning.fraction == pytest.approx(0.936) for hp in runs)  # 40% kept per round, 3 rounds
        assert all(hp.pruning.output_fraction == pytest.approx(0.657) for hp in runs)  # 70% kept per round
    assert SPECS["05_conv"].runs["ablations"](p) == list(runs)
    assert SPECS["05_conv"].runs["ablations"](params(profile, ablation_seeds=0)) == []


@pytest.mark.parametrize("model, shape", [("small_cnn", (1, 28, 28)), ("conv2", (3, 32, 32)), ("conv6", (3, 32, 32))])
def test_layer_bases_are_valid_for_the_models(model, shape):
    layers = prunable_layers(build_model(model, shape, 10))
    resolved = {name: resolve_layer_bases(spec, layers, basis) for name, (basis, spec) in ablate.ABLATIONS.items()}
    convs = [layer for layer in layers if layer.startswith("conv")]
    assert convs and "fc1" in layers
    assert {layer for layer, b in resolved["conv"].items() if b == "dct"} == set(convs)
    assert {layer for layer, b in resolved["fc1"].items() if b != "canonical"} == {"fc1"}
    assert (resolved["fc1:in"]["fc1"], resolved["fc1:out"]["fc1"]) == ("dct:in", "dct:out")
    assert set(resolved["canonical"].values()) == {"canonical"} and set(resolved["dct"].values()) == {"dct"}


def test_unknown_configuration_is_refused():
    with pytest.raises(ValueError, match="unknown configuration"):
        ablate.ablation_runs(params(ablations=["canonical", "fc2"]))


@pytest.mark.parametrize("verdict, n, expected", [
    ("holds", 3, "inconclusive (n < 5)"), ("contradicted", 4, "inconclusive (n < 5)"), ("holds", 5, "holds"),
    ("contradicted", 6, "contradicted"), ("inconclusive", 2, "inconclusive"), ("censored", 3, "censored")])
def test_min_seeds_rule(verdict, n, expected):
    assert ablate.seed_gated(verdict, n) == expected


EFFECT = {"canonical": 0.0, "dct": 0.010, "conv": 0.0, "fc1": 0.010, "fc1:in": 0.008, "fc1:out": 0.001}


def fake_table(runs, effect=EFFECT, noise=0.0005):
    """Round 0 and 1 of each ablation run; round 1 accuracy 0.85 + the configuration's effect + seed noise."""
    rng = np.random.default_rng(0)
    rows = []
    for hp, (model, config) in runs.items():
        for r in (0, 1):
            rows.append({"run_id": run_key("imp", hp), "model": model, "seed": hp.seed, "round": r,
                         "density": 1.0 if r == 0 else 0.064,
                         "test_accuracy": 0.9 if r == 0 else 0.85 + effect[config] + rng.normal(0, noise)})
    return pd.DataFrame(rows)


def test_ablation_table_pairs_on_the_seed_and_gates_few_seeds():
    runs = ablate.ablation_runs(params(ablations=list(ablate.ABLATIONS), ablation_seeds=3))
    table = ablate.ablation_table(fake_table(runs), runs)
    row = table.set_index(["configuration", "reference"])
    assert len(table) == 5 + 4  # every configuration minus canonical, every other one minus dct
    assert row.loc[("dct", "canonical"), "estimate"] == pytest.approx(0.010, abs=0.002)
    assert row.loc[("dct", "canonical"), "n"] == 3
    # a clear effect from 3 seeds: never "holds"
    assert row.loc[("dct", "canonical"), "verdict"] == "inconclusive (n < 5)"
    assert row.loc[("fc1", "canonical"), "density"] == pytest.approx(6.4)
    five = ablate.ablation_runs(params(ablations=list(ablate.ABLATIONS), ablation_seeds=5))
    gated = ablate.ablation_table(fake_table(five), five).set_index(["configuration", "reference"])
    assert gated.loc[("dct", "canonical"), "verdict"] == "holds"
    assert gated.loc[("conv", "dct"), "verdict"] == "contradicted"
    assert ablate.ablation_table(pd.DataFrame(), {}).empty


def test_deciding_layer_sentence_follows_the_numbers():
    five = ablate.ablation_runs(params(ablations=list(ablate.ABLATIONS), ablation_seeds=5))
    sentence = ablate.deciding_layer_sentence(ablate.ablation_table(fake_table(five), five))
    assert "fc1 alone reproduces the DCT's effect, so fc1 decides the verdict (n = 5 seeds)" in sentence
    assert re.search(r"fc1's input axis alone by \+0\.(7\d|8\d) pp", sentence)  # 0.8 pp, up to the seed noise
    conv_decides = {**EFFECT, "conv": 0.010, "fc1": 0.0, "fc1:in": 0.0, "fc1:out": 0.0}
    sentence = ablate.deciding_layer_sentence(ablate.ablation_table(fake_table(five, conv_decides), five))
    assert "the conv layers alone reproduces" in sentence
    three = ablate.ablation_runs(params(ablations=list(ablate.ABLATIONS), ablation_seeds=3))
    sentence = ablate.deciding_layer_sentence(ablate.ablation_table(fake_table(three), three))
    assert sentence.endswith("(n = 3 seeds, fewer than 5: a pointer, not a verdict)")
    none = {**EFFECT, "dct": 0.0, "fc1": 0.0, "fc1:in": 0.0, "fc1:out": 0.0}
    assert "no layer can be singled out" in ablate.deciding_layer_sentence(
        ablate.ablation_table(fake_table(five, none, noise=0.002), five))
    assert "no layer can be singled out" in ablate.deciding_layer_sentence(ablate.ablation_table(pd.DataFrame(), {}))
