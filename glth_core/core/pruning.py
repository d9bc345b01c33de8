r"""Magnitude pruning of basis coefficients, masks, snapshots and rewinding.

Pruning acts on the *effective* coefficients ``M * C`` of the layers made by
:func:`glth_core.core.parametrization.generalize`. One call of :func:`prune` masks
``fraction`` of the units still unmasked, lowest score first:

* ``granularity="element"``: a unit is one coefficient, score ``|c|``;
* ``granularity="row"``: a unit is a slice ``C[i, ...]`` of the output axis 0,
  score its L2 norm (in the canonical basis: a whole output unit / filter);
* ``granularity="column"``: a unit is a slice ``C[:, j, ...]`` of axis 1
  (input features / input channels), score its L2 norm.

A unit is *remaining* when any of its coefficients is unmasked, and pruning it
masks all of them. With ``scope="layer"`` each layer prunes
``round(fraction * remaining_units)`` of its own units; with ``scope="global"``
the remaining units of all layers compete on their raw scores and
``round(fraction * total_remaining_units)`` are pruned. ``round`` is Python's
(half to even), exactly as in :mod:`torch.nn.utils.prune`, so in the canonical
basis one round equals ``prune.global_unstructured(..., prune.L1Unstructured,
amount=fraction)`` (global) or ``prune.l1_unstructured`` (layer), and repeated
rounds equal repeated torch pruning (each prunes a fraction of what remains):
after ``n`` rounds at fraction ``p`` a layer of ``N`` coefficients keeps
``r_n`` with ``r_{t+1} = r_t - round(p r_t)``, so ``|r_n - (1-p)^n N| <= 0.5 (1 +
(1-p) + ... ) < 0.5 / p`` (for ``p = 0.2``: within 2.5 coefficients, whatever
``n``). Ties are broken by :func:`torch.topk`.

Whenever masks change (``prune``, ``set_masks``, ``rewind``) the stored values
of masked coefficients are set to exactly 0.
"""
from __future__ import annotations

import numbers
from typing import Mapping

import torch
from torch import Tensor, nn

from .params import Target, generalized_parameters, require_generalized_parameters as require_generalized
from .seeding import check_seed, derive_seed

__all__ = ["prune", "density", "densities", "masks", "set_masks", "random_masks", "snapshot", "rewind", "SCOPES",
           "GRANULARITIES"]

#: Values of ``scope`` and ``granularity`` (the engine's flags list these).
SCOPES = ("global", "layer")
GRANULARITIES = ("element", "row", "column")


def _check_fraction(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a float in [0, 1) (the fraction of remaining coefficients to prune, "
                        f"e.g. 0.2), got {value!r}")
    value = float(value)
    if not 0.0 <= value < 1.0:  # also rejects NaN
        raise ValueError(f"{name} must be in [0, 1) (the fraction of remaining coefficients to prune, "
                         f"e.g. 0.2; 1.0 would prune everything), got {value!r}")
    return value


def _mask_of(target: Target) -> Tensor:
    return target.mask


def _unit_view(x: Tensor, granularity: str) -> Tensor:
    """``x`` as a 2-D (units, elements per unit) tensor."""
    if granularity == "element":
        return x.reshape(-1, 1)
    if granularity == "row":
        return x.reshape(x.shape[0], -1)
    if x.dim() < 2:
        raise ValueError(f"granularity='column' needs weights with at least 2 axes, got shape {tuple(x.shape)}")
    return x.movedim(1, 0).reshape(x.shape[1], -1)


def _unit_scores(target: Target, granularity: str) -> tuple[Tensor, Tensor]:
    """(scores, remaining) per unit, float64 scores of the effective coefficients."""
    mask = target.mask
    c = target.coefficients.detach()
    eff = torch.where(mask > 0, c, torch.zeros_like(c)).to(torch.float64)  # a masked NaN is not ranked
    scores = _unit_view(eff, granularity).norm(dim=1)
    remaining = _unit_view(mask, granularity).gt(0).any(dim=1)
    return scores, remaining


def _prune_units(mask: Tensor, pruned: Tensor, granularity: str) -> None:
    """Zero, in place, the mask entries of the units flagged in ``pruned`` (bool, one per unit)."""
    if granularity == "element":
        mask.view(-1)[pruned] = 0
    elif granularity == "row":
        mask[pruned] = 0
    else:
        mask[:, pruned] = 0


def _lowest(scores: Tensor, remaining: Tensor, fraction: float) -> Tensor:
    """Bool flags of the ``round(fraction * #remaining)`` remaining entries with lowest scores."""
    candidates = remaining.nonzero().flatten()
    k = round(fraction * candidates.numel())
    flags = torch.zeros_like(remaining)
    if k > 0:
        low = torch.topk(scores[candidates], k, largest=False).indices
        flags[candidates[low]] = True
    return flags


def _zero_masked(target: Target) -> None:
    c = target.coefficients
    c.mul_(target.mask.to(c.dtype))


def prune(model: nn.Module, fraction: float, scope: str = "global", granularity: str = "element",
          fractions: Mapping[str, float] | None = None) -> dict[str, float]:
    """Mask ``fraction`` of the remaining coefficients (or rows/columns), lowest magnitude first.

    Args:
        model: a model made by :func:`~glth_core.core.parametrization.generalize`.
        fraction: in ``[0, 1)``, the share of *remaining* units to prune.
        scope: ``"global"`` (layers compete) or ``"layer"`` (each layer prunes its own share).
            The engine's ``--scope`` defaults to ``"layer"`` instead, the per-layer rates of
            Frankle & Carbin (2019) that its ticket runs reproduce.
        granularity: ``"element"``, ``"row"`` (output axis 0) or ``"column"`` (axis 1); a unit
            is ranked by its L2 norm.
        fractions: ``{layer_name: f}`` per-layer overrides, pruned per layer by their
            own ``f`` (``0`` leaves the layer as it is); the other layers follow
            ``fraction`` and ``scope``.

    Returns:
        ``densities(model)`` after pruning: ``{layer_name: kept fraction}``.

    Raises:
        TypeError: ``fraction`` is not a number, or ``fractions`` is not a dict.
        ValueError: ``fraction`` outside ``[0, 1)``, an unknown ``scope``, ``granularity``
            or layer name, a model without generalized layers, or NaN/infinite coefficients.
    """
    layers = require_generalized(model, "prune")
    fraction = _check_fraction(fraction, "fraction")
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    overrides: dict[str, float] = {}
    if fractions is not None:
        if not isinstance(fractions, Mapping):
            raise TypeError(f"fractions must be a dict {{layer_name: fraction}}, got {type(fractions).__name__}")
        for name, f in fractions.items():
            if name not in layers:
                raise ValueError(f"fractions: {name!r} is not a generalized layer; valid names: {list(layers)}")
            overrides[name] = _check_fraction(f, f"fractions[{name!r}]")

    with torch.no_grad():
        pruned: dict[str, Tensor] = {}
        competing: list[str] = []
        scored = {name: _unit_scores(target, granularity) for name, target in layers.items()}
        for name, (scores, remaining) in scored.items():
            if not bool(scores[remaining].isfinite().all()):  # NaN would survive topk and sink the other layers
                raise ValueError(f"layer {name!r} has NaN or infinite coefficients, so prune cannot rank them "
                                 "(did training diverge?); retrain with a lower learning rate, or restore the "
                                 "layer's coefficients, before pruning")
        for name in layers:
            if name in overrides or scope == "layer":
                scores, remaining = scored[name]
                pruned[name] = _lowest(scores, remaining, overrides.get(name, fraction))
            else:
                competing.append(name)
        if competing:
            scores = torch.cat([scored[n][0] for n in competing])
            remaining = torch.cat([scored[n][1] for n in competing])
            flags = _lowest(scores, remaining, fraction)
            for name, part in zip(competing, flags.split([scored[n][0].numel() for n in competing])):
                pruned[name] = part
        for name, target in layers.items():
            _prune_units(target.mask, pruned[name], granularity)
            _zero_masked(target)
    return densities(model)


def densities(model: nn.Module) -> dict[str, float]:
    """Unmasked fraction of the coefficients of each generalized layer.

    Args:
        model: a model made by :func:`~glth_core.core.parametrization.generalize`.

    Returns:
        ``{layer_name: kept fraction in [0, 1]}``, in registration order.

    Raises:
        ValueError: ``model`` has no generalized layer.
    """
    layers = require_generalized(model, "densities")
    return {name: float(_mask_of(m).sum().item()) / _mask_of(m).numel() for name, m in layers.items()}


def density(model: nn.Module) -> float:
    """Unmasked fraction over all generalized coefficients of ``model``.

    Args:
        model: a model made by :func:`~glth_core.core.parametrization.generalize`.

    Returns:
        Kept coefficients over all coefficients of the generalized layers, in ``[0, 1]``.

    Raises:
        ValueError: ``model`` has no generalized layer.
    """
    layers = require_generalized(model, "density")
    kept = sum(float(_mask_of(m).sum().item()) for m in layers.values())
    return kept / sum(_mask_of(m).numel() for m in layers.values())


def masks(model: nn.Module) -> dict[str, Tensor]:
    """A clone of every generalized layer's 0/1 mask, by layer name.

    Args:
        model: a model made by :func:`~glth_core.core.parametrization.generalize`.

    Returns:
        ``{layer_name: mask}``; each mask has the shape of the layer's coefficients
        (= its weight, e.g. ``(n_out, n_in)``) and the dtype of the model.

    Raises:
        ValueError: ``model`` has no generalized layer.
    """
    layers = require_generalized(model, "masks")
    return {name: _mask_of(m).detach().clone() for name, m in layers.items()}


def set_masks(model: nn.Module, masks: Mapping[str, Tensor]) -> None:
    """Set the masks of the named layers (others unchanged); masked coefficients become exactly 0.

    Args:
        model: a model made by :func:`~glth_core.core.parametrization.generalize`.
        masks: ``{layer_name: 0/1 tensor}``, each of the shape of the layer's coefficients
            (as :func:`masks` returns them).

    Raises:
        TypeError: ``masks`` is not a dict.
        ValueError: an unknown layer name, a mask of another shape, or values other than 0 and 1.
    """
    layers = require_generalized(model, "set_masks")
    if not isinstance(masks, Mapping):
        raise TypeError(f"masks must be a dict {{layer_name: 0/1 tensor}}, got {type(masks).__name__}")
    for name, m in masks.items():
        if name not in layers:
            raise ValueError(f"masks: {name!r} is not a generalized layer; valid names: {list(layers)}")
        target = _mask_of(layers[name])
        if not isinstance(m, Tensor) or tuple(m.shape) != tuple(target.shape):
            raise ValueError(f"masks[{name!r}] must be a tensor of shape {tuple(target.shape)}, "
                             f"got {tuple(m.shape) if isinstance(m, Tensor) else type(m).__name__}")
        if not bool(((m == 0) | (m == 1)).all()):
            raise ValueError(f"masks[{name!r}] must contain only 0 and 1")
    with torch.no_grad():
        for name, m in masks.items():
            _mask_of(layers[name]).copy_(m)
            _zero_masked(layers[name])


def random_masks(model: nn.Module, densities_or_masks, seed: int = 0) -> dict[str, Tensor]:
    """Random masks with the same number of ones per layer as given (not applied).

    Args:
        model: a model made by :func:`~glth_core.core.parametrization.generalize`.
        densities_or_masks: a float density for every layer, or a dict
            ``{layer_name: density or 0/1 mask}``; a density ``d`` keeps
            ``round(d * numel)`` coefficients, a mask keeps as many as it has ones.
        seed: each layer draws from ``derive_seed(seed, "random_masks", name)``.

    Returns:
        ``{layer_name: mask}`` for the layers given (all layers for a float), each of the
        shape of the layer's coefficients; apply them with :func:`set_masks`.

    Raises:
        TypeError: ``densities_or_masks`` is neither a float nor a dict.
        ValueError: an unknown layer name, a density outside ``[0, 1]``, or a mask with
            another number of entries than the layer.
    """
    layers = require_generalized(model, "random_masks")
    seed = check_seed(seed)
    if isinstance(densities_or_masks, numbers.Real) and not isinstance(densities_or_masks, bool):
        spec = {name: densities_or_masks for name in layers}
    elif isinstance(densities_or_masks, Mapping):
        spec = dict(densities_or_masks)
    else:
        raise TypeError("densities_or_masks must be a float density or a dict {layer_name: density or mask}, "
                        f"got {type(densities_or_masks).__name__}")
    out = {}
    for name, value in spec.items():
        if name not in layers:
            raise ValueError(f"densities_or_masks: {name!r} is not a generalized layer; valid names: {list(layers)}")
        template = _mask_of(layers[name])
        n = template.numel()
        if isinstance(value, Tensor):
            if value.numel() != n:
                raise ValueError(f"densities_or_masks[{name!r}] has {value.numel()} entries, the layer has {n}")
            count = int(value.ne(0).sum().item())
        elif isinstance(value, numbers.Real) and not isinstance(value, bool) and 0.0 <= float(value) <= 1.0:
            count = round(float(value) * n)
        else:
            raise ValueError(f"densities_or_masks[{name!r}] must be a density in [0, 1] or a mask tensor, "
                             f"got {value!r}")
        gen = torch.Generator().manual_seed(derive_seed(seed, "random_masks", name))
        flat = torch.zeros(n, dtype=template.dtype)
        flat[torch.randperm(n, generator=gen)[:count]] = 1
        out[name] = flat.reshape(template.shape).to(template.device)
    return out


def snapshot(model: nn.Module) -> dict[str, Tensor]:
    """A deep copy of ``model.state_dict()`` (every parameter and buffer).

    Args:
        model: any ``nn.Module`` (generalized: the coefficients, masks and bases are included).

    Returns:
        ``{state_dict key: tensor}``, detached clones; pass it to :func:`rewind`.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def rewind(model: nn.Module, snapshot: Mapping[str, Tensor]) -> None:
    """Load ``snapshot`` into ``model`` except the masks, which stay as they are now.

    Every parameter (coefficients, biases, BatchNorm, ...) and buffer takes its
    snapshot value; masked coefficients are then set to exactly 0.

    Args:
        model: the model the snapshot was taken of (same architecture and generalization).
        snapshot: the dict returned by :func:`snapshot`.

    Raises:
        TypeError: ``model`` is not an ``nn.Module`` or ``snapshot`` not a dict.
        ValueError: ``snapshot`` does not fit ``model`` (missing or unexpected keys, other shapes).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(snapshot, Mapping):
        raise TypeError(f"snapshot must be the dict returned by glth_core.snapshot(model), got "
                        f"{type(snapshot).__name__}")
    state = dict(snapshot)
    current = model.state_dict()
    layers = generalized_parameters(model)
    for k in [target.state_key("mask") for target in layers.values()]:
        state[k] = current[k]
    missing = sorted(set(current) - set(state))
    unexpected = sorted(set(state) - set(current))
    if missing or unexpected:
        raise ValueError(
            f"snapshot does not match the model (missing keys {missing[:4]}, unexpected keys {unexpected[:4]}); "
            "take it with glth_core.snapshot(model) on the same model after generalize()")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ValueError(f"snapshot does not fit the model ({err}); take it with glth_core.snapshot(model) "
                         "on the same model after generalize()") from None
    with torch.no_grad():
        for m in layers.values():
            _zero_masked(m)
