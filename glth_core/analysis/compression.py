r"""Compression at equal accuracy, with right-censoring, and its geometric means over seeds.

A run that never leaves the accuracy band is right-censored: its compression is a lower bound.
See :mod:`glth_core.analysis.stats` for the definitions and the interval methods.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.stats

from .intervals import CONFIDENCE, _as_list, _check_columns, _check_confidence, _groups, paired_values, t_interval

__all__ = [
    "COMPRESSION_METHODS", "sparsest_within", "crossing", "compression", "summarize_compression",
    "compression_ratio", "format_compression"
]


#: Interval methods of :func:`summarize_compression` and :func:`compression_ratio`:
#: "t" (Student-t on the logs) or a ``scipy.stats.bootstrap`` method.
COMPRESSION_METHODS = ("t", "percentile", "basic", "BCa")


# --------------------------------------------------------------------------- compression at equal accuracy


def sparsest_within(accuracy: pd.Series, threshold: float) -> tuple[object, bool]:
    """The last step ``r`` such that steps ``0..r`` all have accuracy ``>= threshold``.

    Args:
        accuracy: indexed by step (round), in any order.
        threshold: the lowest accuracy inside the band.

    Returns:
        ``(r, left)``: ``left`` is False when no step falls below (the band was never left,
        so ``r``, the last step, is only a bound); ``r`` is None when the first step is
        already below.

    Raises:
        TypeError: ``accuracy`` is not a non-empty Series.
    """
    if not isinstance(accuracy, pd.Series) or accuracy.empty:
        raise TypeError("accuracy must be a non-empty pandas Series indexed by round")
    accuracy = accuracy.sort_index()
    inside = (accuracy >= threshold).to_numpy()
    if not inside[0]:
        return None, True
    outside = np.flatnonzero(~inside)
    if len(outside):
        return accuracy.index[outside[0] - 1], True
    return accuracy.index[-1], False


def crossing(x, accuracy, threshold: float) -> tuple[float, bool]:
    """Where ``accuracy`` first drops below ``threshold`` as ``x`` shrinks, interpolated in ``log x``.

    Between the last step ``i`` inside the band and the next step ``j`` below it,
    ``log x* = log x_i + (threshold - a_i) (log x_j - log x_i) / (a_j - a_i)``.

    Args:
        x: shape ``(steps,)``, positive sizes (density or parameter count), in step order
            (decreasing).
        accuracy: shape ``(steps,)``, the accuracy at each step.
        threshold: the lowest accuracy inside the band.

    Returns:
        ``(x*, censored)``: ``censored`` is True when no step falls below (``x*`` is then
        the last ``x``, and the true crossing is at most that); ``x*`` is NaN when the first
        step is already below.

    Raises:
        ValueError: shapes that differ or are empty, a non-positive ``x``, or NaN accuracy.
    """
    x, a = np.asarray(x, dtype=float), np.asarray(accuracy, dtype=float)
    if x.ndim != 1 or x.shape != a.shape or x.size == 0:
        raise ValueError(f"x and accuracy must be 1-D of the same non-zero length, got shapes {x.shape}, {a.shape}")
    if not (x > 0).all():
        raise ValueError("x must be positive (a density or a parameter count) to be interpolated in log x")
    if np.isnan(a).any():
        raise ValueError("accuracy contains NaN")
    outside = np.flatnonzero(a < threshold)
    if not len(outside):
        return float(x[-1]), True
    j = int(outside[0])
    if j == 0:
        return math.nan, False
    i = j - 1
    log_x = math.log(x[i]) + (threshold - a[i]) * (math.log(x[j]) - math.log(x[i])) / (a[j] - a[i])
    return math.exp(log_x), False


def compression(table: pd.DataFrame, tolerance: float, *, reference="own", by: Sequence[str] = ("basis",),
                value: str = "test_accuracy", x: str = "density", step: str = "round",
                unit: str = "seed") -> pd.DataFrame:
    """Per seed and configuration: compression at which accuracy leaves the band below a reference.

    Args:
        table: one row per (``by``, ``unit``, ``step``), steps starting at 0 (the dense
            network); filter it to one control first.
        tolerance: ``>= 0``, in the units of ``value`` (fractions: 0.01 is one percentage point).
        reference: ``"own"``: each run's own step-0 accuracy; a mapping ``{column: value}``,
            e.g. ``{"basis": "canonical"}``: the step-0 accuracy of the rows it selects with
            the same ``unit`` (one row per seed); a number: the same reference accuracy for
            every run.
        by: the columns of a configuration.
        value: the accuracy column.
        x: the size column (density or parameter count).
        step: the step column.
        unit: the column of the repetitions (seeds).

    Returns:
        One row per (``by``, ``unit``): ``reference``, ``threshold``
        (``reference - tolerance``), ``crossing`` (``x*`` of :func:`crossing`),
        ``compression`` (``x_0 / x*``), ``censored`` (True: never left the band,
        ``compression`` is a lower bound) and ``steps``. ``compression`` is NaN when the
        dense network itself is below the threshold.

    Raises:
        ValueError: a negative ``tolerance``, a bad ``reference``, a missing column, several
            rows per step, or a run without step 0 (see :func:`~glth_core.analysis.intervals.with_dense_round`).
    """
    by = _as_list(by, "by")
    _check_columns(table, [*by, unit, step, value, x])
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not tolerance >= 0:
        raise ValueError(f"tolerance must be a number >= 0 in the units of {value!r} (0.01 = one percentage "
                         f"point for accuracies), got {tolerance!r}")
    if isinstance(reference, Mapping):
        _check_columns(table, list(reference))
        selected = table[(table[step] == 0) & np.logical_and.reduce([table[c] == v for c, v in reference.items()])]
        if selected.empty or selected[unit].duplicated().any():
            raise ValueError(f"reference={dict(reference)} must select exactly one {step}-0 row per {unit}, "
                             f"found {len(selected)} rows for {selected[unit].nunique()} {unit}s")
        reference_of = selected.set_index(unit)[value].astype(float).to_dict()
    elif not (reference == "own" or (isinstance(reference, (int, float)) and not isinstance(reference, bool))):
        raise ValueError(f"reference must be 'own', a number or a dict like {{'basis': 'canonical'}}, "
                         f"got {reference!r}")
    rows = []
    for key, part in _groups(table, [*by, unit]):
        part = part.sort_values(step)
        if part[step].duplicated().any():
            raise ValueError(f"several rows per {step} for {key}: add the column that tells them apart to by")
        if part[step].iloc[0] != 0:
            raise ValueError(f"the run {key} has no {step} 0 (the dense network); see with_dense_round")
        sizes, accuracy = part[x].to_numpy(dtype=float), part[value].to_numpy(dtype=float)
        if reference == "own":
            ref = float(accuracy[0])
        elif isinstance(reference, Mapping):
            if key[unit] not in reference_of:
                raise ValueError(f"reference={dict(reference)} has no {step}-0 row for {unit} {key[unit]!r}")
            ref = reference_of[key[unit]]
        else:
            ref = float(reference)
        at, censored = crossing(sizes, accuracy, ref - tolerance)
        rows.append({**key, "reference": ref, "threshold": ref - tolerance, "crossing": at,
                     "compression": float(sizes[0] / at), "censored": censored, "steps": len(part)})
    return pd.DataFrame(rows, columns=[*by, unit, "reference", "threshold", "crossing", "compression",
                                       "censored", "steps"])


def _mean_interval(values: np.ndarray, confidence: float, n_resamples: int, seed: int,
                   method: str) -> tuple[float, float]:
    """Interval of the mean of ``values`` (logs): Student-t (``method="t"``) or ``scipy.stats.bootstrap``."""
    if method not in COMPRESSION_METHODS:
        raise ValueError(f"method must be one of {COMPRESSION_METHODS} ('t': Student-t interval on the logs, "
                         f"right at small n), got {method!r}")
    if values.size < 2:
        return math.nan, math.nan
    if np.all(values == values[0]):
        return float(values[0]), float(values[0])
    if method == "t":
        return t_interval(values, confidence)
    result = scipy.stats.bootstrap((values,), np.mean, confidence_level=confidence, n_resamples=n_resamples,
                                   method=method, rng=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def summarize_compression(per_seed: pd.DataFrame, by: Sequence[str] = ("basis",), *,
                          confidence: float = CONFIDENCE, n_resamples: int = 9999, seed: int = 0,
                          method: str = "t") -> pd.DataFrame:
    """Geometric mean compression over seeds with an interval, per group of ``by``.

    The interval is ``exp`` of the interval of the mean of ``log(compression)``:
    Student-t for ``method="t"`` (the default, right coverage at small n), else
    ``scipy.stats.bootstrap`` with ``method``, ``n_resamples`` and random generator
    ``numpy.random.default_rng(seed)``. Censored seeds enter at their lower bound, so
    with any censored seed the estimate is a lower bound (``bound = "lower"``) and the
    interval is computed from bounds.

    Args:
        per_seed: the table of :func:`compression`.
        by: the grouping columns.
        confidence: of the interval, in ``(0, 1)``.
        n_resamples: bootstrap resamples.
        seed: seed of ``numpy.random.default_rng`` for the bootstrap.
        method: ``"t"`` (Student-t on the logs) or a ``scipy.stats.bootstrap`` method.

    Returns:
        One row per group: ``by``, ``n``, ``censored`` (count), ``compression`` (geometric
        mean), ``ci_low``, ``ci_high``, ``bound``. Runs whose dense network is below the
        threshold (NaN) are left out of ``n``.
    """
    by = _as_list(by, "by")
    _check_columns(per_seed, [*by, "compression", "censored"], "per_seed")
    confidence = _check_confidence(confidence)
    rows = []
    for key, part in _groups(per_seed, by):
        part = part[part["compression"].notna()]
        logs = np.log(part["compression"].to_numpy(dtype=float))
        low, high = _mean_interval(logs, confidence, n_resamples, seed, method)
        censored = int(part["censored"].sum())
        rows.append({**key, "n": int(logs.size), "censored": censored,
                     "compression": math.exp(logs.mean()) if logs.size else math.nan,
                     "ci_low": math.exp(low), "ci_high": math.exp(high),
                     "bound": "lower" if censored else "exact"})
    return pd.DataFrame(rows, columns=[*by, "n", "censored", "compression", "ci_low", "ci_high", "bound"])


def compression_ratio(per_seed: pd.DataFrame, arm: str, treatment, reference, *, by: Sequence[str] = (),
                      unit: str = "seed", confidence: float = CONFIDENCE, n_resamples: int = 9999, seed: int = 0,
                      method: str = "t") -> pd.DataFrame:
    """Paired ``treatment / reference`` compression (e.g. DCT over canonical), per group of ``by``.

    Pairs the rows of :func:`compression` on ``unit`` (the seed). The estimate is the
    geometric mean ratio, the interval ``exp`` of the interval (as in
    :func:`summarize_compression`: Student-t by default) of the mean log ratio; its
    null value is 1.

    Args:
        per_seed: the table of :func:`compression`.
        arm: the column of the arms (e.g. ``"basis"``).
        treatment: one value of ``arm``.
        reference: the other value of ``arm``.
        by: the grouping columns.
        unit: the pairing column.
        confidence: as for :func:`summarize_compression`.
        n_resamples: as for :func:`summarize_compression`.
        seed: as for :func:`summarize_compression`.
        method: as for :func:`summarize_compression`.

    Returns:
        One row per group: ``by``, ``n``, ``censored_treatment``, ``censored_reference``,
        ``estimate``, ``ci_low``, ``ci_high``, ``bound``: ``"lower"`` if only treatment runs
        are censored (their true compression is higher), ``"upper"`` if only reference runs
        are, ``"unknown"`` if both, else ``"exact"``.
    """
    by = _as_list(by, "by")
    _check_columns(per_seed, [*by, arm, unit, "compression", "censored"], "per_seed")
    confidence = _check_confidence(confidence)
    valid = per_seed[per_seed["compression"].notna()]
    logs = paired_values(valid.assign(log_compression=np.log(valid["compression"])), arm, treatment, reference,
                         "log_compression", pair_on=[*by, unit])
    flags = paired_values(valid.assign(censored=valid["censored"].astype(float)), arm, treatment, reference,
                          "censored", pair_on=[*by, unit])
    rows = []
    for key, part in _groups(logs, by):
        keys = part.set_index([*by, unit]).index
        censored = flags.set_index([*by, unit]).loc[keys]
        ct, cr = int(censored["treatment"].sum()), int(censored["reference"].sum())
        d = part["difference"].to_numpy(dtype=float)
        low, high = _mean_interval(d, confidence, n_resamples, seed, method)
        bound = {(False, False): "exact", (True, False): "lower", (False, True): "upper"}.get((ct > 0, cr > 0),
                                                                                             "unknown")
        rows.append({**key, "n": int(d.size), "censored_treatment": ct, "censored_reference": cr,
                     "estimate": math.exp(d.mean()), "ci_low": math.exp(low), "ci_high": math.exp(high),
                     "bound": bound})
    return pd.DataFrame(rows, columns=[*by, "n", "censored_treatment", "censored_reference", "estimate",
                                       "ci_low", "ci_high", "bound"])


def format_compression(value: float, censored: bool = False, digits: int = 0) -> str:
    """``"126x"``, or ``">= 126x"`` for a censored (lower-bound) value; ``"n/a"`` for NaN.

    Args:
        value: a compression factor.
        censored: the value is a lower bound.
        digits: decimals printed.

    Returns:
        The text.
    """
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{'≥ ' if censored else ''}{value:.{digits}f}x"


