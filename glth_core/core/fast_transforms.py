r"""Fast per-axis transforms with their autograd: the DCT by one real FFT and Kronecker products.

Each is exact up to float round-off and device-agnostic; :class:`_Orthogonal` gives them the
backward of an orthogonal map (the gradient of ``A x`` is ``A^T g``). The sizes at which each is
used are the constants below (see :mod:`glth_core.core.transforms`).
"""
from __future__ import annotations

import math

import scipy.fft
import torch
from torch import Tensor
from torch.nn import functional as F

from .matrices import AxisTransform, _dense_along, _dense_synthesize_rows, apply_along, dct_matrix

try:  # the C++ module behind scipy.fft.dct: calling it directly skips about 13 us of argument checks per call
    from scipy.fft._pocketfft import pypocketfft as _pypocketfft
except ImportError:  # pragma: no cover - a scipy that moved it: the public function does the same
    _pypocketfft = None

__all__ = ["DCTTransform", "KroneckerTransform"]


#: DCT axes longer than this always use the FFT; shorter ones the dense matrix (memory <= DCT_DENSE_MAX * d)
#: unless :func:`~glth_core.core.transforms.dct_uses_fft` finds an FFT-friendly length of at least :data:`DCT_FFT_MIN`.
DCT_DENSE_MAX = 512
#: Shortest FFT-friendly DCT length that uses the FFT (below it the dense product is faster on a CPU).
DCT_FFT_MIN = 240
#: Costs of a DCT of length ``d`` on ``r`` rows on a CPU, forward and backward together, in microseconds
#: (one thread, measured with ``benchmarks/dct_costs.py``): the dense product ``DENSE_FIXED_US +
#: r d^2 / DENSE_MACS_PER_US``, pocketfft ``FFT_FIXED_US + r d log2(d) / FFT_OPS_PER_US`` (its autograd
#: function and two scipy calls cost more per call than torch's native products). An FFT axis up to
#: :data:`DCT_DENSE_MAX` keeps its dense matrix and uses whichever is cheaper for the call's rows:
#: the dense product for fewer than about 8 rows of 300, pocketfft from there.
DENSE_FIXED_US, DENSE_MACS_PER_US = 0.0, 21_000.0
FFT_FIXED_US, FFT_OPS_PER_US = 32.0, 2_200.0
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


def dense_is_cheaper(rows: int, size: int) -> bool:
    """Whether a dense DCT product of ``rows`` rows of length ``size`` costs less than pocketfft on a CPU."""
    dense = DENSE_FIXED_US + rows * size * size / DENSE_MACS_PER_US
    return dense < FFT_FIXED_US + rows * size * math.log2(size) / FFT_OPS_PER_US


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
        return _orthogonal_adjoint(grad, ctx.transform, ctx.dim, ctx.inverse), None, None, None


def _orthogonal_adjoint(grad: Tensor, transform, dim: int, inverse: bool) -> Tensor:
    """The gradient through ``transform`` along ``dim`` (the opposite direction), differentiable again
    when the backward itself builds a graph (``create_graph=True``)."""
    if torch.is_grad_enabled():
        return _Orthogonal.apply(grad, transform, dim, not inverse)
    return transform._apply_raw(grad, dim, not inverse)


class _SynthesizedRows(torch.autograd.Function):
    """``transform.inverse(z, -1) + bias`` for rows ``z`` (the output side of a generalized Linear layer),
    with the bias added in place to the fresh output: one autograd node instead of two. Backward: the
    analysis of the gradient for ``z``, its column sums for ``bias``."""

    @staticmethod
    def forward(ctx, z, transform, bias):
        ctx.transform = transform
        y = transform._apply_raw(z, z.dim() - 1, True)
        return y.add_(bias)

    @staticmethod
    def backward(ctx, grad):
        grad_z = _orthogonal_adjoint(grad, ctx.transform, grad.dim() - 1, True)
        grad_bias = grad.sum(0) if ctx.needs_input_grad[2] else None
        return grad_z, None, grad_bias


#: Dtypes an FFT DCT computes in float32 (and casts back).
_FFT_UPCAST = (torch.float16, torch.bfloat16)
#: Numbers from which a pocketfft DCT uses torch's thread count (measured on two cores: 512 rows of 300
#: gain from a second thread, 128 rows lose).
POCKETFFT_PARALLEL_MIN = 1 << 17
#: Dtypes a CPU DCT hands to pocketfft (``scipy.fft``) instead of torch's FFT.
_POCKETFFT_DTYPES = (torch.float32, torch.float64)


def _pocketfft_dct(x: Tensor, dim: int, inverse: bool) -> Tensor:
    """Orthonormal DCT-II (or, if ``inverse``, its inverse DCT-III) of CPU tensor ``x`` along ``dim``, by pocketfft.

    ``scipy.fft.dct`` runs the whole transform in one C++ call (its own real FFT with the pre- and
    post-processing of Makhoul's algorithm), where the torch version takes half a dozen kernels and
    complex intermediates: two to four times faster for LeNet's 300-unit axis at 60 to 512 rows (one
    thread). From :data:`POCKETFFT_PARALLEL_MIN` numbers on, ``workers`` follows torch's thread count
    (below it, waking a second thread costs more than it saves: 85 against 34 microseconds for 60 rows
    of 300 on two cores); each row is transformed alone, so the result does not depend on it.
    """
    workers = torch.get_num_threads() if x.numel() >= POCKETFFT_PARALLEL_MIN else 1
    a = x.detach().numpy()
    if _pypocketfft is not None:  # inverse of the orthonormal DCT-II = orthonormal DCT-III (inorm 1: ortho)
        return torch.from_numpy(_pypocketfft.dct(a, 3 if inverse else 2, (dim,), 1, None, workers, None))
    fn = scipy.fft.idct if inverse else scipy.fft.dct
    return torch.from_numpy(fn(a, type=2, norm="ortho", axis=dim, workers=workers))


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
        """Whether the kept dense matrix is cheaper than the FFT for ``x`` (the cost model above, on a CPU).

        On a GPU, where a step of this size is bound by kernel launches, one matrix product is
        expected to beat the FFT's half-dozen kernels at any batch (not measured: no GPU was
        available to this project's benchmarks yet), so a kept dense matrix is always used there.
        """
        if self.dense is None:
            return False
        return x.device.type != "cpu" or dense_is_cheaper(x.numel() // self.size, self.size)

    def _apply_raw(self, x: Tensor, dim: int, inverse: bool) -> Tensor:
        if x.dtype in _FFT_UPCAST:  # torch's FFTs have no float16/bfloat16 kernels on a CPU (and few on a GPU)
            return self._apply_raw(x.float(), dim, inverse).to(x.dtype)
        if x.device.type == "cpu" and x.dtype in _POCKETFFT_DTYPES:
            return _pocketfft_dct(x, dim, inverse)
        return self._apply_torch_fft(x, dim, inverse)

    def _apply_torch_fft(self, x: Tensor, dim: int, inverse: bool) -> Tensor:
        """Makhoul's algorithm in torch operations (any device and dtype torch's FFT takes)."""
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
        if bias is None or z.dim() != 2 or bias.dtype != z.dtype:
            return super().synthesize_rows(z, bias)
        return _SynthesizedRows.apply(z, self, bias)

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
        (:func:`~glth_core.core.matrices.apply_along` on a 2-D view) when ``inner == 1`` (the last sub-axis of a last
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


