r"""Comparisons at equal size: one method's accuracy read off another's curve, paired by seed.

Two methods rarely land on the same sizes: a ticket's rounds give one set of
coefficient (or parameter) counts, a random-subspace grid or another pruning
schedule another. To compare them at equal size, the *reference* curve of each
seed is interpolated linearly in ``log(size)`` at the *treatment*'s size:

.. math::

    a_\text{ref}(x) = a_i + (a_j - a_i)\,\frac{\log x - \log x_i}{\log x_j - \log x_i},
    \qquad x_i \le x \le x_j,

between the reference's two neighbouring sizes ``x_i <= x <= x_j`` of the same
seed. A treatment size outside the reference seed's range ``[min x, max x]``
gives NaN: nothing is extrapolated. The pairs then feed
:func:`glth_core.analysis.stats.paired_difference` (same seed = same initial weights and
data order), so the verdict rule is the book's one rule.

:func:`intrinsic_dimensions` applies :func:`glth_core.analysis.stats.crossing` to each
seed's random-subspace curve: the smallest ``d`` that reaches a fraction of that
seed's dense accuracy, on the grid (Li et al.'s definition) and interpolated in
``log d``.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from . import stats

__all__ = ["interpolate_log", "at_equal_size", "equal_size_difference", "intrinsic_dimensions"]


def interpolate_log(x_new, x, y) -> np.ndarray:
    """``y`` interpolated linearly in ``log x`` at ``x_new``; NaN outside ``[min x, max x]``.

    ``x``: positive sizes (any order, no duplicates); ``y``: values, same length.
    """
    x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    x_new = np.asarray(x_new, dtype=float)
    if x.size == 0 or x.shape != y.shape:
        raise ValueError(f"x and y must be 1-D of the same non-zero length, got shapes {x.shape}, {y.shape}")
    if not (x > 0).all() or not (x_new > 0).all():
        raise ValueError("sizes must be positive to be interpolated in log(size)")
    order = np.argsort(x)
    x, y = x[order], y[order]
    if (np.diff(x) == 0).any():
        raise ValueError(f"x has repeated sizes {sorted(set(x[1:][np.diff(x) == 0]))}: one value per size and seed")
    values = np.interp(np.log(x_new), np.log(x), y)
    return np.where((x_new >= x[0]) & (x_new <= x[-1]), values, np.nan)


def at_equal_size(treatment: pd.DataFrame, reference: pd.DataFrame, *, x: str, reference_x: str | None = None,
                  value: str = "test_accuracy", unit: str = "seed") -> pd.DataFrame:
    """Each ``treatment`` row with the ``reference`` value of its ``unit`` at its size ``x``.

    ``reference``: one curve per ``unit`` (one row per size); its sizes are in
    ``reference_x`` (default ``x``). Returns a copy of ``treatment`` with the
    columns ``reference`` (interpolated in log size, NaN outside the reference
    seed's range or for a seed the reference lacks) and ``difference``
    (``value - reference``).
    """
    reference_x = reference_x or x
    stats._check_columns(treatment, [x, value, unit], "treatment")
    stats._check_columns(reference, [reference_x, value, unit], "reference")
    out = treatment.copy()
    out["reference"] = np.nan
    for key, part in out.groupby(unit, sort=False):
        curve = reference[reference[unit] == key]
        if curve.empty:
            continue
        out.loc[part.index, "reference"] = interpolate_log(part[x].to_numpy(dtype=float),
                                                           curve[reference_x].to_numpy(dtype=float),
                                                           curve[value].to_numpy(dtype=float))
    out["difference"] = out[value].astype(float) - out["reference"]
    return out


def equal_size_difference(treatment: pd.DataFrame, reference: pd.DataFrame, *, x: str, by: Sequence[str],
                          reference_x: str | None = None, value: str = "test_accuracy", unit: str = "seed",
                          confidence: float = stats.CONFIDENCE) -> pd.DataFrame:
    """``treatment - reference`` at equal size per group of ``by``, paired on ``unit``.

    The rows of :func:`at_equal_size` with a reference value, passed to
    :func:`glth_core.analysis.stats.paired_difference` (so ``n`` counts the seeds whose
    reference curve covers the size); plus the group's mean size in column ``x``.
    Groups without any covered seed are left out.
    """
    by = stats._as_list(by, "by")
    matched = at_equal_size(treatment, reference, x=x, reference_x=reference_x, value=value, unit=unit)
    matched = matched[matched["reference"].notna()]
    columns = [*by, "n", "estimate", "sd", "ci_low", "ci_high", "p_value", "treatment_mean", "reference_mean", x]
    if matched.empty:
        return pd.DataFrame(columns=columns)
    keep = [*by, unit, x]
    long = pd.concat([matched[keep].assign(arm="treatment", _value=matched[value].astype(float)),
                      matched[keep].assign(arm="reference", _value=matched["reference"])], ignore_index=True)
    effects = stats.paired_difference(long, "arm", "treatment", "reference", "_value", by=by, pair_on=[unit],
                                      confidence=confidence)
    sizes = matched.groupby(by, sort=True)[x].mean().rename(x).reset_index()
    return effects.merge(sizes, on=by, how="left")[columns]


def intrinsic_dimensions(subspaces: pd.DataFrame, dense: Mapping, threshold: float = 0.9, *,
                         value: str = "test_accuracy", unit: str = "seed") -> pd.DataFrame:
    """Per seed: the smallest subspace dimension reaching ``threshold * dense[seed]``.

    ``subspaces``: one row per (``unit``, ``dimension``) (a subspace sweep);
    ``dense``: ``{seed: dense accuracy}``. Returns one row per seed: ``unit``,
    ``dense``, ``target`` (``threshold * dense``), ``grid`` (smallest grid ``d``
    whose accuracy is ``>= target``, and every larger ``d`` too; None if the
    largest ``d`` is below), ``interpolated`` (the crossing in ``log d`` between
    the last ``d`` at or above the target and the next one below, from the
    largest ``d`` down; NaN if the largest ``d`` is below) and ``censored``
    (True when even the smallest ``d`` reaches the target: the true value is
    at most the smallest ``d``).
    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold <= 1:
        raise ValueError(f"threshold must be a number in (0, 1], got {threshold!r}")
    stats._check_columns(subspaces, [unit, "dimension", value], "subspaces")
    rows = []
    for key, part in subspaces.groupby(unit, sort=True):
        if key not in dense:
            raise ValueError(f"dense has no accuracy for {unit} {key!r}; it has {sorted(dense)}")
        part = part.sort_values("dimension", ascending=False)
        target = threshold * float(dense[key])
        d, a = part["dimension"].to_numpy(dtype=float), part[value].to_numpy(dtype=float)
        x_star, censored = stats.crossing(d, a, target)
        inside, left = stats.sparsest_within(pd.Series(a, index=range(len(a))), target)
        grid = None if inside is None else int(d[inside])
        rows.append({unit: key, "dense": float(dense[key]), "target": target, "grid": grid,
                     "interpolated": float(x_star) if math.isfinite(x_star) else math.nan,
                     "censored": bool(censored)})
    return pd.DataFrame(rows, columns=[unit, "dense", "target", "grid", "interpolated", "censored"])
