r"""Truncated SVD of trained weights, without retraining: the post-training low-rank baseline.

For a trained weight viewed as a matrix ``W`` (``out x in``; a conv kernel as
``out x (in k_1 ...)``) with SVD ``W = U S V^T``, keeping rank ``r`` gives
``W_r = U[:, :r] S[:r] V[:r]^T``, the best rank-``r`` approximation
(Eckart-Young), as in the compression step of Denton et al. (2014), before
any fine-tuning.

In this library it is a generalized model: :func:`truncate_svd` writes each
named layer in the ``"svd"`` basis fitted to its own trained weight (its
coefficients are then ``S``, one nonzero per row) and masks all rows but the
``r`` of largest norm. So :func:`glth_core.count_parameters` counts
``r (in + out)`` for it once that is smaller than ``in * out``, and
:func:`glth_core.export` returns the two factors as two ``Linear`` layers;
an IMP ticket pruned by rows in a rotated basis compares with it directly.
"""
from __future__ import annotations

import copy
from typing import Mapping

import torch
from torch import nn

from ..core.export import export
from ..core.parametrization import coefficients, generalized_layers
from ..core.generalize import generalize
from ..core.pruning import set_masks

__all__ = ["truncate_svd", "ranks_from_densities"]


_LAYER_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def _layer(model: nn.Module, name: str) -> nn.Module:
    try:
        module = model.get_submodule(name)
    except AttributeError:
        module = None
    if not isinstance(module, _LAYER_TYPES):
        valid = [n for n, m in model.named_modules() if isinstance(m, _LAYER_TYPES)]
        raise ValueError(f"{name!r} is not a Linear or Conv layer of the model; valid names: {valid}")
    return module


def truncate_svd(model: nn.Module, ranks: Mapping[str, int]) -> nn.Module:
    """A copy of ``model`` in which each layer named in ``ranks`` keeps its ``r`` largest singular directions.

    Args:
        model: a plain trained model, or a generalized one (then its exported
            effective weights are used); not modified.
        ranks: ``{layer_name: r}`` with ``0 <= r <= min(out, in)`` for the layer's weight
            matrix (a conv kernel ``(out, in, kh, kw)`` is viewed as ``(out, in * kh * kw)``);
            other layers are copied unchanged.

    Returns:
        A generalized model: basis ``"svd"`` on the named layers, with row masks that keep
        ``r`` rows, so :func:`~glth_core.core.export.count_parameters` counts ``r * (out + in)``.

    Raises:
        TypeError: ``model`` is not an ``nn.Module`` or ``ranks`` not a non-empty dict.
        ValueError: an unknown layer or a rank outside ``[0, min(out, in)]``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(ranks, Mapping) or not ranks:
        raise TypeError(f"ranks must be a non-empty dict {{layer_name: rank}}, got {ranks!r}")
    plain = export(model) if generalized_layers(model) else copy.deepcopy(model)
    for name, r in ranks.items():
        weight = _layer(plain, name).weight
        largest = min(weight.shape[0], weight[0].numel())
        if isinstance(r, bool) or not isinstance(r, int) or not 0 <= r <= largest:
            raise ValueError(f"ranks[{name!r}] must be an integer in [0, {largest}] (the weight is "
                             f"{weight.shape[0]} x {weight[0].numel()} as a matrix), got {r!r}")
    generalize(plain, {name: "svd" for name in ranks})
    layers = generalized_layers(plain)
    masks = {}
    with torch.no_grad():
        for name, r in ranks.items():
            c = coefficients(layers[name])
            norms = c.reshape(c.shape[0], -1).norm(dim=1)
            keep = torch.zeros(c.shape[0], dtype=torch.bool, device=c.device)
            keep[torch.topk(norms, r).indices] = True
            masks[name] = keep.reshape(-1, *([1] * (c.dim() - 1))).expand_as(c).to(c.dtype).clone()
    set_masks(plain, masks)
    return plain


def ranks_from_densities(model: nn.Module, densities: Mapping[str, float]) -> dict[str, int]:
    """``{layer: round(density * out)}``: the ranks that keep each layer's share of rows.

    Args:
        model: the model the densities are of.
        densities: kept fraction of rows per layer, e.g. an engine row's
            ``layer_densities`` (decoded from JSON) of a unit-pruning run.

    Returns:
        ``{layer_name: rank}`` for :func:`truncate_svd`. Layers whose rank would be the full
        ``min(out, in)`` are left out (nothing to truncate).

    Raises:
        TypeError: ``densities`` is not a dict.
        ValueError: an unknown layer or a density outside ``[0, 1]``.
    """
    if not isinstance(densities, Mapping):
        raise TypeError(f"densities must be a dict {{layer_name: kept fraction}}, got {type(densities).__name__}")
    ranks = {}
    for name, density in densities.items():
        weight = _layer(model, name).weight
        if isinstance(density, bool) or not isinstance(density, (int, float)) or not 0 <= density <= 1:
            raise ValueError(f"densities[{name!r}] must be a number in [0, 1], got {density!r}")
        r = round(density * weight.shape[0])
        if r < min(weight.shape[0], weight[0].numel()):
            ranks[name] = r
    return ranks
