r"""Orthonormal bases of weight tensors, as Kronecker products of per-axis transforms.

A weight ``W`` of shape ``(d_1, ..., d_k)`` is written in a basis by one
orthogonal *analysis* matrix ``A_i`` (``d_i x d_i``, rows = basis vectors) per
axis:

.. math::

    C = W \times_1 A_1 \times_2 A_2 \cdots \times_k A_k  \qquad \text{(analysis, ``Basis.coeffs``)}

    W = C \times_1 A_1^\top \times_2 A_2^\top \cdots \times_k A_k^\top  \qquad \text{(synthesis, ``Basis.weights``)}

where ``x_i`` multiplies along axis ``i`` (``A_i = Q_i^T`` in the design notes).
For a 2-D weight this is ``C = A_out W A_in^T`` and ``W = A_out^T C A_in``. The
basis of the whole tensor is ``A_1 (x) ... (x) A_k`` (Kronecker product, row-major
vectorisation), orthonormal because every factor is, so ``weights(coeffs(w)) == w``
and ``||coeffs(w)|| == ||w||``. Memory is ``O(sum d_i^2)``, never ``O(prod d_i^2)``.

Basis names (:data:`BASIS_NAMES`; :data:`REGISTRY` holds each one's per-axis factory and display label,
:func:`basis_label`):

``"canonical"``
    ``A_i = I``: coefficients are the weights; pruning is classic magnitude pruning.
``"dct"``
    Orthonormal DCT-II on every transformed axis, so ``coeffs(w)`` equals
    ``scipy.fft.dctn(w, type=2, norm="ortho")`` over those axes. By default all
    axes are transformed (a conv kernel ``(out, in, kh, kw)`` gets a 4-D DCT,
    which includes the 2-D DCT over its spatial axes); ``axes=(2, 3)`` restricts
    it to the spatial axes.
``"hadamard"``
    Seeded randomised Walsh-Hadamard per axis: ``A = (H_{2^k} (x) R_m) diag(s)``
    for ``d = 2^k m`` with ``m`` odd, ``H`` the normalised Sylvester Hadamard
    matrix, ``R_m`` a seeded Haar-random orthogonal ``m x m`` matrix (``I`` when
    ``d`` is a power of two) and ``s`` seeded random signs (see
    :func:`glth_core.core.transforms.hadamard_matrix`).
``"random"``
    A seeded random orthogonal matrix per axis: Haar-distributed for axes up to
    :data:`~glth_core.core.transforms.RANDOM_DENSE_MAX` (256); a longer axis whose
    length factors as ``p q`` is the Kronecker product of two seeded Haar
    matrices ``p x p`` and ``q x q`` (300 = 15 x 20: random orthogonal, ``O(p^2 +
    q^2)`` memory and ``p + q`` multiply-adds per element, but not Haar on the
    whole group; see :func:`glth_core.core.transforms.random_transform`).

Implementations: each axis uses the fastest exact transform of
:mod:`glth_core.core.transforms` (dense matrix for short axes, FFT DCT, Kronecker
Hadamard); Hadamard axes up to 256 and DCT axes up to 512 that are short or
FFT-unfriendly are one dense matrix (faster on a CPU at that size, at most
``512 d`` numbers); above, basis memory is ``O(sum d_i)`` for DCT and for
power-of-two Hadamard axes (``d + m^2`` for ``d = 2^k m``), and
``O(sum d_i^2)`` at most otherwise.
``"svd"``
    Fitted to ``weight=``: the weight is viewed as a matrix ``(d_1, d_2 ... d_k)``
    with SVD ``W = U S V^T`` (``full_matrices=True``), and ``A_out = U^T``,
    ``A_in = V^T``, so ``coeffs(weight)`` is the rectangular diagonal ``S``.
    Signs are fixed deterministically: the entry of largest magnitude of each
    left singular vector is positive (the right vector flips with it); the
    remaining (null-space) vectors of ``U`` and ``V`` follow the same rule.

``image_shape=(C, H, W)`` (only for 2-D weights ``(out, in)`` with
``C * H * W == in``) views the input axis as an image: the weight is handled as
a tensor ``(out, C, H, W)``; the output axis and the ``H`` and ``W`` axes get
the basis' transform, the channel axis ``C`` is left canonical (a 2-D transform
per input channel). ``(H, W)`` is accepted as ``(1, H, W)``.

Per-axis randomness is drawn from ``derive_seed(seed, name, "axis", j)`` for view
axis ``j``, so the same ``seed`` gives the same basis on every platform.
"""
from __future__ import annotations

import math
import numbers
from typing import Iterable, Sequence

import torch
from torch import Tensor, nn

from .basis_registry import BASIS_LABELS, REGISTRY, BasisKind, basis_label  # noqa: F401 (re-exported)
from .seeding import check_seed, derive_seed
from .transforms import (
    AxisTransform,
    IdentityTransform,
    MatrixTransform,
)

__all__ = ["BASIS_NAMES", "FIXED_BASES", "ROTATED_BASES", "REGISTRY", "BASIS_LABELS", "BasisKind", "basis_label", "Basis",
           "basis"]


#: Trailing transformed axes whose sizes multiply to at most this are applied as one dense Kronecker
#: matrix, one product on a 2-D view, instead of one product per axis (with the copies that moving a
#: middle axis takes): a conv kernel's 3 x 3 spatial axes (9 x 9), or in-channels x 3 x 3 (144 x 144).
#: Measured on a CPU, this halves a small-CNN kernel's synthesis, forward and backward.
FUSED_AXES_MAX = 256

#: Valid basis names for :func:`basis`.
BASIS_NAMES = tuple(REGISTRY)
#: The bases fixed before training: all but ``svd``, which is fitted to a weight.
FIXED_BASES = tuple(name for name in BASIS_NAMES if name != "svd")
#: The bases that rotate the canonical one: all but ``canonical`` (row pruning in one of
#: them is a low-rank factorisation; in the canonical basis it is unit pruning).
ROTATED_BASES = tuple(name for name in BASIS_NAMES if name != "canonical")


def _check_shape(shape, name: str = "shape") -> tuple[int, ...]:
    if isinstance(shape, torch.Size):
        shape = tuple(shape)
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (int(shape),)
    if not isinstance(shape, Sequence) or isinstance(shape, str) or len(shape) == 0:
        raise TypeError(f"{name} must be a non-empty tuple of positive ints such as (300, 784), got {shape!r}")
    out = []
    for d in shape:
        if isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 1:
            raise ValueError(f"{name} must contain positive ints only, got {tuple(shape)!r}")
        out.append(int(d))
    return tuple(out)


class Basis(nn.Module):
    """An orthonormal basis of tensors of shape ``shape`` (see the module docstring).

    Attributes:
        name: the basis name.
        shape: the weight shape it applies to.
        view_shape: the axes the per-axis transforms act on (``shape`` itself,
            ``(out, C, H, W)`` with ``image_shape``, ``(out, prod(rest))`` for svd).
        transforms: one ``glth_core.core.transforms.AxisTransform`` per view axis.
        active_axes: ``(view axis, transform)`` of the non-identity axes, in axis order.
        active_input_axes: the entries of ``active_axes`` with view axis ``> 0``.
        output_transform: the transform of the output axis 0, or None if it is the identity.

    ``coeffs(w)`` and ``weights(c)`` are shape-preserving (``shape -> shape``),
    differentiable, and follow the device and dtype of their input. The transforms
    are fixed at construction (which axes are transformed is cached); build a new
    basis rather than replacing entries of ``transforms``.
    """

    def __init__(self, name: str, shape: tuple[int, ...], view_shape: tuple[int, ...],
                 transforms: Iterable[AxisTransform], image_shape: tuple[int, ...] | None = None):
        super().__init__()
        self.name = name
        self.shape = tuple(shape)
        self.view_shape = tuple(view_shape)
        self.image_shape = image_shape
        self.transforms = nn.ModuleList(transforms)
        if [t.size for t in self.transforms] != list(self.view_shape):
            raise ValueError("internal error: transform sizes do not match the view shape")
        # (view axis, transform) of the non-identity axes, as plain tuples: the forward of a
        # generalized layer walks them on every call, and ModuleList indexing costs microseconds
        active = tuple((j, t) for j, t in enumerate(self.transforms) if not t.is_identity)
        self.active_axes = active
        self.active_input_axes = tuple((j, t) for j, t in active if j > 0)
        # not an attribute assignment: nn.Module would register the transform a second time
        # (duplicate state-dict entries)
        self.__dict__["output_transform"] = active[0][1] if active and active[0][0] == 0 else None

    def _check(self, x: Tensor, argname: str) -> None:
        if not isinstance(x, Tensor):
            raise TypeError(f"{argname} must be a torch.Tensor of shape {self.shape}, got {type(x).__name__}")
        if tuple(x.shape) != self.shape:
            raise ValueError(
                f"{argname} has shape {tuple(x.shape)} but this {self.name!r} basis was built for shape "
                f"{self.shape}; build a basis with basis({self.name!r}, shape={tuple(x.shape)})")
        if not x.is_floating_point():  # integer products would truncate every coefficient towards 0
            raise TypeError(f"{argname} must be a floating-point tensor, got dtype {x.dtype}; convert it first, "
                            f"e.g. {argname}.to(torch.get_default_dtype())")

    def apply_transforms(self, x: Tensor, inverse: bool, axes: Iterable[int] | None = None) -> Tensor:
        """Analysis (``inverse=False``) or synthesis along the view ``axes`` (default: all) of ``x``.

        ``x`` has shape ``shape`` or ``(r,) + shape[1:]`` (the leading axis may differ);
        returns the same shape. Unlike :meth:`coeffs`/:meth:`weights`, no shape check.
        """
        if axes is None:
            active = self.active_axes
        else:
            axes = set(axes)
            active = [(j, t) for j, t in self.active_axes if j in axes]
        return self._walk(x, active, inverse)

    def _walk(self, x: Tensor, active, inverse: bool) -> Tensor:
        """Apply the ``(view axis, transform)`` pairs ``active`` to ``x`` viewed as ``(rows,) + view_shape[1:]``."""
        plain = x.dim() == len(self.view_shape)  # rows are not viewed as images: no reshapes
        y = x if plain else x.reshape((x.shape[0],) + self.view_shape[1:])
        active, tail = self._fused_tail(active)
        if tail:  # y[..., i] = sum_k K[i, k] x[..., k] over the flattened tail (K^T for synthesis)
            kron = self._tail_matrix(tail, y)
            flat = y.reshape(-1, kron.shape[0])
            y = (flat @ kron if inverse else flat @ kron.T).reshape(y.shape)
        for j, t in reversed(active):  # trailing axes first, while the tensor is still contiguous
            y = t.inverse(y, j) if inverse else t(y, j)
        return y if plain else y.reshape(x.shape)

    def _fused_tail(self, active):
        """``(the rest of active, tail)``: the longest run of consecutive transformed axes that ends at the last
        view axis, has at least two axes and sizes multiplying to at most :data:`FUSED_AXES_MAX`."""
        last, size, n = len(self.view_shape) - 1, 1, 0
        while (n < len(active) and active[-1 - n][0] == last - n
               and size * active[-1 - n][1].size <= FUSED_AXES_MAX):
            size *= active[-1 - n][1].size
            n += 1
        return (active[:len(active) - n], tuple(active[len(active) - n:])) if n >= 2 else (active, ())

    def _tail_matrix(self, tail, like: Tensor) -> Tensor:
        """The Kronecker product of the tail's analysis matrices (row-major flattening), in ``like``'s dtype and
        device; kept until the transforms' tables move (``.to()``) or another dtype or device asks for it."""
        tables = tuple(b.data_ptr() for _, t in tail for b in t.buffers())
        key = (tuple(j for j, _ in tail), like.dtype, like.device, tables)
        cache = self.__dict__.setdefault("_tail_cache", {})
        if key not in cache:
            kron = tail[0][1].matrix()
            for _, t in tail[1:]:
                m = t.matrix()
                kron = torch.kron(kron, m.to(kron.device))
            cache.clear()
            cache[key] = kron.to(dtype=like.dtype, device=like.device).contiguous()
        return cache[key]

    def analyse_inputs(self, x: Tensor) -> Tensor:
        """Analysis along the input axes of rows ``x`` of shape ``(batch, prod(shape[1:]))``.

        For a 2-D basis ``W = A_out^T C A_in`` this is ``x A_in^T``, so that
        ``x W^T = (x A_in^T) C^T A_out``; returns the same shape.
        """
        return self._walk(x, self.active_input_axes, inverse=False)

    def coeffs(self, w: Tensor) -> Tensor:
        """Analysis: coefficients ``C`` of weight ``w`` (shape ``shape`` -> ``shape``)."""
        self._check(w, "w")
        return self.apply_transforms(w, inverse=False)

    def weights(self, c: Tensor) -> Tensor:
        """Synthesis: the weight with coefficients ``c`` (shape ``shape`` -> ``shape``)."""
        self._check(c, "c")
        return self.apply_transforms(c, inverse=True)

    def synthesize_input_axes(self, c_rows: Tensor) -> Tensor:
        """Synthesise along every axis but the output axis 0.

        ``c_rows`` has shape ``(r,) + shape[1:]`` (any ``r``, e.g. the kept rows
        of ``C``); returns the same shape. Used by low-rank export:
        ``W = A_out^T C = A_out^T[:, keep] (C[keep] synthesised over the input axes)``.
        """
        if tuple(c_rows.shape[1:]) != self.shape[1:]:
            raise ValueError(f"c_rows must have shape (r,) + {self.shape[1:]}, got {tuple(c_rows.shape)}")
        return self._walk(c_rows, self.active_input_axes, inverse=True)

    def output_matrix(self) -> Tensor:
        """The dense analysis matrix ``A_out`` of the output axis 0 (``shape[0] x shape[0]``)."""
        return self.transforms[0].matrix()

    @property
    def is_canonical(self) -> bool:
        return not self.active_axes

    @property
    def transforms_input(self) -> bool:
        """Whether any input axis (every axis but 0) is transformed."""
        return bool(self.active_input_axes)

    def extra_repr(self) -> str:
        s = f"name={self.name!r}, shape={self.shape}"
        if self.image_shape is not None:
            s += f", image_shape={self.image_shape}"
        return s


def _axis_transform(name: str, size: int, seed: int, dtype: torch.dtype) -> AxisTransform:
    return REGISTRY[name].axis_transform(size, seed, dtype)


def _fix_signs(vectors: Tensor) -> Tensor:
    """Flip each column so its entry of largest magnitude is positive; returns the signs."""
    idx = vectors.abs().argmax(dim=0)
    signs = torch.sign(vectors[idx, torch.arange(vectors.shape[1])])
    signs[signs == 0] = 1.0
    return signs


def _svd_matrices(weight: Tensor) -> tuple[Tensor, Tensor]:
    w = weight.detach().to(device="cpu", dtype=torch.float64).reshape(weight.shape[0], -1)
    u, _, vh = torch.linalg.svd(w, full_matrices=True)
    v = vh.T.clone()
    k = min(w.shape)
    s_left = _fix_signs(u)
    s_left_k = s_left[:k]
    u = u * s_left[None, :]
    v[:, :k] *= s_left_k[None, :]
    if v.shape[1] > k:
        v[:, k:] *= _fix_signs(v[:, k:])[None, :]
    return u.T.contiguous(), v.T.contiguous()  # analysis matrices A_out = U^T, A_in = V^T


def basis(name: str, shape, *, seed: int = 0, image_shape=None, weight: Tensor | None = None,
          axes: Iterable[int] | None = None, dtype: torch.dtype | None = None) -> Basis:
    """Build an orthonormal :class:`Basis` of tensors of shape ``shape``.

    Args:
        name: one of :data:`BASIS_NAMES`.
        shape: the weight shape, e.g. ``(300, 784)`` or ``(16, 3, 3, 3)``.
        seed: seeds the random parts (``"random"``, ``"hadamard"``).
        image_shape: ``(C, H, W)`` or ``(H, W)``; 2-D weights only, ``C*H*W == shape[1]``.
        weight: the tensor to fit, for ``"svd"`` only (shape ``shape``).
        axes: tensor axes to transform (default: all); the others stay canonical.
            For ``"svd"``, 0 is the output axis and 1 the flattened input axes.
        dtype: dtype of the stored matrices (default ``torch.get_default_dtype()``).

    Returns:
        A :class:`Basis` (an ``nn.Module``; ``.to(device)`` moves its matrices).

    Raises:
        ValueError: an unknown name, a bad ``shape``, ``image_shape`` or ``axes``, or
            ``weight`` missing (``"svd"``), given to another basis, or of another shape.
        TypeError: a non-floating ``dtype``, or ``weight``/``axes`` of the wrong type.
    """
    if not isinstance(name, str) or name not in BASIS_NAMES:
        raise ValueError(f"unknown basis name {name!r}: name must be one of {', '.join(map(repr, BASIS_NAMES))}")
    shape = _check_shape(shape)
    seed = check_seed(seed)
    dtype = torch.get_default_dtype() if dtype is None else dtype
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype such as torch.float32, got {dtype!r}")

    if image_shape is not None:
        image_shape = _check_shape(image_shape, "image_shape")
        if len(image_shape) == 2:
            image_shape = (1,) + image_shape
        if len(image_shape) != 3:
            raise ValueError(f"image_shape must be (C, H, W) or (H, W), got {image_shape!r}")
        if len(shape) != 2:
            raise ValueError(
                f"image_shape applies to 2-D (Linear) weights only, but shape is {shape}; "
                "drop image_shape for conv kernels (their spatial axes are already transformed)")
        if math.prod(image_shape) != shape[1]:
            raise ValueError(
                f"image_shape {image_shape} has {math.prod(image_shape)} elements but the input axis of "
                f"shape {shape} has {shape[1]}; pass image_shape whose product is {shape[1]}")
        if name == "svd":
            raise ValueError("image_shape cannot be used with the 'svd' basis (it is fitted to the whole input "
                             "axis); drop image_shape or choose another basis")

    if name == "svd":
        if weight is None:
            raise ValueError("the 'svd' basis is fitted to a weight: pass weight=<tensor of shape "
                             f"{shape}>, e.g. basis('svd', w.shape, weight=w)")
        if not isinstance(weight, Tensor):
            raise TypeError(f"weight must be a torch.Tensor, got {type(weight).__name__}")
        if tuple(weight.shape) != shape:
            raise ValueError(f"weight has shape {tuple(weight.shape)} but shape is {shape}; they must match")
        if len(shape) < 2:
            raise ValueError(f"the 'svd' basis needs a weight with at least 2 axes, got shape {shape}")
    elif weight is not None:
        raise ValueError(f"weight= is only used by the 'svd' basis; drop it for the {name!r} basis")

    n_axes = 2 if name == "svd" else len(shape)
    if axes is None:
        axes_set = set(range(n_axes))
    else:
        try:
            axes_set = {int(a) for a in axes}
        except TypeError:
            raise TypeError(f"axes must be an iterable of ints such as (0, 1), got {axes!r}") from None
        bad = [a for a in axes_set if not 0 <= a < n_axes]
        if bad:
            raise ValueError(f"axes {sorted(axes_set)} out of range for {n_axes} axes; use values in 0..{n_axes - 1}")

    if name == "svd":
        view = (shape[0], math.prod(shape[1:]))
        a_out, a_in = _svd_matrices(weight)
        transforms = [
            MatrixTransform(a_out.to(dtype), kind="svd") if 0 in axes_set else IdentityTransform(view[0]),
            MatrixTransform(a_in.to(dtype), kind="svd") if 1 in axes_set else IdentityTransform(view[1]),
        ]
        return Basis(name, shape, view, transforms)

    view: list[int] = []
    transformed: list[bool] = []
    for t, d in enumerate(shape):
        if image_shape is not None and t == 1:
            view += list(image_shape)
            transformed += [False, t in axes_set, t in axes_set]  # channel axis stays canonical
        else:
            view.append(d)
            transformed.append(t in axes_set)
    transforms = [
        _axis_transform(name, d, derive_seed(seed, name, "axis", j), dtype) if on else IdentityTransform(d)
        for j, (d, on) in enumerate(zip(view, transformed))
    ]
    return Basis(name, shape, tuple(view), transforms, image_shape=image_shape)
