r"""Hyperparameters as dataclasses; flags and run names are derived from them.

Each experiment is described by a tree of frozen dataclasses
(:class:`ImpHparams` or :class:`SubspaceHparams`, holding
:class:`ModelHparams`, :class:`DatasetHparams`, :class:`TrainingHparams` and,
for IMP, :class:`PruningHparams`). Every leaf field carries a ``help`` string
in its metadata and becomes a command-line flag (``--field-name``, or the
``flag`` given in the metadata, e.g. ``--model`` for ``ModelHparams.name``);
flag names are unique across the tree. :func:`update` sets leaves by flag name::

    hp = update(ImpHparams(), model="lenet300", dataset="digits", epochs=1, basis="dct")

Defaults follow the literature where it is cheap enough (DESIGN.md): SGD with
learning rate 0.1 and batch 128 for LeNet-300-100 as in OpenLTH, 20% of each
hidden layer pruned per round and the output layer at half that rate as in
Frankle & Carbin (2019), layer-wise pruning, rewinding to iteration 0. The
number of epochs defaults to 3 (OpenLTH trains 40) so that the default run
finishes in minutes on a CPU; pass ``--epochs 40`` for the reference setting.

Run identity (:func:`~glth_core.engine.run_identity.run_key`) lives in :mod:`glth_core.engine.run_identity`; the checks of a
set of hyperparameters (:func:`~glth_core.engine.validation.validate`) in :mod:`glth_core.engine.validation`. Both are also
readable from this module under their old names.
"""
from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from typing import Any, Optional

from ..core.bases import BASIS_NAMES
from ..core.pruning import GRANULARITIES, SCOPES

__all__ = [
    "ModelHparams",
    "DatasetHparams",
    "TrainingHparams",
    "PruningHparams",
    "ImpHparams",
    "SubspaceHparams",
    "OPTIMIZERS",
    "CONTROLS",
    "GRANULARITIES",
    "SCOPES",
    "BASES",
    "update",
    "leaf_fields",
    "to_dict",
    "from_dict",
]

OPTIMIZERS = ("sgd", "adam")
#: The runs IMP makes, by name -> what each trains (the ``--control`` flag's help and
#: choices, and :func:`~glth_core.engine.validation.validate`, read this; :mod:`glth_core.engine.lottery` describes them).
CONTROLS: dict[str, str] = {
    "ticket": "the lottery ticket: magnitude-pruned masks, weights rewound",
    "reinit": "the ticket's masks on a fresh initialisation",
    "random_mask": "random masks of the ticket's densities, weights rewound",
}
#: Basis names: the core's registry :data:`glth_core.core.bases.BASIS_NAMES` itself.
BASES = BASIS_NAMES


def _help(text: str, **extra) -> dict:
    return {"help": text, **extra}


@dataclass(frozen=True)
class ModelHparams:
    """Which model to build (see :mod:`glth_core.engine.models`)."""

    name: str = field(default="lenet300", metadata=_help("model name", flag="model", choices="models"))


@dataclass(frozen=True)
class DatasetHparams:
    """Which data set to load (see :mod:`glth_core.data`)."""

    name: str = field(default="fashion_mnist", metadata=_help("data set name", flag="dataset", choices="datasets"))
    validation_size: int = field(
        default=0,
        metadata=_help("images carved from the training set for validation (early-stop accuracy); 0: none"),
    )
    split_seed: int = field(default=0, metadata=_help("seed of the train/validation split"))


@dataclass(frozen=True)
class TrainingHparams:
    """Optimiser, schedule and length of one round of training."""

    optimizer: str = field(default="sgd", metadata=_help("optimiser", choices=OPTIMIZERS))
    lr: float = field(default=0.1, metadata=_help("peak learning rate"))
    momentum: float = field(default=0.0, metadata=_help("SGD momentum (ignored by Adam)"))
    weight_decay: float = field(default=0.0, metadata=_help("L2 weight decay (on the trained coefficients)"))
    batch_size: int = field(default=128, metadata=_help("minibatch size"))
    epochs: int = field(default=3, metadata=_help("epochs per round (OpenLTH: 40 for LeNet-300-100)"))
    iterations: int = field(default=0, metadata=_help("iterations per round; >0 overrides --epochs"))
    warmup_iterations: int = field(default=0, metadata=_help("linear learning-rate warm-up from 0 over this many iterations"))
    milestones: tuple[int, ...] = field(
        default=(), metadata=_help("epochs at which the learning rate is multiplied by --gamma, e.g. 80,120")
    )
    gamma: float = field(default=0.1, metadata=_help("learning-rate factor at each milestone"))
    eval_every: int = field(default=0, metadata=_help("evaluate every this many iterations; 0: once per epoch"))


@dataclass(frozen=True)
class PruningHparams:
    """Iterative magnitude pruning: basis, granularity, schedule, rewinding, control."""

    basis: str = field(default="canonical", metadata=_help("basis of the coefficients that are pruned", choices=BASES))
    granularity: str = field(
        default="element", metadata=_help("prune single coefficients, or rows/columns of C by L2 norm", choices=GRANULARITIES)
    )
    scope: str = field(
        default="layer", metadata=_help("rank coefficients within each layer (Frankle & Carbin's per-layer rates; "
                                "glth_core.prune's own default is global) or across all layers", choices=SCOPES)
    )
    fraction: float = field(default=0.2, metadata=_help("fraction of the remaining coefficients pruned per round"))
    output_fraction: Optional[float] = field(
        default=None, metadata=_help("fraction pruned per round in the output layer; default: half of --fraction")
    )
    rounds: int = field(default=10, metadata=_help("pruning rounds after the dense round 0 (not part of the run's hash)"))
    rewind_iteration: int = field(
        default=0, metadata=_help("rewind to the weights at this iteration of round 0 (0: original LTH; >0: late rewinding)")
    )
    control: str = field(
        default="ticket", metadata=_help("; ".join(f"{name}: {text}" for name, text in CONTROLS.items()), choices=CONTROLS)
    )
    one_shot: bool = field(default=False, metadata=_help("round r prunes the dense trained net once to density (1-p)^r"))
    image_aware: bool = field(
        default=True, metadata=_help("view a fully connected first layer's input axis as the image (C,H,W) in the basis")
    )
    basis_seed: int = field(default=0, metadata=_help("seed of seeded bases (hadamard signs, random)"))
    channel_dct: bool = field(
        default=False, metadata=_help("dct basis: also transform conv kernels' input-channel axis (not only the spatial axes)")
    )
    share_dense: bool = field(
        default=True, metadata=_help("SGD: take round 0 from the dense network trained once in the canonical basis, mapped "
                                     "into this basis (exact by equivariance); --no-share-dense trains it in this basis")
    )
    layer_bases: str = field(
        default="", metadata=_help("per-layer bases overriding --basis, PATTERN=BASIS[:in|:out] separated by ',' or ';', "
                                   "e.g. 'conv*=dct;fc1=dct:in' (:in/:out: that axis only; see glth_core.core.layer_bases)")
    )


@dataclass(frozen=True)
class ImpHparams:
    """One iterative-magnitude-pruning experiment (a ticket run or one of its controls)."""

    model: ModelHparams = field(default_factory=ModelHparams)
    dataset: DatasetHparams = field(default_factory=DatasetHparams)
    training: TrainingHparams = field(default_factory=TrainingHparams)
    pruning: PruningHparams = field(default_factory=PruningHparams)
    seed: int = field(default=0, metadata=_help("seed of the initialisation and data order"))


@dataclass(frozen=True)
class SubspaceHparams:
    """Training in a random subspace of dimension ``dimension`` (Li et al. 2018)."""

    model: ModelHparams = field(default_factory=ModelHparams)
    dataset: DatasetHparams = field(default_factory=DatasetHparams)
    training: TrainingHparams = field(default_factory=lambda: TrainingHparams(optimizer="adam", lr=1e-2))
    dimension: int = field(default=1000, metadata=_help("number of trained coefficients d"))
    basis: str = field(default="random", metadata=_help("basis of the subspace (Li et al.: random)", choices=BASES))
    basis_seed: int = field(default=0, metadata=_help("seed of the random basis"))
    train_biases: bool = field(
        default=False, metadata=_help("also train biases and norm parameters (Li et al.: no, only the d coefficients)")
    )
    seed: int = field(default=0, metadata=_help("seed of W0, the random mask and the data order"))


# --------------------------------------------------------------------------- flags


def leaf_fields(cls_or_obj) -> list[tuple[tuple[str, ...], dataclasses.Field, Any]]:
    """List ``(path, field, type)`` of every leaf (non-dataclass) field, depth first.

    ``path`` is the attribute path from the root, e.g. ``("training", "lr")``.
    """
    cls = cls_or_obj if isinstance(cls_or_obj, type) else type(cls_or_obj)
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            out.extend(((f.name, *p), ff, t) for p, ff, t in leaf_fields(tp))
        else:
            out.append(((f.name,), f, tp))
    return out


def flag_name(path: tuple[str, ...], f: dataclasses.Field) -> str:
    """The flag (without dashes, with underscores) of a leaf field."""
    return f.metadata.get("flag", path[-1])


def _flags(cls) -> dict[str, tuple[str, ...]]:
    flags: dict[str, tuple[str, ...]] = {}
    for path, f, _ in leaf_fields(cls):
        name = flag_name(path, f)
        if name in flags:
            raise AssertionError(f"flag {name!r} defined twice in {cls.__name__}")
        flags[name] = path
    return flags


def _replace_path(obj, path: tuple[str, ...], value):
    if len(path) == 1:
        return dataclasses.replace(obj, **{path[0]: value})
    child = getattr(obj, path[0])
    return dataclasses.replace(obj, **{path[0]: _replace_path(child, path[1:], value)})


def update(hparams, **flags):
    """Return a copy of ``hparams`` with leaves set by flag name (``model=``, ``epochs=``, ...).

    Args:
        hparams: an :class:`ImpHparams` or :class:`SubspaceHparams` (or one of their parts).
        **flags: ``flag name=value`` (the command-line flags without dashes; ``-`` or ``_``).

    Returns:
        A new frozen dataclass of the type of ``hparams``; ``hparams`` is unchanged.

    Raises:
        TypeError: an unknown flag (the message lists the valid ones).
    """
    valid = _flags(type(hparams))
    for name, value in flags.items():
        key = name.replace("-", "_")
        if key not in valid:
            raise TypeError(
                f"{type(hparams).__name__} has no hyperparameter {name!r}; valid: {', '.join(sorted(valid))}"
            )
        if key == "milestones" and value is not None and not isinstance(value, tuple):
            value = tuple(value)
        hparams = _replace_path(hparams, valid[key], value)
    return hparams


def to_dict(hparams) -> dict:
    """Nested plain dict (tuples become lists), JSON-serialisable."""
    return json.loads(json.dumps(dataclasses.asdict(hparams)))


def from_dict(cls, data: dict):
    """Inverse of :func:`to_dict` for dataclass ``cls``."""
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        value, tp = data[f.name], hints[f.name]
        if dataclasses.is_dataclass(tp):
            value = from_dict(tp, value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[f.name] = value
    return cls(**kwargs)


#: Names that moved to :mod:`.run_identity` and :mod:`.validation`, still readable from here.
_MOVED = {**dict.fromkeys(("run_key", "identity", "source_hash", "code_digest", "code_statements",
                           "numeric_modules", "NUMERIC_LAYERS"), "run_identity"),
          **dict.fromkeys(("validate", "max_rounds", "prunable_coefficients", "choices_for", "MAX_SEED", "MAX_ROUNDS",
                           "MIN_DENSITY", "MAX_EPOCHS", "MAX_ITERATIONS", "MAX_BATCH_SIZE", "MAX_DIMENSION"),
                          "validation")}


def __getattr__(name: str):
    """The names of :data:`_MOVED`, imported from their module on first use (PEP 562)."""
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(f".{_MOVED[name]}", __package__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
