r"""Energy compaction: how much of a weight's squared norm its largest coefficients hold.

For a weight ``W`` with coefficients ``c = (c_1, ..., c_n)`` in an orthonormal
basis, sorted so that ``|c_(1)| >= |c_(2)| >= ...``, the energy held by the
largest ``k`` percent of the coefficients is

.. math::

    E(k) = \frac{\sum_{i \le m} c_{(i)}^2}{\sum_{i \le n} c_i^2}, \qquad m = \lceil k n / 100 \rceil .

The basis is orthonormal, so ``sum c_i^2 = ||W||^2`` (Parseval) and ``E(100) =
1``; ``E`` is non-decreasing and concave in ``m``. Magnitude pruning to density
``k / 100`` keeps exactly these coefficients, so ``1 - E(k)`` is the squared
norm it removes: a basis can only prune better where it compacts the weights
better, i.e. where its curve lies above the canonical basis' curve. Two closed
forms anchor the curve: a one-hot tensor in the canonical basis has ``E(k) = 1``
for every ``k > 0``; white Gaussian noise has the same distribution in every
orthonormal basis, and for large ``n``

.. math::

    E(k) \to q + 2 t \varphi(t), \qquad q = k/100 = 2(1 - \Phi(t)),

(``phi``, ``Phi`` the standard normal density and distribution), so no basis
compacts noise: compaction is a property of structure (e.g. smoothness, which
the DCT concentrates in its low frequencies).

What is measured (``source``):

* a tensor (or a dict ``{name: tensor}``): its coefficients in
  ``glth_core.basis(basis, w.shape, seed=..., image_shape=..., axes=...)``;
  with the default ``axes`` every axis is transformed (the ``"dct"``
  coefficients are ``scipy.fft.dctn(w, type=2, norm="ortho")``);
* a model and a basis name: the *effective* weight of each layer (for a
  generalized model, ``synthesis(M * C) [+ W_0]``, so pruned coefficients
  count as zero), written in that basis exactly as :func:`glth_core.generalize`
  would write it (same per-layer seeds, ``image_shape`` for the first layer,
  the spatial DCT of conv kernels, ``channel_dct``); layers default to the
  model's generalized layers, or every Linear/Conv layer of a plain model;
* a generalized model with ``basis=None``: each layer's own coefficients
  ``M * C``, so a ticket's masked coefficients are exactly zero.

The same works at initialisation, after dense training and for a ticket: pass
the model in that state.
"""
from __future__ import annotations

import math
from typing import Iterable, Mapping

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from ..core.bases import basis as make_basis
from ..core.generalize import prunable_layers, layer_basis
from ..core.parametrization import generalized_weight, generalized_layers

__all__ = ["DEFAULT_K_PERCENT", "layer_coefficients", "energy_fraction", "energy_curve", "energy_needed"]


#: Default grid of ``k`` (percent of coefficients kept): 41 log-spaced points from 0.01% to 100%.
DEFAULT_K_PERCENT = tuple(float(k) for k in np.round(np.geomspace(0.01, 100.0, 41), 6))


@torch.no_grad()
def layer_coefficients(source, basis: str | None = None, *, layers: Iterable[str] | None = None, seed: int = 0,
                       image_shape=None, **options) -> dict[str, tuple[str, Tensor]]:
    """``{layer: (basis name, coefficients)}`` of ``source`` (see the module docstring).

    Args:
        source: a tensor, a dict ``{name: tensor}``, or an ``nn.Module`` (plain or generalized).
        basis: a basis name (:data:`~glth_core.core.bases.BASIS_NAMES`); ``None`` only for a
            generalized model (its own coefficients ``M * C``).
        layers: module names to measure (models only; default as in the module docstring).
        seed: seed of seeded bases, as for :func:`glth_core.generalize`.
        image_shape: ``(C, H, W)`` of a first layer's input, as for :func:`glth_core.generalize`.
        **options: further options of :func:`glth_core.generalize` (models) or
            :func:`glth_core.basis` (tensors: ``axes=``).

    Returns:
        Coefficients as float64 CPU tensors of each weight's shape, in layer order.
    """
    if isinstance(source, Tensor):
        source = {"weight": source}
    if isinstance(source, Mapping):
        if basis is None:
            raise ValueError("basis=None reads a generalized model's own coefficients; for tensors pass a basis "
                             "name such as 'dct' or 'canonical'")
        if layers is not None:
            raise ValueError("layers= selects modules of a model; for a dict of tensors pass only the ones to measure")
        if "channel_dct" in options:
            raise ValueError("channel_dct= is a rule for a model's conv layers; for a tensor name its axes, e.g. "
                             "axes=(1, 2, 3)")
        out = {}
        for name, w in source.items():
            if not isinstance(w, Tensor) or w.dim() == 0:
                raise TypeError(f"source[{name!r}] must be a weight tensor with at least one axis, "
                                f"got {type(w).__name__ if not isinstance(w, Tensor) else 'a 0-d tensor'}")
            w = w.detach().to("cpu", torch.float64)
            b = make_basis(basis, tuple(w.shape), seed=seed, image_shape=image_shape,
                           weight=w if basis == "svd" else None, dtype=torch.float64, **options)
            out[name] = (basis, b.coeffs(w))
        return out
    if not isinstance(source, nn.Module):
        raise TypeError(f"source must be a torch.Tensor, a dict of tensors or an nn.Module, got {type(source).__name__}")
    own = generalized_layers(source)
    if basis is None:
        if not own:
            raise ValueError("basis=None reads the coefficients of a generalized model, but this model has no "
                             "generalized layer: pass a basis name, e.g. energy_curve(model, 'dct')")
        if options or image_shape is not None:
            raise ValueError("basis=None uses each layer's own basis; image_shape/options apply only with a basis name")
        names = list(own) if layers is None else list(layers)
        missing = [n for n in names if n not in own]
        if missing:
            raise ValueError(f"layers {missing} are not generalized; generalized layers are {list(own)}")
        out = {}
        for name in names:
            gw = generalized_weight(own[name])
            c = gw.mask * own[name].parametrizations.weight.original
            out[name] = (gw.basis.name, c.detach().to("cpu", torch.float64))
        return out
    modules = dict(source.named_modules())
    names = list(layers) if layers is not None else list(own) or prunable_layers(source)
    bad = [n for n in names if not isinstance(getattr(modules.get(n), "weight", None), Tensor)]
    if bad or not names:
        raise ValueError(f"layers: {bad or 'none'} are not modules with a weight in the model; prunable modules "
                         f"are {prunable_layers(source)}")
    order = {n: i for i, n in enumerate(modules)}
    names = sorted(dict.fromkeys(names), key=order.__getitem__)
    unknown = sorted(set(options) - {"axes", "channel_dct"})
    if unknown:
        raise TypeError(f"unknown option(s) {unknown}; valid: image_shape, seed, layers, axes, channel_dct")
    out = {}
    for i, name in enumerate(names):
        w = modules[name].weight.detach().to("cpu", torch.float64)  # the effective weight: M * C synthesised
        b = layer_basis(basis, w, name, first=i == 0, seed=seed, image_shape=image_shape, **options)
        out[name] = (basis, b.coeffs(w))
    return out


def _check_k(k_percent) -> np.ndarray:
    k = np.atleast_1d(np.asarray(DEFAULT_K_PERCENT if k_percent is None else k_percent, dtype=float))
    if k.ndim != 1 or k.size == 0 or not np.all(np.isfinite(k)) or np.any((k < 0) | (k > 100)):
        raise ValueError(f"k_percent must be numbers in [0, 100] (percent of coefficients kept), got {k_percent!r}")
    return k


def _sorted_energy(coeffs: Tensor) -> np.ndarray:
    """Cumulative squared coefficients, largest first, divided by the total (NaN for a zero tensor)."""
    energy = np.sort(coeffs.detach().to("cpu", torch.float64).numpy().ravel() ** 2)[::-1]
    cumulative = np.cumsum(energy)
    total = cumulative[-1] if cumulative.size else 0.0
    return cumulative / total if total > 0 else np.full_like(cumulative, np.nan)


def energy_fraction(coeffs: Tensor, k_percent) -> np.ndarray:
    """``E(k)`` of coefficients ``coeffs`` (any shape) for each ``k`` in ``k_percent`` (module docstring).

    ``E(0) = 0``; NaN for every ``k`` when ``coeffs`` is all zero (no energy to hold).
    """
    if not isinstance(coeffs, Tensor):
        raise TypeError(f"coeffs must be a torch.Tensor, got {type(coeffs).__name__}")
    k = _check_k(k_percent)
    fractions = _sorted_energy(coeffs)
    kept = np.ceil(k * coeffs.numel() / 100 - 1e-9).astype(int)  # the tolerance keeps k n / 100 = 3.0000001 at 3
    out = np.where(kept > 0, fractions[np.maximum(kept, 1) - 1], 0.0)
    return np.where(np.isnan(fractions[-1]), np.nan, out)


def energy_curve(source, basis: str | None = None, *, k_percent=None, pooled: bool = False, **kwargs) -> pd.DataFrame:
    """Energy compaction curves of ``source`` in ``basis``, one row per layer and ``k``.

    Args:
        source: a tensor, a dict ``{name: tensor}``, or an ``nn.Module``, as for
            :func:`layer_coefficients`.
        basis: a basis name, or ``None`` for a generalized model's own coefficients.
        k_percent: the grid of ``k``, percentages of the coefficients (default
            :data:`DEFAULT_K_PERCENT`, log-spaced).
        pooled: also a curve ``layer="(all)"`` over every layer's coefficients together
            (what global pruning ranks).
        **kwargs: ``layers``, ``seed``, ``image_shape``, ``axes``, ``channel_dct`` as for
            :func:`layer_coefficients`.

    Returns:
        A tidy DataFrame with columns ``layer, basis, k_percent, energy_fraction``:
        ``E(k)``, the share of the squared norm held by the largest ``k`` percent of the coefficients.
    """
    k = _check_k(k_percent)
    coefficients = layer_coefficients(source, basis, **kwargs)
    frames = [pd.DataFrame({"layer": name, "basis": b, "k_percent": k, "energy_fraction": energy_fraction(c, k)})
              for name, (b, c) in coefficients.items()]
    if pooled:
        names = sorted({b for b, _ in coefficients.values()})
        everything = torch.cat([c.reshape(-1) for _, c in coefficients.values()])
        frames.append(pd.DataFrame({"layer": "(all)", "basis": "+".join(names), "k_percent": k,
                                    "energy_fraction": energy_fraction(everything, k)}))
    return pd.concat(frames, ignore_index=True)


def energy_needed(source, basis: str | None = None, *, levels=(0.9, 0.99), **kwargs) -> pd.DataFrame:
    """Per layer, the smallest ``k`` (percent of coefficients, exact) whose ``E(k)`` reaches each level.

    ``k = 100 m / n`` for the smallest number ``m`` of largest coefficients holding
    at least ``level`` of the squared norm (NaN for an all-zero layer).

    Args:
        source: as for :func:`energy_curve`.
        basis: as for :func:`energy_curve`.
        levels: energy fractions in ``(0, 1]``.
        **kwargs: as for :func:`energy_curve`.

    Returns:
        A DataFrame with columns ``layer, basis, energy, k_percent, coefficients``
        (``coefficients``: ``n``, the layer's number of coefficients).

    Raises:
        ValueError: a level outside ``(0, 1]``.
    """
    levels = np.atleast_1d(np.asarray(levels, dtype=float))
    if levels.ndim != 1 or levels.size == 0 or np.any((levels <= 0) | (levels > 1)) or not np.all(np.isfinite(levels)):
        raise ValueError(f"levels must be energy fractions in (0, 1], e.g. (0.9, 0.99), got {levels!r}")
    rows = []
    for name, (b, c) in layer_coefficients(source, basis, **kwargs).items():
        fractions = _sorted_energy(c)
        n = c.numel()
        for level in levels:
            if np.isnan(fractions[-1]):
                k = math.nan
            else:  # round-off may leave the last cumulative sum a hair below 1
                m = min(int(np.searchsorted(fractions, level * (1 - 1e-12), side="left")) + 1, n)
                k = 100.0 * m / n
            rows.append({"layer": name, "basis": b, "energy": float(level), "k_percent": k, "coefficients": n})
    return pd.DataFrame(rows, columns=["layer", "basis", "energy", "k_percent", "coefficients"])
