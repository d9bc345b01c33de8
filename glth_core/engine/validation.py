"""Checks of a set of hyperparameters: every bad value is refused with a message that names the flag.

:func:`validate` checks a whole :class:`~glth_core.engine.hparams.ImpHparams` or
:class:`~glth_core.engine.hparams.SubspaceHparams` before any work starts; the bounds
(``MAX_*``) keep a typo from asking for a run that could never finish.
"""
from __future__ import annotations

import functools
import math
import typing

from .hparams import ImpHparams, SubspaceHparams, flag_name, leaf_fields

__all__ = ["validate", "max_rounds", "prunable_coefficients", "choices_for", "MAX_SEED", "MAX_ROUNDS", "MIN_DENSITY",
           "MAX_EPOCHS", "MAX_ITERATIONS", "MAX_BATCH_SIZE", "MAX_DIMENSION"]


def choices_for(key) -> tuple[str, ...]:
    """Resolve a ``choices`` metadata entry: "models" (:data:`glth_core.engine.models.MODELS`),
    "datasets" (:data:`glth_core.data.DATASETS`), or a registry (the keys of a dict such
    as :data:`~glth_core.engine.hparams.CONTROLS`, or a tuple of names such as
    :data:`~glth_core.engine.hparams.BASES`)."""
    if key == "models":
        from .models import MODELS

        return tuple(MODELS)
    if key == "datasets":
        from ..data import DATASETS

        return tuple(DATASETS)
    return tuple(key)


#: Largest accepted seed (``seed``, ``split_seed``, ``basis_seed``): torch's and numpy's generators take
#: any integer in ``0 .. 2**63 - 1`` (torch.manual_seed overflows above ``2**64 - 1``).
MAX_SEED = 2**63 - 1
#: Pruning never goes below this density: ``rounds`` is bounded by ``(1 - fraction)**rounds >= MIN_DENSITY``
#: (below it even a network of a billion weights keeps less than one).
MIN_DENSITY = 1e-9
#: Checkpoint files are named ``round_NNNN.pt``: at most this many rounds after round 0.
MAX_ROUNDS = 9999
#: Upper bounds of the other counts: far beyond any experiment of the book, low enough that a typo
#: (``--epochs 1000000``) is refused instead of training for weeks.
MAX_EPOCHS = 10_000
MAX_ITERATIONS = 10**8
MAX_BATCH_SIZE = 2**20
MAX_DIMENSION = 10**10


def max_rounds(fraction: float) -> int:
    """The most pruning rounds that keep density ``(1 - fraction)**rounds >= MIN_DENSITY`` (at most
    :data:`MAX_ROUNDS`)."""
    if not 0 < fraction < 1:
        return MAX_ROUNDS
    return int(min(MAX_ROUNDS, math.floor(math.log(MIN_DENSITY) / math.log1p(-fraction))))


def _name_flag(flag: str) -> str:
    return "--" + flag.replace("_", "-")


def validate(hparams, *, naming=None) -> None:
    """Raise ValueError/TypeError naming the hyperparameter and the fix for any bad value.

    The one check of every hyperparameter, shared by the library (:func:`glth_core.engine.lottery.run_imp`,
    :func:`glth_core.engine.subspace.run_subspace`, :func:`glth_core.runs.sweep.sweep`), the command line and the
    book's chapters. Bounds: ``lr`` finite and > 0; ``momentum`` in [0, 1); ``weight_decay`` finite and
    >= 0; ``gamma`` in (0, 1]; ``milestones`` increasing epochs >= 1; ``fraction`` in (0, 1);
    ``output_fraction`` in [0, 1); ``rounds`` in [0, :func:`max_rounds` (``fraction``)]; seeds in
    [0, :data:`MAX_SEED`]; ``epochs``, ``iterations``, ``batch_size``, ``dimension`` at most
    :data:`MAX_EPOCHS`, :data:`MAX_ITERATIONS`, :data:`MAX_BATCH_SIZE`, :data:`MAX_DIMENSION`.

    Args:
        hparams: an :class:`~glth_core.engine.hparams.ImpHparams` or :class:`~glth_core.engine.hparams.SubspaceHparams`.
        naming: how a message names a hyperparameter, a function of its flag name with underscores
            (default: the command-line flag, ``"gamma"`` -> ``"--gamma"``; the chapters pass
            ``lambda flag: f"parameter {flag}"``).

    Raises:
        TypeError: a value of the wrong type (a float where an int is expected, a string, ...).
        ValueError: a value out of its bounds.
    """
    name = naming or _name_flag
    for path, f, tp in leaf_fields(hparams):
        value = hparams
        for p in path:
            value = getattr(value, p)
        flag = flag_name(path, f)
        if "choices" in f.metadata:
            valid = choices_for(f.metadata["choices"])
            if not isinstance(value, str) or value not in valid:
                what = flag.replace("_", " ") if naming is None else name(flag)
                raise ValueError(f"unknown {what} {value!r}; valid names: {', '.join(valid)}")
        origin = typing.get_origin(tp)
        if tp is int and (not isinstance(value, int) or isinstance(value, bool)):
            raise TypeError(f"{name(flag)} must be an int, got {value!r}")
        if tp is float and (not isinstance(value, (int, float)) or isinstance(value, bool)):
            raise TypeError(f"{name(flag)} must be a number, got {value!r}")
        if origin is typing.Union and value is not None and (not isinstance(value, (int, float))
                                                             or isinstance(value, bool)):
            raise TypeError(f"{name(flag)} must be a number or None, got {value!r}")
        if tp is bool and not isinstance(value, bool):
            raise TypeError(f"{name(flag)} must be a bool, got {value!r}")
        if origin is tuple and not (isinstance(value, tuple)
                                    and all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
            raise TypeError(f"{name(flag)} must be a tuple of ints, got {value!r}")
        if flag.endswith("seed") and not 0 <= value <= MAX_SEED:
            raise ValueError(f"{name(flag)} must be in [0, 2**63 - 1] (what torch's and numpy's generators accept), "
                             f"got {value}")
    t = hparams.training
    if not (math.isfinite(t.lr) and t.lr > 0):
        raise ValueError(f"{name('lr')} must be > 0 and finite, got {t.lr}")
    if not 0 <= t.momentum < 1:
        raise ValueError(f"{name('momentum')} must be in [0, 1) (0: plain SGD), got {t.momentum}")
    if not (math.isfinite(t.weight_decay) and t.weight_decay >= 0):
        raise ValueError(f"{name('weight_decay')} must be a finite number >= 0, got {t.weight_decay}")
    if not 0 < t.gamma <= 1:
        raise ValueError(f"{name('gamma')} must be in (0, 1] (the learning rate is multiplied by it at each "
                         f"milestone; 1: no decay), got {t.gamma}")
    if any(m < 1 for m in t.milestones) or list(t.milestones) != sorted(set(t.milestones)):
        raise ValueError(f"{name('milestones')} must be increasing epochs >= 1, e.g. 80,120; got "
                         f"{','.join(map(str, t.milestones))}")
    if not 1 <= t.batch_size <= MAX_BATCH_SIZE:
        raise ValueError(f"{name('batch_size')} must be in [1, {MAX_BATCH_SIZE}], got {t.batch_size}")
    if t.epochs < 1 and t.iterations < 1:
        raise ValueError(f"train for at least one step: set {name('epochs')} >= 1 or {name('iterations')} >= 1")
    for flag, limit in (("epochs", MAX_EPOCHS), ("iterations", MAX_ITERATIONS),
                        ("warmup_iterations", MAX_ITERATIONS), ("eval_every", MAX_ITERATIONS)):
        if not 0 <= getattr(t, flag) <= limit:
            raise ValueError(f"{name(flag)} must be in [0, {limit}], got {getattr(t, flag)}")
    if not 0 <= hparams.dataset.validation_size <= 10**8:
        raise ValueError(f"{name('validation_size')} must be >= 0 (and smaller than the training set), "
                         f"got {hparams.dataset.validation_size}")
    if isinstance(hparams, ImpHparams):
        p = hparams.pruning
        if not 0.0 < p.fraction < 1.0:
            raise ValueError(f"{name('fraction')} must be in (0, 1), got {p.fraction}")
        if p.output_fraction is not None and not 0.0 <= p.output_fraction < 1.0:
            raise ValueError(f"{name('output_fraction')} must be in [0, 1) (0: never prune the output layer), "
                             f"got {p.output_fraction}")
        limit = max_rounds(p.fraction)
        if not 0 <= p.rounds <= limit:
            raise ValueError(f"{name('rounds')} must be in [0, {limit}] at {name('fraction')} {p.fraction} (after "
                             f"{limit} rounds the density (1 - {p.fraction})^{limit} is below {MIN_DENSITY:g}, "
                             f"fewer than one weight in any network), got {p.rounds}; for more rounds prune less "
                             f"per round (a smaller {name('fraction')})")
        if not 0 <= p.rewind_iteration <= MAX_ITERATIONS:
            raise ValueError(f"{name('rewind_iteration')} must be in [0, {MAX_ITERATIONS}], got {p.rewind_iteration}")
        if p.channel_dct and p.basis != "dct":
            raise ValueError(f"{name('channel_dct')} applies to the dct basis only, got {name('basis')} {p.basis}; "
                             "drop it or use the dct basis")
    if isinstance(hparams, SubspaceHparams):
        if not 1 <= hparams.dimension <= MAX_DIMENSION:
            raise ValueError(f"{name('dimension')} must be in [1, {MAX_DIMENSION}] (and at most the model's "
                             f"coefficients), got {hparams.dimension}")
        available = prunable_coefficients(hparams.model.name, hparams.dataset.name)
        if hparams.dimension > available:
            raise ValueError(f"{name('dimension')} must be in [1, {available}] (the prunable coefficients of "
                             f"{hparams.model.name} on {hparams.dataset.name}), got {hparams.dimension}")


@functools.lru_cache(maxsize=32)
def prunable_coefficients(model: str, dataset: str) -> int:
    """Number of weights of the Linear/Conv layers of ``model`` built for ``dataset`` (built on the meta
    device: no memory, no data). Raises ValueError if the model does not fit the data set."""
    import torch
    from torch import nn

    from ..data import REGISTRY
    from .models import build_model

    spec = REGISTRY[dataset]
    with torch.device("meta"):
        net = build_model(model, tuple(spec.input_shape), spec.num_classes)
    return sum(m.weight.numel() for m in net.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)))
