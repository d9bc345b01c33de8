r"""Per-axis orthonormal transforms: the building blocks of a :class:`~glth_core.core.bases.Basis`.

This module chooses, per axis and size, between the dense transforms and matrix constructors of
:mod:`glth_core.core.matrices` and the fast transforms of :mod:`glth_core.core.fast_transforms`
(:func:`dct_transform`, :func:`hadamard_transform`, :func:`random_transform`), and re-exports them.

A basis of a weight tensor of shape ``(d_1, ..., d_k)`` is a Kronecker product of
one orthonormal transform per axis. Each transform is a ``d x d`` orthogonal
*analysis* matrix ``A`` whose rows are the basis vectors of that axis:

.. math::

    \text{forward (analysis)}:\quad  y = A x \quad\text{along one axis},\qquad
    \text{inverse (synthesis)}:\quad x = A^\top y .

In the notation of the paper's design notes, ``A = Q^T``:
``C = W x_1 Q_1^T ... x_k Q_k^T`` and ``W = C x_1 Q_1 ... x_k Q_k``.

Transforms are :class:`torch.nn.Module` objects so that their tables are
buffers and follow ``.to(device)`` and ``.double()``; each exposes
``forward(x, dim)`` (analysis ``A x`` along ``dim``), ``inverse(x, dim)``
(synthesis ``A^T x``) and ``matrix()`` (the dense ``A``, built on demand).

Fast implementations (all exact up to float round-off, all device-agnostic):

* :class:`~glth_core.core.matrices.MatrixTransform` -- a dense ``d x d`` matrix: ``d^2`` memory, ``d``
  multiply-adds per element. Used for small axes, for ``"random"`` up to
  :data:`~glth_core.core.fast_transforms.RANDOM_DENSE_MAX` and for ``"svd"``.
* :class:`~glth_core.core.fast_transforms.DCTTransform` -- the orthonormal DCT-II by one real FFT of length ``d``
  (Makhoul 1980): permute ``v = (x_0, x_2, x_4, ..., x_3, x_1)``, ``V = FFT(v)``,
  ``X_k = s_k Re(e^{-i pi k / 2d} V_k)``; the inverse runs the same steps
  backwards with ``irfft``. On a CPU the whole transform is one call of pocketfft
  (``scipy.fft.dct``, the same algorithm in C++); elsewhere torch's FFT. Memory ``O(d)`` (index and twiddle tables),
  ``O(d log d)`` work. Used for FFT-friendly lengths of at least
  :data:`~glth_core.core.fast_transforms.DCT_FFT_MIN` and every length above :data:`~glth_core.core.fast_transforms.DCT_DENSE_MAX`
  (:func:`dct_uses_fft`); other axes use the dense matrix (at most
  ``DCT_DENSE_MAX * d`` numbers, still ``O(d)``), which is faster there. An
  FFT axis up to :data:`~glth_core.core.fast_transforms.DCT_DENSE_MAX` keeps its dense matrix as well and uses
  it for calls with few rows (:func:`~glth_core.core.fast_transforms.dense_is_cheaper`, a cost model
  measured on a CPU).
* :class:`~glth_core.core.fast_transforms.KroneckerTransform` -- ``A = (F_1 \otimes ... \otimes F_r) diag(s)``
  applied by reshaping the axis into ``(d_1, ..., d_r)`` and multiplying each
  small factor along its own sub-axis (the "butterflies via reshape" of the fast
  Walsh-Hadamard transform, done in blocks of up to :data:`~glth_core.core.fast_transforms.HADAMARD_BLOCK`).
  Memory ``sum d_i^2`` (+ ``d`` signs), ``sum d_i`` multiply-adds per element.
  Used for ``"hadamard"`` axes longer than :data:`~glth_core.core.fast_transforms.KRONECKER_DENSE_MAX` (``H_{2^k}``
  split into Sylvester blocks, the odd part ``R_m`` dense; 300 = 4 x 75) and for
  ``"random"`` axes longer than :data:`~glth_core.core.fast_transforms.RANDOM_DENSE_MAX` (300 = 15 x 20); shorter
  Hadamard axes are one dense matrix (at most ``KRONECKER_DENSE_MAX * d`` numbers).

Matrix constructors (all built in float64, deterministic given the seed):

* :func:`~glth_core.core.matrices.dct_matrix` -- orthonormal DCT-II, ``A @ x == scipy.fft.dct(x, type=2, norm="ortho")``.
* :func:`~glth_core.core.matrices.haar_orthogonal_matrix` -- Haar-distributed random orthogonal matrix
  (QR of a Gaussian matrix with the sign of ``diag(R)`` fixed, Mezzadri 2007).
* :func:`~glth_core.core.matrices.hadamard_matrix` -- seeded randomised Walsh-Hadamard; for sizes that are
  not a power of two, ``n = 2^k m`` with ``m`` odd, it is the Kronecker product
  of the normalised Sylvester-Hadamard matrix of size ``2^k`` with a seeded Haar
  random orthogonal matrix of size ``m``, times seeded random signs on the input.
"""
from __future__ import annotations

import functools
import math

import torch

from .seeding import derive_seed
from .matrices import (AxisTransform, MatrixTransform, _hadamard_parts, _sylvester, dct_matrix,
                       haar_orthogonal_matrix, hadamard_matrix)
from .fast_transforms import (DCTTransform, DCT_DENSE_MAX, DCT_FFT_MIN, HADAMARD_BLOCK, KRONECKER_DENSE_MAX,
                              KroneckerTransform, RANDOM_DENSE_MAX, _largest_prime_factor)
from .matrices import IdentityTransform, apply_along  # noqa: F401 (re-exported)

__all__ = [
    "AxisTransform",
    "IdentityTransform",
    "MatrixTransform",
    "DCTTransform",
    "KroneckerTransform",
    "dct_transform",
    "hadamard_transform",
    "random_transform",
    "dct_matrix",
    "hadamard_matrix",
    "haar_orthogonal_matrix",
    "apply_along",
]


def dct_uses_fft(size: int) -> bool:
    """Whether :func:`dct_transform` picks the FFT for length ``size``.

    Measured on a CPU (one thread, 60 to 512 rows): with enough rows the FFT beats the dense
    product from about :data:`~glth_core.core.fast_transforms.DCT_FFT_MIN` for lengths whose prime factors are at most 7
    (FFT-friendly, e.g. 256, 300, 400), and above :data:`~glth_core.core.fast_transforms.DCT_DENSE_MAX` for any length.
    """
    return size > DCT_DENSE_MAX or (size >= DCT_FFT_MIN and _largest_prime_factor(size) <= 7)


def dct_transform(size: int, dtype: torch.dtype | None = None) -> AxisTransform:
    """The fastest exact orthonormal DCT-II of length ``size``: FFT where :func:`dct_uses_fft`, else dense."""
    dtype = torch.get_default_dtype() if dtype is None else dtype
    if dct_uses_fft(size):
        transform = DCTTransform(size, dtype=dtype)
    else:
        transform = MatrixTransform(dct_matrix(size).to(dtype), kind="dct")
    transform.rebuild = functools.partial(dct_transform, size)
    return transform


def _power_of_two_blocks(p: int) -> list[int]:
    """Split ``p = 2^k`` into balanced powers of two, each at most :data:`~glth_core.core.fast_transforms.HADAMARD_BLOCK`."""
    k = p.bit_length() - 1
    if k == 0:
        return []
    block = HADAMARD_BLOCK.bit_length() - 1
    count = -(-k // block)
    exponents = [k // count + (1 if i < k % count else 0) for i in range(count)]
    return [2 ** e for e in exponents]


def hadamard_transform(size: int, seed: int, dtype: torch.dtype | None = None) -> AxisTransform:
    """:func:`~glth_core.core.matrices.hadamard_matrix` as a fast transform (same matrix).

    ``A = (H_{2^k} (x) R_m) diag(s)`` with ``H_{2^k} = H_{b_1} (x) ... (x) H_{b_j}``
    (Sylvester blocks of at most :data:`~glth_core.core.fast_transforms.HADAMARD_BLOCK`): a
    :class:`~glth_core.core.fast_transforms.KroneckerTransform`; a single dense matrix up to :data:`~glth_core.core.fast_transforms.KRONECKER_DENSE_MAX`.
    """
    dtype = torch.get_default_dtype() if dtype is None else dtype
    if size <= KRONECKER_DENSE_MAX:
        transform = MatrixTransform(hadamard_matrix(size, seed).to(dtype), kind="hadamard")
    else:
        p, r, signs = _hadamard_parts(size, seed)
        factors = [_sylvester(b) for b in _power_of_two_blocks(p)]
        if r.shape[0] > 1:
            factors.append(r)
        transform = KroneckerTransform([f.to(dtype) for f in factors], signs.to(dtype), kind="hadamard")
    transform.rebuild = functools.partial(hadamard_transform, size, seed)
    return transform


def _balanced_divisor(n: int) -> int:
    """The largest divisor of ``n`` that is at most ``sqrt(n)``."""
    for d in range(math.isqrt(n), 0, -1):
        if n % d == 0:
            return d
    return 1


def random_transform(size: int, seed: int, dtype: torch.dtype | None = None) -> AxisTransform:
    """Seeded random orthogonal transform of length ``size``.

    Up to :data:`~glth_core.core.fast_transforms.RANDOM_DENSE_MAX`: one Haar matrix, ``haar_orthogonal_matrix(size, seed)``.
    Longer axes ``size = p q`` (``p`` the largest divisor ``<= sqrt(size)``, ``p > 1``):
    ``R_p (x) R_q``, two Haar matrices drawn from ``derive_seed(seed, "kronecker", i)``
    (orthogonal, random, but not Haar on the whole group); a prime length stays dense.
    """
    dtype = torch.get_default_dtype() if dtype is None else dtype
    p = _balanced_divisor(size)
    if size <= RANDOM_DENSE_MAX or p == 1:
        transform = MatrixTransform(haar_orthogonal_matrix(size, seed).to(dtype), kind="random")
    else:
        factors = [haar_orthogonal_matrix(d, derive_seed(seed, "kronecker", i)).to(dtype)
                   for i, d in enumerate((p, size // p))]
        transform = KroneckerTransform(factors, None, kind="random")
    transform.rebuild = functools.partial(random_transform, size, seed)
    return transform
