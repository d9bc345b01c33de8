"""Figures of chapter 03 (random subspaces against tickets): the validation search, and accuracy at equal size."""
from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

__all__ = ["search_figure", "subspace_figure"]


def search_figure(search: pd.DataFrame, batch_sizes: Sequence[int]):
    """Best validation accuracy (%) against the learning rate (log scale), one line per minibatch.

    Args:
        search: ``subspace_analysis.search_table``'s table (``setting``, ``lr``, ``batch_size``,
            ``best_accuracy``); the row ``setting == "previous"`` is drawn as a cross.
        batch_sizes: the minibatches searched (one line each; diverged settings are left out).

    Returns:
        The matplotlib figure (closed, ready for ``glue``).
    """
    import matplotlib.pyplot as plt

    grid = search[search.setting != "previous"]
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for bs in batch_sizes:
        part = grid[(grid.batch_size == bs) & grid.best_accuracy.notna()].sort_values("lr")
        ax.plot(part.lr, 100 * part.best_accuracy, marker="o", label=f"minibatch {bs}")
    previous = search[search.setting == "previous"].iloc[0]
    ax.scatter([previous.lr], [100 * previous.best_accuracy], marker="x", color="k", zorder=3,
               label="previous schedule (minibatch 512)")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("best validation accuracy (%)")
    ax.legend(fontsize="small")
    fig.tight_layout()
    plt.close(fig)
    return fig


def subspace_figure(tickets: pd.DataFrame, subspaces: pd.DataFrame, total: int, dense_mean: float,
                    threshold: float):
    """Test accuracy against the number of trained coefficients, tickets (per basis) and random subspaces.

    Args:
        tickets: swept ticket runs (``basis``, ``round``, ``density``, ``test_accuracy``, ``seed``).
        subspaces: swept subspace runs (``dimension``, ``test_accuracy``, ``seed``).
        total: the network's coefficients (a ticket's size is ``density * total``).
        dense_mean: the dense accuracy (a fraction; dashed line). threshold: the intrinsic-dimension
            line at ``threshold * dense_mean`` (dotted).

    Returns:
        The matplotlib figure (closed).
    """
    import matplotlib.pyplot as plt

    from ..analysis import plots
    from .labels import basis_label

    sized = tickets.assign(coefficients=tickets.density * total)
    frame = pd.concat([
        sized.assign(method=sized.basis.map(lambda b: f"IMP ticket, {basis_label(b)} basis")),
        subspaces.assign(method="random subspace (Li et al.)", coefficients=subspaces.dimension.astype(float),
                         **{"round": subspaces.dimension.rank(method="dense", ascending=False)})],
        ignore_index=True)
    fig, ax = plt.subplots(figsize=(8, 4.8))
    plots.accuracy_curves(frame, "method", x="coefficients", ax=ax, reference=float(dense_mean))
    ax.axhline(100 * threshold * dense_mean, color="0.4", linestyle=":", linewidth=1,
               label=f"{100 * threshold:g}% of dense")
    ax.set_xlabel("trained coefficients (count, log scale)")
    ax.legend(loc="lower left", fontsize="small")
    fig.tight_layout()
    plt.close(fig)
    return fig
