"""Per-layer bases (glth_core.core.layer_bases): one-sided DCTs against scipy, the mapping, the run key, the flag."""
import numpy as np
import pytest
import scipy.fft
import torch
from torch import nn

from glth_core.engine import hparams as H
from glth_core.cli import _hparams_from_args, build_parser
from glth_core.core.layer_bases import parse_layer_bases, resolve_layer_bases, side_axes, split_side
from glth_core.engine.lottery import generalized_model, run_imp
from glth_core.core.parametrization import coefficients, generalize, generalized_weight


def _coefficients(module) -> np.ndarray:
    return coefficients(module).detach().double().numpy()


def _weight(module) -> np.ndarray:
    return module.weight.detach().double().numpy()


# --------------------------------------------------------------------------- one-sided bases against scipy


@pytest.mark.parametrize("side, axis", [("in", 1), ("out", 0)])
def test_one_sided_dct_of_a_linear_layer_is_scipy_dct_over_that_axis_only(side, axis):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(20, 12), nn.ReLU(), nn.Linear(12, 5))
    w = _weight(net[0])
    generalize(net, {"0": f"dct:{side}", "2": "canonical"})
    expected = scipy.fft.dct(w, type=2, norm="ortho", axis=axis)
    np.testing.assert_allclose(_coefficients(net[0]), expected, atol=1e-5)
    # the other axis is untouched: the two-sided DCT differs
    assert not np.allclose(_coefficients(net[0]), scipy.fft.dctn(w, type=2, norm="ortho"), atol=1e-3)
    np.testing.assert_allclose(_coefficients(net[2]), _weight(net[2]), atol=0)
    np.testing.assert_allclose(_weight(net[0]), w, atol=1e-5)  # synthesis returns the weight


def test_one_sided_input_dct_of_an_image_layer_is_the_2d_dct_of_each_row_as_an_image():
    hp = H.update(H.ImpHparams(), model="lenet300", dataset="fashion_mnist", layer_bases="fc1=dct:in")
    net = generalized_model(hp, (1, 28, 28), 10)
    plain = generalized_model(H.update(hp, layer_bases=""), (1, 28, 28), 10)  # canonical: coefficients = weights
    w = _coefficients(plain.fc1)
    expected = scipy.fft.dctn(w.reshape(300, 1, 28, 28), type=2, norm="ortho", axes=(2, 3)).reshape(300, 784)
    np.testing.assert_allclose(_coefficients(net.fc1), expected, atol=1e-5)
    out = generalized_model(H.update(hp, layer_bases="fc1=dct:out"), (1, 28, 28), 10)
    np.testing.assert_allclose(_coefficients(out.fc1), scipy.fft.dct(w, type=2, norm="ortho", axis=0), atol=1e-5)


def test_one_sided_basis_of_a_conv_kernel():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(3, 8, 3))
    w = _weight(net[0])
    generalize(net, {"0": "dct:out"})
    np.testing.assert_allclose(_coefficients(net[0]), scipy.fft.dct(w, type=2, norm="ortho", axis=0), atol=1e-5)
    net = nn.Sequential(nn.Conv2d(3, 8, 3))
    w = _weight(net[0])
    generalize(net, {"0": "dct:in"})  # the DCT's own conv axes (spatial) contain no output axis
    np.testing.assert_allclose(_coefficients(net[0]), scipy.fft.dctn(w, type=2, norm="ortho", axes=(2, 3)),
                               atol=1e-5)


# --------------------------------------------------------------------------- the mapping


def test_parse_layer_bases_forms_and_errors():
    expected = (("conv*", "dct", "both"), ("fc1", "dct", "in"))
    assert parse_layer_bases("conv*=dct, fc1=dct:in") == expected
    assert parse_layer_bases("conv*=dct;fc1=dct:in;") == expected
    assert parse_layer_bases((("conv*", "dct"), ("fc1", "dct:in"))) == expected
    assert parse_layer_bases({"conv*": "dct", "fc1": "dct:in"}) == expected
    assert parse_layer_bases("") == () and parse_layer_bases(None) == ()
    with pytest.raises(ValueError, match="has no '='"):
        parse_layer_bases("fc1:dct")
    with pytest.raises(ValueError, match="unknown basis name 'dtc'"):
        parse_layer_bases("fc1=dtc")
    with pytest.raises(ValueError, match="unknown side 'left'"):
        parse_layer_bases("fc1=dct:left")
    with pytest.raises(ValueError, match="empty layer name"):
        parse_layer_bases("=dct")
    assert split_side("random:out") == ("random", "out")
    assert side_axes("in", 4, (2, 3)) == (2, 3) and side_axes("in", 2, None) == (1,)
    assert side_axes("out", 4, (2, 3)) == (0,) and side_axes("both", 2, None) is None


def test_resolve_layer_bases_last_match_wins_and_unknown_names_are_refused():
    layers = ["conv1", "conv2", "fc1", "fc2"]
    assert resolve_layer_bases("conv*=dct,fc1=dct:in", layers, "canonical") == {
        "conv1": "dct", "conv2": "dct", "fc1": "dct:in", "fc2": "canonical"}
    assert resolve_layer_bases("*=dct;fc2=canonical", layers, "random")["fc2"] == "canonical"
    with pytest.raises(ValueError, match=r"'fc3' matches no prunable layer.*\['conv1', 'conv2', 'fc1', 'fc2'\]"):
        resolve_layer_bases("fc3=dct", layers, "canonical")


def _bases_of(net) -> dict:
    """``{layer: (basis name, transformed view axes)}`` of a generalized model."""
    out = {}
    for name, module in net.named_modules():
        gw = generalized_weight(module)
        if gw is not None:
            out[name] = (gw.basis.name, tuple(j for j, _ in gw.basis.active_axes))
    return out


def test_the_per_layer_mapping_reaches_the_right_layers_of_the_engine_model():
    hp = H.update(H.ImpHparams(), model="small_cnn", layer_bases="conv*=dct;fc1=dct:in")
    assert _bases_of(generalized_model(hp, (1, 28, 28), 10)) == {
        "conv1": ("dct", (2, 3)), "conv2": ("dct", (2, 3)), "fc1": ("dct", (1,)), "fc2": ("canonical", ())}
    only_fc1 = _bases_of(generalized_model(H.update(hp, layer_bases="fc1=dct"), (1, 28, 28), 10))
    assert only_fc1 == {"conv1": ("canonical", ()), "conv2": ("canonical", ()), "fc1": ("dct", (0, 1)),
                        "fc2": ("canonical", ())}
    # LeNet: the image-aware view follows fc1's own basis (input axis as 1 x 28 x 28: channel axis canonical)
    lenet = H.update(H.ImpHparams(), model="lenet300", layer_bases="fc1=dct:in")
    assert _bases_of(generalized_model(lenet, (1, 28, 28), 10)) == {
        "fc1": ("dct", (2, 3)), "fc2": ("canonical", ()), "fc3": ("canonical", ())}


def test_unknown_layer_names_are_refused_by_the_engine(tmp_path):
    hp = H.update(H.ImpHparams(), model="mlp1d", dataset="digits", epochs=1, rounds=0, layer_bases="conv1=dct")
    with pytest.raises(ValueError, match="matches no prunable layer"):
        generalized_model(hp, (64,), 10)
    with pytest.raises(ValueError, match="has no '='"):  # before any data is loaded or any run stored
        run_imp(H.update(hp, layer_bases="fc1 dct"), tmp_path)
    assert not any(tmp_path.iterdir())


# --------------------------------------------------------------------------- run key and flag


def test_default_layer_bases_keeps_the_run_key_and_a_set_one_changes_it():
    default = H.ImpHparams()
    assert "layer_bases" not in H.identity("imp", default)["hparams"]["pruning"]
    assert set(H.identity("imp", default)["hparams"]["pruning"]) == {
        f for f in H.to_dict(default)["pruning"] if f not in ("rounds", "layer_bases", "share_dense")}
    keys = {H.run_key("imp", H.update(default, layer_bases=spec)) for spec in ("", "fc1=dct:in", "fc1=dct:out")}
    assert len(keys) == 3
    assert H.run_key("imp", H.update(default, layer_bases="")) == H.run_key("imp", default)


def test_layer_bases_flag():
    args = build_parser().parse_args(["imp", "--model", "small_cnn", "--layer-bases", "conv*=dct;fc1=dct:in"])
    hp = _hparams_from_args(H.ImpHparams, args)
    assert hp.pruning.layer_bases == "conv*=dct;fc1=dct:in" and hp.pruning.basis == "canonical"
