"""Energy compaction against closed forms and scipy: smooth signals compact in the DCT, white
noise compacts in no basis (its top-k energy has a closed form), one-hot tensors are fully held
by one coefficient, Parseval, tickets count masked coefficients as zero."""
import math

import numpy as np
import pytest
import scipy.fft
import scipy.stats
import torch
from torch import nn

from glth_core.analysis.compaction import energy_curve, energy_fraction, energy_needed, layer_coefficients
from glth_core.core.parametrization import generalize
from glth_core.core.pruning import density, prune


def noise_closed_form(q):
    """E[x^2 1{|x| > t}] for x ~ N(0, 1) with P(|x| > t) = q: the top-q energy fraction of white noise."""
    t = scipy.stats.norm.isf(q / 2)
    return q + 2 * t * scipy.stats.norm.pdf(t)


def smooth_image(n=64):
    """A sampled smooth function on [0, 1]^2 (no structure at high frequencies)."""
    x = np.linspace(0, 1, n)
    return torch.tensor(np.exp(-((x[:, None] - 0.3) ** 2 + (x[None, :] - 0.6) ** 2) / 0.1)
                        + np.cos(2 * np.pi * x)[:, None] * x[None, :])


def test_dct_coefficients_match_scipy_dctn():
    w = torch.randn(6, 5, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    (_, c), = layer_coefficients(w, "dct").values()
    np.testing.assert_allclose(c.numpy(), scipy.fft.dctn(w.numpy(), type=2, norm="ortho"), atol=1e-12)
    (_, c), = layer_coefficients(w, "dct", axes=(1, 2)).values()
    np.testing.assert_allclose(c.numpy(), scipy.fft.dctn(w.numpy(), type=2, norm="ortho", axes=(1, 2)), atol=1e-12)


def test_smooth_signal_compacts_in_dct_not_canonical():
    w = smooth_image()
    ks = [0.5, 1, 5]
    dct = energy_fraction(torch.tensor(scipy.fft.dctn(w.numpy(), norm="ortho")), ks)
    np.testing.assert_allclose(energy_curve(w, "dct", k_percent=ks)["energy_fraction"], dct, rtol=1e-12)
    assert dct[0] > 0.99  # 21 of 4096 DCT coefficients hold 99% of a smooth function
    canonical = energy_curve(w, "canonical", k_percent=ks)["energy_fraction"].to_numpy()
    assert np.all(canonical < [0.05, 0.1, 0.3])  # pixels share the energy: about k% of it in k% of them


@pytest.mark.parametrize("name", ["canonical", "dct", "hadamard", "random"])
def test_white_noise_matches_closed_form_in_every_basis(name):
    w = torch.randn(400, 500, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ks = np.array([1.0, 5.0, 10.0, 30.0, 60.0])
    curve = energy_curve(w, name, k_percent=ks, seed=3)
    np.testing.assert_allclose(curve["energy_fraction"], noise_closed_form(ks / 100), atol=0.005)


def test_top_k_against_independent_partition():
    w = torch.randn(37, 11, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    c = scipy.fft.dctn(w.numpy(), norm="ortho").ravel()
    for k in (0.5, 3.0, 10.0, 49.9, 100.0):
        m = math.ceil(k * c.size / 100)
        reference = np.sum(np.partition(c ** 2, c.size - m)[c.size - m:]) / np.sum(w.numpy() ** 2)
        got = energy_curve(w, "dct", k_percent=[k])["energy_fraction"].item()
        assert got == pytest.approx(reference, rel=1e-12)


def test_one_hot_and_parseval():
    w = torch.zeros(10, 30)
    w[3, 7] = -2.5
    curve = energy_curve(w, "canonical", k_percent=[0, 1e-3, 0.4, 50, 100])
    assert curve["energy_fraction"].tolist() == [0.0, 1.0, 1.0, 1.0, 1.0]
    for name in ("dct", "hadamard", "random", "svd"):  # orthonormal: the whole basis holds the whole norm
        assert energy_curve(torch.randn(9, 12), name, k_percent=[100])["energy_fraction"].item() == pytest.approx(
            1.0, abs=1e-12)
    assert energy_curve(torch.randn(9, 12), "svd", k_percent=[100 * 9 / 108])["energy_fraction"].item() == \
        pytest.approx(1.0, abs=1e-12)  # the svd basis puts a matrix on its diagonal: 9 of 108 coefficients
    assert np.isnan(energy_curve(torch.zeros(4, 4), "dct", k_percent=[50])["energy_fraction"].item())


def test_energy_needed_by_hand():
    w = torch.zeros(100)
    w[5], w[50] = 4.0, 3.0  # energies 16 and 9 of 25
    table = energy_needed(w, "canonical", levels=(0.5, 0.64, 0.9, 1.0))
    assert table["k_percent"].tolist() == [1.0, 1.0, 2.0, 2.0]
    assert table["coefficients"].tolist() == [100] * 4


def mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def cnn(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 10))


def test_model_image_axis_and_conv_kernels_against_scipy():
    model = mlp()
    coeffs = layer_coefficients(model, "dct", image_shape=(1, 8, 8))
    w1 = model[1].weight.detach().double().numpy().reshape(32, 1, 8, 8)
    np.testing.assert_allclose(coeffs["1"][1].numpy().reshape(32, 1, 8, 8),
                               scipy.fft.dctn(w1, norm="ortho", axes=(0, 2, 3)), atol=1e-12)
    w3 = model[3].weight.detach().double().numpy()
    np.testing.assert_allclose(coeffs["3"][1].numpy(), scipy.fft.dctn(w3, norm="ortho"), atol=1e-12)
    assert not any(hasattr(m, "parametrizations") for m in model.modules())  # the model is left as it was

    conv = cnn()
    coeffs = layer_coefficients(conv, "dct")
    k = conv[0].weight.detach().double().numpy()  # (out, in, kh, kw): 2-D DCT of each filter
    np.testing.assert_allclose(coeffs["0"][1].numpy(), scipy.fft.dctn(k, norm="ortho", axes=(2, 3)), atol=1e-12)


def test_ticket_counts_masked_coefficients_as_zero():
    model = generalize(mlp(), "dct", image_shape=(1, 8, 8))
    prune(model, 0.8, scope="layer")
    d = density(model)
    own = energy_curve(model, k_percent=[100 * d, 100])
    assert set(own["basis"]) == {"dct"}
    # every unmasked coefficient fits in the top k = density: the curve is already 1 there
    np.testing.assert_allclose(own["energy_fraction"], 1.0, atol=1e-12)
    needed = energy_needed(model, levels=[1.0])
    assert np.all(needed["k_percent"] <= 100 * 0.2 + 100 / needed["coefficients"])
    # in the canonical basis the same ticket is dense: its effective weights spread over every entry
    canonical = energy_curve(model, "canonical", k_percent=[100 * d])
    assert canonical["energy_fraction"].max() < 0.99
    # the model's own basis, requested by name, gives the same curve (up to round-off)
    by_name = energy_curve(model, "dct", image_shape=(1, 8, 8), k_percent=[1, 10, 20])
    own = energy_curve(model, k_percent=[1, 10, 20])
    np.testing.assert_allclose(by_name["energy_fraction"], own["energy_fraction"], atol=1e-6)


def test_pooled_curve_and_bad_input():
    model = mlp()
    curve = energy_curve(model, "canonical", k_percent=[10, 100], pooled=True)
    assert curve["layer"].unique().tolist() == ["1", "3", "(all)"]
    assert curve.columns.tolist() == ["layer", "basis", "k_percent", "energy_fraction"]
    with pytest.raises(ValueError, match="k_percent"):
        energy_curve(model, "dct", k_percent=[150])
    with pytest.raises(ValueError, match="basis name"):
        energy_curve(model)
    with pytest.raises(ValueError, match="levels"):
        energy_needed(model, "dct", levels=[0])
    with pytest.raises(TypeError, match="source"):
        energy_curve([1, 2, 3], "dct")


def test_channel_dct_option_reaches_conv_kernels():
    conv = cnn()
    coeffs = layer_coefficients(conv, "dct", channel_dct=True)
    k = conv[0].weight.detach().double().numpy()
    np.testing.assert_allclose(coeffs["0"][1].numpy(), scipy.fft.dctn(k, norm="ortho", axes=(1, 2, 3)), atol=1e-12)
    with pytest.raises(ValueError, match="axes=\\(1, 2, 3\\)"):
        layer_coefficients(conv[0].weight, "dct", channel_dct=True)
