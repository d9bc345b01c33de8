r"""``generalize``: turn the prunable weights of a model into coefficients in a basis, layer by layer.

:func:`generalize` registers a :class:`~glth_core.core.parametrization.GeneralizedWeight` on each
chosen weight (see :mod:`glth_core.core.parametrization` for the maths and the cost model).
"""
from __future__ import annotations

from typing import Mapping

from torch import Tensor, nn
from torch.nn.utils import parametrize

from .bases import BASIS_NAMES, Basis, basis as make_basis
from .layer_bases import side_axes, split_side
from .seeding import check_seed, derive_seed
from .parametrization import GeneralizedWeight, PRUNABLE_TYPES, _BASIS_OPTIONS
from .fast_forward import _FAST_FORWARDS, _install_fast_forward

__all__ = ["generalize", "prunable_layers"]


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


