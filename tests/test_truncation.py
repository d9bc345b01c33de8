"""truncate_svd against numpy's SVD; multiply_adds against hand counts."""
import numpy as np
import pytest
import torch
from torch import nn

import glth_core
from glth_core.core.export import multiply_adds
from glth_core.analysis.truncation import ranks_from_densities, truncate_svd


def _mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 3))


def _rank_r(weight: np.ndarray, r: int) -> np.ndarray:
    u, s, vt = np.linalg.svd(weight.reshape(weight.shape[0], -1).astype(np.float64), full_matrices=False)
    return ((u[:, :r] * s[:r]) @ vt[:r]).reshape(weight.shape)


def test_truncated_weights_are_numpys_best_rank_r():
    model = _mlp()
    w0, w2 = model[0].weight.detach().numpy().copy(), model[2].weight.detach().numpy().copy()
    truncated = truncate_svd(model, {"0": 3, "2": 1})
    assert np.abs(truncated[0].weight.detach().numpy() - _rank_r(w0, 3)).max() < 1e-5
    assert np.abs(truncated[2].weight.detach().numpy() - _rank_r(w2, 1)).max() < 1e-5
    assert torch.equal(truncated[4].weight, model[4].weight)  # not named: unchanged
    assert np.array_equal(model[0].weight.detach().numpy(), w0)  # the input is not modified
    assert np.linalg.matrix_rank(truncated[0].weight.detach().double().numpy(), tol=1e-6) == 3


def test_truncated_model_exports_as_low_rank_factors_and_counts_them():
    model = _mlp()
    truncated = truncate_svd(model, {"0": 2})
    # layer 0: 2 * (12 + 8) = 40 < 96, biases 8 + 6 + 3, other weights 48 + 18
    assert glth_core.count_parameters(truncated) == 40 + 8 + 48 + 6 + 18 + 3
    plain = glth_core.export(truncated)
    assert isinstance(plain[0], nn.Sequential) and plain[0][0].out_features == 2
    x = torch.randn(5, 12)
    expected = x @ torch.from_numpy(_rank_r(model[0].weight.detach().numpy(), 2)).float().T + model[0].bias
    assert torch.allclose(plain[0](x), expected, atol=1e-5)


def test_full_rank_is_the_model_and_generalized_input_is_exported_first():
    model = _mlp()
    x = torch.randn(4, 12)
    full = truncate_svd(model, {"0": 8})
    assert torch.allclose(full(x), model(x), atol=1e-5)
    generalized = glth_core.generalize(_mlp(), "dct")
    truncated = truncate_svd(generalized, {"2": 2})
    effective = glth_core.export(generalized)[2].weight.detach().numpy()
    assert np.abs(truncated[2].weight.detach().numpy() - _rank_r(effective, 2)).max() < 1e-5


def test_conv_kernel_truncated_as_out_by_in_k_k_matrix():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(3, 5, 3))
    kernel = model[0].weight.detach().numpy().copy()
    truncated = truncate_svd(model, {"0": 2})
    assert np.abs(truncated[0].weight.detach().numpy() - _rank_r(kernel, 2)).max() < 1e-5


def test_truncate_svd_bad_arguments():
    with pytest.raises(ValueError, match="valid names"):
        truncate_svd(_mlp(), {"1": 2})
    with pytest.raises(ValueError, match=r"integer in \[0, 6\]"):
        truncate_svd(_mlp(), {"2": 7})
    with pytest.raises(TypeError, match="ranks"):
        truncate_svd(_mlp(), {})


def test_ranks_from_densities():
    model = _mlp()
    assert ranks_from_densities(model, {"0": 0.5, "2": 1 / 6, "4": 1.0}) == {"0": 4, "2": 1}
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ranks_from_densities(model, {"0": 1.5})


# --------------------------------------------------------------------------- multiply-adds


def test_multiply_adds_of_a_tiny_conv_net_by_hand():
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(2 * 2 * 2, 3))
    # conv: 2 filters x 9 taps at 4 x 4 positions = 288; linear: 8 x 3 = 24
    assert multiply_adds(net, (1, 4, 4)) == 288 + 24
    strided = nn.Sequential(nn.Conv2d(4, 6, 3, stride=2, groups=2))  # 6 x 2 x 9 taps at 3 x 3 positions on 7x7
    assert multiply_adds(strided, (4, 7, 7)) == 6 * 2 * 9 * 9


def test_multiply_adds_lenet300_and_nonzero():
    lenet = glth_core.build_model("lenet300", (1, 28, 28), 10, seed=0)
    assert multiply_adds(lenet, (1, 28, 28)) == 784 * 300 + 300 * 100 + 100 * 10
    generalized = glth_core.generalize(_mlp(), "canonical")
    glth_core.prune(generalized, 0.5, scope="layer")
    kept = sum(int(m.ne(0).sum()) for m in glth_core.masks(generalized).values())
    assert multiply_adds(generalized, (12,), nonzero=True) == kept
    assert multiply_adds(generalized, (12,)) == 96 + 48 + 18
    assert generalized.training  # modes restored


def test_multiply_adds_bad_input_shape():
    with pytest.raises(TypeError, match="input_shape"):
        multiply_adds(_mlp(), None)
