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
the output axis; ``c`` cancels, so :func:`plan` puts

* the input transform on the activations iff ``B (1 + g) < 2 out``,
* the output transform on the activations iff ``B < in``.

A first layer reading data can go further: its input transform is a fixed
map of the data, so :func:`analyse_inputs` applies it to a whole data set
once and, inside :func:`inputs_analysed`, the layer reads those rows and
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

Beyond Linear and Conv layers, :func:`generalize` takes any weight tensor by its
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

import contextlib
from typing import Mapping

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.utils import parametrize

from .bases import BASIS_NAMES, Basis, basis as make_basis
from .layer_bases import side_axes, split_side
from .internals import conv_with_weight, install_class_forward, parametrize_caching, tensor_version
from .seeding import check_seed, derive_seed

__all__ = ["GeneralizedWeight", "generalize", "generalized_layers", "coefficients", "plan", "PRUNABLE_TYPES",
           "STRATEGIES", "analyse_inputs", "inputs_analysed", "generalized_weight", "require_generalized",
           "require_analysable", "prunable_layers", "serves_cached_weights"]

#: Values of ``GeneralizedWeight.strategy``: ``"auto"`` (cost model), ``"weight"`` (always
#: synthesise ``W``), ``"activation"`` (transform the activations wherever the layer allows).
STRATEGIES = ("auto", "weight", "activation")

#: Module types of :func:`prunable_layers` (their ``weight``); :func:`generalize` takes more by default
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


def plan(module: nn.Module, batch: int, input_requires_grad: bool = True) -> dict[str, str]:
    """Where a generalized layer applies each side of its basis for a forward+backward pass.

    ``batch``: rows of the input (``x.numel() // in_features`` for Linear).
    Returns ``{"input": side, "output": side}`` with side ``"activation"``,
    ``"weight"`` or ``"none"`` (canonical axis); see the module docstring.
    """
    gw = generalized_weight(module)
    if gw is None:
        raise ValueError("module is not generalized: call glth_core.generalize(model) first")
    fast = isinstance(module, nn.Linear) and len(module.parametrizations.weight) == 1
    act_in, act_out = _activation_sides(gw, fast, batch, input_requires_grad)
    b = gw.basis
    return {"input": "none" if not b.transforms_input else "activation" if act_in else "weight",
            "output": "none" if b.output_transform is None else "activation" if act_out else "weight"}


def _activation_sides(gw: GeneralizedWeight, fast: bool, batch: int, input_requires_grad: bool) -> tuple[bool, bool]:
    """``(input on activations?, output on activations?)`` by the cost model of the module docstring."""
    if not fast or gw.offset is not None or gw.strategy == "weight":
        return False, False
    if gw.strategy == "activation":
        return True, True
    out_features, in_features = gw.basis.shape
    return batch * (2 if input_requires_grad else 1) < 2 * out_features, batch < in_features


def _linear_forward(self: nn.Linear, x: Tensor) -> Tensor:
    """Forward of a generalized ``nn.Linear`` (installed on its parametrized class).

    Written for little per-call overhead: a LeNet step at batch 60 spends a good part of
    its time in Python, so the cost model is a few comparisons and the transforms are
    walked as plain tuples.
    """
    params = self.parametrizations.weight
    gw = params[0] if len(params) == 1 else None
    if not isinstance(gw, GeneralizedWeight):
        return parametrize.type_before_parametrizations(self).forward(self, x)
    c = params.original
    b = gw.basis
    in_features = b.shape[1]
    if gw.inputs_analysed:  # x holds rows x A_in^T already: only the output side is left
        act_in, act_out = True, _activation_sides(gw, True, x.numel() // in_features, False)[1]
    else:
        if parametrize_caching():
            return parametrize.type_before_parametrizations(self).forward(self, x)
        if not (torch.is_grad_enabled() and c.requires_grad):
            return F.linear(x, gw.cached_weight(c), self.bias)
        if b.is_canonical:
            w = gw.mask * c
            return F.linear(x, w if gw.offset is None else w + gw.offset, self.bias)
        act_in, act_out = _activation_sides(gw, True, x.numel() // in_features if in_features else 0,
                                            x.requires_grad)
        act_in = act_in and bool(b.active_input_axes)
        if not act_in and not (act_out and b.output_transform is not None):
            return F.linear(x, self.weight, self.bias)
    out_transform = b.output_transform if act_out else None
    coeffs = gw.mask * c
    weight_axes = [j for j, _ in b.active_axes if not (act_out if j == 0 else act_in)]
    if weight_axes:
        coeffs = b.apply_transforms(coeffs, inverse=True, axes=weight_axes)
    flat = x.dim() == 2
    x2 = x if flat else x.reshape(-1, in_features)
    if act_in and not gw.inputs_analysed:
        x2 = b.analyse_inputs(x2)
    if out_transform is not None:
        z = out_transform.synthesize_rows(F.linear(x2, coeffs), self.bias)
    else:
        z = F.linear(x2, coeffs, self.bias)
    return z if flat else z.reshape(x.shape[:-1] + (z.shape[-1],))


def require_analysable(module: nn.Module) -> GeneralizedWeight:
    """The parametrization of a layer whose input analysis can be taken out of its forward, or a ValueError."""
    gw = generalized_weight(module)
    if gw is None:
        inner = list(generalized_layers(module)) if isinstance(module, nn.Module) else []
        if inner:
            raise ValueError(f"pass the generalized Linear layer that reads the data (one of {inner}, e.g. "
                             f"model.{inner[0]}), not the whole model")
        raise ValueError("module is not generalized: call glth_core.generalize(model) first")
    if not isinstance(module, nn.Linear) or len(module.parametrizations.weight) != 1:
        raise ValueError(f"only a generalized nn.Linear with no other parametrization reads analysed inputs, "
                         f"got {type(module).__name__}")
    if gw.offset is not None:
        raise ValueError("a layer with an offset W0 (random-subspace mode) needs its raw inputs for x W0^T; "
                         "run it without inputs_analysed")
    return gw


@torch.no_grad()
def analyse_inputs(module: nn.Module, x: Tensor, chunk: int = 8192) -> Tensor:
    """``x A_in^T``: the inputs of the generalized ``nn.Linear`` ``module`` in its input basis.

    ``x`` has shape ``(n, ...)`` with ``prod(...) == in_features`` (images are
    flattened row-major, as ``nn.Flatten`` does); returns the same shape (contiguous), computed
    ``chunk`` rows at a time, without autograd. Feed the result to the model inside
    :func:`inputs_analysed`.
    """
    gw = require_analysable(module)
    in_features = gw.basis.shape[1]
    if not isinstance(x, Tensor) or x.dim() < 1 or x[0].numel() != in_features:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must have shape (n, ...) with {in_features} numbers per row (the layer's "
                         f"in_features), got {shape}")
    rows = x.reshape(len(x), in_features)
    out = torch.cat([gw.basis.analyse_inputs(rows[i:i + chunk]) for i in range(0, len(rows), chunk)]) \
        if len(rows) else rows.clone()
    return out.reshape(x.shape).contiguous()  # batches sliced from it flatten without copies


@contextlib.contextmanager
def inputs_analysed(module: nn.Module):
    r"""Within the block, the generalized ``nn.Linear`` ``module`` reads inputs already analysed.

    Its forward then takes ``x`` as ``x A_in^T`` (from :func:`analyse_inputs`) and
    computes ``y = (x A_in^T) C'^T A_out + b``, the same output as ``module(x)``
    outside the block, without transforming the inputs. For the first layer of an
    MLP the input transform is a fixed map of the data, so a training loop can
    analyse the data set once instead of every batch. Everything else (gradients of
    the coefficients, masks, the output side's cost model) is unchanged; inputs that
    were not analysed give wrong outputs inside the block. Not for layers with an
    offset ``W0``. Restores the previous state on exit.
    """
    gw = require_analysable(module)
    previous = gw.inputs_analysed
    gw.inputs_analysed = True
    try:
        yield module
    finally:
        gw.inputs_analysed = previous


def _conv_forward(self: nn.Module, x: Tensor) -> Tensor:
    """Forward of a generalized conv layer: the weight side, cached when no gradient is needed."""
    gw = generalized_weight(self)
    if gw is not None and not parametrize_caching() and len(self.parametrizations.weight) == 1:
        c = self.parametrizations.weight.original
        if not (torch.is_grad_enabled() and c.requires_grad):
            return conv_with_weight(self, x, gw.cached_weight(c))
        # a synthesised kernel can have permuted strides (the DCT's axis moves); oneDNN's convolution
        # would reorder it on every call, forward and backward
        return conv_with_weight(self, x, gw(c).contiguous())
    return parametrize.type_before_parametrizations(self).forward(self, x)


def serves_cached_weights(module: nn.Module) -> bool:
    """Whether ``module``'s forward reuses its synthesised weight under ``torch.no_grad()`` by itself.

    True for a layer :func:`generalize` gave a fast forward, with its :class:`GeneralizedWeight` as the
    only parametrization: it then keeps its weight across calls until the coefficients, mask, offset
    or basis change, so ``parametrize.cached()`` (which synthesises once per block) is not needed.
    """
    return (type(module).forward in (_linear_forward, _conv_forward) and len(module.parametrizations) == 1
            and len(module.parametrizations.weight) == 1 and generalized_weight(module) is not None)


def _install_fast_forward(module: nn.Module) -> None:
    """Give the module's own parametrized class (created per module by ``parametrize``) a fast forward.

    ``remove_parametrizations`` restores the original class, and with it the plain forward.
    """
    forward = type(module).forward
    if forward is nn.Linear.forward:
        install_class_forward(module, _linear_forward)
    elif forward in (nn.Conv1d.forward, nn.Conv2d.forward, nn.Conv3d.forward):
        install_class_forward(module, _conv_forward)


def prunable_layers(model: nn.Module) -> list[str]:
    """Names of the modules :func:`generalize` takes by default: every Linear/Conv with a weight tensor."""
    return [name for name, m in model.named_modules()
            if isinstance(m, PRUNABLE_TYPES) and isinstance(getattr(m, "weight", None), Tensor)]


def _refuse_tied_weights(model: nn.Module, modules: dict[str, nn.Module], pairs: list[tuple[str, str]]) -> None:
    """ValueError if a tensor ``(module name, tensor name)`` of ``pairs`` is also reachable under another name.

    Registering a parametrization writes the coefficients into the weight tensor itself, so every other
    user of a tied tensor would silently compute with coefficients instead of weights.
    """
    names: dict[int, list[str]] = {}
    for qualified, tensor in [*model.named_parameters(remove_duplicate=False),
                              *model.named_buffers(remove_duplicate=False)]:
        names.setdefault(id(tensor), []).append(qualified)
    for name, attribute in pairs:
        own = f"{name}.{attribute}" if name else attribute
        others = [n for n in names.get(id(getattr(modules[name], attribute)), []) if n != own]
        if others:
            key = name if attribute == "weight" else own
            raise ValueError(
                f"layer {key!r} shares its weight tensor with {others} (tied weights); generalizing it would "
                f"write basis coefficients into the shared tensor and change the outputs of the others. Untie "
                f"them first, e.g. model.get_submodule({others[0].rpartition('.')[0]!r}).{others[0].rpartition('.')[2]} "
                f"= nn.Parameter(model.get_submodule({name!r}).{attribute}.detach().clone()), or leave every user "
                "of the tensor out of layers=[...]")


def layer_basis(basis_name: str, w: Tensor, name: str, *, first: bool, seed: int = 0, image_shape=None,
                channel_dct: bool = False, **options) -> Basis:
    """The basis :func:`generalize` gives layer ``name`` with weight ``w`` (dtype and device of ``w``).

    ``first``: whether it is the first generalized layer (the one ``image_shape`` applies to);
    ``seed``: the model-level seed (the layer's is ``derive_seed(seed, "layer", name)``);
    ``image_shape``, ``channel_dct``, ``options``: as for :func:`generalize`.
    """
    basis_name, side = split_side(basis_name)  # "dct:in": the input axes only (glth_core.core.layer_bases)
    # the svd basis is fitted to the whole input axis, so it has no image view
    layer_image_shape = image_shape if first and basis_name != "svd" else None
    if layer_image_shape is not None and w.dim() != 2:
        raise ValueError(f"image_shape applies to the first generalized layer, {name!r}, whose weight has "
                         f"shape {tuple(w.shape)}; it must be a Linear layer reading flattened images "
                         "(drop image_shape for conv models)")
    layer_options = dict(options)
    if basis_name == "dct" and w.dim() > 2 and "axes" not in options:
        # a conv kernel (out, in, k...): the DCT acts on its spatial axes, where frequency means something,
        # and on the input-channel axis too if asked
        layer_options["axes"] = tuple(range(1 if channel_dct else 2, w.dim()))
    if side != "both":
        if "axes" in options:
            raise ValueError(f"layer {name!r}: a one-sided basis ({basis_name}:{side}) chooses its axes; "
                             "pass either it or axes=, not both")
        layer_options["axes"] = side_axes(side, 2 if basis_name == "svd" else w.dim(), layer_options.get("axes"))
    return make_basis(basis_name, tuple(w.shape), seed=derive_seed(seed, "layer", name),
                      image_shape=layer_image_shape, weight=w if basis_name == "svd" else None,
                      dtype=w.dtype, **layer_options).to(w.device)


def generalize(model: nn.Module, basis="dct", layers=None, *, seed: int = 0, image_shape=None,
               offset: str | None = None, channel_dct: bool = False, views=None, example_inputs=None,
               **options) -> nn.Module:
    """Reparametrise prunable weights of ``model`` in an orthonormal basis, in place.

    Args:
        model: any ``nn.Module``.
        basis: a name in :data:`~glth_core.core.bases.BASIS_NAMES`, or a dict
            ``{layer_name: basis_name}`` (then only those layers, unless ``layers``
            is given, in which case every layer needs an entry); a key may be a
            module name (all its default tensors) or a parameter path. A basis name may
            end in ``":in"`` or ``":out"``: the basis on the input axes or the output axis
            only (:mod:`glth_core.core.layer_bases`).
        layers: module names or parameter paths to generalize (default: every tensor of
            :func:`glth_core.core.params.default_parameters`: the ``weight`` of each
            ``nn.Linear``, ``nn.Conv1d/2d/3d``, ``nn.ConvTranspose1d/2d/3d``,
            ``nn.Embedding``, the ``in_proj_weight`` of ``nn.MultiheadAttention`` and
            the weights of ``nn.LSTM``/``nn.GRU``/``nn.RNN``, in model order). A module
            name stands for its default tensors (for any other module, its ``weight``);
            ``"encoder.layers.0.self_attn.in_proj_weight"`` names one tensor. The
            generalized tensors are keyed by :func:`glth_core.core.params.parameter_key`
            (the module name for ``weight``, the path otherwise).
        seed: per-layer seeds are ``derive_seed(seed, "layer", key)``.
        image_shape: ``(C, H, W)`` for the *first* generalized layer (the first in
            registration order, the one expected to read the data); it must be a
            Linear layer with ``C*H*W`` inputs. Other layers are unaffected, and
            so is an ``"svd"`` first layer (fitted to the whole input axis).
        offset: ``None``, or ``"init"``: freeze the current weight as ``W_0`` and
            start the coefficients at 0, ``W = W_0 + synthesis(M * C)``.
        channel_dct: ``"dct"`` conv kernels only: also apply the DCT over the
            input-channel axis (axes ``(1, 2, ...)`` instead of ``(2, ...)``; ``(0, 2, ...)``
            for a transposed convolution), so the coefficients are
            ``scipy.fft.dctn(w, norm="ortho", axes=(1, 2, 3))`` of a 2-D kernel; the
            output-channel axis stays canonical. Linear layers are unaffected.
        views: ``{key or path: View or None}``: how to split a tensor into blocks with
            their own basis and mask (:class:`glth_core.core.views.View`); ``None`` keeps a
            tensor whole. Defaults (:func:`glth_core.core.views.default_view`): attention's
            ``in_proj_weight`` into query, key, value; recurrent weights per gate.
        example_inputs: a tensor or tuple of inputs for one forward pass that
            materialises lazy modules (``nn.LazyLinear``, ...) first; without it a model
            with lazy modules is refused with a message.
        **options: passed to :func:`~glth_core.core.bases.basis` (``axes=``). Without
            ``axes``, the ``"dct"`` basis of a conv kernel ``(out, in, k_1, ...)``
            acts on its spatial axes only (a 2-D DCT of each ``k x k`` filter; the
            channel axes stay canonical); every other basis acts on all axes.

    A conv kernel needs no ``image_shape``: its input axes ``(in, k_1, k_2)`` are
    already the axes ``(C, H, W)`` of the image patch it reads, so its default
    spatial DCT is what ``image_shape`` gives a Linear layer's input axis (a 2-D
    DCT per input channel, channel axis canonical), and ``channel_dct=True``
    transforms the channel axis as well (for a first layer on RGB images, a DCT
    over the 3 colours; on grey images the channel axis has length 1 and nothing
    changes). Unlike the Linear view, the output-channel axis stays canonical.

    Returns:
        ``model`` itself; its outputs are unchanged up to float round-off.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``, an unknown option, or ``basis`` or
            ``layers`` of the wrong type.
        ValueError: an unknown basis, layer or parameter path, a tensor already
            parametrized, tied weights, a dict without an entry for a layer, a bad
            ``offset``, ``channel_dct`` with another basis or with ``axes``, a view that
            does not fit, a lazy module without ``example_inputs``, or a model with no
            tensor to generalize.
    """
    from .params import (basis_spec, build_basis, default_parameters, materialize, parameter_key,
                         reads_child_weights, resolve_parameters)
    from .views import View, default_view

    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    seed = check_seed(seed)
    unknown = sorted(set(options) - set(_BASIS_OPTIONS))
    if unknown:
        raise TypeError(f"generalize() got unknown option(s) {unknown}; valid options: {list(_BASIS_OPTIONS)}")
    if offset not in (None, "init"):
        raise ValueError(f"offset must be None or 'init' (freeze the current weight as W0), got {offset!r}")
    if channel_dct and "axes" in options:
        raise ValueError("channel_dct=True chooses the axes of conv kernels' DCT; pass either it or axes=, not both")
    if channel_dct and isinstance(basis, str) and split_side(basis)[0] != "dct":
        raise ValueError(f"channel_dct=True applies to the 'dct' basis only (the {basis!r} basis transforms "
                         "every axis already); drop it or use basis='dct'")
    if views is not None and (not isinstance(views, Mapping)
                              or not all(v is None or isinstance(v, View) for v in views.values())):
        raise TypeError("views must be a dict {parameter path: glth_core.core.views.View or None}, got "
                        f"{views!r}")

    if layers is not None:
        if isinstance(layers, str) or not all(isinstance(n, str) for n in layers):
            raise TypeError(f"layers must be a list of module names or parameter paths such as ['fc1', "
                            f"'attn.in_proj_weight'], got {layers!r}")
        layers = list(layers)
    if isinstance(basis, Mapping):
        names_by_layer = dict(basis)
        if layers is None:
            layers = list(names_by_layer)
    elif isinstance(basis, str):
        names_by_layer = None
    else:
        raise TypeError(f"basis must be a basis name {BASIS_NAMES} or a dict {{layer_name: basis_name}}, "
                        f"got {type(basis).__name__}")

    materialize(model, example_inputs)
    if layers is None:
        pairs = default_parameters(model)
        if not pairs:
            raise ValueError("model has no nn.Linear or nn.Conv layer (nor an embedding, attention or recurrent "
                             "one) to generalize; pass layers=[...] by name or parameter path")
    else:
        pairs = resolve_parameters(model, layers)
    modules = dict(model.named_modules())
    keys = [parameter_key(m, t) for m, t in pairs]
    def basis_of(module_name: str, tensor: str):
        """The dict entry of a tensor: by key, by path, or by its module's name."""
        path = f"{module_name}.{tensor}" if module_name else tensor
        for candidate in (parameter_key(module_name, tensor), path, module_name):
            if candidate in names_by_layer:
                return names_by_layer[candidate]
        return None

    if names_by_layer is not None:
        missing = [k for k, (m, t) in zip(keys, pairs) if basis_of(m, t) is None]
        if missing:
            raise ValueError(f"basis dict has no entry for layer(s) {missing}; add them to the basis dict")
    views = dict(views or {})
    for path in views:
        module_name, _, tensor = path.rpartition(".")
        if path not in keys and parameter_key(module_name, tensor) not in keys:
            raise ValueError(f"views: {path!r} is not one of the tensors being generalized {keys}")
    already = [k for k, (m, t) in zip(keys, pairs) if parametrize.is_parametrized(modules[m], t)]
    if already:
        raise ValueError(f"layer(s) {already} are already parametrized (generalized?); generalize each layer once, "
                         "e.g. generalize a fresh model or pass layers=[...] without them")

    _refuse_tied_weights(model, modules, pairs)
    direct = reads_child_weights(model)

    for i, ((module_name, tensor), key) in enumerate(zip(pairs, keys)):
        module = modules[module_name]
        w = getattr(module, tensor).detach()
        path = f"{module_name}.{tensor}" if module_name else tensor
        view = views.get(key, views.get(path, default_view(module, tensor)))
        basis_name = basis_of(module_name, tensor) if names_by_layer is not None else basis
        if view is not None:
            view.check(tuple(w.shape), repr(path))
        spec = basis_spec(basis_name, tuple(w.shape), key, first=i == 0, seed=seed, image_shape=image_shape,
                          channel_dct=channel_dct, axes=options.get("axes"), view=view,
                          transposed=isinstance(module, nn.modules.conv._ConvTransposeNd))
        register_generalized(module, tensor, build_basis(spec, w, path), spec,
                             offset=w if offset == "init" else None, direct=direct)
    return model


def register_generalized(module: nn.Module, tensor: str, basis, spec: dict, *, offset: Tensor | None = None,
                         direct: set[int] = frozenset()) -> GeneralizedWeight:
    """Register the parametrization of ``module.<tensor>`` in ``basis`` (what :func:`generalize` does per tensor).

    ``spec``: the basis as plain data (:func:`glth_core.core.params.basis_spec`), kept as the
    parametrization's ``spec``; ``offset``: the frozen ``W_0`` or None; ``direct``: ids of modules
    whose weight a parent reads directly (:func:`glth_core.core.params.reads_child_weights`). A Linear/Conv
    ``weight`` read through its own forward gets the fast forward; every other tensor a
    :class:`~glth_core.core.params.CachedGeneralizedWeight`.
    """
    from .params import CachedGeneralizedWeight, copy_without_graph
    from .views import BlockBasis

    w = getattr(module, tensor).detach()
    fast = (tensor == "weight" and not isinstance(basis, BlockBasis) and id(module) not in direct
            and type(module).forward in _FAST_FORWARDS)
    kind = GeneralizedWeight if fast else CachedGeneralizedWeight
    param = kind(basis, offset=offset, dtype=w.dtype, device=w.device)
    param.spec = spec
    parametrize.register_parametrization(module, tensor, param)
    if fast:
        _install_fast_forward(module)
    copy_without_graph(module)
    return param


#: Forwards that :func:`_install_fast_forward` replaces (module types with a fast generalized forward).
_FAST_FORWARDS = (nn.Linear.forward, nn.Conv1d.forward, nn.Conv2d.forward, nn.Conv3d.forward)
