r"""Run profiles of the book's chapters: what each chapter trains by default.

Every chapter takes a ``profile`` parameter:

* ``"quick"`` (the default, what ``make book`` runs): settings sized so that the
  whole book builds in under an hour on a 2-core CPU, with networks still
  trained to the accuracy they are known to reach (dense LeNet-300-100 about
  88.8% on Fashion-MNIST after 5 epochs of SGD with momentum and one step decay;
  the small CNN of :class:`glth_core.engine.models.SmallCNN` about 90.6% after 3);
* ``"paper"``: the literature's settings (Frankle & Carbin 2019; OpenLTH): at least
  five seeds, training to convergence, 20% pruning rounds, Conv-2/4/6 with late
  rewinding; for a GPU or a cluster (``make book PROFILE=paper``).

A chapter's parameters default to ``None``, meaning "the profile's value";
:func:`chapter_parameters` resolves them, applies the smoke overrides
(``smoke=True``: scikit-learn's 8x8 digits, 2 seeds, 1-2 epochs, few rounds, for
``make test``) and checks that no name is unknown. The LeNet-300-100 lottery
settings (:data:`LENET`) are shared by chapters 01-04, so that identical runs
are found in the results cache instead of being trained twice.

:func:`imp_base` turns resolved parameters into the base
:class:`~glth_core.engine.hparams.ImpHparams` of a chapter's runs, and
:func:`settings_table` shows both profiles side by side with their measured cost.
"""
from __future__ import annotations

import copy

__all__ = ["PROFILES", "LENET", "CHAPTERS", "SMOKE", "chapter_parameters", "imp_base", "settings_table",
           "TRAINING_KEYS", "SECONDS_PER_EPOCH", "estimated_cost_hours", "LIMITS", "limit"]

PROFILES = ("quick", "paper")

#: Keys of a resolved parameter dict that :func:`imp_base` passes to the engine.
TRAINING_KEYS = ("model", "dataset", "optimizer", "lr", "momentum", "weight_decay", "batch_size", "epochs",
                 "milestones", "gamma", "fraction", "output_fraction", "rounds", "rewind_iteration")

#: LeNet-300-100 lottery runs shared by chapters 01-04. Quick: 60% of each hidden layer
#: per round (density 0.4^r: 40, 16, 6.4, 2.6, 1.0%), the output layer at half that rate.
LENET = {
    "quick": dict(model="lenet300", dataset="fashion_mnist", optimizer="sgd", lr=0.05, momentum=0.9,
                  weight_decay=0.0, batch_size=128, epochs=5, milestones=[4], gamma=0.1, fraction=0.6,
                  output_fraction=0.3, rounds=5, rewind_iteration=0),
    "paper": dict(model="lenet300", dataset="fashion_mnist", optimizer="sgd", lr=0.05, momentum=0.9,
                  weight_decay=0.0, batch_size=128, epochs=30, milestones=[20, 25], gamma=0.1, fraction=0.2,
                  output_fraction=0.1, rounds=20, rewind_iteration=0),
}

#: Chapter 05. ``rounds`` is the *maximum*: ``first_rounds`` (capped by ``rounds``) are swept, then only the
#: runs still inside the one-point band are extended one round at a time (glth_core.book.adaptive_rounds).
#: ``ablations``: one-shot configurations of per-layer bases (glth_core.book.conv_ablations) pruned to the
#: density of iterative round ``ablation_round``, ``ablation_seeds`` seeds (0: none). Quick: the one-sided fc1
#: split ("fc1:in", "fc1:out") is left to the paper profile, to keep the chapter's training near 25 min on a
#: 2-core CPU.
_CONV = {
    "quick": dict(models=["small_cnn"], dataset="fashion_mnist", optimizer="sgd", lr=0.05, momentum=0.9,
                  weight_decay=0.0, batch_size=128, epochs=3, milestones=[2], gamma=0.1, fraction=0.6,
                  output_fraction=0.3, rounds=6, first_rounds=3, rewind_iteration=0, seeds=5,
                  bases=["canonical", "dct", "random"], channel_dct=False,
                  ablations=["canonical", "dct", "conv", "fc1"], ablation_seeds=3, ablation_round=3),
    "paper": dict(models=["conv2", "conv4", "conv6"], dataset="fashion_mnist", optimizer="sgd", lr=0.05,
                  momentum=0.9, weight_decay=1e-4, batch_size=128, epochs=20, milestones=[15], gamma=0.1,
                  fraction=0.2, output_fraction=0.1, rounds=25, first_rounds=15, rewind_iteration=500, seeds=5,
                  bases=["canonical", "dct", "random"], channel_dct=True,
                  ablations=["canonical", "dct", "conv", "fc1", "fc1:in", "fc1:out"], ablation_seeds=5,
                  ablation_round=12),
}

#: Default parameters of each chapter under each profile (``None`` in a chapter means: from here).
CHAPTERS: dict[str, dict[str, dict]] = {
    "01_canonical": {
        "quick": {**LENET["quick"], "seeds": 5, "controls": ["reinit", "random_mask"]},
        "paper": {**LENET["paper"], "seeds": 5, "controls": ["reinit", "random_mask"]},
    },
    "02_bases": {
        "quick": {**LENET["quick"], "seeds": 5, "bases": ["canonical", "dct", "random"], "reinit_bases": ["canonical"],
                  "tolerance": 1.0, "adam_seeds": 3, "adam_lr": 1.2e-3, "one_sided_round": 3,
                  "equivariance_seeds": 2},
        "paper": {**LENET["paper"], "seeds": 5, "bases": ["canonical", "dct", "hadamard", "random"],
                  "reinit_bases": ["canonical", "dct", "hadamard", "random"], "tolerance": 1.0, "adam_seeds": 5,
                  "adam_lr": 1.2e-3, "one_sided_round": 12, "equivariance_seeds": 2},
    },
    # subspace_*: the random subspaces' own SGD (momentum as the tickets'), chosen on a validation split
    # carved from the training set (validation_size images, seed 0, at search_dimension): every learning
    # rate x minibatch, each trained subspace_epochs epochs (at most one ticket round's) at a constant rate,
    # the best epoch kept
    "03_subspace": {
        "quick": {**LENET["quick"], "seeds": 3, "dimensions": [300, 1000, 3000, 10000],
                  "ticket_bases": ["canonical", "random"], "threshold": 0.9, "subspace_lrs": [0.3, 1.0, 3.0],
                  "subspace_batch_sizes": [128, 512], "subspace_epochs": 5, "search_dimension": 1000,
                  "validation_size": 10000},
        "paper": {**LENET["paper"], "seeds": 5, "dimensions": [100, 300, 1000, 3000, 10000, 30000, 100000],
                  "ticket_bases": ["canonical", "random"], "threshold": 0.9,
                  "subspace_lrs": [0.1, 0.3, 1.0, 3.0], "subspace_batch_sizes": [32, 128, 512],
                  "subspace_epochs": 20, "search_dimension": 1000, "validation_size": 10000},
    },
    "04_structured": {
        "quick": {**LENET["quick"], "seeds": 3, "row_fraction": 0.4, "row_rounds": 5, "lowrank_bases": ["dct"],
                  "element_bases": ["canonical", "dct"]},
        "paper": {**LENET["paper"], "seeds": 5, "row_fraction": 0.2, "row_rounds": 12,
                  "lowrank_bases": ["dct", "hadamard", "random"], "element_bases": ["canonical", "dct"]},
    },
    "05_conv": {"quick": _CONV["quick"], "paper": _CONV["paper"]},
    "06_summary": {"quick": {}, "paper": {}},
}

#: Upper bounds of a chapter's counts: about twice the paper profile, so that a typo
#: (``-p rounds 1000000``) is refused in the chapter's first cell instead of training until
#: killed. To go further, raise one with the environment variable ``GLTH_MAX_<NAME>``
#: (``GLTH_MAX_ROUNDS=60``), read by :func:`limit`.
LIMITS = {"seeds": 20, "adam_seeds": 20, "rounds": 40, "row_rounds": 40, "epochs": 100, "ablation_seeds": 20,
          "first_rounds": 40, "ablation_round": 40}


def limit(name: str) -> int | None:
    """The upper bound of chapter parameter ``name``: ``$GLTH_MAX_<NAME>`` if set, else :data:`LIMITS`
    (None: no bound). Raises ValueError for a malformed environment variable."""
    import os

    variable = f"GLTH_MAX_{name.upper()}"
    text = os.environ.get(variable)
    if text is None:
        return LIMITS.get(name)
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"environment variable {variable} must be an integer, got {text!r}") from None
    if value < 1:
        raise ValueError(f"environment variable {variable} must be >= 1, got {value}")
    return value


#: Overrides of ``smoke=True`` (a value, or a function of the profile's value).
SMOKE = {
    "dataset": "digits",
    "seeds": lambda v: min(v, 2),
    "adam_seeds": lambda v: min(v, 2),
    "epochs": lambda v: min(v, 2),
    "milestones": lambda v: [1] if v else [],
    "rounds": lambda v: min(v, 3),
    "first_rounds": lambda v: min(v, 1),  # so that a smoke run extends the runs still inside the band
    "ablation_seeds": lambda v: min(v, 2),
    "ablation_round": lambda v: min(v, 2),
    "row_rounds": lambda v: min(v, 2),
    "rewind_iteration": lambda v: min(v, 5),
    "dimensions": lambda v: [d for d in v if 1000 <= d <= 10000] or v[:1],
    "models": lambda v: v[:1],  # the paper's Conv-4/6 at full width would take minutes even on digits
    "subspace_lrs": lambda v: v[:2],
    "subspace_batch_sizes": lambda v: v[:1],
    "subspace_epochs": lambda v: min(v, 2),
    "validation_size": lambda v: min(v, 300),  # digits has 1,797 images in all
}

#: Measured seconds per training epoch of each model on Fashion-MNIST (evaluation
#: included), one process with 2 torch threads on the 2-core CPU (AMD EPYC) this book
#: is developed on; "rotated": any non-canonical basis. LeNet-300-100 and the small CNN:
#: medians over the trained rounds of a fresh quick build on an idle machine
#: (2026-12-06: LeNet canonical 0.91 s, DCT 1.44 s, random 1.72 s; the small CNN, which
#: runs channels-last since that day, canonical 4.96 s, DCT 6.43 s, random 6.33 s);
#: "rotated" takes the costlier basis. Conv-2/4/6 at full width: from 6-8 timed steps,
#: times 469 steps, plus one evaluation (before the channels-last change). GPU: not
#: measured yet (``None``): no GPU was available when these were taken.
SECONDS_PER_EPOCH = {
    ("lenet300", "fashion_mnist", "canonical"): {"cpu": 0.91, "gpu": None},
    ("lenet300", "fashion_mnist", "rotated"): {"cpu": 1.72, "gpu": None},
    ("small_cnn", "fashion_mnist", "canonical"): {"cpu": 4.96, "gpu": None},
    ("small_cnn", "fashion_mnist", "rotated"): {"cpu": 6.43, "gpu": None},
    ("conv2", "fashion_mnist", "canonical"): {"cpu": 110.0, "gpu": None},
    ("conv2", "fashion_mnist", "rotated"): {"cpu": 108.0, "gpu": None},
    ("conv4", "fashion_mnist", "canonical"): {"cpu": 167.0, "gpu": None},
    ("conv4", "fashion_mnist", "rotated"): {"cpu": 192.0, "gpu": None},
    ("conv6", "fashion_mnist", "canonical"): {"cpu": 238.0, "gpu": None},
    ("conv6", "fashion_mnist", "rotated"): {"cpu": 254.0, "gpu": None},
}


def chapter_parameters(chapter: str, profile: str = "quick", *, smoke: bool = False, **given) -> dict:
    """The parameters of ``chapter``: ``given`` (a chapter's parameter cell), ``None`` -> the profile's value.

    Raises ValueError for an unknown chapter or profile, or a ``given`` name the
    profile does not define. Smoke overrides apply to the profile's values only, so
    ``-p smoke True -p epochs 3`` keeps 3 epochs.
    """
    if chapter not in CHAPTERS:
        raise ValueError(f"unknown chapter {chapter!r}; chapters with profiles: {sorted(CHAPTERS)}")
    if profile not in PROFILES:
        raise ValueError(f"parameter profile must be one of {list(PROFILES)}, got {profile!r}")
    defaults = copy.deepcopy(CHAPTERS[chapter][profile])
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(f"chapter {chapter} has no profile setting {unknown}; its settings are {sorted(defaults)}")
    if smoke:
        for name, override in SMOKE.items():
            if name in defaults:
                defaults[name] = override(defaults[name]) if callable(override) else override
    resolved = {name: (defaults[name] if given.get(name) is None else given[name]) for name in defaults}
    resolved["profile"], resolved["smoke"] = profile, smoke
    return resolved


def imp_base(params: dict, **overrides):
    """The :class:`~glth_core.engine.hparams.ImpHparams` of resolved ``params`` (their :data:`TRAINING_KEYS`), then ``overrides``."""
    from ..engine.hparams import ImpHparams, update

    flags = {k: params[k] for k in TRAINING_KEYS if k in params}
    milestones = flags.get("milestones", ())
    if not isinstance(milestones, (list, tuple)):
        raise TypeError(f"parameter milestones must be a list of epochs, e.g. [4], got {milestones!r}")
    flags["milestones"] = tuple(milestones)
    return update(ImpHparams(), **{**flags, **overrides})


def settings_table(chapter: str):
    """Both profiles' default settings of ``chapter`` side by side (a pandas DataFrame, one row per setting)."""
    import pandas as pd

    if chapter not in CHAPTERS:
        raise ValueError(f"unknown chapter {chapter!r}; chapters with profiles: {sorted(CHAPTERS)}")
    rows = {p: {k: (", ".join(map(str, v)) if isinstance(v, (list, tuple)) else v)
                for k, v in CHAPTERS[chapter][p].items()} for p in PROFILES}
    return pd.DataFrame(rows).rename_axis("setting")


def estimated_cost_hours(runs, device: str = "cpu") -> float | None:
    """Training time of ``runs`` (ImpHparams) in hours on ``device`` ("cpu"/"gpu"), from :data:`SECONDS_PER_EPOCH`.

    Counts ``epochs`` per trained round: rounds ``1..rounds`` of every run, and round 0 of a
    ticket once per dense network (a round 0 shared across bases,
    :mod:`glth_core.engine.shared_dense`, is trained once, canonically); ``None`` when a
    model, data set or device has no measurement.
    """
    from ..engine.shared_dense import dense_hparams, shares_dense

    total, dense_trained = 0.0, set()
    for hp in runs:
        kind = "canonical" if hp.pruning.basis == "canonical" and not hp.pruning.layer_bases else "rotated"
        per_epoch = {k: SECONDS_PER_EPOCH.get((hp.model.name, hp.dataset.name, k), {}).get(device)
                     for k in ("canonical", kind)}
        if None in per_epoch.values():
            return None
        total += hp.pruning.rounds * hp.training.epochs * per_epoch[kind]
        if hp.pruning.control != "ticket":
            continue
        if not shares_dense(hp):
            total += hp.training.epochs * per_epoch[kind]
        elif dense_hparams(hp) not in dense_trained:
            dense_trained.add(dense_hparams(hp))
            total += hp.training.epochs * per_epoch["canonical"]
    return total / 3600
