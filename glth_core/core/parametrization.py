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
  (:func:`glth_core.core.pruning.prune`, ``set_masks``, ``rewind``); SGD (with
  momentum, weight decay) and Adam/AdamW started after pruning keep it at 0, but
  an optimiser whose momentum state predates the pruning can move it. Only the
  effective coefficients ``M * C`` matter, and every counting function
  (``density``, ``masks``, ``count_parameters``) counts those.

Fast forward. ``module.weight`` (the parametrization) stays the weight for
everything that reads it (export, pruning, state dicts, ``parametrize.cached()``),
but a generalized ``nn.Linear`` computes its *output* from the coefficients
directly, applying each side of the basis where it is cheaper. With the 2-D
view ``W = A_out^T C' A_in`` (``C' = M * C``, ``A_in`` possibly the Kronecker
product of the image axes),

.. math::

    y = x W^\top = \big((x A_{in}^\top)\, C'^\top\big) A_{out},

so the input transform can act on the activations ``x`` (analysis of each row)
or be synthesised into the weight, and likewise the output transform on ``z =
x C'^T`` (synthesis of each row) or on the weight. Counting multiply-adds of a
forward and backward pass with ``B`` rows in ``x`` and ``c`` the cost per
element of a transform, the weight side costs ``2 out in c`` and the
activation side ``B in c (1 + g)`` for the input axis (``g = 1`` when ``x``
needs a gradient, ``0`` for a first layer reading data) and ``2 B out c`` for
the output axis; ``c`` cancels, so :func:`~glth_core.core.fast_forward.plan` puts

* the input transform on the activations iff ``B (1 + g) < 2 out``,
* the output transform on the activations iff ``B < in``.

A first layer reading data can go further: its input transform is a fixed
map of the data, so :func:`~glth_core.core.fast_forward.analyse_inputs` applies it to a whole data set
once and, inside :func:`~glth_core.core.fast_forward.inputs_analysed`, the layer reads those rows and
skips it (the experiment engine does this for every round it trains).

Conv layers (where ``B`` counts every output pixel, so the weight side always
wins) and layers with an ``offset`` use the weight side. Gradients reach
``C`` exactly as through the parametrization (the same linear map). When no
gradient is needed for ``C`` (``torch.no_grad()``, inference mode, frozen
coefficients) the synthesised weight is cached and reused until the
coefficients, mask, offset or basis tables change (their ``data_ptr`` and
in-place version counters), so inference costs what a plain layer costs.
(In-place writes through ``tensor.data`` bypass version counters: use
``torch.no_grad()`` and write to the tensor itself.) ``parametrize.cached()``
is honoured as usual.

Beyond Linear and Conv layers, :func:`~glth_core.core.generalize.generalize` takes any weight tensor by its
parameter path (:mod:`glth_core.core.params`) and splits stacked ones into blocks with
their own basis and mask (:mod:`glth_core.core.views`: attention's query, key and
value; recurrent gates).

Saving: ``torch.save(model)`` does not work for parametrized modules (PyTorch
refuses to pickle them). Save ``model.state_dict()`` and load it into a model
generalized with the same call; or :func:`glth_core.core.export.export` a plain model;
or keep the compact ticket file of :mod:`glth_core.core.tickets`.
The state dict holds the coefficients, masks, offsets and the dense basis
matrices (``"random"``, ``"svd"``, short axes); the tables of fast transforms
(FFT DCT, Kronecker Hadamard) are rebuilt from the seed and not stored. State
dicts saved when every transform was dense still load (the stored matrix is
checked against the rebuilt one).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from .bases import Basis
from .internals import tensor_version

__all__ = [
    "GeneralizedWeight",
    "generalize",
    "generalized_layers",
    "coefficients",
    "plan",
    "PRUNABLE_TYPES",
    "STRATEGIES",
    "analyse_inputs",
    "inputs_analysed",
    "generalized_weight",
    "require_generalized",
    "require_analysable",
    "prunable_layers",
    "serves_cached_weights",
]


#: Values of ``GeneralizedWeight.strategy``: ``"auto"`` (cost model), ``"weight"`` (always
#: synthesise ``W``), ``"activation"`` (transform the activations wherever the layer allows).
STRATEGIES = ("auto", "weight", "activation")

#: Module types of :func:`~glth_core.core.generalize.prunable_layers` (their ``weight``); :func:`~glth_core.core.generalize.generalize` takes more by default
#: (embeddings, transposed convolutions, attention, recurrent layers: :func:`glth_core.core.params.default_parameters`).
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
        self.strategy = "auto"
        self.inputs_analysed = False  # set only by parametrization.inputs_analysed()
        self._cache = None

    def forward(self, coefficients: Tensor) -> Tensor:
        w = self.basis.weights(self.mask * coefficients)
        return w if self.offset is None else w + self.offset

    def cached_weight(self, coefficients: Tensor) -> Tensor:
        """``forward(coefficients)`` without autograd, reused while no input tensor changed.

        The key is ``(data_ptr, _version)`` of the coefficients, mask, offset and
        every basis buffer; the cache keeps those tensors alive, so a freed address
        cannot be reused by a different tensor while the key refers to it.
        """
        tensors = [coefficients, self.mask] + ([] if self.offset is None else [self.offset])
        tensors += list(self.basis.buffers())
        key = tuple((t.data_ptr(), tensor_version(t), t.dtype, t.device) for t in tensors)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        with torch.no_grad():
            w = self(coefficients).contiguous()  # a synthesised W can be a transposed view; keep the plain layout
        self._cache = (key, w, [t.detach() for t in tensors])
        return w

    def __getstate__(self):
        state = super().__getstate__()
        state["_cache"] = None  # deepcopy / pickle: the cache is rebuilt on demand
        return state

    def right_inverse(self, weight: Tensor) -> Tensor:
        if self.offset is not None:
            weight = weight - self.offset
        return self.mask * self.basis.coeffs(weight)

    def extra_repr(self) -> str:
        return f"offset={'W0' if self.offset is not None else None}"


def generalized_weight(module: nn.Module) -> GeneralizedWeight | None:
    """The :class:`GeneralizedWeight` parametrization of ``module.weight``, or None if it has none."""
    if not parametrize.is_parametrized(module, "weight"):
        return None
    for p in module.parametrizations.weight:
        if isinstance(p, GeneralizedWeight):
            return p
    return None


def generalized_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The generalized modules of ``model`` by qualified name, in registration order.

    Args:
        model: any ``nn.Module``.

    Returns:
        ``{qualified name: module}`` of the modules whose ``weight`` is a
        :class:`GeneralizedWeight` parametrization (empty if none).

    Raises:
        TypeError: ``model`` is not an ``nn.Module``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return {name: m for name, m in model.named_modules() if generalized_weight(m) is not None}


def coefficients(module: nn.Module) -> Tensor:
    """The coefficient parameter ``C`` of a generalized module (stored values, not masked).

    Args:
        module: one generalized layer (a value of :func:`generalized_layers`).

    Returns:
        The trainable ``nn.Parameter`` ``C``, of the weight's shape (``(n_out, n_in)`` or
        ``(out_channels, in_channels, kh, kw)``); the layer uses ``mask * C``.

    Raises:
        ValueError: ``module`` is not generalized.
    """
    if generalized_weight(module) is None:
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


#: Names defined by :mod:`.generalize` and :mod:`.fast_forward` (which import this module), readable
#: from here too: imported on first use (PEP 562), so that either module may be imported first.
_MOVED = {**dict.fromkeys(("generalize", "prunable_layers", "layer_basis", "register_generalized"), "generalize"),
          **dict.fromkeys(("plan", "analyse_inputs", "inputs_analysed", "require_analysable",
                           "serves_cached_weights"), "fast_forward")}


def __getattr__(name: str):
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(f".{_MOVED[name]}", __package__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
