"""Figures of chapter 05 (convolutional networks): ticket accuracy per model, and energy compaction."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

__all__ = ["accuracy_figure", "energy_figure"]


def accuracy_figure(table: pd.DataFrame, models: Sequence[str], variants: Sequence[str], dense_mean: Mapping,
                    *, tolerance: float, dataset: str, titles: Mapping | None = None):
    """Test accuracy against the fraction of nonzero coefficients, one panel per model.

    Args:
        table: the swept ticket table (``model``, ``variant``, ``density``, ``test_accuracy``, ``seed``).
        models: the panels, in order. variants: the lines, in order.
        dense_mean: model -> the dense reference accuracy (a fraction), drawn with its band.
        tolerance: the width of the band below the reference (a fraction).
        dataset: named in the titles. titles: model -> its label (default: the model's name).

    Returns:
        The matplotlib figure (closed, ready for ``glue``).
    """
    import matplotlib.pyplot as plt

    from ..analysis import plots

    titles = titles or {}
    fig, axes = plt.subplots(1, len(models), figsize=(6.5 * len(models), 4.2), squeeze=False)
    for ax, m in zip(axes[0], models):
        plots.accuracy_curves(table[table["model"] == m], hue="variant", hue_order=list(variants), ax=ax,
                              reference=float(dense_mean[m]), tolerance=tolerance)
        low, high = ax.get_ylim()
        ax.set_ylim(max(low, 0), min(high, 100))  # few seeds give wide t intervals: keep the axis to possible values
        ax.set_title(f"{titles.get(m, m)} on {dataset}")
    fig.tight_layout()
    plt.close(fig)
    return fig


def energy_figure(curves: pd.DataFrame, model: str, k_star: float, k_next: float, *,
                  states: Sequence[str], kinds: Sequence[str]):
    """Energy held by the largest k% of the coefficients, one panel per layer kind (rows) and state (columns).

    Args:
        curves: ``energy_table``'s curves (``model``, ``layers``, ``state``, ``basis``, ``k_percent``,
            ``energy_fraction``).
        model: the model shown. k_star, k_next: the dotted density lines (``k_next`` for the state
            "sparsest ticket").
        states, kinds: the columns and the rows of panels.

    Returns:
        The matplotlib figure (closed).
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    from ..analysis import plots

    bases = list(dict.fromkeys(curves["basis"]))
    palette = dict(zip(bases, sns.color_palette("colorblind", len(bases))))
    fig, axes = plt.subplots(len(kinds), len(states), figsize=(12, 6.5), sharex=True, sharey=True, squeeze=False)
    for i, kind in enumerate(kinds):
        for j, state in enumerate(states):
            ax = axes[i][j]
            part = curves[(curves["model"] == model) & (curves["layers"] == kind) & (curves["state"] == state)]
            for label, curve in part.groupby("basis", sort=False):
                ax.plot(curve["k_percent"], 100 * curve["energy_fraction"], label=label, color=palette[label])
            ax.axvline(k_next if state == "sparsest ticket" else k_star, color="0.5", linestyle=":", linewidth=1)
            ax.set_xscale("log")
            plots.log_percent_axis(ax.xaxis)
            ax.set_title(f"{kind}, {state}", fontsize="medium")
            ax.grid(True, which="both", alpha=0.3)
            if i == len(kinds) - 1:
                ax.set_xlabel("largest coefficients kept (%, log scale)")
            if j == 0:
                ax.set_ylabel("energy held (%)")
    axes[0][0].legend(fontsize="small", loc="upper left")
    fig.tight_layout()
    plt.close(fig)
    return fig
