"""prune(): equal to torch.nn.utils.prune in the canonical basis, to a scipy DCT reference in the
DCT basis; iterative densities; masks, random masks, snapshot and rewind; errors."""
import copy

import numpy as np
import pytest
import scipy.fft
import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import prune as torch_prune

from glth_core.core.export import count_parameters, export
from glth_core.core.parametrization import generalize, generalized_layers
from glth_core.core.pruning import (density, densities, masks, prune, random_masks, rewind, set_masks,
                               snapshot)


def mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(30, 20), nn.ReLU(), nn.Linear(20, 12), nn.ReLU(), nn.Linear(12, 4))


def cnn(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(2, 6, 3), nn.BatchNorm2d(6), nn.ReLU(), nn.Conv2d(6, 5, 3), nn.ReLU(),
                         nn.Flatten(), nn.Linear(5 * 4 * 4, 3))


NAMES = {"mlp": ["0", "2", "4"], "cnn": ["0", "3", "6"]}


def twins(kind, seed=0):
    """(generalized canonical model, plain reference copy, reference modules by name)."""
    model = (mlp if kind == "mlp" else cnn)(seed)
    ref = copy.deepcopy(model)
    generalize(model, "canonical")
    return model, ref, {n: ref.get_submodule(n) for n in NAMES[kind]}


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_canonical_global_equals_torch_global_unstructured_over_rounds(kind):
    model, ref, mods = twins(kind)
    params = [(m, "weight") for m in mods.values()]
    for fraction in (0.3, 0.3, 0.5):
        torch_prune.global_unstructured(params, pruning_method=torch_prune.L1Unstructured, amount=fraction)
        prune(model, fraction)
        got = masks(model)
        for name, m in mods.items():
            assert torch.equal(got[name], m.weight_mask), name


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_canonical_layer_equals_torch_l1_unstructured_over_rounds(kind):
    model, ref, mods = twins(kind)
    for fraction in (0.2, 0.45, 0.2):
        for m in mods.values():
            torch_prune.l1_unstructured(m, "weight", amount=fraction)
        prune(model, fraction, scope="layer")
        got = masks(model)
        for name, m in mods.items():
            assert torch.equal(got[name], m.weight_mask), name
    x = torch.randn(3, 30) if kind == "mlp" else torch.randn(3, 2, 8, 8)
    model.eval(), ref.eval()
    torch.testing.assert_close(model(x), ref(x), atol=1e-6, rtol=0)


@pytest.mark.parametrize("granularity,dim", [("row", 0), ("column", 1)])
@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_canonical_structured_equals_torch_ln_structured(kind, granularity, dim):
    model, ref, mods = twins(kind)
    for fraction in (0.25, 0.4):
        for m in mods.values():
            torch_prune.ln_structured(m, "weight", amount=fraction, n=2, dim=dim)
        prune(model, fraction, scope="layer", granularity=granularity)
        got = masks(model)
        for name, m in mods.items():
            assert torch.equal(got[name], m.weight_mask), name


def test_canonical_rows_remove_whole_units():
    model = generalize(mlp(), "canonical")
    prune(model, 0.5, scope="layer", granularity="row", fractions={"4": 0.0})
    mask = masks(model)["0"]
    dead = (mask.sum(dim=1) == 0).nonzero().flatten()
    assert dead.numel() == 10 and torch.all(mask[mask.sum(dim=1) > 0] == 1)
    hidden = model[0](torch.randn(5, 30))
    torch.testing.assert_close(hidden[:, dead], model[0].bias[dead].expand(5, -1).detach(), atol=0, rtol=0)
    assert count_parameters(model) == 10 * 30 + 20 + (6 * 20 + 12) + (12 * 4 + 4)


def test_dct_global_pruning_matches_scipy_reference():
    torch.manual_seed(0)
    model = mlp().double()
    weights = {n: model.get_submodule(n).weight.detach().numpy().copy() for n in NAMES["mlp"]}
    generalize(model, "dct")
    prune(model, 0.35)
    coeffs = {n: scipy.fft.dctn(w, type=2, norm="ortho") for n, w in weights.items()}
    flat = np.concatenate([np.abs(c).ravel() for c in coeffs.values()])
    k = round(0.35 * flat.size)
    threshold = np.sort(flat)[k - 1]
    got = masks(model)
    for n, c in coeffs.items():
        np.testing.assert_array_equal(got[n].numpy(), (np.abs(c) > threshold).astype(float))
    # the stored masked coefficients are exactly zero, the others equal scipy's
    for n, m in generalized_layers(model).items():
        stored = m.parametrizations.weight.original.detach().numpy()
        np.testing.assert_array_equal(stored[got[n].numpy() == 0], 0.0)
        np.testing.assert_allclose(stored[got[n].numpy() == 1], coeffs[n][got[n].numpy() == 1], atol=1e-12)


def test_global_rows_prune_the_lowest_norm_rows_across_layers():
    model = generalize(mlp(), "random", seed=2)
    norms_before = {n: m.parametrizations.weight.original.detach().norm(dim=1)
                    for n, m in generalized_layers(model).items()}
    prune(model, 0.3, granularity="row")
    got = masks(model)
    pruned = torch.cat([norms_before[n][got[n].sum(1) == 0] for n in got])
    kept = torch.cat([norms_before[n][got[n].sum(1) > 0] for n in got])
    assert pruned.numel() == round(0.3 * (20 + 12 + 4))
    assert pruned.max() < kept.min()
    for m in got.values():
        assert torch.all((m.sum(1) == 0) | (m.sum(1) == m.shape[1]))  # whole rows only


@pytest.mark.parametrize("scope", ["layer", "global"])
def test_iterative_density(scope):
    model = generalize(cnn(), "dct")
    p, rounds = 0.2, 6
    sizes = {n: m.parametrizations.weight.original.numel() for n, m in generalized_layers(model).items()}
    expected = dict(sizes)
    total = sum(sizes.values())
    expected_total = total
    for _ in range(rounds):
        result = prune(model, p, scope=scope)
        expected = {n: r - round(p * r) for n, r in expected.items()}
        expected_total -= round(p * expected_total)
    kept = {n: int(m.sum()) for n, m in masks(model).items()}
    assert result == densities(model)
    if scope == "layer":
        assert kept == expected  # the documented rounding rule, per layer
        for n, size in sizes.items():  # within 0.5/p coefficients of (1-p)^n, per layer
            assert abs(kept[n] - (1 - p) ** rounds * size) <= 0.5 / p
    else:
        assert sum(kept.values()) == expected_total  # the same rule over all layers together
    assert abs(density(model) - (1 - p) ** rounds) <= 0.5 / p * len(sizes) / total


def test_fractions_override_layers():
    model, ref, mods = twins("mlp")
    prune(model, 0.4, fractions={"4": 0.0, "2": 0.5})
    torch_prune.global_unstructured([(mods["0"], "weight")], pruning_method=torch_prune.L1Unstructured, amount=0.4)
    torch_prune.l1_unstructured(mods["2"], "weight", amount=0.5)
    got = masks(model)
    assert torch.equal(got["0"], mods["0"].weight_mask)
    assert torch.equal(got["2"], mods["2"].weight_mask)
    assert torch.all(got["4"] == 1)
    assert densities(model)["4"] == 1.0


def test_zero_fraction_is_a_no_op_and_determinism():
    a = generalize(mlp(), "random", seed=7)
    b = generalize(mlp(), "random", seed=7)
    c = generalize(mlp(), "random", seed=8)
    prune(a, 0.0)
    assert density(a) == 1.0
    for m in (a, b, c):
        prune(m, 0.5)
    assert all(torch.equal(masks(a)[n], masks(b)[n]) for n in NAMES["mlp"])
    assert not torch.equal(masks(a)["0"], masks(c)["0"])


def test_masks_are_clones_and_set_masks_zeroes_coefficients():
    model = generalize(mlp(), "dct")
    got = masks(model)
    got["0"].zero_()
    assert density(model) == 1.0
    new = {"0": (torch.rand(20, 30, generator=torch.Generator().manual_seed(1)) > 0.5).float()}
    set_masks(model, new)
    assert torch.equal(masks(model)["0"], new["0"])
    assert torch.all(model[0].parametrizations.weight.original[new["0"] == 0] == 0)
    assert densities(model)["2"] == 1.0
    assert density(model) == pytest.approx((new["0"].sum().item() + 12 * 20 + 4 * 12) / (600 + 240 + 48))


def test_random_masks_keep_counts_and_are_seeded():
    model = generalize(cnn(), "dct")
    prune(model, 0.6, scope="layer")
    given = masks(model)
    r1 = random_masks(model, given, seed=3)
    r2 = random_masks(model, given, seed=3)
    r3 = random_masks(model, given, seed=4)
    for n in given:
        assert r1[n].shape == given[n].shape
        assert int(r1[n].sum()) == int(given[n].sum())
        assert torch.equal(r1[n], r2[n])
        assert not torch.equal(r1[n], r3[n])
        assert not torch.equal(r1[n], given[n])
    by_density = random_masks(model, {"6": 0.25}, seed=0)
    assert list(by_density) == ["6"] and int(by_density["6"].sum()) == round(0.25 * 3 * 80)
    assert all(int(m.sum()) == round(0.1 * m.numel()) for m in random_masks(model, 0.1).values())


def test_snapshot_and_rewind():
    model = generalize(cnn(), "dct")
    start = snapshot(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x, y = torch.randn(8, 2, 8, 8), torch.randint(0, 3, (8,))
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    prune(model, 0.5)
    after_prune = masks(model)
    assert not torch.equal(model[1].running_mean, start["1.running_mean"])
    rewind(model, start)
    assert all(torch.equal(after_prune[n], m) for n, m in masks(model).items())
    state = model.state_dict()
    for key, value in start.items():
        if key.endswith(".mask"):
            continue
        if key.endswith("weight.original"):
            mask = state[key.replace("parametrizations.weight.original", "parametrizations.weight.0.mask")]
            assert torch.equal(state[key], value * mask), key
        else:
            assert torch.equal(state[key], value), key
    # the snapshot is a deep copy: training does not change it
    assert start["0.bias"].data_ptr() != model[0].bias.data_ptr()


# ---- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [1.0, -0.1, float("nan"), 1.5])
def test_fraction_out_of_range(bad):
    model = generalize(mlp(), "dct")
    with pytest.raises(ValueError, match=r"fraction must be in \[0, 1\)"):
        prune(model, bad)


@pytest.mark.parametrize("bad", [True, "0.2", None])
def test_fraction_wrong_type(bad):
    model = generalize(mlp(), "dct")
    with pytest.raises(TypeError, match="fraction must be a float"):
        prune(model, bad)


def test_prune_argument_errors():
    model = generalize(mlp(), "dct")
    with pytest.raises(ValueError, match=r"scope must be one of \('global', 'layer'\)"):
        prune(model, 0.2, scope="net")
    with pytest.raises(ValueError, match="granularity must be one of"):
        prune(model, 0.2, granularity="block")
    with pytest.raises(ValueError, match=r"fractions: 'fc1' is not a generalized layer; valid names: \['0', '2', '4'\]"):
        prune(model, 0.2, fractions={"fc1": 0.1})
    with pytest.raises(ValueError, match=r"fractions\['2'\] must be in \[0, 1\)"):
        prune(model, 0.2, fractions={"2": 1.0})
    assert density(model) == 1.0  # nothing was pruned by failed calls


@pytest.mark.parametrize("fn", [lambda m: prune(m, 0.2), density, densities, masks, export,
                                lambda m: set_masks(m, {}), lambda m: random_masks(m, 0.5)])
def test_never_generalized_model(fn):
    with pytest.raises(ValueError, match=r"no generalized layers.*call glth_core.generalize\(model"):
        fn(mlp())


def test_set_masks_and_random_masks_errors():
    model = generalize(mlp(), "dct")
    with pytest.raises(ValueError, match=r"masks\['0'\] must be a tensor of shape \(20, 30\)"):
        set_masks(model, {"0": torch.ones(30, 20)})
    with pytest.raises(ValueError, match=r"masks\['0'\] must contain only 0 and 1"):
        set_masks(model, {"0": torch.full((20, 30), 0.5)})
    with pytest.raises(ValueError, match="masks: 'x' is not a generalized layer"):
        set_masks(model, {"x": torch.ones(1)})
    with pytest.raises(ValueError, match=r"densities_or_masks\['0'\] must be a density in \[0, 1\]"):
        random_masks(model, {"0": 2.0})
    with pytest.raises(TypeError, match="seed must be an int"):
        random_masks(model, 0.5, seed="a")


def test_rewind_errors():
    plain = mlp()
    early = snapshot(plain)
    model = generalize(plain, "dct")
    with pytest.raises(ValueError, match=r"snapshot does not match the model.*after generalize\(\)"):
        rewind(model, early)
    with pytest.raises(TypeError, match="snapshot must be the dict returned by glth_core.snapshot"):
        rewind(model, [1, 2])
    bad = snapshot(model)
    bad["0.bias"] = torch.zeros(3)
    with pytest.raises(ValueError, match="snapshot does not fit the model"):
        rewind(model, bad)
