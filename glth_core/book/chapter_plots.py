"""Figures of the chapters, each one call (the plotting itself is :mod:`glth_core.analysis.plots`)."""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from ..analysis import plots, stats
from .labels import CONTROL_LABELS, model_label

__all__ = ["lottery_curves", "summary_forest"]


def lottery_curves(table: pd.DataFrame, controls: Sequence[str], *, model: str, dataset: str, basis: str,
                   seeds: int):
    """Test accuracy per round of the IMP ticket and its ``controls`` against the weights remaining.

    Args:
        table: a sweep table with ``control`` ``"ticket"`` and each of ``controls`` (their rounds 1..R;
            round 0, the dense network, is the ticket's and is drawn for every line).
        controls: the controls to draw, in legend order.
        model, dataset, basis, seeds: named in the title.

    Returns:
        The Matplotlib figure (lines: mean over seeds; bands: 95% CI; dashed: the dense mean).
    """
    curves = stats.with_dense_round(table) if controls else table
    dense = table[(table.control == "ticket") & (table["round"] == 0)].test_accuracy.mean()
    ax = plots.accuracy_curves(curves, "control", hue_order=["ticket", *controls], labels=CONTROL_LABELS,
                               reference=float(dense))
    ax.set_title(f"{model_label(model)} on {dataset}, {basis} basis ({seeds} seeds)")
    return ax.figure


#: How the summary's forest panels name a unit.
UNIT_NAMES = {"pp": "difference in percentage points", "x": "ratio"}


def summary_forest(verdicts: pd.DataFrame):
    """Every recorded verdict as a forest plot, one panel per claim and unit, rows numbered in table order.

    Args:
        verdicts: rows of :func:`glth_core.book.chapter.recorded_verdicts` (in the order of the summary's table).

    Returns:
        The figure; with no row, a small figure that says so (the page must still build).
    """
    import textwrap

    import matplotlib.pyplot as plt

    from ..analysis.verdict_tables import forest_panels

    if verdicts.empty:
        fig, ax = plt.subplots(figsize=(7, 1.5))
        ax.text(0.5, 0.5, "no verdict recorded", ha="center", va="center")
        ax.set_axis_off()
        return fig
    labelled = verdicts.assign(
        label=[f"{i}. ch. {r.chapter[:2]}: {textwrap.shorten(r.comparison, 44, placeholder=' …')}"
               for i, r in enumerate(verdicts.itertuples(), start=1)],
        panel=[f"claim {r.claim}: {UNIT_NAMES.get(r.unit, r.unit)}"
               + (f", tested against {r.null:+g}" if r.null not in (0, 1) else "")  # "within 1 pp": null -1
               for r in verdicts.itertuples()])
    return forest_panels(labelled, panel="panel")
