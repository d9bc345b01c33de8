"""Bases: orthonormality, agreement with scipy's DCT and Hadamard, SVD, determinism, errors."""
import math

import numpy as np
import pytest
import scipy.fft
import scipy.linalg
import torch

from glth_core.core.bases import BASIS_NAMES, FIXED_BASES, ROTATED_BASES, basis


SHAPES = [(6, 10), (7, 5), (8, 8), (1, 3), (4, 3, 3, 3), (5, 2, 2, 4), (3, 2, 5)]
NAMES = ["canonical", "dct", "hadamard", "random", "svd"]


def _make(name, shape, seed=0, dtype=torch.float32, **kw):
    weight = torch.randn(shape, generator=torch.Generator().manual_seed(99), dtype=dtype) if name == "svd" else None
    return basis(name, shape, seed=seed, weight=weight, dtype=dtype, **kw)


def _dense_analysis(b, dtype=torch.float64):
    """The (n x n) matrix of coeffs() in row-major vectorisation, by probing unit tensors."""
    n = math.prod(b.shape)
    eye = torch.eye(n, dtype=dtype).reshape((n,) + b.shape)
    return torch.stack([b.coeffs(e).reshape(-1) for e in eye], dim=1)


def test_basis_names_are_the_documented_ones():
    assert set(BASIS_NAMES) == set(NAMES)


def test_fixed_and_rotated_subsets_follow_what_each_basis_is():
    """FIXED_BASES: exactly the bases built without a weight; ROTATED_BASES: exactly those
    that are not the identity (svd fitted to a random weight)."""
    shape = (4, 6)
    weight = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    fixed, rotated = [], []
    for name in BASIS_NAMES:
        try:
            b = basis(name, shape)
            fixed.append(name)
        except ValueError:
            b = basis(name, shape, weight=weight)
        if not torch.allclose(_dense_analysis(b), torch.eye(24, dtype=torch.float64)):
            rotated.append(name)
    assert FIXED_BASES == tuple(fixed) == ("canonical", "dct", "hadamard", "random")
    assert ROTATED_BASES == tuple(rotated) == ("dct", "hadamard", "random", "svd")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", SHAPES)
def test_round_trip_and_norm_float32(name, shape):
    b = _make(name, shape, seed=3)
    w = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    c = b.coeffs(w)
    assert c.shape == w.shape and c.dtype == torch.float32
    torch.testing.assert_close(b.weights(c), w, atol=2e-6, rtol=1e-5)
    torch.testing.assert_close(c.norm(), w.norm(), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(6, 10), (7, 5), (4, 3, 3, 3), (3, 2, 5)])
def test_whole_basis_is_orthogonal(name, shape):
    b = _make(name, shape, seed=5, dtype=torch.float64)
    a = _dense_analysis(b)
    np.testing.assert_allclose((a @ a.T).numpy(), np.eye(a.shape[0]), atol=1e-12)


@pytest.mark.parametrize("name", ["dct", "hadamard", "random"])
def test_image_shape_round_trip(name):
    b = _make(name, (6, 2 * 3 * 5), seed=2, image_shape=(2, 3, 5), dtype=torch.float64)
    a = _dense_analysis(b)
    np.testing.assert_allclose((a @ a.T).numpy(), np.eye(a.shape[0]), atol=1e-12)


@pytest.mark.parametrize("shape", [(6, 10), (7, 5), (1, 4), (4, 3, 3, 3), (5, 2, 2, 4)])
def test_dct_equals_scipy_dctn_over_all_axes(shape):
    w = np.random.default_rng(0).standard_normal(shape)
    c = basis("dct", shape, dtype=torch.float64).coeffs(torch.from_numpy(w))
    np.testing.assert_allclose(c.numpy(), scipy.fft.dctn(w, type=2, norm="ortho"), atol=1e-12)
    c32 = basis("dct", shape).coeffs(torch.from_numpy(w).float())
    np.testing.assert_allclose(c32.numpy(), scipy.fft.dctn(w, type=2, norm="ortho"), atol=2e-5)


def test_dct_conv_spatial_axes_only():
    w = np.random.default_rng(1).standard_normal((4, 3, 5, 5))
    c = basis("dct", w.shape, axes=(2, 3), dtype=torch.float64).coeffs(torch.from_numpy(w))
    np.testing.assert_allclose(c.numpy(), scipy.fft.dctn(w, type=2, norm="ortho", axes=(2, 3)), atol=1e-12)


def test_dct_image_shape_is_2d_dct_per_channel_and_output_dct():
    out, ch, h, wd = 5, 2, 4, 7
    w = np.random.default_rng(2).standard_normal((out, ch * h * wd))
    c = basis("dct", w.shape, image_shape=(ch, h, wd), dtype=torch.float64).coeffs(torch.from_numpy(w))
    ref = scipy.fft.dctn(w.reshape(out, ch, h, wd), type=2, norm="ortho", axes=(0, 2, 3)).reshape(out, -1)
    np.testing.assert_allclose(c.numpy(), ref, atol=1e-12)
    # (H, W) means one channel
    c2 = basis("dct", (out, h * wd), image_shape=(h, wd), dtype=torch.float64).coeffs(torch.from_numpy(w[:, : h * wd]))
    ref2 = scipy.fft.dctn(w[:, : h * wd].reshape(out, h, wd), type=2, norm="ortho").reshape(out, -1)
    np.testing.assert_allclose(c2.numpy(), ref2, atol=1e-12)


def test_hadamard_power_of_two_is_scipy_hadamard_with_column_signs():
    n = 16
    b = basis("hadamard", (n, 4), seed=7, dtype=torch.float64)
    a = b.transforms[0].matrix().numpy() * math.sqrt(n)
    ratio = a / scipy.linalg.hadamard(n)
    signs = ratio[0]
    assert set(np.round(signs).tolist()) <= {-1.0, 1.0}
    np.testing.assert_allclose(ratio, np.broadcast_to(signs, ratio.shape), atol=1e-12)
    assert (signs < 0).any() and (signs > 0).any()  # signs are random, not all +1


def test_hadamard_non_power_of_two_is_kronecker_with_odd_part():
    n, p, m = 12, 4, 3  # 12 = 4 * 3
    a = basis("hadamard", (n, 2), seed=1, dtype=torch.float64).transforms[0].matrix().numpy()
    blocks = np.abs(a).reshape(p, m, p, m).transpose(0, 2, 1, 3)  # |H_ij * R * signs| = |R| / sqrt(p)
    for i in range(p):
        for j in range(p):
            np.testing.assert_allclose(blocks[i, j], blocks[0, 0], atol=1e-12)
    np.testing.assert_allclose(a @ a.T, np.eye(n), atol=1e-12)


def test_svd_coefficients_are_the_singular_values():
    w = torch.randn(6, 9, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    c = basis("svd", w.shape, weight=w, dtype=torch.float64).coeffs(w).numpy()
    s = scipy.linalg.svdvals(w.numpy())
    np.testing.assert_allclose(np.diag(c[:, :6]), s, atol=1e-12)
    off = c.copy()
    off[np.arange(6), np.arange(6)] = 0
    assert np.abs(off).max() < 1e-12


def test_svd_conv_views_kernel_as_matrix():
    w = torch.randn(4, 2, 3, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    c = basis("svd", w.shape, weight=w, dtype=torch.float64).coeffs(w).reshape(4, -1).numpy()
    np.testing.assert_allclose(np.diag(c[:, :4]), scipy.linalg.svdvals(w.reshape(4, -1).numpy()), atol=1e-12)


def test_svd_sign_convention_and_determinism():
    w = torch.randn(5, 7, generator=torch.Generator().manual_seed(5))
    b1 = basis("svd", w.shape, weight=w)
    b2 = basis("svd", w.shape, weight=w.clone())
    for t1, t2 in zip(b1.transforms, b2.transforms):
        assert torch.equal(t1.matrix(), t2.matrix())
    u = b1.transforms[0].matrix().T  # columns are left singular vectors
    largest = u[u.abs().argmax(dim=0), torch.arange(5)]
    assert (largest > 0).all()
    assert (torch.diagonal(b1.coeffs(w)) > 0).all()


@pytest.mark.parametrize("name", ["hadamard", "random"])
def test_same_seed_same_basis_different_seed_different_basis(name):
    w = torch.randn(8, 6)
    c1 = basis(name, w.shape, seed=11).coeffs(w)
    c2 = basis(name, w.shape, seed=11).coeffs(w)
    c3 = basis(name, w.shape, seed=12).coeffs(w)
    assert torch.equal(c1, c2)
    assert not torch.allclose(c1, c3, atol=1e-3)


def test_random_axes_differ_within_a_basis():
    b = basis("random", (6, 6), seed=0)
    assert not torch.allclose(b.transforms[0].matrix(), b.transforms[1].matrix())


def test_follows_input_dtype_and_is_differentiable():
    b = basis("dct", (3, 4))
    w = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    c = b.coeffs(w)
    assert c.dtype == torch.float64
    assert torch.autograd.gradcheck(lambda x: b.weights(b.coeffs(x) * 2.0), (w,))


def test_canonical_is_identity():
    w = torch.randn(4, 3, 2, 2)
    b = basis("canonical", w.shape)
    assert torch.equal(b.coeffs(w), w) and torch.equal(b.weights(w), w)


def test_matrices_are_buffers():
    b = basis("random", (4, 5))
    names = [n for n, _ in b.named_buffers()]
    assert len(names) == 2
    assert sum(p.numel() for p in b.buffers()) == 4 * 4 + 5 * 5  # O(sum d_i^2)


# ---- bad input -------------------------------------------------------------------------------

def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match=r"unknown basis name 'fourier'.*'canonical'.*'dct'.*'svd'"):
        basis("fourier", (3, 3))


def test_shape_mismatch():
    b = basis("dct", (3, 4))
    with pytest.raises(ValueError, match=r"w has shape \(4, 3\).*built for shape \(3, 4\)"):
        b.coeffs(torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r"c has shape"):
        b.weights(torch.zeros(12))
    with pytest.raises(TypeError, match="w must be a torch.Tensor"):
        b.coeffs(np.zeros((3, 4)))


def test_bad_shape_argument():
    with pytest.raises(ValueError, match="shape must contain positive ints"):
        basis("dct", (3, 0))
    with pytest.raises(TypeError, match="shape must be a non-empty tuple"):
        basis("dct", "3x4")


def test_image_shape_errors():
    with pytest.raises(ValueError, match=r"image_shape \(1, 28, 28\) has 784 elements.*has 100"):
        basis("dct", (10, 100), image_shape=(1, 28, 28))
    with pytest.raises(ValueError, match="image_shape applies to 2-D"):
        basis("dct", (4, 1, 3, 3), image_shape=(1, 3, 3))
    with pytest.raises(ValueError, match=r"image_shape must be \(C, H, W\)"):
        basis("dct", (4, 8), image_shape=(2, 2, 2, 1))


def test_svd_errors():
    with pytest.raises(ValueError, match="pass weight="):
        basis("svd", (3, 4))
    with pytest.raises(ValueError, match=r"weight has shape \(4, 3\) but shape is \(3, 4\)"):
        basis("svd", (3, 4), weight=torch.zeros(4, 3))
    with pytest.raises(ValueError, match="weight= is only used by the 'svd' basis"):
        basis("dct", (3, 4), weight=torch.zeros(3, 4))


def test_seed_and_axes_errors():
    with pytest.raises(TypeError, match="seed must be an int"):
        basis("random", (3, 4), seed=1.5)
    with pytest.raises(ValueError, match="axes .* out of range"):
        basis("dct", (3, 4), axes=(2,))


def test_registry_names_labels_and_factories():
    from glth_core.core.bases import BASIS_NAMES, REGISTRY, basis_label

    assert tuple(REGISTRY) == BASIS_NAMES == ("canonical", "dct", "hadamard", "random", "svd")
    assert [basis_label(n) for n in BASIS_NAMES] == ["canonical", "DCT", "Hadamard", "random orthogonal", "SVD"]
    with pytest.raises(ValueError, match="unknown basis name 'fourier'"):
        basis_label("fourier")
    with pytest.raises(TypeError):
        REGISTRY["fourier"] = REGISTRY["dct"]  # read-only
    # the DCT factory of the registry is scipy's orthonormal DCT-II on one axis


    x = torch.randn(5, 12, dtype=torch.float64)
    transform = REGISTRY["dct"].axis_transform(12, 0, torch.float64)
    expected = scipy.fft.dct(x.numpy(), type=2, norm="ortho", axis=1)
    torch.testing.assert_close(transform(x, 1), torch.from_numpy(expected))
    assert REGISTRY["svd"].axis_transform is None  # fitted to a weight by basis() itself
