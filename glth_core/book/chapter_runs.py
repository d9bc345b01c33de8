r"""What each chapter checks and runs, declared next to the profiles (:mod:`glth_core.book.profiles`).

:data:`SPECS` maps a chapter to its :class:`ChapterSpec`:

* ``integers``: count parameters and their minimum (their maximum is the chapter
  limit, :func:`glth_core.book.profiles.limit`);
* ``rules``: checks of the resolved parameters, each a function ``rule(params)``
  that raises ValueError/TypeError naming the parameter; the training settings go
  through the engine's own :func:`glth_core.engine.hparams.validate`
  (:func:`engine`), never through a second copy of its bounds;
* ``runs``: the chapter's *named run groups*, ``group -> function(params) -> list of
  ImpHparams/SubspaceHparams`` (what ``Chapter.runs(group)`` and ``Chapter.sweep(group)``
  run and what the cost estimate counts);
* ``extras``: parameters of the chapter that no profile sets (kept as the chapter declares them);
* ``trains``: False for a chapter that only reads results (06);
* ``verdicts``: False for a chapter that records no verdicts for the summary;
* ``restricted_defaults``: a list parameter whose profile default is cut to the values
  chosen in another parameter when it is left at its default.

A chapter's helper adds its own groups here (``SPECS["05_conv"].runs["tickets"] = ...``),
or declares its spec in full.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Mapping

from . import bases_ablation, bases_study, structured_study
from .conv_ablations import ABLATIONS
from ..core.bases import FIXED_BASES, ROTATED_BASES
from .chapter_checks import check_hparams, require_bool, require_fraction, require_names, require_nonnegative
from ..engine.hparams import CONTROLS, OPTIMIZERS, SubspaceHparams, update
from .profiles import imp_base
from ..runs.sweep import grid

__all__ = ["ChapterSpec", "SPECS", "SHORT_SCHEDULE", "engine", "one_of", "fractions", "names", "includes",
           "nonnegative", "verdict_chapters"]

Rule = Callable[[dict], None]


@dataclasses.dataclass(frozen=True)
class ChapterSpec:
    """What a chapter checks and runs (see the module docstring)."""

    integers: Mapping[str, int] = dataclasses.field(default_factory=dict)
    rules: tuple = ()
    runs: dict = dataclasses.field(default_factory=dict)
    extras: tuple = ()
    trains: bool = True
    models: tuple | None = None  # the models a chapter allows (None: every registered one)
    verdicts: bool = True  # records verdicts for the summary (06 lists the chapters that did not)
    #: a list parameter left at its default -> the parameter whose chosen values restrict that default
    #: (02: the profile's ``reinit_bases`` that are among the chosen ``bases``); an explicit value is
    #: checked by the rules as given
    restricted_defaults: Mapping[str, str] = dataclasses.field(default_factory=dict)


def verdict_chapters() -> list[str]:
    """The chapters whose verdicts the summary expects (``verdicts=True``), in book order."""
    return sorted(name for name, spec in SPECS.items() if spec.verdicts)


# ----------------------------------------------------------------------------------------------- rules


def one_of(name: str, allowed) -> Rule:
    """Parameter ``name`` must be one of ``allowed``."""
    def rule(p):
        if p[name] not in allowed:
            raise ValueError(f"parameter {name} must be one of {list(allowed)}, got {p[name]!r}")
    return rule


def fractions(*parameter_names: str) -> Rule:
    """Each parameter must be a number in (0, 1)."""
    def rule(p):
        for name in parameter_names:
            require_fraction(name, p[name])
    return rule


def names(name: str, allowed, *, allow_empty: bool = False) -> Rule:
    """Parameter ``name`` must be a list of distinct names from ``allowed`` (a sequence, or a function of the
    parameters, e.g. the bases already chosen)."""
    def rule(p):
        require_names(name, p[name], allowed(p) if callable(allowed) else allowed, allow_empty=allow_empty)
    return rule


def includes(name: str, required: str, why: str, *, at_least: int = 1) -> Rule:
    """The list parameter ``name`` must contain ``required`` and have ``at_least`` entries; ``why`` says why."""
    def rule(p):
        if required not in p[name] or len(p[name]) < at_least:
            more = f" and at least {at_least - 1} other" if at_least > 1 else ""
            raise ValueError(f"parameter {name} must include {required!r} ({why}){more}, got {p[name]!r}")
    return rule


def nonnegative(name: str, unit: str = "") -> Rule:
    """Parameter ``name`` must be a finite number >= 0."""
    return lambda p: require_nonnegative(name, p[name], unit=unit)


def engine(overrides: Callable[[dict], dict] | None = None, **renamed: str) -> Rule:
    """The engine's own bounds (:func:`glth_core.engine.hparams.validate`) on the chapter's base run.

    ``overrides(params)``: flags changed for the checked run (e.g. the Adam runs of chapter 02);
    ``renamed``: engine name -> the chapter parameter that sets it, named in the message.
    """
    return lambda p: check_hparams(imp_base(p, **(overrides(p) if overrides else {})), **renamed)


# ----------------------------------------------------------------------------------------- chapter 01

#: The short schedule of earlier builds (2 epochs of plain SGD), compared with the profile's in chapter 01.
SHORT_SCHEDULE = dict(optimizer="sgd", lr=0.1, momentum=0.0, weight_decay=0.0, epochs=2, milestones=(), gamma=0.1)


def _seeds(p) -> list[int]:
    return list(range(p["seeds"]))


CANONICAL = ChapterSpec(
    integers={"seeds": 2, "rounds": 1, "epochs": 1, "batch_size": 1, "rewind_iteration": 0},
    rules=(one_of("optimizer", OPTIMIZERS), fractions("fraction", "output_fraction"),
           names("controls", [c for c in CONTROLS if c != "ticket"], allow_empty=True), engine()),
    runs={
        "tickets": lambda p: grid(imp_base(p, basis="canonical"), seed=_seeds(p), control=["ticket", *p["controls"]]),
        "short": lambda p: grid(update(imp_base(p, basis="canonical"), rounds=0, **SHORT_SCHEDULE), seed=_seeds(p)),
    },
)

# ------------------------------------------------------------------------------------- chapters 02-05


def _dimensions(p) -> None:
    grid_ = p["dimensions"]
    if (not isinstance(grid_, (list, tuple)) or not grid_ or len(set(grid_)) != len(grid_)
            or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in grid_)):
        raise ValueError(f"parameter dimensions must be a non-empty list of distinct integers >= 1, got {grid_!r}")
    p["dimensions"] = sorted(grid_)


def _threshold(p) -> None:
    value = p["threshold"]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise ValueError(f"parameter threshold must be a number in (0, 1], got {value!r}")


def _subspace_runs_valid(p) -> None:
    check_hparams(*(update(SubspaceHparams(), dimension=d, batch_size=b, model=p["model"], dataset=p["dataset"],
                           epochs=p["epochs"]) for d in p["dimensions"] for b in p["subspace_batch_sizes"]),
                  batch_size="subspace_batch_sizes", dimension="dimensions")


def _positive_list(name: str, integers: bool = False) -> Rule:
    """Parameter ``name`` must be a non-empty list of distinct positive numbers (``integers``: integers)."""
    def rule(p):
        values = p[name]
        if (not isinstance(values, (list, tuple)) or not values or len(set(values)) != len(values)
                or any(isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0 for v in values)
                or (integers and any(not isinstance(v, int) for v in values))):
            raise ValueError(f"parameter {name} must be a non-empty list of distinct positive "
                             f"{'integers' if integers else 'numbers'}, got {values!r}")
    return rule


def _conv_tickets(p) -> list:
    from .conv_analysis import chapter_runs

    return list(chapter_runs(p))


def _conv_ablations(p) -> list:
    from .conv_ablations import ablation_runs

    return list(ablation_runs(p)) if p["ablation_seeds"] else []


def _ablation_round(p) -> None:
    from ..engine.validation import max_rounds

    limit = max_rounds(p["fraction"])
    if p["ablation_seeds"] and p["ablations"] and p["ablation_round"] > limit:
        raise ValueError(f"parameter ablation_round must be at most {limit} at parameter fraction {p['fraction']}: "
                         f"the one-shot ablations prune to the density of that iterative round, and after {limit} "
                         "rounds it is below the engine's smallest density")


def _fully_connected(p) -> None:
    if not p["model"].startswith("lenet"):
        raise ValueError(f"parameter model must be a fully connected LeNet (low-rank export), got {p['model']!r}")


def _channel_dct(p) -> None:
    require_bool("channel_dct", p["channel_dct"])
    if p["channel_dct"] and "dct" not in p["bases"]:
        raise ValueError("parameter channel_dct=True applies to the 'dct' basis only; add 'dct' to bases or drop it")


def _at_most_seeds(name: str) -> Rule:
    """Parameter ``name`` counts seeds paired with the chapter's: it must not exceed ``seeds``."""
    def rule(p):
        if p[name] > p["seeds"]:
            raise ValueError(f"parameter {name} must be at most seeds ({p['seeds']}): its runs are paired with "
                             f"the seeds' canonical tickets, got {p[name]}")
    return rule


def _one_sided_density(p) -> None:
    """The one-sided ablation prunes once to round ``one_sided_round``'s density: it must leave coefficients."""
    if any(f >= 1 for f in bases_ablation.one_shot_fractions(p)):
        raise ValueError(f"parameter one_sided_round is too large: pruning once to the density of iterative round "
                         f"{p['one_sided_round']} leaves no coefficient at fraction {p['fraction']}; choose a "
                         "smaller round")
    check_hparams(*bases_study.RUN_GROUPS["one_sided"]({**p, "seeds": 1}))


CONV_MODELS = ("small_cnn", "conv2", "conv4", "conv6")

SPECS: dict[str, ChapterSpec] = {
    "01_canonical": CANONICAL,
    "02_bases": ChapterSpec(
        integers={"seeds": 2, "rounds": 1, "epochs": 1, "adam_seeds": 2, "one_sided_round": 1,
                  "equivariance_seeds": 2},
        rules=(fractions("fraction", "output_fraction"), names("bases", FIXED_BASES),
               _at_most_seeds("equivariance_seeds"),
               includes("bases", "canonical", "claim 3 compares every basis with it", at_least=2),
               names("reinit_bases", lambda p: p["bases"], allow_empty=True),
               nonnegative("tolerance", "percentage points"), nonnegative("adam_lr"), engine(),
               engine(lambda p: dict(rounds=0, optimizer="adam", lr=p["adam_lr"]), lr="adam_lr"),
               _one_sided_density),
        runs=bases_study.RUN_GROUPS, restricted_defaults={"reinit_bases": "bases"}),
    "03_subspace": ChapterSpec(  # runs: the search, then runs with the setting it chose (subspace_analysis)
        integers={"seeds": 2, "epochs": 1, "rounds": 1, "subspace_epochs": 1, "search_dimension": 1,
                  "validation_size": 1},
        rules=(_positive_list("subspace_lrs"), _positive_list("subspace_batch_sizes", integers=True),
               names("ticket_bases", FIXED_BASES),
               includes("ticket_bases", "canonical", "its round 0 is the dense reference"), _dimensions, _threshold,
               engine(), _subspace_runs_valid)),
    "04_structured": ChapterSpec(
        integers={"seeds": 2, "row_rounds": 1, "epochs": 1, "rounds": 1},
        rules=(_fully_connected, fractions("row_fraction"), names("lowrank_bases", ROTATED_BASES),
               names("element_bases", FIXED_BASES),
               includes("element_bases", "canonical", "its tickets are the reference, and their round 0 is the "
                        "trained dense network that the SVD baseline truncates"), engine(),
               engine(lambda p: dict(granularity="row", fraction=p["row_fraction"], rounds=p["row_rounds"],
                                     output_fraction=0.0), fraction="row_fraction", rounds="row_rounds")),
        runs={"tickets": structured_study.chapter_runs}),
    "05_conv": ChapterSpec(
        integers={"seeds": 2, "rounds": 1, "first_rounds": 1, "epochs": 1, "rewind_iteration": 0,
                  "ablation_seeds": 0, "ablation_round": 1}, models=CONV_MODELS,
        rules=(names("bases", FIXED_BASES), _channel_dct, names("ablations", list(ABLATIONS), allow_empty=True),
               lambda p: check_hparams(*(imp_base(p, model=m) for m in p["models"])), _ablation_round,
               lambda p: check_hparams(*_conv_ablations(p)[:1], fraction="fraction", rounds="ablation_round")),
        runs={"tickets": _conv_tickets, "ablations": _conv_ablations}),
    "06_summary": ChapterSpec(trains=False, verdicts=False),
}
