"""glth_core: pruning neural networks in an arbitrary orthonormal basis.

A companion to Alabdulmohsin, Markeeva, Keysers, Tolstikhin, "A Generalized
Lottery Ticket Hypothesis" (arXiv:2107.06825, 2021).
"""
from ._version import __version__
from .bases import BASIS_NAMES, Basis, basis
from .compaction import energy_curve, energy_needed
from .export import count_parameters, export
from .parametrization import GeneralizedWeight, coefficients, generalize, generalized_layers
from .params import generalized_parameters
from .pruning import density, densities, masks, prune, random_masks, rewind, set_masks, snapshot
from .tickets import load_ticket, save_ticket
from .views import View

# the experiment engine (models, training, lottery rounds, random subspaces, sweeps)
from .hparams import ImpHparams, SubspaceHparams, update
from .lottery import run_imp
from .models import MODELS, build_model
from .subspace import intrinsic_dimension, run_subspace, subspace_sweep
from .sweep import grid, sweep
from .training import TrainingDiverged

__all__ = [
    "__version__",
    "BASIS_NAMES", "Basis", "basis",
    "GeneralizedWeight", "generalize", "generalized_layers", "generalized_parameters", "coefficients", "View",
    "prune", "density", "densities", "masks", "set_masks", "random_masks", "snapshot", "rewind",
    "export", "count_parameters", "save_ticket", "load_ticket", "energy_curve", "energy_needed",
    "ImpHparams", "SubspaceHparams", "update", "run_imp", "run_subspace", "subspace_sweep",
    "intrinsic_dimension", "MODELS", "build_model", "grid", "sweep", "TrainingDiverged",
]
