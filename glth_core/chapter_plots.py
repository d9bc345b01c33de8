"""Figures of the chapters, each one call (the plotting itself is :mod:`glth_core.plots`)."""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from . import plots, stats
from .labels import CONTROL_LABELS, model_label

__all__ = ["lottery_curves"]


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
