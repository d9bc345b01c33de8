r"""Per-axis orthonormal transforms: the building blocks of a :class:`~glth_core.core.bases.Basis`.

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

* :class:`MatrixTransform` -- a dense ``d x d`` matrix: ``d^2`` memory, ``d``
  multiply-adds per element. Used for small axes, for ``"random"`` up to
  :data:`RANDOM_DENSE_MAX` and for ``"svd"``.
* :class:`DCTTransform` -- the orthonormal DCT-II by one real FFT of length ``d``
  (Makhoul 1980): permute ``v = (x_0, x_2, x_4, ..., x_3, x_1)``, ``V = FFT(v)``,
  ``X_k = s_k Re(e^{-i pi k / 2d} V_k)``; the inverse runs the same steps
  backwards with ``irfft``. Memory ``O(d)`` (index and twiddle tables),
  ``O(d log d)`` work. Used for FFT-friendly lengths of at least
  :data:`DCT_FFT_MIN` and every length above :data:`DCT_DENSE_MAX`
  (:func:`dct_uses_fft`); other axes use the dense matrix (at most
  ``DCT_DENSE_MAX * d`` numbers, still ``O(d)``), which is faster there. An
  FFT axis up to :data:`DCT_DENSE_MAX` keeps its dense matrix as well and uses
  it for calls with few rows (:data:`DCT_FFT_WORK`).
* :class:`KroneckerTransform` -- ``A = (F_1 \otimes ... \otimes F_r) diag(s)``
  applied by reshaping the axis into ``(d_1, ..., d_r)`` and multiplying each
  small factor along its own sub-axis (the "butterflies via reshape" of the fast
  Walsh-Hadamard transform, done in blocks of up to :data:`HADAMARD_BLOCK`).
  Memory ``sum d_i^2`` (+ ``d`` signs), ``sum d_i`` multiply-adds per element.
  Used for ``"hadamard"`` axes longer than :data:`KRONECKER_DENSE_MAX` (``H_{2^k}``
  split into Sylvester blocks, the odd part ``R_m`` dense; 300 = 4 x 75) and for
  ``"random"`` axes longer than :data:`RANDOM_DENSE_MAX` (300 = 15 x 20); shorter
  Hadamard axes are one dense matrix (at most ``KRONECKER_DENSE_MAX * d`` numbers).

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

import functools
import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .seeding import derive_seed

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
    #: ``(dtype=...) -> AxisTransform`` building this transform again (set by :func:`dct_transform`,
    #: :func:`hadamard_transform`, :func:`random_transform`): tables made on the ``meta`` device are
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


# ---- fast transforms ---------------------------------------------------------------------------

#: DCT axes longer than this always use the FFT; shorter ones the dense matrix (memory <= DCT_DENSE_MAX * d)
#: unless :func:`dct_uses_fft` finds an FFT-friendly length of at least :data:`DCT_FFT_MIN`.
DCT_DENSE_MAX = 512
#: Shortest FFT-friendly DCT length that uses the FFT (below it the dense product is faster on a CPU).
DCT_FFT_MIN = 240
#: An FFT DCT of length ``d <= DCT_DENSE_MAX`` applied to ``r`` rows uses its dense matrix while
#: ``r d^2 < DCT_FFT_WORK``. Measured inside a LeNet training step on a CPU (one thread), where
#: the FFT's complex intermediates cost more than in isolation: dense wins at 60 rows of 300.
DCT_FFT_WORK = 6_000_000
#: Hadamard axes up to this length use one dense matrix (the same matrix as the Kronecker steps).
#: Measured in a LeNet-300-100 step on a CPU: for 300 = 4 x 75 the Kronecker steps tie with the
#: dense product at batch 60 and save a fifth of the step's time at batch 512.
KRONECKER_DENSE_MAX = 256
#: Largest Sylvester block of the fast Walsh-Hadamard transform (memory per block <= HADAMARD_BLOCK^2).
HADAMARD_BLOCK = 32
#: ``"random"`` axes up to this length are one Haar matrix; longer ones a Kronecker product of two
#: Haar factors (a different random basis, not a faster way to apply the same one). glth_core 0.1
#: drew axes up to 1024 as one Haar matrix; 0.2 lowered the limit so that LeNet's 300-unit axis
#: costs 300 * 35 instead of 300 * 300 multiply-adds per row.
RANDOM_DENSE_MAX = 256


def _moved_view(vector: Tensor, ndim: int, dim: int) -> Tensor:
    """``vector`` (length n) shaped to broadcast along axis ``dim`` of an ``ndim``-D tensor."""
    shape = [1] * ndim
    shape[dim] = vector.shape[0]
    return vector.reshape(shape)


class _Orthogonal(torch.autograd.Function):
    """``transform`` applied along ``dim`` (analysis, or synthesis if ``inverse``), differentiable.

    The transform is orthogonal, so its backward is the opposite direction applied to the
    gradient: one call instead of autograd through every step (complex ones included).
    """

    @staticmethod
    def forward(ctx, x, transform, dim, inverse):
        ctx.transform, ctx.dim, ctx.inverse = transform, dim, inverse
        return transform._apply_raw(x, dim, inverse)

    @staticmethod
    def backward(ctx, grad):
        if torch.is_grad_enabled():  # create_graph=True: keep the backward differentiable
            return _Orthogonal.apply(grad, ctx.transform, ctx.dim, not ctx.inverse), None, None, None
        return ctx.transform._apply_raw(grad, ctx.dim, not ctx.inverse), None, None, None


#: Dtypes an FFT DCT computes in float32 (and casts back).
_FFT_UPCAST = (torch.float16, torch.bfloat16)


class DCTTransform(AxisTransform):
    r"""Orthonormal DCT-II of length ``size`` by one real FFT (Makhoul 1980); memory ``O(size)``.

    Analysis along ``dim``, with ``n = size`` and ``h = n // 2 + 1``:
    ``v = x[perm]``, ``perm = (0, 2, 4, ..., 5, 3, 1)``; ``Z = rfft(v) * w`` with
    ``w_k = s_k e^{-i pi k / 2n}`` (``s_0 = sqrt(1/n)``, ``s_k = sqrt(2/n)``); then
    ``X_k = Re Z_k`` for ``k < h`` and ``X_{n-j} = -Im Z_j`` for ``1 <= j <= n - h``
    (from ``V_{n-j} = conj V_j``). Synthesis inverts each step: ``Z_j = X_j - i X_{n-j}``
    (``X_n = 0``), ``v = irfft(Z / w)``, ``x = v[perm^{-1}]``. Equal to ``dct_matrix(size) @ x``
    to float round-off; the backward of each direction is the other (orthogonality).
    """

    def __init__(self, size: int, dtype: torch.dtype | None = None):
        super().__init__(size)
        if size < 2:
            raise ValueError(f"DCTTransform needs size >= 2, got {size}")
        dtype = torch.get_default_dtype() if dtype is None else dtype
        n, half = size, size // 2 + 1
        perm = torch.cat([torch.arange(0, n, 2), torch.arange(n - 1 - n % 2, 0, -2)])
        k = torch.arange(half, dtype=torch.float64)
        twiddle = math.sqrt(2.0 / n) * torch.exp(-1j * math.pi * k / (2 * n))
        twiddle[0] = math.sqrt(1.0 / n)
        # stored as real (half, 2) so that .double() / .to(dtype) convert them with the module
        self.register_buffer("perm", perm, persistent=False)
        self.register_buffer("inverse_perm", torch.argsort(perm), persistent=False)
        self.register_buffer("twiddle", torch.view_as_real(twiddle).to(dtype), persistent=False)
        self.register_buffer("inverse_twiddle", torch.view_as_real(1 / twiddle).to(dtype), persistent=False)
        # a short axis also keeps its dense matrix, for calls with few rows (see _uses_dense)
        dense = dct_matrix(n).to(dtype) if n <= DCT_DENSE_MAX else None
        self.register_buffer("dense", dense, persistent=False)

    def _uses_dense(self, x: Tensor) -> bool:
        """Dense product when it is cheaper: ``rows * size^2`` below :data:`DCT_FFT_WORK` (measured on a CPU).

        On a GPU, where a step of this size is bound by kernel launches, one matrix product is
        expected to beat the FFT's half-dozen kernels at any batch (not measured: no GPU was
        available to this project's benchmarks yet), so a kept dense matrix is always used there.
        """
        return self.dense is not None and (x.device.type != "cpu" or x.numel() * self.size < DCT_FFT_WORK)

    def _apply_raw(self, x: Tensor, dim: int, inverse: bool) -> Tensor:
        if x.dtype in _FFT_UPCAST:  # torch's FFTs have no float16/bfloat16 kernels on a CPU (and few on a GPU)
            return self._apply_raw(x.float(), dim, inverse).to(x.dtype)
        last = dim == x.dim() - 1
        y = x if last else x.movedim(dim, -1).contiguous()  # the FFT steps are slow on strided rows
        y = self._synthesis_last(y) if inverse else self._analysis_last(y)
        return y if last else y.movedim(-1, dim)

    def _analysis_last(self, x: Tensor) -> Tensor:
        n, half = self.size, self.size // 2 + 1
        w = torch.view_as_complex(self.twiddle.to(x.dtype))
        z = torch.view_as_real(torch.fft.rfft(x.index_select(-1, self.perm)) * w)
        return torch.cat([z[..., 0], z[..., 1:n - half + 1, 1].flip(-1).neg()], -1)

    def _synthesis_last(self, x: Tensor) -> Tensor:
        n, half = self.size, self.size // 2 + 1
        w = torch.view_as_complex(self.inverse_twiddle.to(x.dtype))
        imag = F.pad(x[..., n - half + 1:].flip(-1).neg(), (1, 0))
        v = torch.fft.irfft(torch.complex(x[..., :half], imag) * w, n=n)
        return v.index_select(-1, self.inverse_perm)

    def forward(self, x: Tensor, dim: int) -> Tensor:
        if self._uses_dense(x):
            return _dense_along(x, self.dense, dim, inverse=False)
        return _Orthogonal.apply(x, self, dim % x.dim(), False)

    def inverse(self, x: Tensor, dim: int) -> Tensor:
        if self._uses_dense(x):
            return _dense_along(x, self.dense, dim, inverse=True)
        return _Orthogonal.apply(x, self, dim % x.dim(), True)

    def synthesize_rows(self, z: Tensor, bias: Tensor | None = None) -> Tensor:
        if self._uses_dense(z):
            return _dense_synthesize_rows(z, self.dense, bias)
        return super().synthesize_rows(z, bias)

    def matrix(self) -> Tensor:
        if self.dense is not None:
            return self.dense
        w = self.twiddle
        return dct_matrix(self.size).to(dtype=w.dtype, device=w.device)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        _drop_legacy_matrix(self, state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return f"size={self.size}, kind=dct, method=fft"


class KroneckerTransform(AxisTransform):
    r"""``A = (F_1 \otimes \cdots \otimes F_r) \, diag(s)``: small dense factors and optional signs.

    The axis (length ``prod d_i``, ``d_i`` the size of ``F_i``) is viewed as
    ``(d_1, ..., d_r)`` in row-major order and ``F_i`` multiplies sub-axis ``i``.
    Buffers ``factor0 ... factor{r-1}`` and ``signs`` (or ``None``). Memory
    ``sum d_i^2 + d``; ``sum d_i`` multiply-adds per element.
    """

    def __init__(self, factors, signs: Tensor | None = None, kind: str = "kronecker"):
        factors = [f.detach().clone() for f in factors]
        if not factors or any(f.dim() != 2 or f.shape[0] != f.shape[1] for f in factors):
            raise ValueError("factors must be a non-empty list of square matrices")
        super().__init__(math.prod(f.shape[0] for f in factors))
        self.kind = kind
        self.sizes = tuple(int(f.shape[0]) for f in factors)
        for i, f in enumerate(factors):
            self.register_buffer(f"factor{i}", f, persistent=False)  # regenerable from the seed
        if signs is not None and tuple(signs.shape) != (self.size,):
            raise ValueError(f"signs must have shape ({self.size},), got {tuple(signs.shape)}")
        self.register_buffer("signs", None if signs is None else signs.detach().clone(), persistent=False)

    def factors(self) -> list[Tensor]:
        return [getattr(self, f"factor{i}") for i in range(len(self.sizes))]

    def _apply_factors(self, x: Tensor, dim: int, inverse: bool) -> Tensor:
        """Each factor (transposed if ``inverse``) along its sub-axis of axis ``dim``.

        The tensor is viewed as ``(outer, d_i, inner)`` for factor ``i``: one matrix product
        (:func:`apply_along` on a 2-D view) when ``inner == 1`` (the last sub-axis of a last
        axis) or ``outer == 1``, else one batched product of the small factor, so no step
        copies the tensor to move an axis.
        """
        shape = x.shape
        pre, post = math.prod(shape[:dim]), math.prod(shape[dim + 1:])
        y = x
        outer = pre
        for i, (f, d) in enumerate(zip(self.factors(), self.sizes)):
            m = f.T if inverse else f
            inner = post * math.prod(self.sizes[i + 1:])
            if inner == 1:
                y = apply_along(y.reshape(outer, d), m, 1)
            elif outer == 1:
                y = apply_along(y.reshape(d, inner), m, 0)
            else:  # apply_along would move the axis with a copy; a broadcast product does not
                y = torch.matmul(m.to(dtype=x.dtype, device=x.device), y.reshape(outer, d, inner).contiguous())
            outer *= d
        return y.reshape(shape)

    def forward(self, x: Tensor, dim: int) -> Tensor:
        dim = dim % x.dim()
        if self.signs is not None:
            x = x * _moved_view(self.signs.to(x.dtype), x.dim(), dim)
        return self._apply_factors(x, dim, inverse=False)

    def inverse(self, x: Tensor, dim: int) -> Tensor:
        dim = dim % x.dim()
        y = self._apply_factors(x, dim, inverse=True)
        if self.signs is not None:
            y = y * _moved_view(self.signs.to(x.dtype), x.dim(), dim)
        return y

    def synthesize_rows(self, z: Tensor, bias: Tensor | None = None) -> Tensor:
        y = self._apply_factors(z, 1, inverse=True)
        if self.signs is None:
            return y if bias is None else y + bias
        signs = self.signs.to(z.dtype)
        return y * signs if bias is None else torch.addcmul(bias, y, signs)  # signs and bias in one pass

    def matrix(self) -> Tensor:
        factors = self.factors()
        a = factors[0]
        for f in factors[1:]:
            a = torch.kron(a, f)
        return a if self.signs is None else a * self.signs[None, :].to(a.dtype)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        _drop_legacy_matrix(self, state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return f"size={self.size}, kind={self.kind}, factors={self.sizes}"


def _drop_legacy_matrix(transform: AxisTransform, state_dict, prefix: str) -> None:
    """Accept state dicts saved when every transform was a dense ``analysis`` matrix.

    The stored matrix must equal this transform's (same basis); it is then dropped.
    """
    key = prefix + "analysis"
    if key not in state_dict:
        return
    legacy = state_dict.pop(key)
    mine = transform.matrix()
    if tuple(legacy.shape) != tuple(mine.shape) or not torch.allclose(
            legacy.to(device=mine.device, dtype=torch.float64), mine.to(torch.float64), atol=1e-5, rtol=0):
        raise ValueError(
            f"state dict entry {key!r} holds a basis matrix that differs from this model's "
            f"{type(transform).__name__} ({transform.extra_repr()}); load it into a model generalized with "
            "the same basis, seed and shapes (glth_core 0.2 changed the 'random' basis of axes longer than "
            "256: checkpoints of such layers from 0.1 need glth_core 0.1)")


def _largest_prime_factor(n: int) -> int:
    p, largest = 2, 1
    while p * p <= n:
        while n % p == 0:
            largest, n = p, n // p
        p += 1
    return max(largest, n)


def dct_uses_fft(size: int) -> bool:
    """Whether :func:`dct_transform` picks the FFT for length ``size``.

    Measured on a CPU (one thread, 60 to 512 rows): with enough rows the FFT beats the dense
    product from about :data:`DCT_FFT_MIN` for lengths whose prime factors are at most 7
    (FFT-friendly, e.g. 256, 300, 400), and above :data:`DCT_DENSE_MAX` for any length.
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
    """Split ``p = 2^k`` into balanced powers of two, each at most :data:`HADAMARD_BLOCK`."""
    k = p.bit_length() - 1
    if k == 0:
        return []
    block = HADAMARD_BLOCK.bit_length() - 1
    count = -(-k // block)
    exponents = [k // count + (1 if i < k % count else 0) for i in range(count)]
    return [2 ** e for e in exponents]


def hadamard_transform(size: int, seed: int, dtype: torch.dtype | None = None) -> AxisTransform:
    """:func:`hadamard_matrix` as a fast transform (same matrix).

    ``A = (H_{2^k} (x) R_m) diag(s)`` with ``H_{2^k} = H_{b_1} (x) ... (x) H_{b_j}``
    (Sylvester blocks of at most :data:`HADAMARD_BLOCK`): a
    :class:`KroneckerTransform`; a single dense matrix up to :data:`KRONECKER_DENSE_MAX`.
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

    Up to :data:`RANDOM_DENSE_MAX`: one Haar matrix, ``haar_orthogonal_matrix(size, seed)``.
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
