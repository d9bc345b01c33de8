"""Fast paths (FFT DCT, Kronecker Hadamard and random, activation-side Linear forward, eval cache)
against dense references built independently: scipy's DCT matrix, scipy.linalg.hadamard, np.kron."""
import copy
import math

import numpy as np
import pytest
import scipy.fft
import scipy.linalg
import torch
from torch import nn
from torch.nn import functional as F

from glth_core.core.bases import basis as make_basis
from glth_core.core.parametrization import (STRATEGIES, analyse_inputs, generalize, generalized_layers, inputs_analysed,
                                       plan)
from glth_core.core.pruning import prune
from glth_core.core.seeding import derive_seed
from glth_core.core.transforms import (DCT_DENSE_MAX, KRONECKER_DENSE_MAX, RANDOM_DENSE_MAX, DCTTransform, KroneckerTransform,
                                  MatrixTransform, dct_transform, haar_orthogonal_matrix,
                                  hadamard_transform, random_transform)


def scipy_dct(n):
    """Orthonormal DCT-II analysis matrix from scipy: D @ x == scipy.fft.dct(x, norm='ortho')."""
    return scipy.fft.dct(np.eye(n), type=2, norm="ortho", axis=0)


def hadamard_reference(n, seed):
    """The documented randomised Hadamard matrix from scipy.linalg.hadamard and np.kron."""
    p = n & -n
    m = n // p
    r = haar_orthogonal_matrix(m, derive_seed(seed, "odd-part")).numpy() if m > 1 else np.ones((1, 1))
    g = torch.Generator().manual_seed(derive_seed(seed, "signs"))
    signs = (2 * torch.randint(0, 2, (n,), generator=g, dtype=torch.int64) - 1).double().numpy()
    return np.kron(scipy.linalg.hadamard(p) / math.sqrt(p), r) * signs[None, :]


def random_reference(n, seed):
    if n <= RANDOM_DENSE_MAX:
        return haar_orthogonal_matrix(n, seed).numpy()
    p = max(d for d in range(1, math.isqrt(n) + 1) if n % d == 0)
    return np.kron(haar_orthogonal_matrix(p, derive_seed(seed, "kronecker", 0)).numpy(),
                   haar_orthogonal_matrix(n // p, derive_seed(seed, "kronecker", 1)).numpy())


def axis_reference(name, n, seed):
    if name == "dct":
        return scipy_dct(n)
    if name == "hadamard":
        return hadamard_reference(n, seed)
    if name == "random":
        return random_reference(n, seed)
    return np.eye(n)


def probe(transform, n, dim_size=3):
    """The dense matrix a transform applies, by applying it to unit vectors along a middle axis."""
    eye = torch.eye(n, dtype=torch.float64)[:, :, None].expand(n, n, dim_size).contiguous()  # (batch, n, 3)
    fwd = transform(eye, 1)[:, :, 0].T.numpy()
    inv = transform.inverse(eye, 1)[:, :, 0].T.numpy()
    return fwd, inv


# ---- per-axis transforms ------------------------------------------------------------------

@pytest.mark.parametrize("n", [2, 3, 5, 8, 31, 300, DCT_DENSE_MAX + 1, 600])
def test_fft_dct_equals_scipy_matrix(n):
    t = DCTTransform(n, dtype=torch.float64)
    fwd, inv = probe(t, n)
    np.testing.assert_allclose(fwd, scipy_dct(n), atol=1e-12)
    np.testing.assert_allclose(inv, scipy_dct(n).T, atol=1e-12)
    # float32, last axis, batch of rows
    x = np.random.default_rng(n).standard_normal((4, n)).astype(np.float32)
    t32 = DCTTransform(n)
    np.testing.assert_allclose(t32(torch.from_numpy(x), -1).numpy(), scipy.fft.dct(x, norm="ortho", axis=-1),
                               atol=2e-5, rtol=0)
    xt = np.ascontiguousarray(x.T)  # (n, 4): along the first axis
    np.testing.assert_allclose(t32.inverse(torch.from_numpy(xt), 0).numpy(),
                               scipy.fft.idct(xt, norm="ortho", axis=0), atol=2e-5, rtol=0)


@pytest.mark.parametrize("n", [2, 5, 300, 600])
def test_torch_fft_dct_equals_scipy(n):
    """Makhoul's algorithm in torch operations (the path off the CPU) against scipy's DCT, both directions,
    on the last axis and a middle one: on a CPU the transforms call pocketfft, so this path is checked here."""
    t = DCTTransform(n, dtype=torch.float64)
    x = np.random.default_rng(n).standard_normal((3, n, 2))
    y = t._apply_torch_fft(torch.from_numpy(x), 1, False).numpy()
    np.testing.assert_allclose(y, scipy.fft.dct(x, norm="ortho", axis=1), atol=1e-12, rtol=0)
    z = t._apply_torch_fft(torch.from_numpy(np.ascontiguousarray(x[:, :, 0])), 1, True).numpy()
    np.testing.assert_allclose(z, scipy.fft.idct(x[:, :, 0], norm="ortho", axis=1), atol=1e-12, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_direct_pocketfft_call_equals_scipy_public_dct_bit_for_bit(dtype, monkeypatch):
    """The engine calls scipy's C++ pocketfft module directly; the public scipy.fft.dct/idct (its fallback
    when that module is missing) must give the same bits, along a middle axis too."""
    from glth_core.core import fast_transforms
    x = torch.randn(5, 300, 3, dtype=dtype)
    direct = [fast_transforms._pocketfft_dct(x, 1, inverse) for inverse in (False, True)]
    np.testing.assert_array_equal(direct[0].numpy(), scipy.fft.dct(x.numpy(), type=2, norm="ortho", axis=1))
    np.testing.assert_array_equal(direct[1].numpy(), scipy.fft.idct(x.numpy(), type=2, norm="ortho", axis=1))
    monkeypatch.setattr(fast_transforms, "_pypocketfft", None)
    for inverse, ref in zip((False, True), direct):
        assert torch.equal(fast_transforms._pocketfft_dct(x, 1, inverse), ref)


def test_pocketfft_dct_does_not_depend_on_threads():
    """Rows are transformed independently: one thread and two give the same bits (results are reproducible
    whatever torch's thread count)."""
    from glth_core.core.fast_transforms import POCKETFFT_PARALLEL_MIN
    x = torch.randn(POCKETFFT_PARALLEL_MIN // 300 + 1, 300)  # large enough for pocketfft to use the threads
    t = DCTTransform(300)
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = t._apply_raw(x, 1, False)
        torch.set_num_threads(2)
        two = t._apply_raw(x, 1, False)
    finally:
        torch.set_num_threads(previous)
    assert torch.equal(one, two)


def test_dense_dct_only_for_few_rows_on_a_cpu():
    """The measured cost model: LeNet's 300-unit axis uses the dense matrix for a row or two, the FFT for a
    batch; a short axis (64) the dense matrix even at 512 rows; cost grows with rows in both models."""
    from glth_core.core.fast_transforms import dense_is_cheaper
    assert dense_is_cheaper(1, 300) and not dense_is_cheaper(60, 300) and not dense_is_cheaper(512, 300)
    assert dense_is_cheaper(512, 64)
    crossover = [rows for rows in range(1, 600) if not dense_is_cheaper(rows, 300)][0]
    assert all(not dense_is_cheaper(rows, 300) for rows in range(crossover, 600))
    t = DCTTransform(300)
    assert t._uses_dense(torch.zeros(1, 300)) and not t._uses_dense(torch.zeros(60, 300))


def test_dct_transform_picks_fft_above_threshold_with_linear_memory():
    assert isinstance(dct_transform(DCT_DENSE_MAX - 1), MatrixTransform)  # 511 = 7 * 73: not FFT-friendly
    assert isinstance(dct_transform(100), MatrixTransform)  # short: dense is faster
    assert isinstance(dct_transform(300), DCTTransform)  # 300 = 2^2 3 5^2, long enough
    assert isinstance(dct_transform(299), MatrixTransform)  # 13 * 23
    t = dct_transform(4 * DCT_DENSE_MAX + 3)
    assert isinstance(t, DCTTransform)
    n = t.size
    assert sum(b.numel() for b in t.buffers()) <= 10 * n  # O(n), not n^2
    assert t.matrix().shape == (n, n)


@pytest.mark.parametrize("n", [2, 7, 300, 301])
def test_fft_dct_gradients_match_dense_product(n):
    """The custom backward (the opposite transform) against autograd through the scipy matrix."""
    a = torch.from_numpy(scipy_dct(n))
    t = DCTTransform(n, dtype=torch.float64)
    for dim, shape in ((1, (3, n)), (0, (n, 3))):
        x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
        for inverse in (False, True):
            m = a.T if inverse else a
            ref = x @ m.T if dim == 1 else m @ x
            out = t.inverse(x, dim) if inverse else t(x, dim)
            torch.testing.assert_close(out, ref, atol=1e-12, rtol=0)
            g = torch.randn_like(out)
            gx, = torch.autograd.grad(out, x, g)
            gref, = torch.autograd.grad(ref, x, g)
            torch.testing.assert_close(gx, gref, atol=1e-12, rtol=0)
    y = torch.randn(2, n, dtype=torch.float64, requires_grad=True)
    for f in (lambda v: t(v, 1), lambda v: t.inverse(v, 1)):
        assert torch.autograd.gradcheck(f, (y,))
        assert torch.autograd.gradgradcheck(f, (y,))


@pytest.mark.parametrize("n", [65, 96, 100, 300, KRONECKER_DENSE_MAX + 4, 784, 1024])
def test_fast_hadamard_equals_scipy_hadamard_kron(n):
    t = hadamard_transform(n, 7, dtype=torch.float64)
    assert isinstance(t, MatrixTransform if n <= KRONECKER_DENSE_MAX else KroneckerTransform)
    fwd, inv = probe(t, n, dim_size=1)
    ref = hadamard_reference(n, 7)
    np.testing.assert_allclose(fwd, ref, atol=1e-12)
    np.testing.assert_allclose(inv, ref.T, atol=1e-12)
    if n > KRONECKER_DENSE_MAX:
        p = n & -n
        m = n // p
        assert sum(b.numel() for b in t.buffers()) <= n + 2 * 32 * p + m * m  # signs + Sylvester blocks + odd part
    else:
        assert sum(b.numel() for b in t.buffers()) <= KRONECKER_DENSE_MAX * n


def test_fast_hadamard_power_of_two_memory_is_linear():
    assert sum(b.numel() for b in hadamard_transform(8192, 0).buffers()) <= 3 * 8192
    n = 2048
    x = torch.randn(2, n, dtype=torch.float64)
    signs = hadamard_reference(n, 0)[0] * math.sqrt(n)  # first row of H is all ones
    ref = scipy.linalg.hadamard(n) / math.sqrt(n) * signs[None, :]
    np.testing.assert_allclose(hadamard_transform(n, 0, torch.float64)(x, 1).numpy(), x.numpy() @ ref.T, atol=1e-10)


@pytest.mark.parametrize("n", [50, 1100])
def test_random_transform_dense_or_kronecker(n):
    t = random_transform(n, 3, dtype=torch.float64)
    assert isinstance(t, MatrixTransform if n <= RANDOM_DENSE_MAX else KroneckerTransform)
    fwd, inv = probe(t, n, dim_size=1)
    ref = random_reference(n, 3)
    np.testing.assert_allclose(fwd, ref, atol=1e-12)
    np.testing.assert_allclose(inv, ref.T, atol=1e-12)
    np.testing.assert_allclose(ref @ ref.T, np.eye(n), atol=1e-10)
    if n > RANDOM_DENSE_MAX:
        assert sum(b.numel() for b in t.buffers()) < n * n / 10


# ---- generalized Linear: every path against the dense Kronecker reference ------------------------

LINEAR_CASES = {
    # (in, out, image_shape)
    "odd": (35, 9, (1, 5, 7)),
    "odd_flat": (35, 9, None),
    "fft": (600, 520, None),  # DCT by FFT on both axes, Hadamard 600 = 8 * 75, 520 = 8 * 65
    "image_channels": (2 * 24 * 25, 96, (2, 24, 25)),
    "kron_random": (1100, 12, None),  # random input axis is a Kronecker product of two Haar factors
}


def dense_reference_matrices(name, out_features, in_features, image_shape, layer_seed):
    """(A_out, A_in) float64 numpy, built with scipy / np.kron from the documented per-axis seeds."""
    if name == "canonical":
        return np.eye(out_features), np.eye(in_features)
    seed = lambda j: derive_seed(layer_seed, name, "axis", j)  # noqa: E731
    a_out = axis_reference(name, out_features, seed(0))
    if image_shape is None:
        return a_out, axis_reference(name, in_features, seed(1))
    c, h, w = image_shape
    return a_out, np.kron(np.eye(c), np.kron(axis_reference(name, h, seed(2)), axis_reference(name, w, seed(3))))


def make_linear(name, case, seed=0):
    in_features, out_features, image_shape = LINEAR_CASES[case]
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(in_features, out_features))
    generalize(model, name, image_shape=image_shape, seed=seed)
    prune(model, 0.3)  # a nontrivial mask
    return model, image_shape


def reference_forward(model, name, image_shape, x, bias=None):
    """y and dL/dC for L = sum(y * probe) from W = A_out^T (M * C) A_in, float64, numpy-built matrices."""
    layer = model[0]
    gw = layer.parametrizations.weight[0]
    out_features, in_features = gw.mask.shape
    a_out, a_in = dense_reference_matrices(name, out_features, in_features, image_shape, derive_seed(0, "layer", "0"))
    c = layer.parametrizations.weight.original.detach().double().requires_grad_(True)
    w = torch.from_numpy(a_out).T @ (gw.mask.double() * c) @ torch.from_numpy(a_in)
    y = F.linear(x.double(), w, layer.bias.detach().double() if bias is None else bias)
    return y, c


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("case", list(LINEAR_CASES))
@pytest.mark.parametrize("name", ["dct", "hadamard", "random", "canonical"])
def test_linear_forward_and_coefficient_gradient_match_dense_reference(name, case, strategy):
    model, image_shape = make_linear(name, case)
    layer = model[0]
    for gw in layer.parametrizations.weight:
        gw.strategy = strategy
    in_features = layer.in_features
    batch = 5 if strategy != "weight" else 40
    x = torch.randn(batch, in_features, generator=torch.Generator().manual_seed(2))
    weights = torch.randn(batch, layer.out_features, generator=torch.Generator().manual_seed(3))
    x_ref = x.double().requires_grad_(True)
    bias_ref = layer.bias.detach().double().requires_grad_(True)
    y_ref, c_ref = reference_forward(model, name, image_shape, x_ref, bias_ref)
    (y_ref * weights.double()).sum().backward()
    tol = dict(atol=2e-4, rtol=1e-4)
    # train mode, gradients of the coefficients, the bias and (for a hidden layer) the input
    model.train()
    for x_needs_grad in (False, True):
        layer.zero_grad(set_to_none=True)
        x_in = x.clone().requires_grad_(x_needs_grad)
        y = model(x_in)
        (y * weights).sum().backward()
        torch.testing.assert_close(y.double(), y_ref.detach(), **tol)
        torch.testing.assert_close(layer.parametrizations.weight.original.grad.double(), c_ref.grad, **tol)
        torch.testing.assert_close(layer.bias.grad.double(), bias_ref.grad, **tol)
        if x_needs_grad:
            torch.testing.assert_close(x_in.grad.double(), x_ref.grad, **tol)
    # eval mode without gradient (cached weight), twice (cache hit)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x).double(), y_ref.detach(), **tol)
        torch.testing.assert_close(model(x).double(), y_ref.detach(), **tol)


@pytest.mark.parametrize("name", ["dct", "hadamard", "random"])
def test_auto_plan_picks_both_sides_and_matches_weight_side(name):
    model, _ = make_linear(name, "fft")
    layer = model[0]
    assert plan(layer, 4) == {"input": "activation", "output": "activation"}
    assert plan(layer, 4000) == {"input": "weight", "output": "weight"}
    assert plan(layer, 600, input_requires_grad=False) == {"input": "activation", "output": "weight"}
    ref = copy.deepcopy(model)
    ref[0].parametrizations.weight[0].strategy = "weight"
    for batch in (4, 600, 700):
        x = torch.randn(batch, 600, requires_grad=batch == 4)
        y, y_ref = model(x), ref(x)
        torch.testing.assert_close(y, y_ref, atol=2e-5, rtol=1e-4)
        inputs = [model[0].parametrizations.weight.original] + ([x] if batch == 4 else [])
        ref_inputs = [ref[0].parametrizations.weight.original] + ([x] if batch == 4 else [])
        grads = torch.autograd.grad(y.square().sum(), inputs)
        ref_grads = torch.autograd.grad(y_ref.square().sum(), ref_inputs)
        for g, g_ref in zip(grads, ref_grads):  # coefficients, and the input on the activation side
            torch.testing.assert_close(g, g_ref, atol=5e-4, rtol=1e-4)


def test_leading_axes_and_no_bias():
    torch.manual_seed(0)
    model = generalize(nn.Sequential(nn.Linear(30, 20, bias=False)), "dct")
    x = torch.randn(2, 3, 30)
    w = torch.from_numpy(scipy_dct(20).T @ model[0].parametrizations.weight.original.detach().double().numpy()
                         @ scipy_dct(30))
    torch.testing.assert_close(model(x).double(), x.double() @ w.T, atol=1e-5, rtol=0)


# ---- conv ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["dct", "hadamard", "random"])
def test_conv_train_and_eval_match_dense_reference(name):
    torch.manual_seed(0)
    model = generalize(nn.Sequential(nn.Conv2d(3, 70, 3, padding=1)), name, seed=0)
    prune(model, 0.4)
    conv = model[0]
    gw = conv.parametrizations.weight[0]
    seed = derive_seed(0, "layer", "0")
    mats = [torch.from_numpy(axis_reference(name, d, derive_seed(seed, name, "axis", j))) for j, d in
            enumerate((70, 3, 3, 3))]
    if name == "dct":  # generalize's default for conv kernels: a 2-D DCT of the spatial axes only
        mats[0], mats[1] = torch.eye(70, dtype=torch.float64), torch.eye(3, dtype=torch.float64)
    c = conv.parametrizations.weight.original.detach().double().requires_grad_(True)
    w = torch.einsum("ai,bj,ck,dl,abcd->ijkl", *mats, gw.mask.double() * c)  # synthesis along the axes
    x = torch.randn(2, 3, 6, 6)
    y_ref = F.conv2d(x.double(), w, conv.bias.detach().double(), padding=1)
    y_ref.square().sum().backward()
    model.train()
    y = model(x)
    y.square().sum().backward()
    torch.testing.assert_close(y.double(), y_ref.detach(), atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(conv.parametrizations.weight.original.grad.double(), c.grad, atol=5e-4, rtol=1e-4)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x).double(), y_ref.detach(), atol=2e-5, rtol=1e-4)


# ---- the evaluation cache -------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["linear", "conv"])
def test_eval_cache_is_invalidated_by_steps_pruning_and_loading(kind):
    torch.manual_seed(0)
    if kind == "linear":
        model = nn.Sequential(nn.Flatten(), nn.Linear(64, 20), nn.ReLU(), nn.Linear(20, 5))
    else:
        model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))
    generalize(model, "dct")
    x = torch.randn(7, 1, 8, 8)

    def uncached():
        ref = copy.deepcopy(model)
        for m in generalized_layers(ref).values():
            m.parametrizations.weight[0].strategy = "weight"
        with torch.no_grad():
            return ref.train()(x)  # train mode without grad: cached path too, fresh copy

    def check():
        model.eval()
        with torch.no_grad():
            first, second = model(x), model(x)
        assert torch.equal(first, second)
        torch.testing.assert_close(first, uncached(), atol=1e-5, rtol=0)
        return first

    before = check()
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    model.train()
    model(x).square().mean().backward()
    opt.step()
    after_step = check()
    assert not torch.allclose(before, after_step)
    prune(model, 0.5)
    after_prune = check()
    assert not torch.allclose(after_step, after_prune)
    fresh = copy.deepcopy(model)
    with torch.no_grad():
        for p in fresh.parameters():
            p.mul_(0.5)
    model.load_state_dict(fresh.state_dict())
    after_load = check()
    assert not torch.allclose(after_prune, after_load)
    model.double()  # new tensors (and dtype): the cache must follow
    with torch.no_grad():
        assert model.eval()(x.double()).dtype == torch.float64


def test_cached_weight_reused_without_recomputation():
    model = generalize(nn.Sequential(nn.Linear(40, 30)), "hadamard").eval()
    gw = model[0].parametrizations.weight[0]
    calls = []
    gw.register_forward_hook(lambda *a: calls.append(1))
    x = torch.randn(3, 40)
    with torch.no_grad():
        for _ in range(3):
            model(x)
    assert len(calls) == 1
    model(x).sum().backward()  # gradient needed: no cache
    assert len(calls) >= 1 and model[0].parametrizations.weight.original.grad is not None


# ---- compatibility: weight property, export, old state dicts ------------------------------------

def test_weight_property_and_export_unchanged_by_fast_forward():
    from glth_core.core.export import export
    torch.manual_seed(0)
    model = generalize(nn.Sequential(nn.Linear(700, 16), nn.ReLU(), nn.Linear(16, 3)), "dct")
    prune(model, 0.5)
    x = torch.randn(4, 700)
    w = model[0].weight.detach().double()
    c = model[0].parametrizations.weight.original.detach().double().numpy()
    m = model[0].parametrizations.weight[0].mask.double().numpy()
    ref = scipy.fft.idctn(c * m, norm="ortho")  # synthesis = inverse 2-D DCT
    np.testing.assert_allclose(w.numpy(), ref, atol=1e-5)
    plain = export(model)
    torch.testing.assert_close(plain(x), model(x), atol=1e-5, rtol=0)
    assert type(plain[0]) is nn.Linear and plain[0].forward.__func__ is nn.Linear.forward


def legacy_state_dict(model):
    """The state dict as it was when every transform stored its dense ``analysis`` matrix."""
    state = model.state_dict()
    for name, module in model.named_modules():
        if hasattr(module, "matrix") and not getattr(module, "is_identity", True):
            state.setdefault(f"{name}.analysis", module.matrix().detach().clone())
    return state


def test_legacy_state_dict_with_dense_matrices_loads_and_mismatch_is_refused():
    torch.manual_seed(0)
    model = generalize(nn.Sequential(nn.Linear(600, 100), nn.Linear(100, 70)), "hadamard")
    state = legacy_state_dict(model)
    assert any(k.endswith("analysis") and v.shape == (600, 600) for k, v in state.items())
    fresh = generalize(nn.Sequential(nn.Linear(600, 100), nn.Linear(100, 70)), "hadamard")
    fresh.load_state_dict(state)
    x = torch.randn(3, 600)
    torch.testing.assert_close(fresh(x), model(x), atol=1e-5, rtol=0)
    other = generalize(nn.Sequential(nn.Linear(600, 100), nn.Linear(100, 70)), "hadamard", seed=1)
    with pytest.raises(ValueError, match="basis matrix that differs"):
        other.load_state_dict(state)


def test_basis_memory_is_linear_for_dct_and_hadamard():
    shape = (1024, 4096)
    for name in ("dct", "hadamard"):
        b = make_basis(name, shape)
        assert sum(t.numel() for t in b.buffers()) <= 10 * sum(shape), name
    b = make_basis("random", shape)
    assert sum(t.numel() for t in b.buffers()) <= sum(d * d for d in shape)


def test_state_dict_without_seeded_dense_matrices_loads():
    """Checkpoints of glth_core 0.1.0 hold no matrix for Hadamard axes of 65..512 (then Kronecker, unsaved)."""
    torch.manual_seed(0)
    model = generalize(nn.Sequential(nn.Linear(300, 100), nn.Linear(100, 70)), "hadamard")
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("analysis")}
    assert len(state) < len(model.state_dict())
    fresh = generalize(nn.Sequential(nn.Linear(300, 100), nn.Linear(100, 70)), "hadamard")
    with torch.no_grad():
        for p in fresh.parameters():
            p.zero_()
    fresh.load_state_dict(state)
    x = torch.randn(3, 300)
    torch.testing.assert_close(fresh(x), model(x), atol=1e-5, rtol=0)
    svd = generalize(nn.Sequential(nn.Linear(30, 20)), "svd")
    fitted = {k: v for k, v in svd.state_dict().items() if not k.endswith("analysis")}
    with pytest.raises(RuntimeError, match="Missing key"):
        generalize(nn.Sequential(nn.Linear(30, 20)), "svd").load_state_dict(fitted)


def test_activation_side_layer_has_second_derivatives():
    """A Hessian-vector product through the one-node fast path equals the plain-autograd weight side."""
    model, _ = make_linear("dct", "odd")
    ref = copy.deepcopy(model)
    ref[0].parametrizations.weight[0].strategy = "weight"
    x = torch.randn(3, 35)
    assert plan(model[0], 3) == {"input": "activation", "output": "activation"}
    v = torch.randn(9, 35)
    hvps = []
    for m in (model, ref):
        x_in = x.clone().requires_grad_(True)
        c = m[0].parametrizations.weight.original
        loss = m(x_in).tanh().square().sum()
        gc, gx = torch.autograd.grad(loss, (c, x_in), create_graph=True)
        hvps.append(torch.autograd.grad((gc * v).sum() + gx.square().sum(), (c, x_in)))
    for h, h_ref in zip(*hvps):
        torch.testing.assert_close(h, h_ref, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("case", ["image_channels", "fft", "kron_random", "odd_flat"])
@pytest.mark.parametrize("name", ["dct", "hadamard", "random", "canonical"])
def test_inputs_analysed_layer_matches_dense_reference(name, case):
    # inputs analysed once (x A_in^T, here by the numpy reference matrix) give the layer's outputs and gradients
    model, image_shape = make_linear(name, case)
    layer = model[0]
    x = torch.randn(6, layer.in_features, generator=torch.Generator().manual_seed(2))
    bias_ref = layer.bias.detach().double().requires_grad_(True)
    y_ref, c_ref = reference_forward(model, name, image_shape, x, bias_ref)
    (y_ref * y_ref.detach()).sum().backward()
    _, a_in = dense_reference_matrices(name, layer.out_features, layer.in_features, image_shape,
                                       derive_seed(0, "layer", "0"))
    analysed = analyse_inputs(layer, x)
    torch.testing.assert_close(analysed.double(), x.double() @ torch.from_numpy(a_in).T, atol=1e-5, rtol=1e-5)
    for grad_enabled in (True, False):
        layer.zero_grad(set_to_none=True)
        with torch.set_grad_enabled(grad_enabled), inputs_analysed(layer):
            y = model(analysed)
        torch.testing.assert_close(y.double(), y_ref.detach(), atol=2e-4, rtol=1e-4)
        if grad_enabled:
            (y * y.detach()).sum().backward()
            torch.testing.assert_close(layer.parametrizations.weight.original.grad.double(), c_ref.grad,
                                       atol=2e-4, rtol=1e-4)
            torch.testing.assert_close(layer.bias.grad.double(), bias_ref.grad, atol=2e-4, rtol=1e-4)
    assert not layer.parametrizations.weight[0].inputs_analysed  # restored on exit
    torch.testing.assert_close(model(x).double(), y_ref.detach(), atol=2e-4, rtol=1e-4)


def test_inputs_analysed_keeps_image_shapes_and_restores_after_errors():
    torch.manual_seed(0)
    model = generalize(nn.Sequential(nn.Flatten(), nn.Linear(2 * 24 * 25, 7)), "dct", image_shape=(2, 24, 25))
    layer = model[1]
    x = torch.randn(5, 2, 24, 25)
    analysed = analyse_inputs(layer, x, chunk=2)  # several chunks
    assert analysed.shape == x.shape and analysed.is_contiguous()
    with torch.no_grad():
        expected = model(x)
    with inputs_analysed(layer):
        torch.testing.assert_close(model(analysed), expected, atol=1e-5, rtol=1e-4)
    with pytest.raises(RuntimeError, match="boom"):
        with inputs_analysed(layer):
            raise RuntimeError("boom")
    assert not layer.parametrizations.weight[0].inputs_analysed


def test_inputs_analysed_refuses_layers_it_cannot_serve():
    conv = generalize(nn.Sequential(nn.Conv2d(2, 3, 3)), "dct")
    with pytest.raises(ValueError, match="nn.Linear"):
        with inputs_analysed(conv[0]):
            pass
    offset = generalize(nn.Sequential(nn.Linear(8, 4)), "random", offset="init")
    with pytest.raises(ValueError, match="offset"):
        analyse_inputs(offset[0], torch.randn(3, 8))
    with pytest.raises(ValueError, match="not generalized"):
        inputs_analysed(nn.Linear(3, 2)).__enter__()
    with pytest.raises(ValueError, match=r"one of \['0'\].*not the whole model"):
        inputs_analysed(offset).__enter__()
    layer = generalize(nn.Sequential(nn.Linear(8, 4)), "dct")[0]
    with pytest.raises(ValueError, match="8 numbers per row"):
        analyse_inputs(layer, torch.randn(3, 9))


@pytest.mark.parametrize("make", [
    lambda d: MatrixTransform(haar_orthogonal_matrix(7, 0)), lambda d: DCTTransform(300, dtype=d),
    lambda d: DCTTransform(1024, dtype=d), lambda d: hadamard_transform(1024, seed=1, dtype=d),
    lambda d: random_transform(1100, seed=2, dtype=d)],
    ids=["matrix", "dct-300-dense-for-few-rows", "dct-1024-fft", "kron-hadamard", "kron-random"])
def test_synthesize_rows_is_inverse_plus_bias(make):
    transform = make(torch.float64)
    n = transform.size
    g = torch.Generator().manual_seed(0)
    z = torch.randn(4, n, dtype=torch.float64, generator=g)
    bias = torch.randn(n, dtype=torch.float64, generator=g)
    # independent references: scipy's DCT, scipy.linalg.hadamard and np.kron of the documented factors
    kind = {DCTTransform: "dct", MatrixTransform: "matrix"}.get(type(transform), getattr(transform, "kind", None))
    a = (torch.from_numpy(axis_reference(kind, n, 1 if kind == "hadamard" else 2)) if kind != "matrix"
         else haar_orthogonal_matrix(7, 0))
    torch.testing.assert_close(transform.synthesize_rows(z, bias), z @ a + bias, atol=1e-10, rtol=0)
    torch.testing.assert_close(transform.synthesize_rows(z), z @ a, atol=1e-10, rtol=0)


# ---- issue 23: every implementation inside a LeNet step, the evaluation cache across calls, contiguous kernels

def test_lenet_step_gradients_match_dense_synthesis_at_every_batch_size():
    """A LeNet-300-100 step in each rotated basis, engine-style, at batches 60, 128 and 512 (each picks
    different implementations: dense products, FFT, Kronecker steps, weight side): the gradients of the
    coefficients equal those of the same model that synthesises its weights (strategy 'weight')."""
    from glth_core.engine.hparams import ImpHparams, update
    from glth_core.engine.lottery import generalized_model
    for basis in ("dct", "hadamard", "random"):
        fast = generalized_model(update(ImpHparams(), model="lenet300", basis=basis), (1, 28, 28), 10).double()
        slow = copy.deepcopy(fast)
        for m in generalized_layers(slow).values():
            m.parametrizations.weight[0].strategy = "weight"
        for batch in (60, 128, 512):
            x = torch.randn(batch, 1, 28, 28, dtype=torch.float64)
            y = torch.randint(0, 10, (batch,))
            first = fast.fc1
            with inputs_analysed(first):
                F.cross_entropy(fast(analyse_inputs(first, x)), y).backward()
            F.cross_entropy(slow(x), y).backward()
            for (name, p), q in zip(fast.named_parameters(), slow.parameters()):
                # the basis tables were built in float32 (then .double()): agreement to their round-off
                torch.testing.assert_close(p.grad, q.grad, atol=1e-7 * q.grad.abs().max().item(), rtol=1e-6,
                                           msg=f"{basis} {batch} {name}")
                p.grad = q.grad = None


def test_evaluate_reuses_synthesised_weights_across_calls_until_a_step():
    from glth_core.engine.training import evaluate
    torch.manual_seed(0)
    model = generalize(nn.Sequential(nn.Flatten(), nn.Linear(64, 20), nn.ReLU(), nn.Linear(20, 5)), "dct")
    calls = []
    for m in generalized_layers(model).values():
        m.parametrizations.weight[0].register_forward_hook(lambda *a: calls.append(1))
    x, y = torch.randn(50, 1, 8, 8), torch.randint(0, 5, (50,))
    first = evaluate(model, x, y, batch_size=7)
    assert len(calls) == 2  # one synthesis per layer for the 8 batches
    assert evaluate(model, x, y, batch_size=7) == first and len(calls) == 2  # nothing synthesised again
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    F.cross_entropy(model(x), y).backward()
    opt.step()
    calls.clear()
    after = evaluate(model, x, y, batch_size=7)
    assert len(calls) == 2 and after != first
    # the same numbers as parametrize.cached() (what evaluate used before)
    from torch.nn.utils import parametrize
    model.eval()
    with torch.no_grad(), parametrize.cached():
        logits = torch.cat([model(x[i:i + 7]) for i in range(0, 50, 7)])
    assert after[1] == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-6)


def test_evaluate_keeps_parametrize_cached_for_other_parametrizations():
    from torch.nn.utils import parametrize
    from glth_core.core.parametrization import serves_cached_weights
    from glth_core.engine.training import evaluate

    class Double(nn.Module):
        def forward(self, w):
            return 2 * w

    model = nn.Sequential(nn.Linear(6, 4), nn.Linear(4, 3))
    generalize(model, "dct", layers=["1"])
    parametrize.register_parametrization(model[0], "weight", Double())
    assert serves_cached_weights(model[1]) and not serves_cached_weights(model[0])
    calls = []
    model[0].parametrizations.weight[0].register_forward_hook(lambda *a: calls.append(1))
    evaluate(model, torch.randn(10, 6), torch.randint(0, 3, (10,)), batch_size=2)
    assert len(calls) == 1  # five batches, one synthesis: parametrize.cached() is on


@pytest.mark.parametrize("fused", [True, False])
def test_cached_and_training_conv_kernels_are_contiguous_and_exact(fused, monkeypatch):
    from glth_core.core import bases
    if not fused:  # axis by axis: the synthesis leaves permuted strides, the reason for the copy
        monkeypatch.setattr(bases, "FUSED_AXES_MAX", 1)
    torch.manual_seed(0)
    conv = generalize(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1)), "dct")[0]
    assert conv.weight.is_contiguous() == fused
    gw = conv.parametrizations.weight[0]
    assert gw.cached_weight(conv.parametrizations.weight.original).is_contiguous()
    x = torch.randn(2, 3, 6, 6)
    c = conv.parametrizations.weight.original
    w_ref = torch.from_numpy(scipy.fft.idctn(c.detach().double().numpy(), norm="ortho", axes=(2, 3))).float()
    out = conv(x)
    torch.testing.assert_close(out, F.conv2d(x, w_ref, conv.bias, padding=1), atol=1e-5, rtol=0)
    g = torch.randn_like(out)
    out.backward(g)
    w = w_ref.clone().requires_grad_()
    F.conv2d(x, w, conv.bias, padding=1).backward(g)
    g_ref = scipy.fft.dctn(w.grad.double().numpy(), norm="ortho", axes=(2, 3))  # dL/dC = analysis(dL/dW)
    np.testing.assert_allclose(c.grad.double().numpy(), g_ref, atol=1e-4)


@pytest.mark.parametrize("name, axes, tail", [("dct", (2, 3), (2, 3)), ("dct", None, (1, 2, 3)),
                                              ("random", None, (1, 2, 3)), ("hadamard", None, (1, 2, 3))])
def test_kernel_axes_fused_into_one_kronecker_product(name, axes, tail):
    """Conv kernels apply their small trailing axes as one Kronecker matrix (FUSED_AXES_MAX): synthesis and
    analysis equal the per-axis products written with einsum, forward and backward; LeNet's axes stay apart."""
    from glth_core.core.bases import basis as make_basis
    b = make_basis(name, shape=(32, 16, 3, 3), seed=3, axes=axes, dtype=torch.float64)
    rest, fused = b._fused_tail(b.active_axes)
    assert tuple(j for j, _ in fused) == tail and all(j < tail[0] for j, _ in rest)
    mats = [t.matrix() for t in b.transforms]  # identity for a canonical axis
    c = torch.randn(32, 16, 3, 3, dtype=torch.float64, requires_grad=True)
    ref = torch.einsum("ai,bj,ck,dl,abcd->ijkl", *mats, c)  # W = A^T C along every axis
    w = b.weights(c)
    torch.testing.assert_close(w, ref, atol=1e-12, rtol=0)
    torch.testing.assert_close(b.coeffs(w.detach()), c.detach(), atol=1e-12, rtol=0)
    g = torch.randn_like(w)
    grad, = torch.autograd.grad(w, c, g)
    grad_ref, = torch.autograd.grad(ref, c, g)
    torch.testing.assert_close(grad, grad_ref, atol=1e-12, rtol=0)
    lenet = make_basis(name, shape=(300, 784), seed=3)
    assert lenet._fused_tail(lenet.active_axes)[1] == ()


@pytest.mark.parametrize("rows", [64, 300])
def test_fft_output_synthesis_with_bias_matches_dense_reference_and_gradients(rows):
    """The FFT output side adds the bias inside one autograd function: values and the gradients of the rows
    and of the bias equal autograd through scipy's DCT matrix (with create_graph too)."""
    n = 300
    t = DCTTransform(n, dtype=torch.float64)
    assert not t._uses_dense(torch.zeros(rows, n))
    a = torch.from_numpy(scipy_dct(n))
    z = torch.randn(rows, n, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(n, dtype=torch.float64, requires_grad=True)
    out, ref = t.synthesize_rows(z, bias), z @ a + bias
    torch.testing.assert_close(out, ref, atol=1e-12, rtol=0)
    g = torch.randn_like(out)
    for create_graph in (False, True):
        grads = torch.autograd.grad(out, (z, bias), g, retain_graph=True, create_graph=create_graph)
        grads_ref = torch.autograd.grad(ref, (z, bias), g, retain_graph=True)
        for got, want in zip(grads, grads_ref):
            torch.testing.assert_close(got, want, atol=1e-12, rtol=0)
