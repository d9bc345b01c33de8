r"""Why claim 3 differs between networks: candidate mechanisms measured on the chapters' finished tickets.

The summary (chapter 06) trains nothing. It reads the finished ticket runs of the chapters that
test claim 3 (:data:`CHAPTERS`: 02, LeNet-300-100; 05, the small CNN) from the results folder,
through their declared run groups (``SPECS[chapter].runs[group](params)``, with the parameters
resolved as :class:`glth_core.book.chapter.Chapter` resolves them for the same profile and smoke
flag: :func:`chapter_ticket_runs`), so a group that a chapter adds is picked up without a change here.

**Configurations and pairs.** Every ticket run (``control == "ticket"``, at least one pruned round)
belongs to a *configuration*: its hyperparameters without the seed (model, data, training, basis,
per-layer bases, one-shot or iterative, fractions, ...). A configuration is *canonical* when its
basis is canonical and it has no per-layer bases; every other configuration is paired with the
canonical configuration that differs from it only in the basis fields (:data:`BASIS_FIELDS`), seed
by seed (:func:`pair_runs`). A configuration without such a partner, or a run missing from the
results folder, is left out with a note naming the chapter to run.

**One density for all.** Every run is measured at the density of round ``min(3, rounds)`` of its
chapter's profile, ``d* = (1 - fraction)^min(3, rounds)`` (:func:`target_density`; 6.4% in the quick
profile, where both chapters prune 60% per round): in an iterative run that round; in a one-shot
run the round ``r`` with ``(1 - fraction_run)^r = d*`` (round 1 of a run pruned once to ``d*``). A
run with no round at ``d*`` is left out with a note. The density is fixed before any number is read.

**Measurements** (:func:`glth_core.analysis.mechanisms.ticket_measurements`, cached per run and round
in ``<results>/mechanisms/``): the ticket (round ``r``), the dense trained network (round 0) and the
network at its rewind point (round 0's ``rewind`` state; mask overlap between rounds is not a candidate:
IMP's masks are nested, so it is their density ratio, the same in every basis), each layer's values weighted by its share
of the prunable weights (:func:`glth_core.analysis.mechanisms.layer_weighted`). The candidates
(:data:`CANDIDATES`) are oriented so that a positive difference is the one its explanation expects
to help (more compaction, more connected units, ...); the *effect* is the ticket's test accuracy
minus the paired canonical ticket's, in percentage points, and each candidate enters as its value
minus the canonical ticket's.
"""
from __future__ import annotations

import copy
import dataclasses
from typing import Iterable, Mapping, Sequence

import pandas as pd
from tqdm.auto import tqdm

from ..analysis import mechanisms
from ..core import pruning
from ..core.bases import basis_label
from ..data.registry import REGISTRY as DATASETS
from ..engine import lottery
from ..engine.hparams import ImpHparams, PruningHparams
from ..engine.run_identity import identity, run_key
from ..storage.store import RunStore, atomic_write_csv, default_results_dir
from .labels import model_label

__all__ = ["CHAPTERS", "TARGET_ROUND", "BASIS_FIELDS", "CANDIDATES", "chapter_ticket_runs", "target_density",
           "round_at_density", "configuration_label", "pair_runs", "run_measurements", "network_values",
           "mechanism_points", "by_configuration", "prediction_table"]

#: The chapters whose ticket runs test claim 3, in book order.
CHAPTERS = ("02_bases", "05_conv")
#: The iterative round whose density every run is measured at (fixed in advance).
TARGET_ROUND = 3
#: Fields of :class:`~glth_core.engine.hparams.PruningHparams` that choose a basis; a configuration and its
#: canonical partner differ only in these (those that the engine does not have are ignored).
BASIS_FIELDS = ("basis", "layer_bases", "channel_dct", "basis_seed", "image_aware", "share_dense")
#: Candidate column -> its name in tables and sentences (oriented: positive is what the explanation expects to help).
CANDIDATES = {
    "energy_init": "energy compaction at initialisation",
    "energy_dense": "energy compaction after training",
    "connected_outputs": "connected output units (canonical)",
    "connected_inputs": "connected inputs (canonical)",
    "effective_rank_fraction": "effective rank (fraction of full)",
    "overlap_init_magnitude": "mask overlap with the largest initial coefficients",
    "distance": "distance travelled from the rewind point",
}
_MEASURED = ["energy_init", "energy_dense", "dead_outputs", "dead_inputs", "effective_rank_fraction",
             "overlap_init_magnitude", "distance"]
_CACHE_VERSION = 2


def chapter_ticket_runs(chapter: str, profile: str, smoke: bool) -> tuple[dict, dict[str, list], list[str]]:
    """The ticket runs of every declared group of ``chapter``, with the parameters a chapter run would resolve.

    Args:
        chapter: a key of :data:`glth_core.book.chapter_runs.SPECS`.
        profile, smoke: as the chapter was run.

    Returns:
        ``(params, {group: [ImpHparams, ...]}, notes)``: the resolved parameters; per group its ticket
        runs with at least one pruned round (controls and dense-only runs left out); a note per group
        that cannot be built without the chapter's own notebook (it needs a parameter no profile sets).
    """
    from .chapter_runs import SPECS
    from .profiles import chapter_parameters

    spec = SPECS[chapter]
    params = chapter_parameters(chapter, profile, smoke=smoke)
    for param, chosen in spec.restricted_defaults.items():  # as Chapter does for a parameter left at its default
        if isinstance(params.get(param), list):
            params[param] = [v for v in params[param] if v in params[chosen]]
    groups, notes = {}, []
    for group, make in spec.runs.items():
        try:
            runs = list(make(params))
        except KeyError as err:
            notes.append(f"chapter {chapter}, group {group!r}: needs parameter {err} that no profile sets; skipped")
            continue
        groups[group] = [hp for hp in runs if isinstance(hp, ImpHparams) and hp.pruning.control == "ticket"
                         and hp.pruning.rounds > 0]
    return params, groups, notes


def target_density(params: Mapping) -> float:
    """The density every run of a chapter is measured at (see the module docstring).

    Args:
        params: the chapter's resolved parameters (``fraction``, ``rounds``).

    Returns:
        ``(1 - fraction)^min(TARGET_ROUND, rounds)``.
    """
    return (1 - params["fraction"]) ** min(TARGET_ROUND, params["rounds"])


def round_at_density(hp: ImpHparams, density: float, rtol: float = 1e-3) -> int | None:
    """The round of run ``hp`` whose nominal density is ``density``.

    The nominal density of round ``r`` is ``(1 - fraction)^r`` for iterative pruning (``fraction`` of
    what remains, ``r`` times) and for one-shot pruning (once, to ``(1 - fraction)^r``) alike, so an
    iterative run is measured at its round 3 and a run pruned once to the same density at its round 1.

    Args:
        hp: a ticket run.
        density: the target density (:func:`target_density`).
        rtol: relative tolerance of the match.

    Returns:
        The round ``r`` in ``1..rounds``, or None when no round has that density.
    """
    keep = 1 - hp.pruning.fraction
    for r in range(1, hp.pruning.rounds + 1):
        if abs(keep ** r - density) <= rtol * density:
            return r
    return None


def _with_pruning(hp: ImpHparams, **fields) -> ImpHparams:
    known = {f.name for f in dataclasses.fields(PruningHparams)}
    return dataclasses.replace(hp, pruning=dataclasses.replace(hp.pruning, **{k: v for k, v in fields.items()
                                                                             if k in known}))


def _configuration(hp: ImpHparams) -> ImpHparams:
    """``hp`` without its seed and number of rounds (neither changes what a round computes)."""
    return dataclasses.replace(_with_pruning(hp, rounds=0), seed=0)


def _basis_free(hp: ImpHparams) -> ImpHparams:
    defaults = {f.name: f.default for f in dataclasses.fields(PruningHparams) if f.name in BASIS_FIELDS}
    return _configuration(_with_pruning(hp, **defaults))


def _is_canonical(hp: ImpHparams) -> bool:
    return hp.pruning.basis == "canonical" and not hp.pruning.layer_bases


def configuration_label(hp: ImpHparams) -> str:
    """The configuration's basis choice for a reader.

    Args:
        hp: a ticket run.

    Returns:
        ``"DCT"``, ``"conv*=dct, one-shot"``, ``"DCT (channels)"``, ...: the basis label, the per-layer
        bases, the DCT over channels and one-shot pruning when set.
    """
    p = hp.pruning
    label = basis_label(p.basis)
    if p.layer_bases:
        label = p.layer_bases if p.basis == "canonical" else f"{label}, {p.layer_bases}"
    if getattr(p, "channel_dct", False):
        label += " (channels)"
    return label + (", one-shot" if p.one_shot else "")


def pair_runs(runs: Iterable[ImpHparams]) -> tuple[list[tuple[ImpHparams, ImpHparams]], list[str]]:
    """``[(run, its canonical partner)]`` for every non-canonical run, paired on the seed.

    Args:
        runs: ticket runs (duplicates are dropped).

    Returns:
        ``(pairs, notes)``; a note for each non-canonical configuration that has no canonical
        configuration differing from it only in :data:`BASIS_FIELDS`, or lacks some of its seeds.
    """
    unique = list(dict.fromkeys(runs))
    canonical = {(_basis_free(hp), hp.seed): hp for hp in unique if _is_canonical(hp)}
    pairs, missing = [], {}
    for hp in unique:
        if _is_canonical(hp):
            continue
        partner = canonical.get((_basis_free(hp), hp.seed))
        if partner is None:
            missing.setdefault(_configuration(hp), []).append(hp.seed)
        else:
            pairs.append((hp, partner))
    notes = [f"{model_label(c.model.name)}, {configuration_label(c)}: no canonical run with the same settings for "
             f"seed(s) {sorted(seeds)}; left out" for c, seeds in missing.items()]
    return pairs, notes


def _finished(hp: ImpHparams, round_index: int, results_dir) -> bool:
    folder = default_results_dir(results_dir) / run_key("imp", hp)
    return folder.is_dir() and RunStore(results_dir, run_key("imp", hp), identity("imp", hp)).has_round(round_index)


def run_measurements(hp: ImpHparams, round_index: int, results_dir=None) -> pd.DataFrame:
    """:func:`~glth_core.analysis.mechanisms.ticket_measurements` of round ``round_index`` of a finished run,
    with its ``test_accuracy``; cached in ``<results>/mechanisms/`` (computed once per run and round).

    Args:
        hp: a finished ticket run.
        round_index: the round measured.
        results_dir: the results folder (default: the engine's).

    Returns:
        One row per layer (:data:`glth_core.analysis.mechanisms.MEASUREMENT_COLUMNS`, ``test_accuracy``).

    Raises:
        KeyError: the round, or round 0, is not finished (run the chapter first).
    """
    key = run_key("imp", hp)
    cache = default_results_dir(results_dir) / "mechanisms" / f"{key}-round{round_index}-v{_CACHE_VERSION}.csv"
    if cache.is_file():
        return pd.read_csv(cache)
    store = RunStore(results_dir, key, identity("imp", hp))
    row, start = store.load_round(round_index), store.load_round(0)
    if row is None or start is None:
        raise KeyError(f"run {key}: round {round_index} or round 0 is not finished")
    spec = DATASETS[hp.dataset.name]  # the shapes, without loading the data
    initial = lottery.generalized_model(hp, spec.input_shape, spec.num_classes)
    ticket, dense = copy.deepcopy(initial), copy.deepcopy(initial)  # building a basis costs more than a copy
    for model, checkpoint in ((ticket, row), (dense, start)):  # as lottery.round_model loads a round
        model.load_state_dict(checkpoint["state"])
        pruning.set_masks(model, checkpoint["masks"])
    if "rewind" in start:
        pruning.rewind(initial, start["rewind"])
    elif hp.pruning.rewind_iteration:
        raise KeyError(f"run {key}: round 0 holds no rewind state for rewind iteration {hp.pruning.rewind_iteration}")
    table = mechanisms.ticket_measurements(ticket.eval(), initial=initial.eval(), dense=dense.eval())
    table = table.assign(test_accuracy=float(row["row"]["test_accuracy"]))
    cache.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_csv(table, cache)
    return table


def network_values(layers: pd.DataFrame) -> pd.Series:
    """One run's values from its layer table.

    Args:
        layers: :func:`run_measurements` of the run.

    Returns:
        A Series: every :data:`CANDIDATES` column (layer-weighted; connected = 1 - dead) and ``test_accuracy``.
    """
    values = mechanisms.layer_weighted(layers, _MEASURED)
    values["connected_outputs"], values["connected_inputs"] = 1 - values.dead_outputs, 1 - values.dead_inputs
    return pd.concat([values[list(CANDIDATES)], pd.Series({"test_accuracy": float(layers.test_accuracy.iloc[0])})])


def mechanism_points(profile: str, smoke: bool, results_dir=None, *, chapters: Sequence[str] = CHAPTERS,
                     measure=run_measurements, progress: bool = False) -> tuple[pd.DataFrame, list[str]]:
    """One row per paired configuration and seed: the effect (pp) and each candidate's difference.

    Args:
        profile, smoke: the build whose runs are read (as the chapters were run).
        results_dir: the results folder the chapters wrote.
        chapters: the chapters whose ticket runs are read.
        measure: ``measure(hp, round_index, results_dir)`` -> a layer table (:func:`run_measurements`).
        progress: a tqdm bar over the runs measured (about a second per LeNet-300-100 run the first time,
            then read from the cache).

    Returns:
        ``(points, notes)``: columns ``chapter, model`` (label), ``model_name, configuration, one_shot, seed, density, effect`` and
        one per :data:`CANDIDATES` (configuration minus its canonical partner, same seed); ``notes``: what
        was left out and why, each naming the chapter to run.
    """
    rows, notes = [], []
    for chapter in chapters:
        params, groups, group_notes = chapter_ticket_runs(chapter, profile, smoke)
        notes += group_notes
        density = target_density(params)
        at = {}
        for group, runs in groups.items():
            absent = 0
            for hp in runs:
                r = round_at_density(hp, density)
                if r is None:
                    notes.append(f"chapter {chapter}, group {group!r}: {configuration_label(hp)} has no round at "
                                 f"{100 * density:.3g}% density; left out")
                elif _finished(hp, r, results_dir) and _finished(hp, 0, results_dir):
                    at[hp] = (r, chapter)
                else:
                    absent += 1
            if absent:
                notes.append(f"chapter {chapter}, group {group!r}: {absent} of {len(runs)} runs are not in the results "
                             f"folder; run chapter {chapter} (profile {profile}{', smoke' if smoke else ''}) first")
        pairs, pair_notes = pair_runs(at)
        notes += [f"chapter {chapter}: {n}" for n in pair_notes]
        values = {}
        measured = list(dict.fromkeys(h for pair in pairs for h in pair))
        for hp in tqdm(measured, desc=f"measuring {chapter}", disable=not progress):
            values[hp] = network_values(measure(hp, at[hp][0], results_dir))
        for hp, partner in pairs:
            difference = values[hp] - values[partner]
            rows.append({"chapter": chapter, "model": model_label(hp.model.name), "model_name": hp.model.name,
                         "configuration": configuration_label(hp), "one_shot": hp.pruning.one_shot, "seed": hp.seed,
                         "density": density, "effect": 100 * difference.test_accuracy,
                         **{c: difference[c] for c in CANDIDATES}})
    columns = ["chapter", "model", "model_name", "configuration", "one_shot", "seed", "density", "effect", *CANDIDATES]
    return pd.DataFrame(rows, columns=columns), list(dict.fromkeys(notes))


def by_configuration(points: pd.DataFrame) -> pd.DataFrame:
    """The points averaged over seeds.

    Args:
        points: :func:`mechanism_points`.

    Returns:
        One row per (chapter, model, configuration): the mean effect and candidates, and ``seeds``.
    """
    keys = ["chapter", "model", "model_name", "configuration"]
    means = points.groupby(keys, sort=False)[["effect", *CANDIDATES]].mean()
    return means.assign(seeds=points.groupby(keys, sort=False).seed.nunique()).reset_index()


def prediction_table(points: pd.DataFrame) -> pd.DataFrame:
    """:func:`~glth_core.analysis.mechanisms.predictive_power` of every candidate at two levels.

    ``level="configuration"``: one point per configuration (seed means), the unit the question is
    about (n = configurations); ``level="configuration x seed"``: one point per run pair, a larger n
    whose points are not independent (the seeds of a configuration share it), so its intervals are too
    narrow; shown as a check, never read alone.

    Args:
        points: :func:`mechanism_points`.

    Returns:
        :data:`glth_core.analysis.mechanisms.PREDICTION_COLUMNS` and ``level``, one row per candidate and level.
    """
    parts = [mechanisms.predictive_power(by_configuration(points), "effect", list(CANDIDATES))
             .assign(level="configuration"),
             mechanisms.predictive_power(points, "effect", list(CANDIDATES)).assign(level="configuration x seed")]
    return pd.concat(parts, ignore_index=True)
