r"""Training in a random subspace (Li et al., "Measuring the Intrinsic Dimension
of Objective Landscapes", ICLR 2018) as a corner of the generalized framework.

Li et al. train ``W = W_0 + P d``: ``W_0`` the frozen initialisation, ``P`` a
fixed random projection, ``d`` the only trained vector. Here every prunable
layer is generalised in a seeded random orthogonal basis (``basis="random"``,
a Kronecker product of Haar-orthogonal per-axis matrices) with
``offset="init"``, so that

.. math::

    W_\ell = W_{0,\ell} + \mathrm{synthesis}_\ell(M_\ell \odot C_\ell), \qquad C_\ell = 0 \text{ at the start},

and the random mask ``M`` keeps exactly ``d`` coefficients in total. The
columns of ``P`` are thus ``d`` orthonormal basis vectors (block-diagonal over
layers) rather than Li et al.'s dense Gaussian columns spanning all layers at
once; both are random ``d``-dimensional subspaces through ``W_0``.

Allocation of ``d`` over layers: proportional to the number of coefficients
``n_l`` of each layer (largest-remainder rounding: ``floor(d n_l / N)`` each,
then one more to the layers with the largest remainders, ties to the earlier
layer), and the kept positions within a layer are a uniformly random subset
drawn from ``derive_seed(seed, "subspace", layer)``.

Biases and normalisation parameters are frozen at their initial values by
default (``train_biases=False``), as in Li et al. who train only ``d``; so the
number of trained scalars is exactly ``d``. ``train_biases=True`` trains them
too (the ``trainable`` column counts them).

The intrinsic dimension ``d_90`` is the smallest ``d`` whose (seed-averaged)
test accuracy reaches ``threshold = 90%`` of the dense network's accuracy
(:func:`intrinsic_dimension`).
"""
from __future__ import annotations

import math
import time

import pandas as pd
import torch
from torch import nn

from ..core import pruning
from . import training
from ..core.export import count_parameters
from .hparams import SubspaceHparams, update
from .run_identity import identity, run_key
from .validation import validate
from .lottery import load_splits
from ..core.parametrization import coefficients, generalized_layers
from ..core.generalize import generalize
from .models import build_model
from ..core.seeding import derive_seed
from ..storage.store import RunStore

__all__ = ["run_subspace", "subspace_sweep", "intrinsic_dimension", "allocate_dimension", "subspace_masks",
           "SUBSPACE_COLUMNS"]


SUBSPACE_COLUMNS = [
    "run_id", "kind", "model", "dataset", "basis", "seed", "dimension", "trainable", "density", "params",
    "test_accuracy", "test_loss", "best_accuracy", "best_iteration", "val_accuracy", "epochs", "iterations",
    "optimizer", "lr", "batch_size", "wall_time_s",
]


def allocate_dimension(dimension: int, sizes: dict[str, int]) -> dict[str, int]:
    """Split ``dimension`` over layers proportionally to ``sizes`` (largest remainder).

    Returns ``{layer: d_l}`` with ``sum(d_l) == dimension`` and ``0 <= d_l <= sizes[layer]``.
    """
    total = sum(sizes.values())
    if not 1 <= dimension <= total:
        raise ValueError(f"dimension must be in [1, {total}] (the model's coefficients), got {dimension}")
    exact = {name: dimension * n / total for name, n in sizes.items()}
    alloc = {name: math.floor(v) for name, v in exact.items()}
    left = dimension - sum(alloc.values())
    order = sorted(sizes, key=lambda name: -(exact[name] - alloc[name]))  # stable: ties keep layer order
    for name in order[:left]:
        alloc[name] += 1
    return alloc


def subspace_masks(model: nn.Module, dimension: int, seed: int) -> dict[str, torch.Tensor]:
    """Random 0/1 masks over the generalized coefficients of ``model`` with ``dimension`` ones in total."""
    layers = generalized_layers(model)
    shapes = {name: coefficients(m).shape for name, m in layers.items()}
    alloc = allocate_dimension(dimension, {name: math.prod(s) for name, s in shapes.items()})
    masks = {}
    for name, shape in shapes.items():
        n = math.prod(shape)
        generator = torch.Generator().manual_seed(derive_seed(seed, "subspace", name))
        flat = torch.zeros(n)
        flat[torch.randperm(n, generator=generator)[: alloc[name]]] = 1.0
        masks[name] = flat.reshape(shape)
    return masks


def _build(hp: SubspaceHparams, splits) -> tuple[nn.Module, int]:
    model = build_model(hp.model.name, splits.input_shape, splits.num_classes, seed=hp.seed)
    generalize(model, basis=hp.basis, seed=hp.basis_seed, offset="init")
    pruning.set_masks(model, subspace_masks(model, hp.dimension, hp.seed))
    coefficient_ids = {id(coefficients(m)) for m in generalized_layers(model).values()}
    trainable = 0
    for p in model.parameters():
        is_coefficient = id(p) in coefficient_ids
        p.requires_grad_(is_coefficient or hp.train_biases)
        if not is_coefficient and hp.train_biases:
            trainable += p.numel()
    return model, trainable + hp.dimension


def run_subspace(hparams: SubspaceHparams, results_dir=None, *, device=None, progress=None) -> pd.DataFrame:
    """Train one model in a random subspace of dimension ``hparams.dimension``; one row.

    Cached like :func:`glth_core.engine.lottery.run_imp` (run ``subspace_<hash>``).

    Args:
        hparams: the experiment, a :class:`~glth_core.engine.hparams.SubspaceHparams`.
        results_dir: as for :func:`~glth_core.engine.lottery.run_imp`.
        device: as for :func:`~glth_core.engine.lottery.run_imp`.
        progress: as for :func:`~glth_core.engine.lottery.run_imp`.

    Returns:
        A one-row DataFrame with the columns :data:`SUBSPACE_COLUMNS` (``trainable``:
        trained scalars; ``density``: d over all generalized coefficients; ``params``:
        ``count_parameters`` of the model).

    Raises:
        TypeError: ``hparams`` is not a ``SubspaceHparams``.
    """
    if not isinstance(hparams, SubspaceHparams):
        raise TypeError(f"hparams must be a SubspaceHparams, got {type(hparams).__name__}")
    validate(hparams)
    training.resolve_device(device)  # a bad device fails here, even when the run is cached
    store = RunStore(results_dir, run_key("subspace", hparams), identity("subspace", hparams))
    with store.lock():
        checkpoint = store.load_round(0)
        if checkpoint is None:
            start = time.perf_counter()
            splits = load_splits(hparams.dataset)
            model, trainable = _build(hparams, splits)
            result = training.train(
                model, splits.train, splits.test, hparams.training,
                seed=derive_seed(hparams.seed, 0, "train"), val_data=splits.val,
                device=device, progress=progress,
            )
            t = hparams.training
            row = {
                "run_id": store.run_id, "kind": "subspace", "model": hparams.model.name,
                "dataset": hparams.dataset.name, "basis": hparams.basis, "seed": hparams.seed,
                "dimension": hparams.dimension, "trainable": trainable,
                "density": float(pruning.density(model)), "params": int(count_parameters(model)),
                "test_accuracy": result.test_accuracy, "test_loss": result.test_loss,
                "best_accuracy": result.best_accuracy, "best_iteration": result.best_iteration,
                "val_accuracy": result.val_accuracy, "epochs": t.epochs, "iterations": result.iterations,
                "optimizer": t.optimizer, "lr": t.lr, "batch_size": t.batch_size,
                "wall_time_s": time.perf_counter() - start,
            }
            state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            checkpoint = {"round": 0, "state": state, "row": row}
            store.save_round(0, checkpoint)
        store.write_table([checkpoint["row"]])
    return pd.DataFrame([checkpoint["row"]], columns=SUBSPACE_COLUMNS)


def subspace_sweep(hparams: SubspaceHparams, dimensions, results_dir=None, *, device=None,
                   progress=None) -> pd.DataFrame:
    """:func:`run_subspace` for each ``d`` in ``dimensions``; rows concatenated in that order.

    Args:
        hparams: the experiment; its ``dimension`` is replaced by each ``d``.
        dimensions: the subspace dimensions ``d``, e.g. ``[10, 100, 1000]``.
        results_dir: as for :func:`run_subspace`.
        device: as for :func:`run_subspace`.
        progress: as for :func:`run_subspace`.

    Returns:
        One row per ``d`` (columns :data:`SUBSPACE_COLUMNS`).

    Raises:
        ValueError: ``dimensions`` is empty.
    """
    dimensions = [int(d) for d in dimensions]
    if not dimensions:
        raise ValueError("dimensions must list at least one d, e.g. [10, 100, 1000]")
    frames = [run_subspace(update(hparams, dimension=d), results_dir, device=device, progress=progress)
              for d in dimensions]
    return pd.concat(frames, ignore_index=True)


def intrinsic_dimension(df: pd.DataFrame, dense_accuracy: float, threshold: float = 0.9,
                        column: str = "test_accuracy") -> int | None:
    """The smallest subspace dimension that reaches a share of the dense accuracy.

    Args:
        df: a :func:`subspace_sweep` table (columns ``dimension`` and ``column``), any seeds.
        dense_accuracy: the accuracy of the dense network, in the units of ``column``.
        threshold: in ``(0, 1]``, the share of ``dense_accuracy`` to reach.
        column: the accuracy column.

    Returns:
        The smallest ``dimension`` whose mean ``column`` over seeds is
        ``>= threshold * dense_accuracy`` (up to 1e-12), or None if no ``d`` reaches it.

    Raises:
        ValueError: ``threshold`` outside ``(0, 1]`` or a missing column.
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    for name in ("dimension", column):
        if name not in df.columns:
            raise ValueError(f"df needs a {name!r} column (a subspace_sweep table), has {list(df.columns)}")
    mean = df.groupby("dimension")[column].mean().sort_index()
    reached = mean[mean >= threshold * dense_accuracy - 1e-12]  # tolerate float rounding of the mean
    return None if reached.empty else int(reached.index[0])
