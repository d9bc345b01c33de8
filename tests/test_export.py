"""export() and count_parameters(): plain models with the same outputs, low-rank factorisation
of row-pruned Linear layers in rotated bases, honest parameter counts."""
import io

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from glth_core.core.export import count_parameters, export
from glth_core.core.parametrization import generalize, generalized_layers
from glth_core.core.pruning import masks, prune, random_masks, set_masks

NAMES = ["canonical", "dct", "hadamard", "random", "svd"]


def mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 10))


def cnn(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 6, 3), nn.ReLU(),
                         nn.Flatten(), nn.Linear(6 * 4 * 4, 3))


def has_parametrizations(model):
    return any(parametrize.is_parametrized(m) for m in model.modules())


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_export_same_outputs_plain_modules(kind, name):
    model = mlp() if kind == "mlp" else cnn()
    image_shape = (1, 8, 8) if kind == "mlp" and name != "svd" else None
    generalize(model, name, image_shape=image_shape, seed=1)
    prune(model, 0.6)
    prune(model, 0.3, scope="layer")
    model.eval()
    x = torch.randn(5, 1, 8, 8)
    names = list(generalized_layers(model))
    before = model(x)
    plain = export(model)
    assert not has_parametrizations(plain)
    torch.testing.assert_close(plain(x), before, atol=1e-5, rtol=0)
    torch.save(plain, io.BytesIO())  # a plain model pickles
    # the original is untouched and still generalized (export works on a copy)
    assert list(generalized_layers(model)) == names
    torch.testing.assert_close(model(x), before, atol=0, rtol=0)
    torch.testing.assert_close(export(model)(x), plain(x), atol=0, rtol=0)
    assert count_parameters(plain) == sum(p.numel() for p in plain.parameters())


@pytest.mark.parametrize("name", ["dct", "hadamard", "random", "svd"])
def test_row_pruning_in_rotated_basis_exports_low_rank_pair(name):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 5))
    generalize(model, name, seed=3)
    prune(model, 0.75, scope="layer", granularity="row", fractions={"2": 0.0})  # keep r = 4 of 16 rows
    r, n_in, n_out = 4, 20, 16
    x = torch.randn(9, 20)
    plain = export(model)
    pair = plain[0]
    assert isinstance(pair, nn.Sequential) and len(pair) == 2
    assert (pair[0].in_features, pair[0].out_features, pair[0].bias) == (n_in, r, None)
    assert (pair[1].in_features, pair[1].out_features) == (r, n_out) and pair[1].bias is not None
    torch.testing.assert_close(plain(x), model(x), atol=1e-5, rtol=0)
    product = pair[1].weight @ pair[0].weight
    torch.testing.assert_close(product, model[0].weight.detach(), atol=1e-5, rtol=0)
    assert int(torch.linalg.matrix_rank(product)) == r
    # the output factor has orthonormal columns: they are r basis vectors of the output axis
    torch.testing.assert_close(pair[1].weight.T @ pair[1].weight, torch.eye(r), atol=1e-5, rtol=0)
    expected = r * (n_in + n_out) + n_out + (16 * 5 + 5)
    assert count_parameters(model) == expected
    assert count_parameters(plain) == expected
    assert sum(p.numel() for p in pair.parameters()) == r * (n_in + n_out) + n_out


def test_low_rank_not_used_when_it_does_not_save():
    torch.manual_seed(0)
    layer = nn.Linear(20, 16)
    generalize(layer, "dct")
    prune(layer, 0.25, granularity="row")  # r = 12: 12 * 36 = 432 > 320
    plain = export(layer)
    assert isinstance(plain, nn.Linear)
    assert count_parameters(layer) == 12 * 20 + 16
    x = torch.randn(4, 20)
    torch.testing.assert_close(plain(x), layer(x), atol=1e-5, rtol=0)


def test_root_linear_low_rank_returns_sequential():
    torch.manual_seed(1)
    layer = nn.Linear(12, 10)
    generalize(layer, "random")
    prune(layer, 0.8, granularity="row")  # r = 2
    plain = export(layer)
    assert isinstance(plain, nn.Sequential) and plain[0].out_features == 2
    x = torch.randn(3, 12)
    torch.testing.assert_close(plain(x), layer(x), atol=1e-5, rtol=0)


def test_canonical_rows_export_dense_with_zero_rows_and_honest_count():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 5))
    generalize(model, "canonical")
    prune(model, 0.75, scope="layer", granularity="row", fractions={"2": 0.0})
    plain = export(model)
    assert isinstance(plain[0], nn.Linear)
    zero_rows = (plain[0].weight == 0).all(dim=1)
    assert int(zero_rows.sum()) == 12
    assert count_parameters(model) == 4 * 20 + 16 + 16 * 5 + 5
    assert count_parameters(plain) == 20 * 16 + 16 + 16 * 5 + 5  # a plain model: all its parameters


def test_conv_rows_in_dct_stay_dense():
    model = cnn().eval()
    generalize(model, "dct")
    prune(model, 0.5, scope="layer", granularity="row")
    plain = export(model)
    assert isinstance(plain[0], nn.Conv2d) and isinstance(plain[3], nn.Conv2d)
    x = torch.randn(2, 1, 8, 8)
    torch.testing.assert_close(plain(x), model(x), atol=1e-5, rtol=0)


def test_count_parameters_element_pruning_and_other_params():
    model = cnn()
    plain_count = sum(p.numel() for p in model.parameters())
    assert count_parameters(model) == plain_count
    generalize(model, "dct")
    assert count_parameters(model) == plain_count
    prune(model, 0.5)
    kept = sum(int(m.sum()) for m in masks(model).values())
    others = 4 + 2 * 4 + 6 + 3  # conv biases, BatchNorm affine, linear bias
    assert count_parameters(model) == kept + others


def test_partially_generalized_model():
    model = mlp()
    generalize(model, "dct", layers=["3"])
    prune(model, 0.5)
    x = torch.randn(2, 1, 8, 8)
    plain = export(model)
    torch.testing.assert_close(plain(x), model(x), atol=1e-5, rtol=0)
    assert count_parameters(model) == 64 * 32 + 32 + (16 * 32) // 2 + 16 + 16 * 10 + 10


def test_offset_mode_exports_dense_and_counts_trained_coefficients():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 8), nn.ReLU(), nn.Linear(8, 3))
    generalize(model, "random", offset="init")
    set_masks(model, random_masks(model, 0.25, seed=0))
    with torch.no_grad():
        for m in generalized_layers(model).values():
            m.parametrizations.weight.original.add_(0.1)
    x = torch.randn(4, 10)
    plain = export(model)
    assert isinstance(plain[0], nn.Linear) and isinstance(plain[2], nn.Linear)
    torch.testing.assert_close(plain(x), model(x), atol=1e-5, rtol=0)
    assert count_parameters(model) == round(0.25 * 80) + 8 + round(0.25 * 24) + 3


def test_count_parameters_type_error():
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        count_parameters({"a": 1})


@pytest.mark.parametrize("name", ["dct", "random"])
def test_factorised_export_follows_the_mask_not_the_stored_coefficients(name):
    """Masked coefficients hold garbage and one kept row is partly masked: export must still match
    W = A_out^T (M * C) A_in, built here from the dense per-axis matrices."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 5))
    generalize(model, name, seed=3)
    prune(model, 0.75, scope="layer", granularity="row", fractions={"2": 0.0})  # keep 4 of 16 rows
    layer = model[0]
    gw = layer.parametrizations.weight[0]
    c = layer.parametrizations.weight.original
    with torch.no_grad():
        c[gw.mask == 0] = torch.randn(int((gw.mask == 0).sum()))  # garbage the forward never reads
    a_out, a_in = (t.matrix().to(c.dtype) for t in gw.basis.transforms)
    x = torch.randn(9, 20)
    reference = a_out.T @ (gw.mask * c).detach() @ a_in
    pair = export(model)[0]
    torch.testing.assert_close(pair[1].weight @ pair[0].weight, reference, atol=1e-5, rtol=0)
    torch.testing.assert_close(export(model)(x), model(x), atol=1e-5, rtol=0)
    # a kept row that is partly masked is no row mask: a dense export, still exact
    kept = int(gw.mask.any(dim=1).nonzero()[0])
    with torch.no_grad():
        gw.mask[kept, :5] = 0
    plain = export(model)
    assert isinstance(plain[0], nn.Linear)
    torch.testing.assert_close(plain[0].weight, a_out.T @ (gw.mask * c).detach() @ a_in, atol=1e-5, rtol=0)
