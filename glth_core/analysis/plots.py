"""The book's two figures: accuracy against remaining weights with CI bands, and a forest plot of effects.

Both draw on a given matplotlib ``Axes`` (or a new figure's, when ``ax`` is
None) and return it; neither changes global settings (theme, rcParams). Lines
and bands are computed with :mod:`glth_core.analysis.stats`, so a figure shows exactly
the numbers of the chapter's tables: the mean over seeds and its t interval.
Accuracies in the engine's tables are fractions; the figures show percent.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
from matplotlib.lines import Line2D
import pandas as pd
import seaborn as sns

from . import stats

__all__ = ["accuracy_curves", "forest", "log_percent_axis", "VERDICT_COLORS"]

#: Colour of each verdict in :func:`forest`.
VERDICT_COLORS = {"holds": "#1b7837", "contradicted": "#b2182b", "inconclusive": "#737373",
                  "censored": "#8c6d31"}

_LINESTYLES = ["-", "--", ":", "-."]
_X_LABELS = {"density": "weights remaining (%, log scale)", "params": "parameters (count, log scale)"}


def log_percent_axis(axis) -> None:
    """Log scale with plain percentages as tick labels (100, 50, 20, 10, ...).

    Args:
        axis: a matplotlib ``Axis`` (``ax.xaxis`` or ``ax.yaxis``) already on a log scale.
    """
    axis.set_major_locator(mticker.FixedLocator([100, 50, 20, 10, 5, 2, 1, 0.5, 0.2, 0.1]))
    axis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(mticker.NullFormatter())


def _levels(table: pd.DataFrame, column: str, order: Sequence | None, name: str) -> list:
    present = list(pd.unique(table[column]))
    if order is None:
        return present
    unknown = [v for v in order if v not in present]
    if unknown:
        raise ValueError(f"{name} lists {unknown}, which column {column!r} does not have; it has {present}")
    return list(order)


def accuracy_curves(table: pd.DataFrame, hue: str, *, style: str | None = None, x: str = "density",
                    y: str = "test_accuracy", step: str = "round", ax=None, hue_order: Sequence | None = None,
                    style_order: Sequence | None = None, labels: Mapping | None = None,
                    palette: Mapping | None = None, reference: float | None = None,
                    reference_label: str = "dense network (mean)", tolerance: float | None = None,
                    confidence: float = stats.CONFIDENCE, band_alpha: float = 0.2):
    """Mean ``y`` (in %) against mean ``x`` per ``step``, one line per ``hue`` (x ``style``) with CI bands.

    Args:
        table: tidy rows, one per run and ``step`` (round); each (hue, style,
            step) group holds one row per seed (filter to one configuration
            otherwise, and see :func:`glth_core.analysis.stats.with_dense_round`).
        hue: column giving each line its colour.
        style: optional column giving each line its line style (e.g. ticket against control).
        x: ``"density"`` (drawn as % remaining, log axis with plain
            percentage ticks) or another positive column such as ``"params"``
            (log axis of counts). The axis is inverted: pruning goes right.
        y: accuracy column, fractions in [0, 1], drawn in percent.
        step: the step column (one point per step).
        ax: the Axes to draw on (default: a new figure).
        hue_order: the order of the hue values (default: as they appear).
        style_order: the order of the style values (default: as they appear).
        labels: display names of the hue/style values (default: the values).
        palette: colour of each hue value (default: seaborn "colorblind").
        reference: an accuracy (fraction) drawn as a dashed horizontal line,
            e.g. the dense network's mean.
        reference_label: the legend text of ``reference``.
        tolerance: a fraction (needs ``reference``): shades the band
            ``[reference - tolerance, reference]``.
        confidence: level of the t-interval bands (``glth_core.analysis.stats.summarize``);
            a group with one seed has no band.
        band_alpha: opacity of the bands.

    Returns:
        the Axes. Each mean line is a ``Line2D`` labelled with its legend text;
        its band is a collection with ``get_gid()`` equal to that label.

    Raises:
        TypeError: ``table`` is not a DataFrame.
        ValueError: a missing column, ``tolerance`` without ``reference``, or an order
            that lists values the column does not have.
    """
    stats._check_columns(table, [hue, step, x, y, *([style] if style else [])])
    if tolerance is not None and reference is None:
        raise ValueError("tolerance needs reference= (the accuracy the band lies below)")
    labels = dict(labels or {})
    hues = _levels(table, hue, hue_order, "hue_order")
    styles = _levels(table, style, style_order, "style_order") if style else [None]
    colors = dict(zip(hues, sns.color_palette("colorblind", len(hues))))
    colors.update(palette or {})
    own_figure = ax is None
    if own_figure:
        _, ax = plt.subplots(figsize=(7, 4.5))
    by = [hue, *([style] if style else []), step]
    summary = stats.summarize(table, by, y, confidence=confidence, means=[x])
    x_scale = 100.0 if x == "density" else 1.0
    for h in hues:
        for i, s in enumerate(styles):
            part = summary[(summary[hue] == h) & ((summary[style] == s) if style else True)].sort_values(step)
            if part.empty:
                continue
            label = str(labels.get(h, h)) + (f", {labels.get(s, s)}" if style else "")
            xs = x_scale * part[x].to_numpy()
            ax.plot(xs, 100 * part["mean"].to_numpy(), color=colors[h], linestyle=_LINESTYLES[i % len(_LINESTYLES)],
                    marker="o", markersize=4, label=label)
            if (part["n"] > 1).any():
                band = ax.fill_between(xs, 100 * part["ci_low"].to_numpy(), 100 * part["ci_high"].to_numpy(),
                                       color=colors[h], alpha=band_alpha, linewidth=0)
                band.set_gid(label)
    if reference is not None:
        ax.axhline(100 * reference, color="0.4", linestyle="--", linewidth=1, label=reference_label)
        if tolerance is not None:
            ax.axhspan(100 * (reference - tolerance), 100 * reference, color="0.5", alpha=0.12,
                       label=f"within {100 * tolerance:g} pp")
    ax.set_xscale("log")
    if x == "density":
        log_percent_axis(ax.xaxis)
    if not ax.xaxis_inverted():
        ax.invert_xaxis()
    ax.set_xlabel(_X_LABELS.get(x, f"{x} (log scale)"))
    ax.set_ylabel("test accuracy (%)")
    ax.legend(title=None, loc="lower left", fontsize="small")
    if own_figure:
        ax.figure.tight_layout()
    return ax


def forest(effects: pd.DataFrame, label: str = "claim", *, ax=None, scale: float = 100.0, null: float = 0.0,
           xlabel: str = "difference (pp), 95% CI", log: bool = False):
    """One row per effect: its estimate and interval, a vertical line at ``null``, coloured by verdict.

    One axis holds one unit: draw differences and ratios (``null=1, scale=1,
    log=True``) on separate Axes.

    Args:
        effects: columns ``label``, ``estimate``, ``ci_low``, ``ci_high`` and ``verdict``
            (:func:`glth_core.analysis.stats.with_verdicts`), drawn top to bottom in row order.
        label: the column that names each row.
        ax: the Axes to draw on (default: a new figure).
        scale: values are multiplied by ``scale`` (100: fractions as percentage points).
        null: where the vertical line of "no effect" is.
        xlabel: the x-axis label.
        log: a log x axis (for ratios).

    Returns:
        The Axes; row ``i`` (from the top) is the errorbar container ``ax.containers[i]``,
        at y = ``-i``.

    Raises:
        ValueError: a verdict other than those of :data:`VERDICT_COLORS`.
    """
    stats._check_columns(effects, [label, "estimate", "ci_low", "ci_high", "verdict"], "effects")
    unknown = sorted(set(effects["verdict"]) - set(VERDICT_COLORS))
    if unknown:
        raise ValueError(f"effects has verdicts {unknown}; expected {list(VERDICT_COLORS)} (see stats.verdict)")
    own_figure = ax is None
    if own_figure:
        _, ax = plt.subplots(figsize=(7, 1.2 + 0.45 * len(effects)))
    for i, (_, row) in enumerate(effects.iterrows()):
        estimate = scale * row["estimate"]
        low, high = scale * row["ci_low"], scale * row["ci_high"]
        ax.errorbar([estimate], [-i], xerr=[[estimate - low], [high - estimate]], fmt="o", capsize=3,
                    color=VERDICT_COLORS[row["verdict"]])
    ax.axvline(scale * null, color="0.3", linewidth=1)
    ax.set_yticks([-i for i in range(len(effects))], [str(v) for v in effects[label]])
    ax.set_ylim(-len(effects) + 0.5, 0.5)
    if log:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    handles = [Line2D([], [], marker="o", linestyle="", color=VERDICT_COLORS[v], label=v)
               for v in VERDICT_COLORS if v in set(effects["verdict"])]
    ax.legend(handles=handles, loc="best", fontsize="small")
    if own_figure:
        ax.figure.tight_layout()
    return ax
