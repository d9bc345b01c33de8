"""glth_core: pruning neural networks in an arbitrary orthonormal basis.

A companion to Alabdulmohsin, Markeeva, Keysers, Tolstikhin, "A Generalized
Lottery Ticket Hypothesis" (arXiv:2107.06825, 2021).

The package is cut into layers, one folder each; a module imports only from its own
layer and the layers below it (``tests/test_layers.py`` parses every import, function-level
ones included, and fails on an edge that runs back):

=====  ======================  ==============================================================
layer  folder                  what it holds
=====  ======================  ==============================================================
0      ``storage/``            atomic writes, checkpoints, the run store (no numbers)
1      ``core/``               bases and transforms, the generalized parametrization, pruning,
                               export, tickets, the torch internals the core relies on
2      ``data/``               data sets: registry, fetching, checksums, splits
3      ``engine/``             hyperparameters and run identity, models, training, lottery
                               rounds, random subspaces, inference
4      ``runs/``               orchestration: sweeps, result archives (cannot change a number)
5      ``analysis/``           statistics, compression, compaction, truncation, plots, verdicts
6      ``book/``, ``cli/``     the book's chapter support; the command line (``python -m glth_core``)
=====  ======================  ==============================================================

``_version.py`` sits below every layer; this file and ``__main__.py`` sit above them. The run key
(:func:`glth_core.engine.run_identity.run_key`) hashes the numeric layers by folder: ``core/``,
``data/`` and ``engine/``.

The public names below are imported lazily (PEP 562), so ``import glth_core.core.bases`` or
reading ``glth_core.__version__`` does not import the engine, the analysis or pandas.
"""
from __future__ import annotations

import importlib

from ._version import __version__

#: public name -> module that defines it
_PUBLIC = {
    **dict.fromkeys(("BASIS_NAMES", "Basis", "basis"), "core.bases"),
    **dict.fromkeys(("GeneralizedWeight", "coefficients", "generalized_layers"), "core.parametrization"),
    "generalize": "core.generalize",
    "generalized_parameters": "core.params",
    "View": "core.views",
    **dict.fromkeys(("density", "densities", "masks", "prune", "random_masks", "rewind", "set_masks", "snapshot"),
                    "core.pruning"),
    **dict.fromkeys(("count_parameters", "export"), "core.export"),
    **dict.fromkeys(("load_ticket", "save_ticket"), "core.tickets"),
    **dict.fromkeys(("energy_curve", "energy_needed"), "analysis.compaction"),
    # the experiment engine (models, training, lottery rounds, random subspaces, sweeps)
    **dict.fromkeys(("ImpHparams", "SubspaceHparams", "update"), "engine.hparams"),
    "run_imp": "engine.lottery",
    **dict.fromkeys(("MODELS", "build_model"), "engine.models"),
    **dict.fromkeys(("intrinsic_dimension", "run_subspace", "subspace_sweep"), "engine.subspace"),
    **dict.fromkeys(("grid", "sweep"), "runs.sweep"),
    "TrainingDiverged": "engine.training",
}

__all__ = [
    "__version__",
    "BASIS_NAMES", "Basis", "basis",
    "GeneralizedWeight", "generalize", "generalized_layers", "generalized_parameters", "coefficients", "View",
    "prune", "density", "densities", "masks", "set_masks", "random_masks", "snapshot", "rewind",
    "export", "count_parameters", "save_ticket", "load_ticket", "energy_curve", "energy_needed",
    "ImpHparams", "SubspaceHparams", "update", "run_imp", "run_subspace", "subspace_sweep",
    "intrinsic_dimension", "MODELS", "build_model", "grid", "sweep", "TrainingDiverged",
]


def __getattr__(name: str):
    """Import the module that defines the public ``name`` on first use (PEP 562)."""
    if name in _PUBLIC:
        value = getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'glth_core' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
