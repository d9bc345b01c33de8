r"""Dense per-axis transforms and the orthonormal matrix constructors (DCT-II, Haar random, randomised Hadamard).

An :class:`AxisTransform` applies a ``d x d`` orthogonal analysis matrix ``A`` along one axis
(``forward``: ``A x``, ``inverse``: ``A^T x``); :class:`MatrixTransform` stores ``A`` densely. The
constructors build ``A`` in float64, deterministic given the seed (see :mod:`glth_core.core.transforms`).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .seeding import derive_seed

__all__ = [
    "AxisTransform", "IdentityTransform", "MatrixTransform", "dct_matrix", "hadamard_matrix",
    "haar_orthogonal_matrix", "apply_along"
]


def _generator(seed: int) -> torch.Generator:
    return torch.Generator(device="cpu").manual_seed(seed)


def apply_along(x: Tensor, matrix: Tensor, dim: int) -> Tensor:
    """Multiply ``x`` along axis ``dim`` by ``matrix``: ``y[..., a, ...] = sum_i matrix[a, i] x[..., i, ...]``.

    One matrix product: ``x @ matrix.T`` on the last axis, ``matrix @ x`` on the first axis
    viewed as ``(d, rest)``; a middle axis is viewed as ``(outer, d, inner)`` and multiplied
    by one broadcast product when ``inner >= 16`` (no copies: 4x faster for a batch of
    28 x 28 images), otherwise moved to the front (a broadcast product of many tiny
    matrices, such as 3 x 3 kernel slices, is several times slower than one product).
    """
    matrix = matrix.to(dtype=x.dtype, device=x.device)
    dim = dim % x.dim()
    if dim == x.dim() - 1:
        return x @ matrix.T
    if dim == 0:
        return (matrix @ x.reshape(x.shape[0], -1)).reshape(x.shape)
    inner = math.prod(x.shape[dim + 1:])
    if inner >= 16:  # contiguous: a strided batch sends bmm to a slow per-matrix loop
        return torch.matmul(matrix, x.reshape(-1, x.shape[dim], inner).contiguous()).reshape(x.shape)
    moved = x.movedim(dim, 0)
    y = matrix @ moved.reshape(moved.shape[0], -1)
    return y.reshape(moved.shape).movedim(0, dim)


def _matched(a: Tensor, x: Tensor) -> Tensor:
    return a if a.dtype == x.dtype and a.device == x.device else a.to(dtype=x.dtype, device=x.device)


def _dense_along(x: Tensor, analysis: Tensor, dim: int, inverse: bool) -> Tensor:
    """``A x`` (or ``A^T x`` if ``inverse``) along ``dim`` for a dense analysis matrix ``A``.

    The last axis is the hot path of a generalized Linear layer: one product, no transposes.
    """
    if dim == -1 or dim == x.dim() - 1:
        a = _matched(analysis, x)
        return torch.matmul(x, a) if inverse else F.linear(x, a)  # x A  or  x A^T
    return apply_along(x, analysis.T if inverse else analysis, dim)


def _dense_synthesize_rows(z: Tensor, analysis: Tensor, bias: Tensor | None) -> Tensor:
    """``z A + bias`` in one product (``torch.addmm``)."""
    a = _matched(analysis, z)
    return z.mm(a) if bias is None else torch.addmm(bias, z, a)


class AxisTransform(nn.Module):
    """An orthonormal transform of one axis of size ``size``.

    Subclasses implement ``forward(x, dim)`` (analysis ``A x``), ``inverse(x, dim)``
    (synthesis ``A^T x``) and ``matrix()`` (dense ``A``, shape ``(size, size)``).
    """

    is_identity = False
    #: ``(dtype=...) -> AxisTransform`` building this transform again (set by :func:`~glth_core.core.transforms.dct_transform`,
    #: :func:`~glth_core.core.transforms.hadamard_transform`, :func:`~glth_core.core.transforms.random_transform`): tables made on the ``meta`` device are
    #: rebuilt from it when they get storage (``module.to_empty(device=...)``), since the tables of
    #: fast transforms are not in the state dict.
    rebuild = None

    def __init__(self, size: int):
        super().__init__()
        self.size = int(size)

    def _apply(self, fn, recurse=True):
        was_meta = any(b is not None and b.is_meta for b in self._buffers.values())
        super()._apply(fn, recurse)
        if was_meta and self.rebuild is not None:
            floating = [b.dtype for b in self._buffers.values() if b is not None and b.is_floating_point()]
            fresh = self.rebuild(dtype=floating[0] if floating else None)
            for name, buf in self._buffers.items():
                if buf is not None and not buf.is_meta:
                    self._buffers[name] = fresh._buffers[name].to(device=buf.device, dtype=buf.dtype)
        return self

    def matrix(self) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def synthesize_rows(self, z: Tensor, bias: Tensor | None = None) -> Tensor:
        """``inverse(z, -1) + bias`` for a 2-D ``z`` of shape ``(rows, size)`` (``bias``: ``(size,)`` or None).

        The output side of a generalized Linear layer; subclasses fuse the bias where they can.
        """
        y = self.inverse(z, -1)
        return y if bias is None else y + bias

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
        return _dense_along(x, self.analysis, dim, inverse=False)

    def inverse(self, x: Tensor, dim: int) -> Tensor:
        return _dense_along(x, self.analysis, dim, inverse=True)

    def synthesize_rows(self, z: Tensor, bias: Tensor | None = None) -> Tensor:
        return _dense_synthesize_rows(z, self.analysis, bias)

    def matrix(self) -> Tensor:
        return self.analysis

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # A seeded matrix ("hadamard" axes of 65..512 were Kronecker factors, which are not
        # saved, in glth_core 0.1.0) is rebuilt from the seed when the state dict lacks it.
        key = prefix + "analysis"
        if key not in state_dict and self.kind in REGENERABLE_KINDS:
            state_dict[key] = self.analysis
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return f"size={self.size}, kind={self.kind}"


#: Kinds of :class:`MatrixTransform` built from a seed (not fitted), so a state dict may omit them.
REGENERABLE_KINDS = ("dct", "hadamard", "random")


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


def _hadamard_parts(n: int, seed: int) -> tuple[int, Tensor, Tensor]:
    """``(p, R_m, signs)`` of :func:`hadamard_matrix`: power-of-two part, odd part (float64), signs (float64)."""
    p = n & -n  # largest power of two dividing n
    m = n // p
    r = haar_orthogonal_matrix(m, derive_seed(seed, "odd-part")) if m > 1 else torch.ones(1, 1, dtype=torch.float64)
    signs = torch.randint(0, 2, (n,), generator=_generator(derive_seed(seed, "signs")), dtype=torch.int64)
    return p, r, (2 * signs - 1).to(torch.float64)


def hadamard_matrix(n: int, seed: int) -> Tensor:
    r"""Seeded randomised Walsh-Hadamard matrix (float64), orthogonal, ``n x n``.

    With ``n = 2^k m`` (``m`` odd): ``A = (H_{2^k} \otimes R_m) \, \mathrm{diag}(s)``,
    ``H`` the normalised Sylvester (natural-order) Hadamard matrix, ``R_m`` a Haar
    random orthogonal matrix (identity when ``m = 1``) and ``s`` random signs,
    both drawn from ``seed``.
    """
    p, r, signs = _hadamard_parts(n, seed)
    return torch.kron(_sylvester(p).contiguous(), r.contiguous()) * signs[None, :]


