r"""Per-axis orthonormal transforms: the building blocks of a :class:`~glth_core.bases.Basis`.

A basis of a weight tensor of shape ``(d_1, ..., d_k)`` is a Kronecker product of
one orthonormal transform per axis. Each transform is a ``d x d`` orthogonal
*analysis* matrix ``A`` whose rows are the basis vectors of that axis:

.. math::

    \text{forward (analysis)}:\quad  y = A x \quad\text{along one axis},\qquad
    \text{inverse (synthesis)}:\quad x = A^\top y .

In the notation of the paper's design notes, ``A = Q^T``:
``C = W x_1 Q_1^T ... x_k Q_k^T`` and ``W = C x_1 Q_1 ... x_k Q_k``.

Transforms are :class:`torch.nn.Module` objects so that their matrices are
buffers and follow ``.to(device)``; each exposes ``forward(x, dim)``,
``inverse(x, dim)`` and ``matrix()`` (the dense ``A``), so a later performance
pass can swap in fast implementations (FFT, fast Walsh-Hadamard) per axis
without changing callers.

Matrix constructors (all built in float64, deterministic given the seed):

* :func:`dct_matrix` -- orthonormal DCT-II, ``A @ x == scipy.fft.dct(x, type=2, norm="ortho")``.
* :func:`haar_orthogonal_matrix` -- Haar-distributed random orthogonal matrix
  (QR of a Gaussian matrix with the sign of ``diag(R)`` fixed, Mezzadri 2007).
* :func:`hadamard_matrix` -- seeded randomised Walsh-Hadamard; for sizes that are
  not a power of two, ``n = 2^k m`` with ``m`` odd, it is the Kronecker product
  of the normalised Sylvester-Hadamard matrix of size ``2^k`` with a seeded Haar
  random orthogonal matrix of size ``m``, times seeded random signs on the input.
"""
from __future__ import annotations

import hashlib
import math
import numbers

import torch
from torch import Tensor, nn

__all__ = [
    "AxisTransform",
    "IdentityTransform",
    "MatrixTransform",
    "dct_matrix",
    "hadamard_matrix",
    "haar_orthogonal_matrix",
    "derive_seed",
    "apply_along",
]


def check_seed(seed, name: str = "seed") -> int:
    """Return ``seed`` as an int, or raise TypeError naming the argument."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name} must be an int (e.g. {name}=0), got {seed!r} of type {type(seed).__name__}")
    return int(seed)


def derive_seed(seed: int, *keys) -> int:
    """A deterministic 63-bit seed from ``seed`` and any printable ``keys``.

    Independent of ``PYTHONHASHSEED`` and of the platform (SHA-256 of the repr).
    """
    text = repr((check_seed(seed),) + tuple(keys)).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "little") >> 1


def _generator(seed: int) -> torch.Generator:
    return torch.Generator(device="cpu").manual_seed(seed)


def apply_along(x: Tensor, matrix: Tensor, dim: int) -> Tensor:
    """Multiply ``x`` along axis ``dim`` by ``matrix``: ``y[..., a, ...] = sum_i matrix[a, i] x[..., i, ...]``."""
    matrix = matrix.to(dtype=x.dtype, device=x.device)
    dim = dim % x.dim()
    if dim == x.dim() - 1:
        return x @ matrix.T
    if dim == x.dim() - 2:  # broadcast over leading axes, no copy
        return matrix @ x
    return (x.movedim(dim, -1) @ matrix.T).movedim(-1, dim)


class AxisTransform(nn.Module):
    """An orthonormal transform of one axis of size ``size``.

    Subclasses implement ``forward(x, dim)`` (analysis ``A x``), ``inverse(x, dim)``
    (synthesis ``A^T x``) and ``matrix()`` (dense ``A``, shape ``(size, size)``).
    """

    is_identity = False

    def __init__(self, size: int):
        super().__init__()
        self.size = int(size)

    def matrix(self) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"size={self.size}"


class IdentityTransform(AxisTransform):
    """The canonical basis of an axis: no-op, no memory."""

    is_identity = True

    def forward(self, x: Tensor, dim: int) -> Tensor:
        return x

    def inverse(self, x: Tensor, dim: int) -> Tensor:
        return x

    def matrix(self) -> Tensor:
        return torch.eye(self.size)


class MatrixTransform(AxisTransform):
    """A dense orthogonal analysis matrix ``A`` (buffer ``matrix``, rows = basis vectors).

    Memory ``size**2``. ``forward(x, dim) = A x`` and ``inverse(x, dim) = A^T x`` along ``dim``.
    """

    def __init__(self, matrix: Tensor, kind: str = "matrix"):
        if matrix.dim() != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ValueError(f"matrix must be square, got shape {tuple(matrix.shape)}")
        super().__init__(matrix.shape[0])
        self.kind = kind
        self.register_buffer("analysis", matrix.detach().clone())

    def forward(self, x: Tensor, dim: int) -> Tensor:
        return apply_along(x, self.analysis, dim)

    def inverse(self, x: Tensor, dim: int) -> Tensor:
        return apply_along(x, self.analysis.T, dim)

    def matrix(self) -> Tensor:
        return self.analysis

    def extra_repr(self) -> str:
        return f"size={self.size}, kind={self.kind}"


def dct_matrix(n: int) -> Tensor:
    r"""Orthonormal DCT-II matrix (float64), ``A[k, i] = s_k cos(pi (2i+1) k / (2n))``.

    ``s_0 = sqrt(1/n)``, ``s_k = sqrt(2/n)`` otherwise; ``A @ x`` equals
    ``scipy.fft.dct(x, type=2, norm="ortho")``.
    """
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    a = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    a[0] /= math.sqrt(2.0)
    return a


def haar_orthogonal_matrix(n: int, seed: int) -> Tensor:
    """Haar-random ``n x n`` orthogonal matrix (float64), deterministic in ``seed``."""
    g = torch.randn(n, n, generator=_generator(seed), dtype=torch.float64)
    q, r = torch.linalg.qr(g)
    signs = torch.sign(torch.diagonal(r))
    signs[signs == 0] = 1.0
    return (q * signs[None, :]).contiguous()


def _sylvester(p: int) -> Tensor:
    h = torch.ones(1, 1, dtype=torch.float64)
    while h.shape[0] < p:
        h = torch.cat([torch.cat([h, h], 1), torch.cat([h, -h], 1)], 0)
    return h / math.sqrt(p)


def hadamard_matrix(n: int, seed: int) -> Tensor:
    r"""Seeded randomised Walsh-Hadamard matrix (float64), orthogonal, ``n x n``.

    With ``n = 2^k m`` (``m`` odd): ``A = (H_{2^k} \otimes R_m) \, \mathrm{diag}(s)``,
    ``H`` the normalised Sylvester (natural-order) Hadamard matrix, ``R_m`` a Haar
    random orthogonal matrix (identity when ``m = 1``) and ``s`` random signs,
    both drawn from ``seed``.
    """
    p = n & -n  # largest power of two dividing n
    m = n // p
    h = _sylvester(p)
    r = haar_orthogonal_matrix(m, derive_seed(seed, "odd-part")) if m > 1 else torch.ones(1, 1, dtype=torch.float64)
    signs = torch.randint(0, 2, (n,), generator=_generator(derive_seed(seed, "signs")), dtype=torch.int64)
    signs = (2 * signs - 1).to(torch.float64)
    return torch.kron(h.contiguous(), r.contiguous()) * signs[None, :]
