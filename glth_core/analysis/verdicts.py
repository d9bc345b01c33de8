r"""The one verdict rule of the book, its sentence and a table's verdicts.

See :mod:`glth_core.analysis.stats` for the rule and the meaning of an effect's ``bound``.
"""
from __future__ import annotations

import math
from typing import Mapping

import pandas as pd

from .intervals import CONFIDENCE, SIDES, _check_columns

__all__ = ["VERDICTS", "BOUNDS", "verdict", "verdict_sentence", "with_verdicts"]

#: The outcomes of :func:`verdict` ("censored": a side of the comparison never left the band).
VERDICTS = ("holds", "contradicted", "inconclusive", "censored")
#: What an effect's interval is, given censoring (:mod:`glth_core.analysis.stats`).
BOUNDS = ("exact", "lower", "upper", "unknown")


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
        effect: a row of :func:`~glth_core.analysis.intervals.paired_difference` or :func:`~glth_core.analysis.compression.compression_ratio` (keys
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
        effects: rows of :func:`~glth_core.analysis.intervals.paired_difference` or :func:`~glth_core.analysis.compression.compression_ratio`.
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
