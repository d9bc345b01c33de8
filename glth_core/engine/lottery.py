r"""Iterative magnitude pruning (IMP) with rewinding, in any basis, and its controls.

A ticket run (``control="ticket"``) with fraction ``p`` (output layer ``q``,
default ``p / 2``) and rewind iteration ``k``:

* round 0: build the model with ``seed``, generalise it in the basis
  (``glth_core.generalize``), train it densely; the rewind snapshot ``theta_k``
  is taken after ``k`` iterations of this training (``k = 0``: the
  initialisation, Frankle & Carbin 2019; ``k > 0``: late rewinding, Frankle
  et al. 2020). With SGD (rotation-equivariant) round 0 is trained once per
  model, data, training settings, seed and ``k``, in the canonical basis, and
  mapped into each run's basis (:mod:`glth_core.engine.shared_dense`;
  ``share_dense=False`` trains it in the run's basis);
* round ``r >= 1``: start from round ``r - 1``'s trained coefficients and
  masks, prune ``p`` of the coefficients still unmasked (``glth_core.prune``,
  lowest ``|c|`` or row/column norm, per layer or globally), rewind every
  parameter to ``theta_k`` (masks kept, masked coefficients exactly 0) and
  train iterations ``k .. T`` of the same schedule (a fresh optimiser).

With ``scope="layer"`` the density of a layer after round ``r`` is
``(1 - p)^r`` (``(1 - q)^r`` for the output layer) up to rounding to whole
coefficients. ``one_shot=True``: round ``r`` instead prunes round 0's trained
net once, straight to density ``(1 - p)^r`` (fraction ``1 - (1 - p)^r``), then
rewinds and trains.

Controls are separate runs (their own hash) on the ticket's masks; they first
run (or find in the results folder) the ticket run with the same
hyperparameters, then for each round ``r >= 1`` (round 0 is the dense network,
shared with the ticket run and not repeated):

* ``reinit``: the ticket's round-``r`` masks on a model freshly initialised
  with seed ``derive_seed(seed, "reinit")``, generalised in the same basis
  (same ``basis_seed``), trained on the same schedule segment ``k .. T``;
* ``random_mask``: masks drawn uniformly at random with exactly the ticket's
  number of unmasked coefficients per layer (``glth_core.random_masks``), on
  the original rewind snapshot ``theta_k``.

Every round ``r`` draws its randomness from ``derive_seed(seed, r, ...)``,
and its checkpoint (trained state, masks, row; round 0 also holds
``theta_k``) is written atomically before the next round starts. A run that
is killed resumes from its last checkpoint and gives the same numbers as an
uninterrupted one; finished rounds are never redone. A checkpoint that fails
its checksum or does not load is moved aside and its round recomputed
(:meth:`glth_core.storage.store.RunStore.load_round`), with the same result.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import time
import types

import pandas as pd
import torch
from torch import nn

from ..core import pruning
from . import training
from ..core.export import count_parameters
from .hparams import ImpHparams
from .run_identity import identity, run_key
from .shared_dense import dense_hparams, mapped_state, shares_dense
from .validation import validate
from ..core.layer_bases import parse_layer_bases, resolve_layer_bases, split_side
from ..core.generalize import generalize, prunable_layers
from .models import build_model, input_layer_name, output_layer_name
from ..core.seeding import derive_seed
from ..storage.store import RunStore

__all__ = [
    "run_imp", "generalized_model", "round_model", "round_masks", "load_splits", "effective_output_fraction",
    "TABLE_COLUMNS"
]


#: Column order of the IMP results table.
TABLE_COLUMNS = [
    "run_id", "kind", "model", "dataset", "basis", "granularity", "scope", "control", "one_shot",
    "seed", "round", "density", "params", "test_accuracy", "test_loss", "best_accuracy",
    "best_iteration", "val_accuracy", "fraction", "output_fraction", "rewind_iteration", "epochs",
    "iterations", "optimizer", "lr", "batch_size", "layer_densities", "wall_time_s",
]


@functools.lru_cache(maxsize=2)
def _load_splits_cached(name: str, validation_size: int, split_seed: int, data_dir: str | None):
    from .. import data

    return data.load(name, validation_size=validation_size, split_seed=split_seed, data_dir=data_dir, verbose=False)


def load_splits(dataset_hparams):
    """The data set's ``Splits`` (cached per process, keyed also on ``$GLTH_DATA_DIR``)."""
    return _load_splits_cached(
        dataset_hparams.name, dataset_hparams.validation_size, dataset_hparams.split_seed, os.environ.get("GLTH_DATA_DIR")
    )


def _to_cpu(obj):
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().clone()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    return obj


def effective_output_fraction(hp: ImpHparams) -> float:
    """Per-round fraction of the output layer: ``output_fraction`` or half of ``fraction``."""
    p = hp.pruning
    return p.fraction / 2 if p.output_fraction is None else p.output_fraction


def generalized_model(hparams: ImpHparams, input_shape, num_classes: int, seed: int | None = None) -> nn.Module:
    """The generalized model of run ``hparams`` for inputs of ``input_shape`` and ``num_classes`` classes.

    ``hparams.model`` built with ``seed`` (default ``hparams.seed``), every prunable
    layer generalised in ``hparams.pruning.basis`` with ``basis_seed``, except the
    layers that ``hparams.pruning.layer_bases`` names (:mod:`glth_core.core.layer_bases`;
    a pattern matching no layer is a ValueError). The image-aware rule: with
    ``image_aware``, a first layer whose basis is not canonical, image
    inputs (``input_shape == (C, H, W)``) and an ``nn.Linear`` first layer, that
    layer's input axis is viewed as the image (``image_shape=input_shape``).
    """
    input_shape = tuple(input_shape)
    model = build_model(hparams.model.name, input_shape, num_classes, seed=hparams.seed if seed is None else seed)
    first_name = input_layer_name(model)
    first = model.get_submodule(first_name)
    bases = hparams.pruning.basis
    if hparams.pruning.layer_bases:
        bases = resolve_layer_bases(hparams.pruning.layer_bases, prunable_layers(model), hparams.pruning.basis)
    first_basis = split_side(bases[first_name] if isinstance(bases, dict) else bases)[0]
    image_shape = None
    if (
        hparams.pruning.image_aware
        and first_basis != "canonical"
        and isinstance(first, nn.Linear)
        and len(input_shape) == 3
    ):
        image_shape = input_shape
    generalize(model, basis=bases, seed=hparams.pruning.basis_seed, image_shape=image_shape,
               channel_dct=hparams.pruning.channel_dct)
    return model


def _prune_fractions(hp: ImpHparams, model: nn.Module, round_index: int) -> tuple[float, dict]:
    """``(fraction, {output_layer: fraction})`` to apply in round ``round_index``."""
    p, q = hp.pruning.fraction, effective_output_fraction(hp)
    if hp.pruning.one_shot:  # from dense straight to (1-p)^r
        p, q = 1 - (1 - p) ** round_index, 1 - (1 - q) ** round_index
    return p, {output_layer_name(model): q}


def _row(hp: ImpHparams, run_id: str, round_index: int, model: nn.Module, result, wall: float) -> dict:
    t, p = hp.training, hp.pruning
    layer_densities = {k: round(float(v), 8) for k, v in pruning.densities(model).items()}
    return {
        "run_id": run_id,
        "kind": "imp",
        "model": hp.model.name,
        "dataset": hp.dataset.name,
        "basis": p.basis,
        "granularity": p.granularity,
        "scope": p.scope,
        "control": p.control,
        "one_shot": p.one_shot,
        "seed": hp.seed,
        "round": round_index,
        "density": float(pruning.density(model)),
        "params": int(count_parameters(model)),
        "test_accuracy": result.test_accuracy,
        "test_loss": result.test_loss,
        "best_accuracy": result.best_accuracy,
        "best_iteration": result.best_iteration,
        "val_accuracy": result.val_accuracy,
        "fraction": p.fraction,
        "output_fraction": effective_output_fraction(hp),
        "rewind_iteration": p.rewind_iteration,
        "epochs": t.epochs,
        "iterations": result.iterations,
        "optimizer": t.optimizer,
        "lr": t.lr,
        "batch_size": t.batch_size,
        "layer_densities": json.dumps(layer_densities, sort_keys=True),
        "wall_time_s": wall,
    }


def _train(hp: ImpHparams, model, splits, round_index: int, *, device, progress, snapshot_at=None, analysed=None):
    return training.train(
        model,
        splits.train,
        splits.test,
        hp.training,
        seed=derive_seed(hp.seed, round_index, "train"),
        round_index=round_index,
        start_iteration=0 if snapshot_at is not None else hp.pruning.rewind_iteration,
        snapshot_at=snapshot_at,
        snapshot_fn=pruning.snapshot,
        val_data=splits.val,
        device=device,
        progress=progress,
        analysed_inputs=analysed,
    )


# --------------------------------------------------------------------------- rounds


def _ticket_round(hp, run_id, store, round_index, splits, state, *, device, progress, analysed=None) -> dict:
    """Run one round of a ticket run. ``state`` holds ``rewind`` and ``previous`` (checkpoints)."""
    if round_index == 0 and shares_dense(hp):
        return _shared_dense_round(hp, run_id, store, splits, device=device, progress=progress)
    start = time.perf_counter()
    model = generalized_model(hp, splits.input_shape, splits.num_classes)
    if round_index == 0:
        result = _train(hp, model, splits, 0, device=device, progress=progress, snapshot_at=hp.pruning.rewind_iteration,
                        analysed=analysed)
        rewind = _to_cpu(result.snapshot)
    else:
        rewind = state["rewind"]
        source = state["dense"] if hp.pruning.one_shot else state["previous"]
        model.load_state_dict(source["state"])
        fraction, overrides = _prune_fractions(hp, model, round_index)
        pruning.prune(model, fraction, scope=hp.pruning.scope, granularity=hp.pruning.granularity, fractions=overrides)
        pruning.rewind(model, rewind)
        result = _train(hp, model, splits, round_index, device=device, progress=progress, analysed=analysed)
    row = _row(hp, run_id, round_index, model, result, time.perf_counter() - start)
    return _save_round(store, round_index, model, row, **({"rewind": rewind} if round_index == 0 else {}))


def _shared_dense_round(hp, run_id, store, splits, *, device, progress) -> dict:
    """Round 0 of a run that :func:`~glth_core.engine.shared_dense.shares_dense`: its dense run's round 0
    (trained once, canonical) mapped into ``hp``'s basis; the row keeps the dense run's accuracies, and
    ``wall_time_s`` counts only the mapping (the dense training is counted once, by the dense run)."""
    start = time.perf_counter()
    dense_hp = dense_hparams(hp)
    results_dir = store.path.parent
    run_imp(dense_hp, results_dir, device=device, progress=progress)
    dense = _open_store(dense_hp, results_dir).load_round(0)
    source = generalized_model(dense_hp, splits.input_shape, splits.num_classes)
    model = generalized_model(hp, splits.input_shape, splits.num_classes)
    rewind = mapped_state(dense["rewind"], source, model)
    model.load_state_dict(mapped_state(dense["state"], source, model))
    trained = types.SimpleNamespace(**{k: dense["row"][k] for k in _TRAINING_RESULT})
    row = _row(hp, run_id, 0, model, trained, time.perf_counter() - start)
    return _save_round(store, 0, model, row, rewind=rewind)


#: The fields of a round's row that come from its training (a mapped round 0 takes them from the dense run).
_TRAINING_RESULT = ("test_accuracy", "test_loss", "best_accuracy", "best_iteration", "val_accuracy", "iterations")


def _save_round(store: RunStore, round_index: int, model: nn.Module, row: dict, **extra) -> dict:
    """Checkpoint a finished round (trained state, masks, table row, ``extra``) atomically; return it."""
    checkpoint = {"round": round_index, "state": _to_cpu(model.state_dict()),
                  "masks": _to_cpu(pruning.masks(model)), "row": row, **extra}
    store.save_round(round_index, checkpoint)
    return checkpoint


def _control_round(hp, run_id, store, round_index, splits, ticket_store, *, device, progress, analysed=None) -> dict:
    start = time.perf_counter()
    ticket_masks = ticket_store.load_round(round_index)["masks"]
    if hp.pruning.control == "reinit":
        model = generalized_model(hp, splits.input_shape, splits.num_classes, seed=derive_seed(hp.seed, "reinit"))
        pruning.set_masks(model, ticket_masks)
    else:  # random_mask
        model = generalized_model(hp, splits.input_shape, splits.num_classes)
        pruning.rewind(model, ticket_store.load_round(0)["rewind"])
        masks = pruning.random_masks(model, ticket_masks, derive_seed(hp.seed, round_index, "random_mask"))
        pruning.set_masks(model, masks)
    result = _train(hp, model, splits, round_index, device=device, progress=progress, analysed=analysed)
    row = _row(hp, run_id, round_index, model, result, time.perf_counter() - start)
    return _save_round(store, round_index, model, row)


def _open_store(hp: ImpHparams, results_dir) -> RunStore:
    return RunStore(results_dir, run_key("imp", hp), identity("imp", hp))


def _finished_round(hparams: ImpHparams, round_index: int, results_dir) -> dict:
    checkpoint = _open_store(hparams, results_dir).load_round(round_index)
    if checkpoint is None:
        raise KeyError(f"round {round_index} of {run_key('imp', hparams)} is not finished; run run_imp first")
    return checkpoint


def round_masks(hparams: ImpHparams, round_index: int, results_dir=None) -> dict[str, torch.Tensor]:
    """The masks of a finished round of a run (KeyError if that round is not finished)."""
    return _finished_round(hparams, round_index, results_dir)["masks"]


def round_model(hparams: ImpHparams, round_index: int, results_dir=None) -> nn.Module:
    """The trained generalized model of a finished round of a run, on the CPU in eval mode.

    Built by :func:`generalized_model` for the run's data set, then loaded with the
    round's checkpoint (state and masks); KeyError if that round is not finished.
    """
    checkpoint = _finished_round(hparams, round_index, results_dir)
    splits = load_splits(hparams.dataset)
    model = generalized_model(hparams, splits.input_shape, splits.num_classes)
    model.load_state_dict(checkpoint["state"])
    pruning.set_masks(model, checkpoint["masks"])
    return model.eval()


def run_imp(hparams: ImpHparams, results_dir=None, *, device=None, progress=None) -> pd.DataFrame:
    """Run (or resume, or just read) an IMP experiment; one row per round.

    Ticket runs return rounds ``0..rounds``, control runs rounds ``1..rounds``.

    Args:
        hparams: the experiment, an :class:`~glth_core.engine.hparams.ImpHparams`.
        results_dir: default ``$GLTH_RESULTS_DIR`` or ``./results``; checked for write
            access and 100 MiB free space before anything is trained.
        device: ``None``/``"auto"`` (CUDA if available), ``"cpu"``, ``"cuda"``.
        progress: tqdm bars (``None``: when stderr is a terminal).

    Returns:
        A tidy DataFrame with the columns :data:`TABLE_COLUMNS`; ``wall_time_s`` is the
        only column that differs between identical runs.

    Raises:
        TrainingDiverged: the loss became NaN or infinite (finished rounds stay saved).
        TypeError: ``hparams`` is not an ``ImpHparams``, or a hyperparameter has a wrong type.
        ValueError: a hyperparameter has a bad value (the message names it and the fix).
        ~glth_core.storage.store.StorageError: the results folder is not writable or too full.
    """
    if not isinstance(hparams, ImpHparams):
        raise TypeError(f"hparams must be an ImpHparams, got {type(hparams).__name__}; see glth_core.engine.hparams")
    validate(hparams)
    parse_layer_bases(hparams.pruning.layer_bases)  # a malformed --layer-bases fails before any work
    training.resolve_device(device)  # a bad device fails here, even when every round is cached
    store = _open_store(hparams, results_dir)
    run_id = store.run_id
    rounds = hparams.pruning.rounds
    control = hparams.pruning.control
    first_round = 0 if control == "ticket" else 1

    ticket_store = None
    if control != "ticket":
        ticket_hp = dataclasses.replace(hparams, pruning=dataclasses.replace(hparams.pruning, control="ticket"))
        run_imp(ticket_hp, results_dir, device=device, progress=progress)
        ticket_store = _open_store(ticket_hp, results_dir)

    with store.lock():
        rows: list[dict] = []
        state: dict = {}
        splits = None
        analysed = training.AnalysedInputs()  # the first layer's analysed training set, shared by the rounds
        bar = None
        if training.progress_enabled(progress):
            bar = training.progress_bar(total=rounds + 1 - first_round, desc=f"{run_id} ({control})", unit="round")
        try:
            for r in range(first_round, rounds + 1):
                checkpoint = store.load_round(r)
                if checkpoint is None:
                    if splits is None:
                        splits = load_splits(hparams.dataset)
                        build_model(hparams.model.name, splits.input_shape, splits.num_classes)  # fits the data?
                    if control == "ticket":
                        if r > 0:
                            state["rewind"] = state.get("rewind") or store.load_round(0)["rewind"]
                            state["previous"] = state.get("previous") or store.load_round(r - 1)
                            if hparams.pruning.one_shot:
                                state["dense"] = state.get("dense") or store.load_round(0)
                        checkpoint = _ticket_round(hparams, run_id, store, r, splits, state, device=device,
                                                   progress=progress, analysed=analysed)
                    else:
                        checkpoint = _control_round(
                            hparams, run_id, store, r, splits, ticket_store, device=device, progress=progress,
                            analysed=analysed,
                        )
                if control == "ticket":
                    state["previous"] = checkpoint
                    if r == 0:
                        state["rewind"] = checkpoint["rewind"]
                        state["dense"] = checkpoint
                rows.append(checkpoint["row"])
                store.write_table(rows)
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)
