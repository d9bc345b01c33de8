r"""Rounds until uncensored: extend only the IMP runs that are still inside the accuracy band.

A ticket run whose accuracy never leaves the band (within ``tolerance`` of a dense reference)
is *censored*: its compression at equal accuracy is only a lower bound
(:func:`glth_core.analysis.stats.compression`). Instead of pruning every run for many rounds,
:func:`sweep_until_out_of_band` sweeps every run for a first number of rounds, then, one round
at a time, extends only the runs that are still inside the band, until every run has left it or
has reached its maximum number of rounds (the run's own ``rounds``).

Runs that differ only in ``rounds`` share their results folder (``rounds`` is not part of the
run key, :mod:`glth_core.engine.run_identity`), so extending a run continues it: each extension
trains one round per open run, and a rerun reads everything from the cache. The set of rounds a
run gets depends only on its results (the accuracy of its rounds and of the reference), so the
same parameters give the same table.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import pandas as pd

__all__ = ["with_rounds", "sweep_until_out_of_band", "rounds_reached", "complete_rounds"]


def with_rounds(hparams, rounds: int):
    """``hparams`` (an :class:`~glth_core.engine.hparams.ImpHparams`) with ``pruning.rounds = rounds``."""
    return dataclasses.replace(hparams, pruning=dataclasses.replace(hparams.pruning, rounds=rounds))


def sweep_until_out_of_band(runs: Sequence, sweep: Callable[[list], pd.DataFrame], *, first: int,
                            in_band: Callable[[pd.DataFrame], set]) -> pd.DataFrame:
    """Sweep ``runs`` for ``first`` rounds, then extend the runs ``in_band`` one round at a time.

    Args:
        runs: ticket runs (``ImpHparams``); each one's ``pruning.rounds`` is its *maximum*.
        sweep: ``sweep(list of ImpHparams) -> table`` (one row per run and round, a ``run_id``
            column equal to :func:`glth_core.engine.hparams.run_key`), e.g. a chapter's sweep.
        first: rounds of the first sweep (``>= 1``; a run's maximum caps it).
        in_band: ``in_band(table) -> run_ids`` still inside the band at their last round (the
            table holds every run, each up to the rounds it has); called after every sweep.

    Returns:
        The table of every run, each with the rounds ``0..r`` it reached: ``r`` is the first round
        outside the band, or the run's maximum. Rows are in the order of ``runs``, then round.

    Raises:
        ValueError: ``first < 1``, or two runs with the same run key and different maxima.
    """
    from ..engine.hparams import run_key

    if isinstance(first, bool) or not isinstance(first, int) or first < 1:
        raise ValueError(f"first must be an int >= 1 (rounds of the first sweep), got {first!r}")
    maximum, order = {}, {}
    for hp in runs:
        key = run_key("imp", hp)
        if maximum.setdefault(key, hp) is not hp and maximum[key].pruning.rounds != hp.pruning.rounds:
            raise ValueError(f"run {key} is given twice with different maximum rounds")
        order.setdefault(key, len(order))
    reached = {key: min(first, hp.pruning.rounds) for key, hp in maximum.items()}
    table = sweep([with_rounds(hp, reached[key]) for key, hp in maximum.items()])
    while True:
        open_runs = sorted(k for k in set(in_band(table)) if k in reached and reached[k] < maximum[k].pruning.rounds)
        if not open_runs:
            break
        for key in open_runs:
            reached[key] += 1
        extended = sweep([with_rounds(maximum[key], reached[key]) for key in open_runs])
        table = pd.concat([table[~table["run_id"].isin(open_runs)], extended], ignore_index=True)
    rank = table["run_id"].map(order)
    return table.assign(_rank=rank).sort_values(["_rank", "round"], kind="stable").drop(columns="_rank") \
        .reset_index(drop=True)


def rounds_reached(table: pd.DataFrame, by: Sequence[str], maximum: int, still_in_band: set) -> pd.DataFrame:
    """Per group of ``by``: runs, the fewest and most rounds reached, and the runs censored at ``maximum``.

    Args:
        table: the table of :func:`sweep_until_out_of_band` (``run_id``, ``round`` and ``by``).
        by: the columns of a configuration (e.g. ``["model", "variant"]``).
        maximum: the maximum number of rounds.
        still_in_band: run_ids inside the band at their last round.

    Returns:
        One row per group: ``runs``, ``fewest rounds``, ``most rounds``, ``censored at max``
        (runs that reached ``maximum`` still inside the band).
    """
    last = table.groupby([*by, "run_id"], sort=False)["round"].max().reset_index()
    last["censored"] = last["run_id"].isin(still_in_band) & (last["round"] >= maximum)
    return (last.groupby(list(by), sort=False)
            .agg(runs=("run_id", "size"), **{"fewest rounds": ("round", "min"), "most rounds": ("round", "max"),
                                             "censored at max": ("censored", "sum")})
            .reset_index())


def complete_rounds(table: pd.DataFrame, arm: str, arms: Sequence, unit: str = "seed") -> list[int]:
    """The rounds at which every arm of ``arms`` has a row for every ``unit`` (seed) of the table.

    Paired round-by-round comparisons use only these rounds, so that no comparison mixes seeds.
    """
    part = table[table[arm].isin(list(arms))]
    units = set(part[unit])
    have = part.groupby(["round", arm])[unit].agg(lambda s: set(s) >= units).unstack(arm)
    have = have.reindex(columns=list(arms)).fillna(False).astype(bool)
    return sorted(int(r) for r, ok in have.all(axis=1).items() if ok)
