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

Run identity (:func:`run_key`): a run is named ``<kind>_<hash>`` where
``hash`` is the first 12 hex digits of the SHA-256 of the canonical JSON
(sorted keys, no spaces) of ``{"kind", "hparams", "version", "source"}``:
its hyperparameters, ``glth_core.__version__`` and :func:`source_hash`, a
SHA-256 of the code that computes numbers: the abstract syntax tree
(``ast.dump``, docstrings removed; comments and layout never reach it) of every
``.py`` file of the ``glth_core`` package, subpackages included (their path
relative to the package is hashed with them), except the modules that only
orchestrate, listed in :data:`ORCHESTRATION_MODULES`: ``__init__.py``,
``__main__.py``, ``_version.py`` (the version is hashed on its own),
``cli.py``, ``sweep.py``, ``chapter.py``, ``store.py``, ``archive.py``, the
analysis modules ``stats.py``, ``plots.py``, ``compaction.py``,
``truncation.py``, ``verdict_tables.py``, ``equal_size.py`` and
``mechanisms.py``, which read finished runs but never compute a stored result, the chapter settings ``profiles.py`` (they reach a run only through its hyperparameters),
and the re-exports and command line of the ``data`` package
(``data/__init__.py``, ``data/__main__.py``, ``data/cli.py``); its registry,
idx parsing, checksums, fetch steps, sources and splits count. So a changed
hyperparameter, library version or line of numeric code gives a new run,
while editing a docstring, a comment, the command line, the sweep, the result
store or the book helpers keeps every cached result. A new module counts as
numeric until it is added to the list.
``PruningHparams.rounds`` is excluded from the key: it is the extent
of a run, not its identity, so asking for more rounds continues a finished run
and asking for fewer returns a prefix of it. ``PruningHparams.layer_bases``
enters the key only when set (not ``""``), so a run without it keeps the key it
had before the field existed.
"""
from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import json
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
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
    "run_key",
    "source_hash",
    "code_digest",
    "ORCHESTRATION_MODULES",
    "validate",
    "max_rounds",
    "prunable_coefficients",
    "MAX_SEED",
    "MAX_ROUNDS",
    "MIN_DENSITY",
]

OPTIMIZERS = ("sgd", "adam")
#: The runs IMP makes, by name -> what each trains (the ``--control`` flag's help and
#: choices, and :func:`validate`, read this; :mod:`glth_core.engine.lottery` describes them).
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


# --------------------------------------------------------------------------- identity


#: Modules of ``glth_core`` (paths relative to the package) that only orchestrate runs
#: and cannot change a number of a result: :func:`source_hash` leaves them out.
ORCHESTRATION_MODULES = ("__init__.py", "__main__.py", "_version.py", "cli.py", "sweep.py", "chapter.py",
                         "store.py", "archive.py",
                         # analysis of finished runs: they read results, never compute a stored one
                         "stats.py", "plots.py", "compaction.py", "truncation.py", "verdict_tables.py",
                         "equal_size.py", "mechanisms.py",
                         # chapter settings: they reach a run only through its hyperparameters, hashed by value
                         "profiles.py",
                         # the data package's re-exports and command line (its other modules count)
                         "data/__init__.py", "data/__main__.py", "data/cli.py")


def _without_docstrings(tree: ast.AST) -> ast.AST:
    """``tree`` with the docstring of the module and of every class and function removed (in place)."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:]
    return tree


def code_digest(root) -> str:
    """SHA-256 (hex) of the numeric code of the package at ``root``: the relative path and the
    docstring-free ``ast.dump`` of every ``**/*.py`` file not in :data:`ORCHESTRATION_MODULES`."""
    root = Path(root)
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if relative in ORCHESTRATION_MODULES:
            continue
        tree = _without_docstrings(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        digest.update(relative.encode())
        digest.update(b"\0")
        digest.update(ast.dump(tree).encode())
        digest.update(b"\0")
    return digest.hexdigest()


@functools.lru_cache(maxsize=1)
def source_hash() -> str:
    """:func:`code_digest` of the imported ``glth_core`` package.

    Computed once per process: it describes the code this process imported.
    """
    return code_digest(Path(__file__).resolve().parent)


#: Pruning fields hashed by :func:`run_key` only when they differ from this default.
_KEY_ONLY_IF_SET = {"layer_bases": ""}


def identity(kind: str, hparams) -> dict:
    """The dict hashed by :func:`run_key` (``rounds`` removed from IMP hyperparameters)."""
    from .. import _version

    data = to_dict(hparams)
    if "pruning" in data:
        data["pruning"].pop("rounds", None)
        for name, default in _KEY_ONLY_IF_SET.items():  # fields added later: absent from the key at their default,
            if data["pruning"].get(name) == default:  # so the runs cached before them keep their names
                data["pruning"].pop(name)
    return {"kind": kind, "hparams": data, "version": _version.__version__, "source": source_hash()}


def run_key(kind: str, hparams) -> str:
    """``<kind>_<first 12 hex digits of sha256(canonical JSON of identity(kind, hparams))>``."""
    text = json.dumps(identity(kind, hparams), sort_keys=True, separators=(",", ":"))
    return f"{kind}_{hashlib.sha256(text.encode()).hexdigest()[:12]}"


# --------------------------------------------------------------------------- validation


def choices_for(key) -> tuple[str, ...]:
    """Resolve a ``choices`` metadata entry: "models" (:data:`glth_core.engine.models.MODELS`),
    "datasets" (:data:`glth_core.data.DATASETS`), or a registry (the keys of a dict such
    as :data:`CONTROLS`, or a tuple of names such as :data:`BASES`)."""
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
        hparams: an :class:`ImpHparams` or :class:`SubspaceHparams`.
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
