r"""Figures of chapters 02 (tickets in other bases) and 04 (structured tickets).

* :func:`basis_accuracy_figure`: IMP tickets of every basis against the dense canonical
  network and the tolerance band of claim 3 (left), and tickets against their random
  re-initialisation (right, when the chapter ran that control);
* :func:`compaction_figure`: energy-compaction curves, one panel per (moment, layer);
* :func:`parameters_figure`: accuracy against the exported model's parameter count.

Each returns a matplotlib Figure; the chapter glues it and closes it.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import pandas as pd
import seaborn as sns

from ..analysis import plots

__all__ = ["basis_accuracy_figure", "compaction_figure", "parameters_figure"]


def basis_accuracy_figure(tickets: pd.DataFrame, with_controls: pd.DataFrame, *, bases: Sequence[str],
                          reinit_bases: Sequence[str], labels: Mapping[str, str], tolerance_pp: float):
    """Test accuracy against the coefficients remaining, by basis (and ticket against re-initialisation).

    Args:
        tickets: ticket rows of every basis (``basis``, ``seed``, ``round``, ``density``,
            ``test_accuracy``), round 0 included (the dense network).
        with_controls: ticket and control rows (``control`` column), controls with round 0.
        bases: hue order of the left panel; must include ``"canonical"``.
        reinit_bases: bases with the re-initialisation control (right panel; none: no panel).
        labels: display names of the bases.
        tolerance_pp: claim 3's band below the dense canonical mean, in percentage points.

    Returns:
        The Figure (one or two Axes sharing y).
    """
    if "canonical" not in bases:
        raise ValueError(f"bases must include 'canonical' (the dense reference), got {list(bases)}")
    panels = 2 if reinit_bases else 1
    fig, axes = plt.subplots(1, panels, figsize=(12 if panels == 2 else 7, 4.5), squeeze=False, sharey=True)
    dense = tickets[(tickets["round"] == 0) & (tickets.basis == "canonical")]
    plots.accuracy_curves(tickets, hue="basis", hue_order=list(bases), labels=labels, ax=axes[0, 0],
                          reference=float(dense.test_accuracy.mean()), reference_label="dense canonical network (mean)",
                          tolerance=tolerance_pp / 100)
    axes[0, 0].set_title("IMP tickets by basis")
    if reinit_bases:
        part = with_controls[with_controls.basis.isin(reinit_bases)]
        plots.accuracy_curves(part, hue="basis", style="control", hue_order=list(reinit_bases),
                              style_order=["ticket", "reinit"], labels={**labels, "reinit": "random re-init"},
                              ax=axes[0, 1])
        axes[0, 1].set_title("ticket against random re-initialisation")
    low, high = axes[0, 0].get_ylim()
    axes[0, 0].set_ylim(max(low, 0), min(high, 100))  # wide intervals of few seeds must not stretch past 0-100%
    fig.tight_layout()
    return fig


def compaction_figure(curves: pd.DataFrame, bases: Sequence[str], labels: Mapping[str, str]):
    """Energy held against coefficients kept (log scale), one panel per moment (rows) and layer (columns).

    Args:
        curves: rows of :func:`glth_core.analysis.compaction.energy_curve` with a ``state`` column
            (``basis``, ``layer``, ``k_percent``, ``energy_fraction``).
        bases: hue/style order.
        labels: display names of the bases.

    Returns:
        The seaborn FacetGrid's Figure.
    """
    shown = curves.assign(basis=curves.basis.map(labels), energy=100 * curves.energy_fraction)
    order = [labels[b] for b in bases]
    grid = sns.relplot(data=shown, x="k_percent", y="energy", hue="basis", hue_order=order, style="basis",
                       style_order=order, row="state", col="layer", kind="line", height=2.6, aspect=1.25,
                       palette="colorblind", facet_kws={"margin_titles": True})
    for ax in grid.axes.flat:
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(mticker.FixedLocator([0.01, 0.1, 1, 10, 100]))
        ax.xaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(mticker.NullFormatter())
    grid.set_axis_labels("coefficients kept (%, log scale)", "energy held (%)")
    grid.set_titles(row_template="{row_name}", col_template="{col_name}")
    return grid.figure


def parameters_figure(frame: pd.DataFrame):
    """Test accuracy against the exported model's parameter count (log scale), one line per ``method``."""
    fig, ax = plt.subplots(figsize=(8.5, 5))
    plots.accuracy_curves(frame, "method", x="params", ax=ax)
    ax.set_xlabel("parameters of the exported model (count, log scale)")
    fig.tight_layout()
    return fig
