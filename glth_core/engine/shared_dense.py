r"""Round 0 trained once: the dense network of every basis, mapped from the canonical one.

SGD with momentum and L2 weight decay is rotation-equivariant
(:mod:`glth_core.core.parametrization`): with coefficients ``C = analysis_B(W)`` in an
orthonormal basis ``B``, a step on ``C`` is the step on ``W`` written in ``B``. Dense
training (round 0, every mask 1) from the same initial weights and data order
therefore follows the same weight trajectory in every basis, per-layer and
one-sided bases included, in exact arithmetic; in float32 the trajectories differ
by round-off only (chapter 02 measures it with ``share_dense=False``).

So the engine trains round 0 of a ticket run once, in the canonical basis, as the
*dense run* of :func:`dense_hparams`: an ordinary canonical IMP run with ``rounds=0``
whose hyperparameters keep only what round 0 depends on (model, data set,
training, seed, rewind iteration) and reset every other pruning field to its
default. Every ticket run that :func:`shares_dense` then maps that checkpoint into
its own basis (:func:`mapped_state`): the trained state and the rewind snapshot,
``C_B = analysis_B(W)`` layer by layer, everything else (biases, BatchNorm) copied.
Runs that differ only in basis, per-layer bases, pruning fraction, granularity or
schedule share one dense training; a rotated run costs only its pruned rounds.

Not shared: Adam (its per-coordinate scaling is not equivariant, so the basis
changes training), control runs (they train no round 0), and runs with
``share_dense=False``.
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn

from ..core.parametrization import generalized_layers, generalized_weight
from .hparams import ImpHparams, PruningHparams

__all__ = ["EQUIVARIANT_OPTIMIZERS", "shares_dense", "dense_hparams", "mapped_state"]

#: Optimisers whose dense training is the same in every orthonormal basis.
EQUIVARIANT_OPTIMIZERS = ("sgd",)


def dense_hparams(hparams: ImpHparams) -> ImpHparams:
    """The dense run whose round 0 ``hparams`` shares: canonical, default pruning, ``rounds=0``.

    Keeps the model, data set, training settings, seed and ``rewind_iteration`` (the
    rewind snapshot is taken during round 0); every other pruning field is reset.
    """
    pruning = PruningHparams(rounds=0, rewind_iteration=hparams.pruning.rewind_iteration)
    return dataclasses.replace(hparams, pruning=pruning)


def shares_dense(hparams: ImpHparams) -> bool:
    """True if round 0 of ``hparams`` is mapped from its dense run instead of trained.

    A ticket run with an equivariant optimiser and ``share_dense`` set, that is not
    itself the dense run.
    """
    p = hparams.pruning
    if p.control != "ticket" or not p.share_dense or hparams.training.optimizer not in EQUIVARIANT_OPTIMIZERS:
        return False
    dense = dense_hparams(hparams)
    return dataclasses.replace(hparams, pruning=dataclasses.replace(p, rounds=0)) != dense


def mapped_state(state: dict, source: nn.Module, target: nn.Module) -> dict[str, torch.Tensor]:
    """``state`` of generalized model ``source``, written as a state of ``target``: the same weights.

    Args:
        state: a state dict of ``source`` (dense: every mask 1).
        source: the generalized model ``state`` belongs to (e.g. canonical).
        target: the same architecture generalized in another basis (per-layer bases allowed).

    Returns:
        A state dict of ``target``: each generalized layer's coefficients are
        ``analysis(W)`` of the weight ``W`` that ``source`` synthesises from ``state``; its
        masks and basis buffers are ``target``'s own; every other entry (biases,
        BatchNorm statistics) is copied from ``state``.

    Raises:
        ValueError: the two models do not generalize the same layers, or a mask of
            ``state`` is not all ones (only a dense network is the same in every basis).
    """
    source.load_state_dict(state)
    source_layers, target_layers = generalized_layers(source), generalized_layers(target)
    if list(source_layers) != list(target_layers):
        raise ValueError(f"cannot map a dense state between models that generalize different layers: "
                         f"{list(source_layers)} and {list(target_layers)}")
    mapped = {key: value.detach().clone() for key, value in target.state_dict().items()}
    with torch.no_grad():
        for name, module in source_layers.items():
            if not bool((generalized_weight(module).mask == 1).all()):
                raise ValueError(f"layer {name} of the state is pruned; only a dense state can be mapped")
            coefficients = generalized_weight(target_layers[name]).right_inverse(module.weight)
            mapped[f"{name}.parametrizations.weight.original"] = coefficients.detach().clone()
    for key, value in state.items():
        if ".parametrizations." not in key:
            mapped[key] = value.detach().clone()
    return mapped
