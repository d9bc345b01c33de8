r"""Means over seeds with their Student-t intervals, and paired differences between two arms.

The sample is the seed; two arms run with the same seed are paired. See :mod:`glth_core.analysis.stats`
for the definitions and units.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd
import scipy.stats

__all__ = [
    "CONFIDENCE", "SIDES", "t_interval", "summarize", "with_dense_round", "paired_values", "paired_difference"
]


#: Default confidence level of every interval.
CONFIDENCE = 0.95
#: The sides a claim can take about an effect (as ``scipy.stats``' ``alternative``).
SIDES = ("greater", "less")


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


