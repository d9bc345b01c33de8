r"""Statistics over seeds of the engine's tidy results tables, and the one verdict rule.

Input: a table with one row per run and round, as :func:`glth_core.runs.sweep.sweep`
and :func:`glth_core.engine.lottery.run_imp` return (``glth_core.engine.lottery.TABLE_COLUMNS``).
Accuracies there are **fractions in [0, 1]**; every function here keeps the
units of the column it reads. Only :func:`verdict_sentence` converts, with its
``scale`` (default 100: a difference of fractions printed in percentage points).

The sample is the seed: a configuration run with ``n`` seeds gives ``n``
independent values. A seed fixes the initial weights and the data order, so two
arms run with the same seed (ticket and control, or two bases) are *paired*.

* :func:`summarize`: per configuration, mean, sd, ``n`` and the two-sided
  Student-t interval ``mean +- t_{(1+c)/2, n-1} sd / sqrt(n)``.
* :func:`paired_difference`: ``treatment - reference`` at matched (seed, round),
  the same t interval on the differences and the paired t-test p-value
  (``scipy.stats.ttest_rel``).
* :func:`compression`: per seed, the sparsity at which accuracy first leaves the
  band ``[reference - tolerance, inf)``, interpolated linearly in
  ``log(density)`` between the last round inside and the first round outside;
  compression = ``density_0 / density*`` (``1 / density*`` for density). A run
  that never leaves the band is *right-censored*: its compression is only a
  lower bound (``">= 126x"``), taken at its sparsest round.
* :func:`summarize_compression` and :func:`compression_ratio`: the geometric mean
  over seeds (of compression, or of the paired basis/reference ratio) with,
  by default (``method="t"``), the Student-t interval of the mean log,
  ``exp(mean log +- t_{(1+c)/2, n-1} sd(log) / sqrt(n))``: exact coverage for
  log-normal values at every ``n >= 2`` (``tests/test_stats.py`` checks 95% by
  simulation at n = 3, 5 and 10, where the percentile bootstrap of earlier
  versions covers far less at n = 3). The bootstrap methods of
  ``scipy.stats.bootstrap`` remain available (``method="percentile"``,
  ``"basic"``, ``"BCa"``). Censored values enter at their bound, recorded in the
  column ``bound`` (below).
* :func:`verdict`: the rule every chapter uses. With the interval ``[lo, hi]``
  of an effect and a ``null`` value (0 for a difference, 1 for a ratio), for a
  claimed side ``"greater"``: **holds** if ``lo > null``, **contradicted** if
  ``hi < null``, **inconclusive** otherwise (an interval touching the null is
  inconclusive); ``"less"`` mirrors it. An effect with a censored side
  (``bound`` not ``"exact"``) is **censored**, whatever its interval: a t
  interval is not monotone in each value (a larger censored value can widen
  it), so an interval computed from bounds is no bound of the true interval,
  and the comparison must be pruned further before it can hold.

``bound`` of an effect: ``"exact"``; ``"lower"`` when the true values can only be
larger than those used (censored treatment runs); ``"upper"`` the mirror
(censored reference runs); ``"unknown"`` when censoring acts both ways.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.stats

__all__ = [
    "CONFIDENCE", "SIDES", "VERDICTS", "BOUNDS", "COMPRESSION_METHODS",
    "t_interval", "summarize", "with_dense_round", "paired_values", "paired_difference",
    "sparsest_within", "crossing", "compression", "summarize_compression", "compression_ratio",
    "format_compression", "verdict", "verdict_sentence", "with_verdicts",
]

#: Default confidence level of every interval.
CONFIDENCE = 0.95
#: The sides a claim can take about an effect (as ``scipy.stats``' ``alternative``).
SIDES = ("greater", "less")
#: The outcomes of :func:`verdict` ("censored": a side of the comparison never left the band).
VERDICTS = ("holds", "contradicted", "inconclusive", "censored")
#: Interval methods of :func:`summarize_compression` and :func:`compression_ratio`:
#: "t" (Student-t on the logs) or a ``scipy.stats.bootstrap`` method.
COMPRESSION_METHODS = ("t", "percentile", "basic", "BCa")
#: What an effect's interval is, given censoring (module docstring).
BOUNDS = ("exact", "lower", "upper", "unknown")


# --------------------------------------------------------------------------- checks


def _check_confidence(confidence) -> float:
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise ValueError(f"confidence must be a number in (0, 1), e.g. 0.95; got {confidence!r}")
    return float(confidence)


def _check_columns(table, columns: Sequence[str], what: str = "table") -> None:
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame (the engine's tidy table), got {type(table).__name__}")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{what} has no column(s) {missing}; its columns are {list(table.columns)}")


def _as_list(columns, name: str) -> list[str]:
    if columns is None:
        return []
    if isinstance(columns, str):
        return [columns]
    if not isinstance(columns, (list, tuple)) or not all(isinstance(c, str) for c in columns):
        raise TypeError(f"{name} must be a column name or a list of column names, got {columns!r}")
    return list(columns)


def _groups(table: pd.DataFrame, by: list[str]):
    """``(key dict, sub-table)`` per group of ``by`` (one group, the whole table, if ``by`` is empty)."""
    if not by:
        yield {}, table
        return
    for key, part in table.groupby(by, sort=True, dropna=False):
        yield dict(zip(by, key)), part


# --------------------------------------------------------------------------- means and intervals


def t_interval(values, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Two-sided Student-t interval for the mean of ``values``.

    Args:
        values: 1-D numbers (one per seed), no NaN.
        confidence: in ``(0, 1)``.

    Returns:
        ``(low, high)``; ``(nan, nan)`` for fewer than two values; ``(mean, mean)`` when all
        are equal.

    Raises:
        ValueError: NaN in ``values`` or ``confidence`` outside ``(0, 1)``.
    """
    confidence = _check_confidence(confidence)
    x = np.asarray(values, dtype=float).ravel()
    if np.isnan(x).any():
        raise ValueError("values contain NaN; drop the missing runs first")
    if x.size < 2:
        return math.nan, math.nan
    mean, sd = float(x.mean()), float(x.std(ddof=1))
    if sd == 0:
        return mean, mean
    half = scipy.stats.t.ppf((1 + confidence) / 2, x.size - 1) * sd / math.sqrt(x.size)
    return mean - half, mean + half


def summarize(table: pd.DataFrame, by: Sequence[str], value: str = "test_accuracy", *,
              confidence: float = CONFIDENCE, means: Sequence[str] = ()) -> pd.DataFrame:
    """Mean, sd, n and t interval of ``value`` over the rows of each group of ``by``.

    Each row of a group is one seed (for a sweep table, group by every column
    that tells configurations apart, plus ``"round"``).

    Args:
        table: a tidy table (one row per run and round).
        by: the grouping columns.
        value: the column summarised.
        confidence: of the t interval, in ``(0, 1)``.
        means: other columns to average per group (e.g. ``"density"``, ``"params"``).

    Returns:
        One row per group: the ``by`` columns, ``n``, ``mean``, ``sd``, ``ci_low``,
        ``ci_high`` (same units as ``value``; sd and interval NaN for ``n = 1``), then the
        ``means`` columns.

    Raises:
        TypeError: ``table`` is not a DataFrame.
        ValueError: a missing column or ``confidence`` outside ``(0, 1)``.
    """
    by, means = _as_list(by, "by"), _as_list(means, "means")
    _check_columns(table, [*by, value, *means])
    rows = []
    for key, part in _groups(table, by):
        x = part[value].to_numpy(dtype=float)
        low, high = t_interval(x, confidence)
        rows.append({**key, "n": int(x.size), "mean": float(x.mean()),
                     "sd": float(x.std(ddof=1)) if x.size > 1 else math.nan, "ci_low": low, "ci_high": high,
                     **{m: float(part[m].astype(float).mean()) for m in means}})
    return pd.DataFrame(rows, columns=[*by, "n", "mean", "sd", "ci_low", "ci_high", *means])


def with_dense_round(table: pd.DataFrame, arm: str = "control", source: str = "ticket",
                     step: str = "round") -> pd.DataFrame:
    """``table`` plus, for every other value of ``arm`` that lacks step 0, a copy of ``source``'s step-0 rows.

    The engine's controls start at round 1: round 0 is the dense network, shared
    with the ticket run. The copies carry ``arm`` set to the control, so curves
    and paired differences start from the same dense point.

    Args:
        table: a tidy table.
        arm: the column of the arms (``"control"``).
        source: the arm whose step-0 rows are shared.
        step: the step column.

    Returns:
        A new DataFrame, ``table``'s rows first.

    Raises:
        ValueError: a missing column, or ``source`` has no step-0 rows.
    """
    _check_columns(table, [arm, step])
    dense = table[(table[arm] == source) & (table[step] == 0)]
    if dense.empty:
        raise ValueError(f"table has no {step} 0 rows with {arm} == {source!r} to share")
    extra = [dense.assign(**{arm: other}) for other in table[arm].unique()
             if other != source and not ((table[arm] == other) & (table[step] == 0)).any()]
    return pd.concat([table, *extra], ignore_index=True) if extra else table.copy()


# --------------------------------------------------------------------------- paired differences


def paired_values(table: pd.DataFrame, arm: str, treatment, reference, value: str = "test_accuracy", *,
                  pair_on: Sequence[str] = ("seed", "round")) -> pd.DataFrame:
    """The matched pairs: one row per value of ``pair_on`` that both arms have.

    Rows with only one arm are dropped.

    Args:
        table: a tidy table.
        arm: the column that tells the two arms apart (``"control"``, ``"basis"``, ...).
        treatment: one value of ``arm``.
        reference: the other value of ``arm``.
        value: the compared column.
        pair_on: the columns that match a treatment row with a reference row.

    Returns:
        The ``pair_on`` columns, ``treatment``, ``reference`` and ``difference``
        (``treatment - reference``).

    Raises:
        ValueError: equal arms, an arm without rows, a missing column, or several rows of
            one arm at the same ``pair_on`` values (add the column that tells them apart to
            ``pair_on`` or filter the table first).
    """
    pair_on = _as_list(pair_on, "pair_on")
    _check_columns(table, [arm, value, *pair_on])
    if treatment == reference:
        raise ValueError(f"treatment and reference must differ, both are {treatment!r}")
    sides = {}
    for name, level in (("treatment", treatment), ("reference", reference)):
        part = table[table[arm] == level]
        if part.empty:
            raise ValueError(f"no rows with {arm} == {level!r}; values present: {sorted(table[arm].unique())}")
        duplicated = part.duplicated(pair_on, keep=False)
        if duplicated.any():
            example = part.loc[duplicated, pair_on].iloc[0].to_dict()
            raise ValueError(f"several rows with {arm} == {level!r} at {example}: add the column that tells "
                             "them apart to pair_on (or by), or filter the table first")
        sides[name] = part.set_index(pair_on)[value].astype(float).rename(name)
    pairs = pd.concat(sides.values(), axis=1, join="inner").reset_index()
    pairs["difference"] = pairs["treatment"] - pairs["reference"]
    return pairs


def _difference_row(treated: np.ndarray, referenced: np.ndarray, confidence: float) -> dict:
    d = treated - referenced
    n = int(d.size)
    row = {"n": n, "estimate": float(d.mean()) if n else math.nan, "sd": math.nan, "ci_low": math.nan,
           "ci_high": math.nan, "p_value": math.nan,
           "treatment_mean": float(treated.mean()) if n else math.nan,
           "reference_mean": float(referenced.mean()) if n else math.nan}
    if n < 2:
        return row
    row["sd"] = float(d.std(ddof=1))
    if row["sd"] == 0:  # identical pairs: no spread to test against
        row["ci_low"] = row["ci_high"] = row["estimate"]
        return row
    result = scipy.stats.ttest_rel(treated, referenced)
    interval = result.confidence_interval(confidence)
    row.update(ci_low=float(interval.low), ci_high=float(interval.high), p_value=float(result.pvalue))
    return row


def paired_difference(table: pd.DataFrame, arm: str, treatment, reference, value: str = "test_accuracy", *,
                      by: Sequence[str] = ("round",), pair_on: Sequence[str] = ("seed",),
                      confidence: float = CONFIDENCE) -> pd.DataFrame:
    """``treatment - reference`` of ``value``, paired on ``pair_on``, per group of ``by``.

    Example: ticket minus random re-initialisation per basis and round,
    ``paired_difference(table, "control", "ticket", "reinit", by=["basis", "round"])``;
    DCT minus canonical per round, ``paired_difference(tickets, "basis", "dct", "canonical")``.

    Args:
        table: a tidy table.
        arm: as for :func:`paired_values`.
        treatment: as for :func:`paired_values`.
        reference: as for :func:`paired_values`.
        value: the compared column.
        by: the grouping columns.
        pair_on: as for :func:`paired_values`.
        confidence: of the t interval, in ``(0, 1)``.

    Returns:
        One row per group: the ``by`` columns, ``n`` (pairs), ``estimate`` (mean
        difference), ``sd`` (of the differences), ``ci_low``/``ci_high`` (the
        ``confidence`` t interval of the mean difference), ``p_value`` (two-sided paired
        t-test, ``scipy.stats.ttest_rel``), ``treatment_mean``, ``reference_mean``. Units:
        those of ``value``. Groups where no seed has both arms are left out.

    Raises:
        ValueError: as for :func:`paired_values`.
    """
    by, pair_on = _as_list(by, "by"), _as_list(pair_on, "pair_on")
    confidence = _check_confidence(confidence)
    pairs = paired_values(table, arm, treatment, reference, value, pair_on=[*by, *pair_on])
    rows = [{**key, **_difference_row(part["treatment"].to_numpy(), part["reference"].to_numpy(), confidence)}
            for key, part in _groups(pairs, by)]
    return pd.DataFrame(rows, columns=[*by, "n", "estimate", "sd", "ci_low", "ci_high", "p_value",
                                       "treatment_mean", "reference_mean"])


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
            rows per step, or a run without step 0 (see :func:`with_dense_round`).
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


# --------------------------------------------------------------------------- verdicts


def verdict(interval, claimed_side: str, *, null: float = 0.0, bound: str = "exact") -> str:
    """``"holds"``, ``"contradicted"``, ``"inconclusive"`` or ``"censored"`` (module docstring).

    Args:
        interval: ``(low, high)`` of the effect (a NaN end: inconclusive).
        claimed_side: ``"greater"`` (the claim says effect > ``null``) or ``"less"``.
        null: the value of no effect (0 for a difference, 1 for a ratio).
        bound: see :data:`BOUNDS` (anything but ``"exact"`` gives ``"censored"``).

    Returns:
        The verdict, one of :data:`VERDICTS`.

    Raises:
        TypeError: ``interval`` is not a pair of numbers.
        ValueError: an unknown side or bound, or ``low > high``.
    """
    if claimed_side not in SIDES:
        raise ValueError(f"claimed_side must be one of {SIDES}, got {claimed_side!r}")
    if bound not in BOUNDS:
        raise ValueError(f"bound must be one of {BOUNDS}, got {bound!r}")
    try:
        low, high = (float(v) for v in interval)
    except (TypeError, ValueError):
        raise TypeError(f"interval must be a pair (low, high) of numbers, got {interval!r}") from None
    if bound != "exact":
        return "censored"
    if math.isnan(low) or math.isnan(high):
        return "inconclusive"
    if low > high:
        raise ValueError(f"interval must have low <= high, got ({low}, {high})")
    if low > null:
        side = "greater"
    elif high < null:
        side = "less"
    else:
        return "inconclusive"
    return "holds" if side == claimed_side else "contradicted"


def verdict_sentence(effect: Mapping, claimed_side: str, *, unit: str = "pp", scale: float = 100.0,
                     null: float = 0.0, confidence: float = CONFIDENCE, label: str | None = None,
                     digits: int = 2) -> str:
    """The verdict with n, the effect and its interval.

    For example ``"holds (n = 5, difference +1.23 pp, 95% CI [+0.40, +2.06])"``; a
    ratio (``null=1``, ``unit="x"``, ``scale=1``) prints as
    ``"ratio 1.80x, 95% CI [1.20x, 2.70x]"``; a one-sided bound adds
    "(lower bound: censored runs)".

    Args:
        effect: a row of :func:`paired_difference` or :func:`compression_ratio` (keys
            ``n``, ``estimate``, ``ci_low``, ``ci_high``, optional ``bound``).
        claimed_side: as for :func:`verdict`.
        unit: printed after each value.
        scale: printed values are ``scale * value`` (100: fractions as percentage points).
        null: as for :func:`verdict`.
        confidence: the interval's confidence, as printed.
        label: the name of the effect (default ``"difference"`` or ``"ratio"``).
        digits: decimals printed.

    Returns:
        The sentence.

    Raises:
        ValueError: ``effect`` lacks a key.
    """
    missing = [k for k in ("n", "estimate", "ci_low", "ci_high") if k not in effect]
    if missing:
        raise ValueError(f"effect needs the keys n, estimate, ci_low, ci_high (a row of paired_difference or "
                         f"compression_ratio); missing {missing}")
    bound = effect.get("bound", "exact")
    outcome = verdict((effect["ci_low"], effect["ci_high"]), claimed_side, null=null, bound=bound)
    ratio = unit == "x"
    label = label or ("ratio" if ratio else "difference")

    def number(v):
        if not math.isfinite(v):
            return "n/a"
        return f"{scale * v:.{digits}f}x" if ratio else f"{scale * v:+.{digits}f}"

    estimate = number(float(effect["estimate"])) + ("" if ratio else f" {unit}")
    note = {"lower": ", lower bound: censored runs", "upper": ", upper bound: censored runs",
            "unknown": ", censored on both sides"}.get(bound, "")
    return (f"{outcome} (n = {int(effect['n'])}, {label} {estimate}, {100 * confidence:g}% CI "
            f"[{number(float(effect['ci_low']))}, {number(float(effect['ci_high']))}]{note})")


def with_verdicts(effects: pd.DataFrame, claimed_side: str, **sentence_options) -> pd.DataFrame:
    """``effects`` with the columns ``verdict`` and ``sentence``.

    Args:
        effects: rows of :func:`paired_difference` or :func:`compression_ratio`.
        claimed_side: as for :func:`verdict`.
        **sentence_options: passed to :func:`verdict_sentence`.

    Returns:
        A copy of ``effects`` with the two columns added.
    """
    _check_columns(effects, ["n", "estimate", "ci_low", "ci_high"], "effects")
    null = sentence_options.get("null", 0.0)
    out = effects.copy()
    out["verdict"] = [verdict((r["ci_low"], r["ci_high"]), claimed_side, null=null, bound=r.get("bound", "exact"))
                      for _, r in effects.iterrows()]
    out["sentence"] = [verdict_sentence(r, claimed_side, **sentence_options) for _, r in effects.iterrows()]
    return out
