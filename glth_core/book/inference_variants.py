r"""Structured tickets of a trained model, and what each costs on disk (chapter 07, "Your own model").

Four variants of one trained dense model:

* **dense**: the model itself (generalized in the canonical basis, nothing pruned);
* **element ticket**: given (e.g. a DCT ticket pruned coefficient by coefficient);
* **unit-pruned**: whole rows (output units) pruned in the canonical basis; in pairs
  ``Linear -> activation -> Linear`` the dead units are then removed
  (:func:`glth_core.core.export.remove_dead_units`), so the exported pair is smaller;
* **low-rank**: whole rows pruned in the DCT basis; ``export`` writes such a layer as two
  thin Linear layers, $r(\text{in} + \text{out})$ weights instead of $\text{in} \cdot \text{out}$.

:func:`size_table` counts each variant's parameters (ticket and exported), the exported
``state_dict`` bytes and the ticket file bytes, and checks that the exported model computes
what the generalized one computes.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
import torch
from torch import nn

__all__ = ["row_pruned", "remove_unit_pairs", "structured_variants", "size_table", "speed_table"]


def row_pruned(dense: nn.Module, basis: str, layers: Sequence[str], fraction: float) -> nn.Module:
    """A copy of ``dense`` generalized in ``basis`` on ``layers``, ``fraction`` of each layer's rows pruned
    (in eval mode)."""
    from ..core.generalize import generalize
    from ..core.pruning import prune

    model = generalize(copy.deepcopy(dense), basis, layers=list(layers))
    prune(model, fraction, granularity="row", scope="layer")
    return model.eval()


def remove_unit_pairs(plain: nn.Module, pairs: Sequence[tuple[str, str]]) -> nn.Module:
    """``plain`` (exported) with the dead units of each ``(first, second)`` Linear pair removed, in place."""
    from ..core.export import remove_dead_units

    for first, second in pairs:
        a, b = remove_dead_units(plain.get_submodule(first), plain.get_submodule(second))
        for path, layer in ((first, a), (second, b)):
            parent, _, child = path.rpartition(".")
            setattr(plain.get_submodule(parent), child, layer)
    return plain


def structured_variants(dense: nn.Module, element: nn.Module, element_plain: nn.Module, *,
                        pairs: Sequence[tuple[str, str]], unit_layers: Sequence[str], low_rank_layers: Sequence[str],
                        unit_density: float, rank_density: float) -> tuple[dict, dict]:
    """(generalized, exported): the four variants of :mod:`this module <glth_core.book.inference_variants>`, by name.

    Args:
        dense: the trained dense model (plain torch). element, element_plain: the element ticket
            (generalized) and its export.
        pairs: unit pairs whose dead units are removed; their first layers are unit-pruned, else
            ``unit_layers``. low_rank_layers: the layers of the low-rank ticket.
        unit_density, rank_density: the fraction of units / rows kept.
    """
    from ..core.export import export
    from ..core.generalize import generalize

    unit_layers = [first for first, _ in pairs] or list(unit_layers)
    generalized = {"dense": generalize(copy.deepcopy(dense), "canonical"), "element ticket": element,
                   "unit-pruned": row_pruned(dense, "canonical", unit_layers, 1 - unit_density),
                   "low-rank": row_pruned(dense, "dct", low_rank_layers, 1 - rank_density)}
    exported = {"dense": dense.eval(), "element ticket": element_plain,
                "unit-pruned": remove_unit_pairs(export(generalized["unit-pruned"]), pairs).eval(),
                "low-rank": export(generalized["low-rank"]).eval()}
    return generalized, exported


def size_table(generalized: Mapping, exported: Mapping, folder: Path, prefix: str, probe: torch.Tensor,
               tolerance: float = 1e-5) -> pd.DataFrame:
    """One row per variant: parameters of the ticket and of the exported model, bytes, and the export check.

    Each variant's ticket is saved as ``folder/<prefix>-<variant>.glth``; ``probe`` is a batch of inputs on
    which the exported model must match the generalized one to ``tolerance`` (relative max error).
    """
    from ..core.export import count_parameters
    from ..core.tickets import save_ticket
    from ..core.tickets import state_dict_bytes

    dense_bytes = state_dict_bytes(exported["dense"])
    rows = []
    for kind, model in generalized.items():
        path = save_ticket(model, Path(folder) / f"{prefix}-{kind.replace(' ', '-')}.glth")
        with torch.no_grad():
            error = float((exported[kind](probe) - model(probe)).abs().max() / model(probe).abs().max())
        rows.append({"ticket": kind, "parameters (ticket)": count_parameters(model),
                     "parameters (exported)": sum(p.numel() for p in exported[kind].parameters()),
                     "state dict bytes (exported)": state_dict_bytes(exported[kind]),
                     "ticket file bytes": path.stat().st_size,
                     "ticket file / dense state dict": round(path.stat().st_size / dense_bytes, 3),
                     "export = generalized": error < tolerance})
    return pd.DataFrame(rows)


def speed_table(exported: Mapping, inputs, batch_sizes: Sequence[int], repeats: int) -> tuple[pd.DataFrame, pd.Series]:
    """Speed-up of each exported variant over the dense one, per batch size, measured side by side.

    A deep copy of the dense model is timed as the row "dense, again": it does the same work, so its
    distance from 1 is the noise of the measurement.

    Args:
        exported: variant name -> plain model; must hold "dense".
        inputs: ``batch size -> tensor`` of inputs. batch_sizes, repeats: see
            :func:`glth_core.engine.inference.latency_table`.

    Returns:
        ``(speed, dense_ms)``: one row per variant, one column per batch size; the dense model's
        shortest latency (ms) per batch size.
    """
    from ..engine.inference import latency_table

    timed = {"dense": exported["dense"], "dense, again": copy.deepcopy(exported["dense"]),
             **{kind: model for kind, model in exported.items() if kind != "dense"}}
    table = latency_table(timed, inputs, list(batch_sizes), repeats=repeats)
    speed = table.pivot(index="model", columns="batch", values="speedup").loc[list(timed)]
    speed.columns = [f"speed-up, batch {b}" for b in speed.columns]
    return speed, table[table.model == "dense"].set_index("batch")["seconds"] * 1000
