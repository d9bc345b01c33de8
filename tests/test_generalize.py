"""generalize(): function preserved, coefficients as parameters, masks inside the forward,
the projected-gradient identity against dense Kronecker matrices built with scipy, saving."""
import io

import numpy as np
import pytest
import scipy.fft
import torch
from torch import nn
from torch.nn import functional as F

from glth_core.core.bases import basis as make_basis
from glth_core.core.parametrization import GeneralizedWeight, generalize, generalized_layers
from glth_core.core.pruning import masks, prune, random_masks, set_masks


NAMES = ["canonical", "dct", "hadamard", "random", "svd"]


def lenet(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(),
                         nn.Linear(100, 10))


def mlp(seed=0):
    """A small LeNet-like MLP on 8x8 images (fast)."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 10))


def small_cnn(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 6, 3, stride=2), nn.BatchNorm2d(6), nn.ReLU(),
                         nn.Flatten(), nn.Linear(6 * 12 * 12, 10))


def images(n=8, seed=1):
    return torch.randn(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


def dct_matrix(n):
    """scipy's orthonormal DCT-II as a matrix: D @ x == scipy.fft.dct(x, norm='ortho')."""
    return scipy.fft.dct(np.eye(n), type=2, norm="ortho", axis=0)


@pytest.mark.parametrize("name", NAMES)
def test_lenet_function_unchanged_with_image_shape(name):
    model = lenet()
    x = images()
    before = model(x)
    generalize(model, name, image_shape=(1, 28, 28), seed=3)  # the svd basis ignores image_shape
    assert list(generalized_layers(model)) == ["1", "3", "5"]
    first = model[1].parametrizations.weight[0].basis
    assert first.view_shape == ((300, 784) if name == "svd" else (300, 1, 28, 28))
    torch.testing.assert_close(model(x), before, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", NAMES)
def test_cnn_function_unchanged(name):
    model = small_cnn().eval()
    x = images()
    before = model(x)
    generalize(model, name)
    assert list(generalized_layers(model)) == ["0", "2", "6"]
    torch.testing.assert_close(model(x), before, atol=1e-5, rtol=0)


def test_original_is_the_coefficient_tensor_and_trainable():
    model = lenet()
    w = model[3].weight.detach().clone().numpy()
    generalize(model, "dct")
    original = model[3].parametrizations.weight.original
    assert isinstance(original, nn.Parameter) and original.requires_grad
    np.testing.assert_allclose(original.detach().numpy(), scipy.fft.dctn(w, norm="ortho"), atol=1e-5)
    param = model[3].parametrizations.weight[0]
    assert isinstance(param, GeneralizedWeight)
    assert torch.equal(param.mask, torch.ones(100, 300))
    assert {n for n, _ in model.named_parameters()} == {
        "1.bias", "3.bias", "5.bias", "1.parametrizations.weight.original",
        "3.parametrizations.weight.original", "5.parametrizations.weight.original"}


def test_image_shape_only_on_first_layer():
    model = lenet()
    generalize(model, "dct", image_shape=(1, 28, 28))
    first = model[1].parametrizations.weight[0].basis
    second = model[3].parametrizations.weight[0].basis
    assert first.image_shape == (1, 28, 28) and first.view_shape == (300, 1, 28, 28)
    assert second.image_shape is None and second.view_shape == (100, 300)


def test_layers_and_basis_dict():
    model = lenet()
    generalize(model, {"1": "random", "3": "canonical"})
    assert list(generalized_layers(model)) == ["1", "3"]
    assert model[1].parametrizations.weight[0].basis.name == "random"
    assert model[3].parametrizations.weight[0].basis.name == "canonical"
    model = lenet()
    generalize(model, "dct", layers=["5", "1"])
    assert list(generalized_layers(model)) == ["1", "5"]


def test_per_layer_seeds_are_deterministic_and_distinct():
    a, b, c = mlp(), mlp(), mlp()
    generalize(a, "random", seed=5)
    generalize(b, "random", seed=5)
    generalize(c, "random", seed=6)
    ma = a[3].parametrizations.weight[0].basis.transforms[1].matrix()
    assert torch.equal(ma, b[3].parametrizations.weight[0].basis.transforms[1].matrix())
    assert not torch.allclose(ma, c[3].parametrizations.weight[0].basis.transforms[1].matrix())
    # two axes of the same size in different layers get different matrices
    m1_out = a[1].parametrizations.weight[0].basis.transforms[0].matrix()
    m3_in = a[3].parametrizations.weight[0].basis.transforms[1].matrix()
    assert not torch.allclose(m1_out, m3_in)


def test_masked_coefficient_gets_zero_gradient():
    model = mlp()
    generalize(model, "dct", image_shape=(1, 8, 8))
    prune(model, 0.5)
    model(torch.randn(5, 1, 8, 8)).sum().backward()
    for name, m in generalized_layers(model).items():
        grad = m.parametrizations.weight.original.grad
        mask = m.parametrizations.weight[0].mask
        assert torch.all(grad[mask == 0] == 0), name
        assert grad[mask == 1].abs().sum() > 0


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw"])
def test_masked_coefficients_stay_exactly_zero_under_training(optimizer):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 3))
    generalize(model, "random", seed=1)
    prune(model, 0.6)
    kept = masks(model)
    params = list(model.parameters())
    opt = {"sgd": lambda: torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-2),
           "adam": lambda: torch.optim.Adam(params, lr=1e-2, weight_decay=1e-2),
           "adamw": lambda: torch.optim.AdamW(params, lr=1e-2, weight_decay=1e-1)}[optimizer]()
    x = torch.randn(32, 12)
    y = torch.randint(0, 3, (32,))
    start = {n: m.parametrizations.weight.original.detach().clone() for n, m in generalized_layers(model).items()}
    for _ in range(25):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    for name, m in generalized_layers(model).items():
        param = m.parametrizations.weight[0]
        stored = m.parametrizations.weight.original.detach()
        effective = param.mask * stored
        assert torch.equal(param.mask, kept[name])  # training never changes masks
        assert torch.all(effective[kept[name] == 0] == 0)
        assert torch.all(stored[kept[name] == 0] == 0)  # fresh optimiser after pruning: stored stays 0 too
        assert not torch.allclose(stored, start[name])  # it did train
        # the synthesised weight lies in the masked subspace: analysing it back gives ~0 off the mask
        coeffs_back = param.basis.coeffs(m.weight.detach())
        assert coeffs_back[kept[name] == 0].abs().max() < 1e-6


def _dense_dct_synthesis(out_features, in_matrix):
    """B with vec_row(W) = B vec_row(C): the transpose of kron(D_out, D_in)."""
    return np.kron(dct_matrix(out_features), in_matrix).T


@pytest.mark.parametrize("image_shape", [None, (1, 3, 4)])
def test_sgd_step_is_projected_gradient_step(image_shape):
    out_f, in_f, lr, wd = 5, 12, 0.3, 0.05
    layer = nn.Linear(in_f, out_f).double()
    generalize(layer, "dct", image_shape=image_shape)
    layer.parametrizations.weight[0].mask.copy_(
        (torch.rand(out_f, in_f, generator=torch.Generator().manual_seed(2)) > 0.4).double())
    set_masks(layer, {"": layer.parametrizations.weight[0].mask.clone()})
    m = layer.parametrizations.weight[0].mask.numpy().reshape(-1)
    d_in = dct_matrix(in_f) if image_shape is None else np.kron(dct_matrix(3), dct_matrix(4))
    B = _dense_dct_synthesis(out_f, d_in)

    x = torch.randn(7, in_f, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    w0 = layer.weight.detach().clone()
    # reference gradient with respect to a plain weight, independent of glth_core
    w_plain = w0.clone().requires_grad_(True)
    (F.linear(x, w_plain, layer.bias.detach()) ** 2).sum().backward()
    g = w_plain.grad.numpy().reshape(-1)
    projector = B @ np.diag(m) @ B.T
    expected = (1 - lr * wd) * w0.numpy().reshape(-1) - lr * projector @ g

    opt = torch.optim.SGD([layer.parametrizations.weight.original], lr=lr, weight_decay=wd)
    (layer(x) ** 2).sum().backward()
    opt.step()
    np.testing.assert_allclose(layer.weight.detach().numpy().reshape(-1), expected, atol=1e-12)


def test_momentum_sgd_equals_projected_momentum_sgd_on_weights():
    out_f, in_f, lr, mu, wd = 4, 6, 0.1, 0.9, 1e-2
    layer = nn.Linear(in_f, out_f, bias=False).double()
    generalize(layer, "dct")
    mask = (torch.rand(out_f, in_f, generator=torch.Generator().manual_seed(4)) > 0.5).double()
    set_masks(layer, {"": mask})
    B = _dense_dct_synthesis(out_f, dct_matrix(in_f))
    P = B @ np.diag(mask.numpy().reshape(-1)) @ B.T
    x = torch.randn(9, in_f, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    opt = torch.optim.SGD(layer.parameters(), lr=lr, momentum=mu, weight_decay=wd)
    w = layer.weight.detach().numpy().reshape(-1).copy()
    v = np.zeros_like(w)
    for _ in range(4):
        wt = torch.tensor(w.reshape(out_f, in_f), requires_grad=True)
        (F.linear(x, wt) ** 3).sum().backward()
        g = P @ wt.grad.numpy().reshape(-1) + wd * w
        v = mu * v + g
        w = w - lr * v
        opt.zero_grad()
        (layer(x) ** 3).sum().backward()
        opt.step()
    np.testing.assert_allclose(layer.weight.detach().numpy().reshape(-1), w, atol=1e-10)


def test_offset_init_starts_at_zero_and_trains_in_subspace():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 8), nn.ReLU(), nn.Linear(8, 3))
    x = torch.randn(16, 10)
    before = model(x)
    w0 = model[0].weight.detach().clone()
    generalize(model, "random", offset="init", seed=2)
    torch.testing.assert_close(model(x), before, atol=1e-6, rtol=0)
    for m in generalized_layers(model).values():
        assert torch.all(m.parametrizations.weight.original == 0)
    set_masks(model, random_masks(model, 0.25, seed=1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    model(x).square().sum().backward()
    opt.step()
    param = model[0].parametrizations.weight[0]
    assert torch.equal(param.offset, w0)
    delta = param.basis.coeffs(model[0].weight.detach() - w0)
    assert delta[param.mask == 0].abs().max() < 1e-6
    assert delta[param.mask == 1].abs().max() > 0


@pytest.mark.parametrize("name", ["dct", "svd", "random"])
def test_state_dict_round_trip_into_freshly_generalized_model(name):
    image_shape = None if name == "svd" else (1, 28, 28)
    make = lenet if name == "dct" else mlp
    model = generalize(make(0), name, image_shape=image_shape and (1, 28, 28) if name == "dct" else None, seed=4)
    prune(model, 0.7)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    fresh = generalize(make(1), name, image_shape=image_shape if name == "dct" else None, seed=4)
    fresh.load_state_dict(torch.load(buffer))  # different initial weights (and svd basis) are overwritten
    x = images() if name == "dct" else torch.randn(4, 1, 8, 8)
    torch.testing.assert_close(fresh(x), model(x), atol=1e-6, rtol=0)
    for a, b in zip(masks(model).values(), masks(fresh).values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("name", ["svd", "random", "dct"])
def test_state_dict_stores_each_basis_matrix_once(name):
    # every stored entry is a distinct tensor: a transform registered twice would save it twice
    model = generalize(mlp(0), name, seed=2)
    state = model.state_dict()
    pointers = [v.data_ptr() for v in state.values()]
    assert len(pointers) == len(set(pointers)), sorted(state)
    assert all(".basis.transforms." in k for k in state if ".basis." in k), sorted(state)


def test_torch_save_of_whole_parametrized_model_is_refused_by_torch():
    model = generalize(nn.Sequential(nn.Linear(3, 2)), "dct")
    with pytest.raises(RuntimeError, match="[Ss]erializ"):
        torch.save(model, io.BytesIO())


def test_moves_with_dtype_conversion():
    model = generalize(nn.Sequential(nn.Linear(6, 4)), "dct").double()
    x = torch.randn(3, 6, dtype=torch.float64)
    assert model(x).dtype == torch.float64
    assert model[0].parametrizations.weight[0].basis.transforms[0].matrix().dtype == torch.float64


def test_basis_stored_is_the_one_make_basis_builds():
    model = generalize(nn.Sequential(nn.Linear(6, 4)), "hadamard", seed=9)
    from glth_core.core.seeding import derive_seed
    expected = make_basis("hadamard", (4, 6), seed=derive_seed(9, "layer", "0"))
    got = model[0].parametrizations.weight[0].basis
    for a, b in zip(got.transforms, expected.transforms):
        assert torch.equal(a.matrix(), b.matrix())


# ---- bad input -------------------------------------------------------------------------------

def test_generalize_errors():
    with pytest.raises(ValueError, match=r"unknown basis name 'wavelet'.*'dct'"):
        generalize(lenet(), "wavelet")
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        generalize("model", "dct")
    with pytest.raises(ValueError, match=r"layers: no module named 'fc9'.*'1', '3', '5'"):
        generalize(lenet(), "dct", layers=["fc9"])
    with pytest.raises(TypeError, match="layers must be a list of module names"):
        generalize(lenet(), "dct", layers="1")
    with pytest.raises(ValueError, match=r"basis dict has no entry for layer\(s\) \['3'\]"):
        generalize(lenet(), {"1": "dct"}, layers=["1", "3"])
    with pytest.raises(ValueError, match="offset must be None or 'init'"):
        generalize(lenet(), "dct", offset="zero")
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['axis'\]"):
        generalize(lenet(), "dct", axis=0)
    with pytest.raises(ValueError, match=r"image_shape .* has 784 elements .* has 100|image_shape \(1, 10, 10\)"):
        generalize(lenet(), "dct", image_shape=(1, 10, 10))
    with pytest.raises(ValueError, match="image_shape applies to the first generalized layer, '0'.*drop image_shape"):
        generalize(small_cnn(), "dct", image_shape=(1, 28, 28))
    model = generalize(lenet(), "dct")
    with pytest.raises(ValueError, match="already parametrized.*generalize each layer once"):
        generalize(model, "dct")
    with pytest.raises(ValueError, match="no nn.Linear or nn.Conv layer"):
        generalize(nn.Sequential(nn.ReLU()), "dct")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("where", ["before", "after"])
def test_cuda_device(where):
    """Generalize on the GPU, or on the CPU and move with .cuda(): everything follows the device."""
    from glth_core.core.export import count_parameters, export
    model = mlp()
    if where == "before":
        model = model.cuda()
    generalize(model, "dct", image_shape=(1, 8, 8))
    if where == "after":
        model = model.cuda()
    assert all(b.is_cuda for b in model.buffers())
    prune(model, 0.5)
    set_masks(model, random_masks(model, masks(model), seed=1))
    assert all(m.is_cuda for m in masks(model).values())
    x = torch.randn(6, 1, 8, 8, device="cuda")
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    for _ in range(3):
        opt.zero_grad()
        model(x).square().mean().backward()
        opt.step()
    for m in generalized_layers(model).values():
        mask = m.parametrizations.weight[0].mask
        assert torch.all(m.parametrizations.weight.original[mask == 0] == 0)
    plain = export(model)
    torch.testing.assert_close(plain(x), model(x), atol=1e-5, rtol=0)
    assert count_parameters(model) == sum(int(m.sum()) for m in masks(model).values()) + 32 + 16 + 10


def test_dct_of_conv_kernels_is_spatial_by_default_and_all_axes_on_request():
    """DESIGN: conv kernels get a 2-D DCT over their spatial axes (channels stay canonical)."""
    from glth_core.core.parametrization import coefficients

    model = small_cnn()
    kernels = [m.weight.detach().double().numpy().copy() for m in model if isinstance(m, nn.Conv2d)]
    generalize(model, "dct")
    convs = [m for m in model if isinstance(m, nn.Conv2d)]
    for conv, w in zip(convs, kernels):
        expected = scipy.fft.dctn(w, type=2, norm="ortho", axes=(2, 3))
        np.testing.assert_allclose(coefficients(conv).detach().double().numpy(), expected, atol=1e-5)
    linear = model[-1]
    w_fc = linear.parametrizations.weight.original  # the Linear layer keeps the DCT over both axes
    assert w_fc.shape == (10, 6 * 12 * 12)

    model = small_cnn()
    w = model[0].weight.detach().double().numpy().copy()
    generalize(model, "dct", axes=(0, 1, 2, 3), layers=["0"])
    np.testing.assert_allclose(coefficients(model[0]).detach().double().numpy(),
                               scipy.fft.dctn(w, type=2, norm="ortho"), atol=1e-5)


def test_channel_dct_of_conv_kernels_against_scipy():
    model = small_cnn().double()
    x = images().double()
    before = model(x)
    kernels = [model[0].weight.detach().numpy().copy(), model[2].weight.detach().numpy().copy()]
    fc = model[6].weight.detach().numpy().copy()
    generalize(model, "dct", channel_dct=True)
    for index, w in zip((0, 2), kernels):  # (out, in, kh, kw): DCT over in, kh, kw; out stays canonical
        np.testing.assert_allclose(model[index].parametrizations.weight.original.detach().numpy(),
                                   scipy.fft.dctn(w, type=2, norm="ortho", axes=(1, 2, 3)), atol=1e-12)
    np.testing.assert_allclose(model[6].parametrizations.weight.original.detach().numpy(),  # Linear: unaffected
                               scipy.fft.dctn(fc, type=2, norm="ortho"), atol=1e-12)
    torch.testing.assert_close(model(x), before, atol=1e-10, rtol=0)
    spatial = generalize(small_cnn().double(), "dct")  # the default: spatial axes only
    np.testing.assert_allclose(spatial[2].parametrizations.weight.original.detach().numpy(),
                               scipy.fft.dctn(kernels[1], type=2, norm="ortho", axes=(2, 3)), atol=1e-12)


def test_channel_dct_bad_combinations():
    with pytest.raises(ValueError, match="dct' basis only"):
        generalize(small_cnn(), "canonical", channel_dct=True)
    with pytest.raises(ValueError, match="either it or axes"):
        generalize(small_cnn(), "dct", channel_dct=True, axes=(2, 3))
