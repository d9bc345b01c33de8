r"""Generalized parameters: which tensors of a model :func:`glth_core.generalize` takes, named by path.

A *target* is one weight tensor of one module: ``(module_name, tensor_name)``.
Its **key** (the name pruning, masks, densities, export and tickets use) is the
module's name for a tensor called ``weight`` (``"fc1"``, ``"0"``, ``""`` for the
root), so plain Linear/Conv models keep their layer names, and the tensor's
path otherwise (``"encoder.layers.0.self_attn.in_proj_weight"``,
``"lstm.weight_hh_l1_reverse"``). ``layers=[...]`` accepts either: a module
name (its default tensors, below) or a parameter path (``"fc1.weight"`` is the
same as ``"fc1"``).

Default tensors (:func:`default_parameters`):

* ``weight`` of every ``nn.Linear``, ``nn.Conv1d/2d/3d``,
  ``nn.ConvTranspose1d/2d/3d``, ``nn.Embedding`` and ``nn.EmbeddingBag``;
* ``in_proj_weight`` of ``nn.MultiheadAttention`` (split into query, key and
  value, :mod:`glth_core.core.views`), or ``q_proj_weight``, ``k_proj_weight``,
  ``v_proj_weight`` when key and value have their own sizes; its
  ``out_proj`` is an ``nn.Linear`` and is taken as such;
* ``weight_ih_l*``, ``weight_hh_l*`` (split per gate) and ``weight_hr_l*``
  (projections) of ``nn.LSTM``, ``nn.GRU`` and ``nn.RNN``, every layer and
  direction.

Biases, normalisation layers and other 1-D tensors are left as they are.

Lazy modules (``nn.LazyLinear``, ``nn.LazyConv2d``, ...) have no weight before
their first forward pass: :func:`materialize` runs one on example inputs, or
says how to.

Modules whose forward does not go through a generalized Linear/Conv fast path
(attention, recurrent layers, embeddings, transposed convolutions, and Linear
layers whose weight their parent reads directly, such as an attention's
``out_proj`` or a Transformer layer's feed-forward in torch's inference fast
path) use :class:`CachedGeneralizedWeight`: the weight is synthesised when a
gradient is needed and otherwise reused from a cache until the coefficients,
mask or basis change, so inference costs what a plain module costs. An
``nn.LSTM`` reads the cached tensor as one of its flat weights and refreshes
its list of flat weights whenever the tensor changes (torch checks that on
every forward).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.modules.lazy import LazyModuleMixin
from torch.nn.utils import parametrize

from .parametrization import GeneralizedWeight

__all__ = ["Target", "parameter_key", "default_parameters", "resolve_parameters", "generalized_parameters",
           "require_generalized_parameters", "materialize", "CachedGeneralizedWeight", "WEIGHT_TYPES",
           "reads_child_weights", "copy_without_graph", "basis_spec", "build_basis"]

#: Module types whose ``weight`` is generalized by default (besides attention and recurrent layers).
WEIGHT_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
                nn.ConvTranspose3d, nn.Embedding, nn.EmbeddingBag)

#: Modules whose forward reads their children's weights directly instead of calling the children.
_DIRECT_READERS = (nn.MultiheadAttention, nn.TransformerEncoderLayer, nn.TransformerDecoderLayer)


@dataclass(frozen=True)
class Target:
    """One generalized (or to-be-generalized) tensor: ``module.<tensor>`` of the module ``module_name``."""

    key: str
    module_name: str
    tensor: str
    module: nn.Module

    @property
    def parametrization(self) -> GeneralizedWeight:
        """The :class:`~glth_core.core.parametrization.GeneralizedWeight` of this tensor (KeyError if none)."""
        found = _generalized(self.module, self.tensor)
        if found is None:
            raise KeyError(f"{self.key!r} is not generalized")
        return found[1]

    @property
    def mask(self) -> Tensor:
        return self.parametrization.mask

    @property
    def coefficients(self) -> Tensor:
        """The coefficient parameter ``C`` (stored values, not masked)."""
        return getattr(self.module.parametrizations, self.tensor).original

    def state_key(self, buffer: str = "mask") -> str:
        """The state-dict key of the parametrization's ``buffer`` (``mask``/``offset``)."""
        index = _generalized(self.module, self.tensor)[0]
        prefix = f"{self.module_name}." if self.module_name else ""
        return f"{prefix}parametrizations.{self.tensor}.{index}.{buffer}"


def parameter_key(module_name: str, tensor: str) -> str:
    """The key of ``module_name``'s tensor ``tensor``: the module name for ``weight``, else the path."""
    if tensor == "weight":
        return module_name
    return f"{module_name}.{tensor}" if module_name else tensor


def _generalized(module: nn.Module, tensor: str):
    """``(index, GeneralizedWeight)`` of ``module.tensor``'s parametrization, or None."""
    if not parametrize.is_parametrized(module, tensor):
        return None
    for i, p in enumerate(getattr(module.parametrizations, tensor)):
        if isinstance(p, GeneralizedWeight):
            return i, p
    return None


def _module_tensors(module: nn.Module) -> list[str]:
    """The default tensors of one module (see the module docstring), in the module's own order."""
    if isinstance(module, nn.MultiheadAttention):
        if module._qkv_same_embed_dim:
            return ["in_proj_weight"]
        return ["q_proj_weight", "k_proj_weight", "v_proj_weight"]
    if isinstance(module, nn.RNNBase):
        return [n for n in module._flat_weights_names if n.startswith("weight_")]
    if isinstance(module, WEIGHT_TYPES):
        return ["weight"]
    return []


def _is_tensor(module: nn.Module, tensor: str) -> bool:
    if parametrize.is_parametrized(module, tensor):
        return True
    return isinstance(getattr(module, tensor, None), Tensor)


def default_parameters(model: nn.Module) -> list[tuple[str, str]]:
    """``(module_name, tensor)`` of every tensor :func:`glth_core.generalize` takes by default, in model order."""
    return [(name, t) for name, m in model.named_modules() for t in _module_tensors(m) if _is_tensor(m, t)]


def resolve_parameters(model: nn.Module, layers) -> list[tuple[str, str]]:
    """``(module_name, tensor)`` pairs of ``layers`` (module names or parameter paths), in model order.

    Raises:
        ValueError: a name that is neither a module nor a tensor path, a module without a weight,
            or a tensor named twice.
    """
    modules = dict(model.named_modules())
    order = {n: i for i, n in enumerate(modules)}
    found: list[tuple[str, str]] = []
    for entry in layers:
        if entry in modules:
            module = modules[entry]
            tensors = [t for t in _module_tensors(module) if _is_tensor(module, t)]
            if not tensors and _is_tensor(module, "weight"):
                tensors = ["weight"]
            if not tensors:
                raise ValueError(f"layers: module {entry!r} ({type(module).__name__}) has no weight tensor; name a "
                                 f"tensor by its path instead, e.g. {entry + '.' if entry else ''}<parameter name>")
            found += [(entry, t) for t in tensors]
            continue
        module_name, _, tensor = entry.rpartition(".")
        module = modules.get(module_name)
        if module is None or not tensor or not _is_tensor(module, tensor):
            defaults = [parameter_key(m, t) for m, t in default_parameters(model)]
            raise ValueError(f"layers: no module named {entry!r} and no parameter of that path in the model; "
                             f"prunable modules and parameters are {defaults}")
        found.append((module_name, tensor))
    keys = [parameter_key(m, t) for m, t in found]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise ValueError(f"layers names {duplicates} more than once (a module name stands for all its default "
                         "tensors; 'fc1' and 'fc1.weight' are the same tensor)")

    def position(pair):
        module_name, tensor = pair
        own = [n for n, _ in modules[module_name].named_parameters(recurse=False)]
        return order[module_name], own.index(tensor) if tensor in own else len(own), tensor

    return sorted(found, key=position)


def generalized_parameters(model: nn.Module) -> dict[str, Target]:
    """Every generalized tensor of ``model`` as ``{key: Target}``, in model order.

    Args:
        model: any ``nn.Module``, generalized or not.

    Returns:
        ``{key: Target}``: the key is the module name for a module's ``weight``
        (``"fc1"``) and the parameter path otherwise (``"lstm.weight_hh_l0"``); empty
        when nothing is generalized.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    out = {}
    for name, module in model.named_modules():
        if not parametrize.is_parametrized(module):
            continue
        for tensor in module.parametrizations.keys():
            if _generalized(module, tensor) is not None:
                key = parameter_key(name, tensor)
                out[key] = Target(key, name, tensor, module)
    return out


def require_generalized_parameters(model: nn.Module, what: str) -> dict[str, Target]:
    """``generalized_parameters(model)``, or a ValueError saying to call ``generalize`` first."""
    targets = generalized_parameters(model)
    if not targets:
        raise ValueError(f"model has no generalized layers, so {what} has nothing to act on: call "
                         "glth_core.generalize(model, basis='dct') (or another basis) first")
    return targets


def reads_child_weights(model: nn.Module) -> set[int]:
    """``id`` of every module whose weight a parent reads directly (so its own forward may not run)."""
    return {id(child) for m in model.modules() if isinstance(m, _DIRECT_READERS) for child in m.modules()
            if child is not m}


def _lazy_modules(model: nn.Module) -> list[str]:
    return [name or type(model).__name__ for name, m in model.named_modules()
            if isinstance(m, LazyModuleMixin) and m.has_uninitialized_params()]


def materialize(model: nn.Module, example_inputs=None) -> None:
    """Give lazy modules their weights by one forward pass on ``example_inputs`` (no-op if none is lazy).

    The pass runs in evaluation mode under ``torch.no_grad()`` (no BatchNorm statistics change);
    each module's mode is restored afterwards.

    Args:
        model: the model.
        example_inputs: a tensor or a tuple of positional inputs the model accepts.

    Raises:
        ValueError: lazy modules and no ``example_inputs``, or a forward pass that fails or
            leaves a module lazy.
    """
    lazy = _lazy_modules(model)
    if not lazy:
        return
    if example_inputs is None:
        raise ValueError(f"module(s) {lazy} are lazy (e.g. nn.LazyLinear) and have no weights until their first "
                         "forward pass: run model(x) once on an example input first, or pass "
                         "generalize(model, ..., example_inputs=x)")
    inputs = example_inputs if isinstance(example_inputs, tuple) else (example_inputs,)
    modes = {m: m.training for m in model.modules()}
    try:
        model.eval()
        with torch.no_grad():
            model(*inputs)
    except Exception as error:  # the user's model and inputs: report, do not dump torch's stack
        raise ValueError(f"the forward pass on example_inputs that materialises the lazy module(s) {lazy} failed "
                         f"({type(error).__name__}: {error}); pass inputs the model accepts") from None
    finally:
        for module, training in modes.items():
            module.training = training
    still = _lazy_modules(model)
    if still:
        raise ValueError(f"module(s) {still} are still lazy after a forward pass on example_inputs (the pass did "
                         "not reach them); pass inputs that run through every module")


def copy_without_graph(module: nn.Module) -> None:
    """Let a generalized ``nn.RNNBase`` be deep-copied (``copy.deepcopy``, :func:`glth_core.export`) in any grad mode.

    An RNN keeps its flat weights in a list, refreshed on each forward by reading every weight;
    after a forward with gradients a generalized weight there is a non-leaf tensor, which
    ``deepcopy`` refuses. The module's own parametrized class (made per module by ``parametrize``)
    gets a ``__deepcopy__`` and ``__getstate__`` that first refresh that list under
    ``torch.no_grad()`` (cached leaf tensors, the same values); ``RNNBase.__getstate__`` is the
    public hook that refreshes it.
    """
    cls = type(module)
    base = parametrize.type_before_parametrizations(module)
    if not isinstance(module, nn.RNNBase) or cls is base or cls.__dict__.get("_copies_without_graph"):
        return
    plain_getstate, plain_deepcopy = base.__getstate__, cls.__deepcopy__

    def __getstate__(self):
        with torch.no_grad():
            return plain_getstate(self)

    def __deepcopy__(self, memo):
        with torch.no_grad():
            plain_getstate(self)
            return plain_deepcopy(self, memo)

    cls.__getstate__, cls.__deepcopy__, cls._copies_without_graph = __getstate__, __deepcopy__, True


class CachedGeneralizedWeight(GeneralizedWeight):
    """A :class:`~glth_core.core.parametrization.GeneralizedWeight` that reuses its weight when no gradient is needed.

    Same ``W = synthesis(M * C) (+ W_0)``; when ``C`` needs no gradient (``torch.no_grad()``,
    inference mode, frozen coefficients) the forward returns
    :meth:`~glth_core.core.parametrization.GeneralizedWeight.cached_weight`, the same tensor object
    until an input changes. For modules that read the weight by attribute (see the module docstring).
    """

    _synthesizing = False

    def forward(self, coefficients: Tensor) -> Tensor:
        if self._synthesizing or (torch.is_grad_enabled() and coefficients.requires_grad):
            return super().forward(coefficients)
        self._synthesizing = True  # cached_weight calls self(...) to compute a missing entry
        try:
            return self.cached_weight(coefficients)
        finally:
            self._synthesizing = False


def basis_spec(basis_name: str, shape: tuple[int, ...], key: str, *, first: bool, seed: int, image_shape=None,
               channel_dct: bool = False, axes=None, view=None, transposed: bool = False) -> dict:
    """The basis of one target as plain data (what a ticket file stores; :func:`build_basis` builds it).

    ``{"basis", "seed", "axes", "image_shape", "view"}``: the seed is the target's own,
    ``derive_seed(seed, "layer", key)`` (block ``label`` of a view: ``derive_seed(that, "block", label)``);
    ``axes`` None means every axis, except that a ``"dct"`` conv kernel defaults to its spatial axes
    (and its input-channel axis with ``channel_dct``: axis 1, or 0 for a transposed convolution).
    ``basis_name`` may end in ``":in"``/``":out"`` (:mod:`glth_core.core.layer_bases`): the spec then
    stores the plain name and the one side's axes.
    """
    from .layer_bases import side_axes, split_side
    from .seeding import derive_seed

    basis_name, side = split_side(basis_name)  # "dct:in": the input axes only (glth_core.core.layer_bases)
    if side != "both" and axes is not None:
        raise ValueError(f"{key!r}: a one-sided basis ({basis_name}:{side}) chooses its axes; pass either it "
                         "or axes=, not both")
    layer_image_shape = image_shape if first and basis_name != "svd" else None
    if layer_image_shape is not None and (len(shape) != 2 or view is not None):
        raise ValueError(f"image_shape applies to the first generalized layer, {key!r}, whose weight has shape "
                         f"{tuple(shape)}; it must be a Linear layer reading flattened images (drop image_shape "
                         "for conv, attention and recurrent models)")
    if axes is None and basis_name == "dct" and len(shape) > 2:
        channel = (0 if transposed else 1,) if channel_dct else ()
        axes = channel + tuple(range(2, len(shape)))
    if side != "both":
        axes = side_axes(side, 2 if basis_name == "svd" else len(shape), axes)
    return {"basis": basis_name, "seed": derive_seed(seed, "layer", key),
            "axes": None if axes is None else sorted(int(a) for a in axes),
            "image_shape": None if layer_image_shape is None else [int(d) for d in layer_image_shape],
            "view": None if view is None else view.to_dict()}


def build_basis(spec: dict, weight: Tensor, key: str = "tensor"):
    """The :class:`~glth_core.core.bases.Basis` (or :class:`~glth_core.core.views.BlockBasis`) of ``spec`` for ``weight``.

    Dtype and device of ``weight``; an ``"svd"`` basis is fitted to ``weight`` (block by block).
    """
    from .bases import basis as make_basis
    from .seeding import derive_seed
    from .views import BlockBasis, View

    def one(w: Tensor, seed: int):
        return make_basis(spec["basis"], tuple(w.shape), seed=seed, image_shape=spec["image_shape"],
                          axes=spec["axes"], weight=w if spec["basis"] == "svd" else None, dtype=w.dtype)

    w = weight.detach()
    if spec["view"] is None:
        return one(w, spec["seed"]).to(w.device)
    view = View.from_dict(spec["view"])
    view.check(tuple(w.shape), repr(key))
    parts = w.split(list(view.sizes), dim=view.dim)
    blocks = [one(p, derive_seed(spec["seed"], "block", label)) for label, p in zip(view.labels, parts)]
    return BlockBasis(view, blocks).to(w.device)
