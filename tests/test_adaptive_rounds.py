"""Rounds until uncensored (glth_core.book.adaptive_rounds), with a fake sweep: only the runs still inside the band
are extended, one round at a time, up to their maximum; the result depends only on the accuracies."""
from __future__ import annotations

import pandas as pd
import pytest

from glth_core.book.adaptive_rounds import complete_rounds, rounds_reached, sweep_until_out_of_band, with_rounds
from glth_core.engine.hparams import ImpHparams, run_key, update

THRESHOLD = 0.89
#: seed -> the round at which its accuracy first drops below THRESHOLD (None: never).
LEAVES_AT = {0: 2, 1: 4, 2: None, 3: 3}
MAXIMUM = 5


def accuracy(seed: int, r: int) -> float:
    leaves = LEAVES_AT[seed]
    return 0.80 if leaves is not None and r >= leaves else 0.90 - 0.001 * r


class FakeSweep:
    """Records each call's runs and rounds; returns rounds 0..rounds of each run, as the engine's sweep does."""

    def __init__(self):
        self.calls = []

    def __call__(self, runs):
        self.calls.append(sorted((hp.seed, hp.pruning.rounds) for hp in runs))
        return pd.DataFrame([{"run_id": run_key("imp", hp), "seed": hp.seed, "round": r,
                              "test_accuracy": accuracy(hp.seed, r)}
                             for hp in runs for r in range(hp.pruning.rounds + 1)])


def in_band(table):
    """Run ids whose every round is inside the band (the band was never left)."""
    inside = table.groupby("run_id")["test_accuracy"].min() >= THRESHOLD
    return set(inside[inside].index)


RUNS = [update(ImpHparams(), seed=s, rounds=MAXIMUM) for s in LEAVES_AT]


def test_only_runs_inside_the_band_are_extended_up_to_the_maximum():
    sweep = FakeSweep()
    table = sweep_until_out_of_band(RUNS, sweep, first=3, in_band=in_band)
    last = table.groupby("seed")["round"].max().to_dict()
    # seed 0 left at round 2 and seed 3 at round 3 (inside the first sweep): not extended; seed 1 extended until it
    # left at 4; seed 2 never leaves: extended to the maximum, where it stays censored
    assert last == {0: 3, 1: 4, 2: 5, 3: 3}
    assert sweep.calls == [[(0, 3), (1, 3), (2, 3), (3, 3)], [(1, 4), (2, 4)], [(2, 5)]]
    assert in_band(table) == {run_key("imp", RUNS[2])}
    assert table.groupby("seed").size().to_dict() == {0: 4, 1: 5, 2: 6, 3: 4}  # rounds 0..r, each once
    assert list(table["seed"].drop_duplicates()) == [0, 1, 2, 3]  # in the order of the runs


def test_the_same_results_give_the_same_table():
    first = sweep_until_out_of_band(RUNS, FakeSweep(), first=3, in_band=in_band)
    again = sweep_until_out_of_band(list(reversed(RUNS)), FakeSweep(), first=3, in_band=in_band)
    pd.testing.assert_frame_equal(first.sort_values(["seed", "round"]).reset_index(drop=True),
                                  again.sort_values(["seed", "round"]).reset_index(drop=True))


def test_first_is_capped_by_the_maximum_and_checked():
    short = [with_rounds(hp, 2) for hp in RUNS]
    sweep = FakeSweep()
    table = sweep_until_out_of_band(short, sweep, first=3, in_band=in_band)
    assert len(sweep.calls) == 1 and table["round"].max() == 2
    with pytest.raises(ValueError, match="first"):
        sweep_until_out_of_band(RUNS, FakeSweep(), first=0, in_band=in_band)
    with pytest.raises(ValueError, match="twice"):
        sweep_until_out_of_band([RUNS[0], with_rounds(RUNS[0], 2)], FakeSweep(), first=1, in_band=in_band)


def test_rounds_reached_counts_runs_censored_at_the_maximum():
    table = sweep_until_out_of_band(RUNS, FakeSweep(), first=3, in_band=in_band).assign(arm="a")
    reached = rounds_reached(table, ["arm"], MAXIMUM, in_band(table)).iloc[0]
    shown = (reached["runs"], reached["fewest rounds"], reached["most rounds"], reached["censored at max"])
    assert shown == (4, 3, 5, 1)


def test_complete_rounds_need_every_seed_in_every_arm():
    rows = [{"arm": a, "seed": s, "round": r} for a in ("x", "y") for s in (0, 1) for r in range(4)]
    table = pd.DataFrame([row for row in rows if not (row["arm"] == "y" and row["seed"] == 1 and row["round"] == 3)])
    assert complete_rounds(table, "arm", ["x", "y"]) == [0, 1, 2]
    assert complete_rounds(table, "arm", ["x"]) == [0, 1, 2, 3]
