r"""Reparametrise a model's weights by masked coefficients in an orthonormal basis.

For each generalized layer the trainable parameter is the coefficient tensor
``C`` (``module.parametrizations.weight.original``) and the weight the layer
uses is computed on every access by :class:`GeneralizedWeight`:

.. math::

    W = \mathrm{synthesis}(M \odot C) \; [+\, W_0]

with ``M`` the 0/1 ``mask`` buffer and ``W_0`` an optional frozen ``offset``
buffer (random-subspace mode of Li et al., 2018). This is a
:func:`torch.nn.utils.parametrize.register_parametrization`, so

* the mask sits inside the forward: the gradient of a masked coefficient is
  exactly zero, ``dL/dC = M * analysis(dL/dW)``, and the effective weight lies
  exactly in the masked subspace whatever the optimiser does;
* with plain SGD (any momentum, L2 weight decay) a step on ``C`` is the
  projected step on ``W``: ``W' = (1 - lr wd) W - lr B diag(M) B^T grad_W``
  (``B`` the orthonormal synthesis), because the basis is orthonormal;
* the *stored* value of a masked coefficient is set to 0 whenever masks change
  (:func:`glth_core.pruning.prune`, ``set_masks``, ``rewind``); SGD (with
  momentum, weight decay) and Adam/AdamW started after pruning keep it at 0, but
  an optimiser whose momentum state predates the pruning can move it. Only the
  effective coefficients ``M * C`` matter, and every counting function
  (``density``, ``masks``, ``count_parameters``) counts those.

Saving: ``torch.save(model)`` does not work for parametrized modules (PyTorch
refuses to pickle them). Save ``model.state_dict()`` and load it into a model
generalized with the same call; or :func:`glth_core.export.export` a plain model.
The state dict holds the coefficients, masks, offsets and basis matrices.
"""
from __future__ import annotations

from typing import Mapping

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from .bases import BASIS_NAMES, Basis, basis as make_basis
from .transforms import check_seed, derive_seed

__all__ = ["GeneralizedWeight", "generalize", "generalized_layers", "coefficients", "PRUNABLE_TYPES"]

#: Module types generalized by default (their ``weight``).
PRUNABLE_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)

_BASIS_OPTIONS = ("axes",)


class GeneralizedWeight(nn.Module):
    """Parametrization ``C -> W = basis.weights(mask * C) (+ offset)``.

    Buffers: ``mask`` (0/1, shape of ``C``), ``offset`` (frozen ``W_0`` or absent).
    ``right_inverse(W) = mask * basis.coeffs(W - offset)``, so registering it makes
    ``module.parametrizations.weight.original`` the coefficient tensor.
    """

    def __init__(self, basis: Basis, offset: Tensor | None = None, dtype: torch.dtype | None = None,
                 device=None):
        super().__init__()
        self.basis = basis
        self.register_buffer("mask", torch.ones(basis.shape, dtype=dtype, device=device))
        self.register_buffer("offset", None if offset is None else offset.detach().clone())

    def forward(self, coefficients: Tensor) -> Tensor:
        w = self.basis.weights(self.mask * coefficients)
        return w if self.offset is None else w + self.offset

    def right_inverse(self, weight: Tensor) -> Tensor:
        if self.offset is not None:
            weight = weight - self.offset
        return self.mask * self.basis.coeffs(weight)

    def extra_repr(self) -> str:
        return f"offset={'W0' if self.offset is not None else None}"


def _generalized_weight(module: nn.Module) -> GeneralizedWeight | None:
    if not parametrize.is_parametrized(module, "weight"):
        return None
    for p in module.parametrizations.weight:
        if isinstance(p, GeneralizedWeight):
            return p
    return None


def generalized_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The generalized modules of ``model`` by qualified name, in registration order."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return {name: m for name, m in model.named_modules() if _generalized_weight(m) is not None}


def coefficients(module: nn.Module) -> Tensor:
    """The coefficient parameter ``C`` of a generalized module (stored values, not masked)."""
    if _generalized_weight(module) is None:
        raise ValueError("module is not generalized: call glth_core.generalize(model) first")
    return module.parametrizations.weight.original


def require_generalized(model: nn.Module, what: str) -> dict[str, nn.Module]:
    """``generalized_layers(model)``, or a ValueError saying to call ``generalize`` first."""
    layers = generalized_layers(model)
    if not layers:
        raise ValueError(
            f"model has no generalized layers, so {what} has nothing to act on: call "
            "glth_core.generalize(model, basis='dct') (or another basis) first")
    return layers


def _default_layers(model: nn.Module) -> list[str]:
    return [name for name, m in model.named_modules()
            if isinstance(m, PRUNABLE_TYPES) and isinstance(getattr(m, "weight", None), Tensor)]


def generalize(model: nn.Module, basis="dct", layers=None, *, seed: int = 0, image_shape=None,
               offset: str | None = None, **options) -> nn.Module:
    """Reparametrise prunable weights of ``model`` in an orthonormal basis, in place.

    Args:
        model: any ``nn.Module``.
        basis: a name in :data:`~glth_core.bases.BASIS_NAMES`, or a dict
            ``{layer_name: basis_name}`` (then only those layers, unless ``layers``
            is given, in which case every layer needs an entry).
        layers: qualified module names to generalize (default: every
            ``nn.Linear`` / ``nn.Conv1d/2d/3d`` in ``model.named_modules()`` order).
        seed: per-layer seeds are ``derive_seed(seed, "layer", name)``.
        image_shape: ``(C, H, W)`` for the *first* generalized layer (the first in
            registration order, the one expected to read the data); it must be a
            Linear layer with ``C*H*W`` inputs. Other layers are unaffected, and
            so is an ``"svd"`` first layer (fitted to the whole input axis).
        offset: ``None``, or ``"init"``: freeze the current weight as ``W_0`` and
            start the coefficients at 0, ``W = W_0 + synthesis(M * C)``.
        **options: passed to :func:`~glth_core.bases.basis` (``axes=``).

    Returns:
        ``model`` itself; its outputs are unchanged up to float round-off.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    seed = check_seed(seed)
    unknown = sorted(set(options) - set(_BASIS_OPTIONS))
    if unknown:
        raise TypeError(f"generalize() got unknown option(s) {unknown}; valid options: {list(_BASIS_OPTIONS)}")
    if offset not in (None, "init"):
        raise ValueError(f"offset must be None or 'init' (freeze the current weight as W0), got {offset!r}")

    if layers is not None:
        if isinstance(layers, str) or not all(isinstance(n, str) for n in layers):
            raise TypeError(f"layers must be a list of module names such as ['fc1', 'fc2'], got {layers!r}")
        layers = list(layers)
    if isinstance(basis, Mapping):
        names_by_layer = dict(basis)
        if layers is None:
            layers = list(names_by_layer)
        missing = [n for n in layers if n not in names_by_layer]
        if missing:
            raise ValueError(f"basis dict has no entry for layer(s) {missing}; add them to the basis dict")
    elif isinstance(basis, str):
        names_by_layer = None
    else:
        raise TypeError(f"basis must be a basis name {BASIS_NAMES} or a dict {{layer_name: basis_name}}, "
                        f"got {type(basis).__name__}")

    modules = dict(model.named_modules())
    if layers is None:
        layers = _default_layers(model)
        if not layers:
            raise ValueError("model has no nn.Linear or nn.Conv layer to generalize; pass layers=[...] by name")
    else:
        order = {n: i for i, n in enumerate(modules)}
        for n in layers:
            if n not in modules:
                raise ValueError(f"layers: no module named {n!r} in the model; prunable modules are "
                                 f"{_default_layers(model)}")
            if not isinstance(getattr(modules[n], "weight", None), Tensor):
                raise ValueError(f"layers: module {n!r} ({type(modules[n]).__name__}) has no weight tensor")
        if len(set(layers)) != len(layers):
            raise ValueError(f"layers contains duplicates: {layers}")
        layers = sorted(layers, key=order.__getitem__)
    already = [n for n in layers if parametrize.is_parametrized(modules[n], "weight")]
    if already:
        raise ValueError(f"layer(s) {already} are already parametrized (generalized?); generalize each layer once, "
                         "e.g. generalize a fresh model or pass layers=[...] without them")

    for i, name in enumerate(layers):
        module = modules[name]
        w = module.weight.detach()
        basis_name = names_by_layer[name] if names_by_layer is not None else basis
        # the svd basis is fitted to the whole input axis, so it has no image view
        layer_image_shape = image_shape if i == 0 and basis_name != "svd" else None
        if layer_image_shape is not None and w.dim() != 2:
            raise ValueError(f"image_shape applies to the first generalized layer, {name!r}, whose weight has "
                             f"shape {tuple(w.shape)}; it must be a Linear layer reading flattened images "
                             "(drop image_shape for conv models)")
        b = make_basis(basis_name, tuple(w.shape), seed=derive_seed(seed, "layer", name),
                       image_shape=layer_image_shape, weight=w if basis_name == "svd" else None,
                       dtype=w.dtype, **options).to(w.device)
        param = GeneralizedWeight(b, offset=w if offset == "init" else None, dtype=w.dtype, device=w.device)
        parametrize.register_parametrization(module, "weight", param)
    return model
