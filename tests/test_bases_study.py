"""Chapter 02's analysis (glth_core.book.bases_study) on synthetic tidy tables with known answers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from glth_core.book import bases_study as study
from glth_core.core.bases import basis_label
from glth_core.book.chapter import family
from glth_core.book.chapter_verdicts import compute_verdicts


def lottery_table(shift=None, reinit=True, seeds=4, rounds=3):
    """Ticket rows of three bases (and reinit rows of canonical/dct); accuracy known per (basis, control, round)."""
    shift = shift or {}
    rng = np.random.default_rng(0)
    rows = []
    for basis in ("canonical", "dct", "random"):
        for seed in range(seeds):
            for r in range(rounds + 1):
                base = 0.80 + 0.01 * (r == 1) - 0.05 * (r == rounds) + shift.get((basis, r), 0.0)
                rows.append({"basis": basis, "control": "ticket", "seed": seed, "round": r, "density": 0.4 ** r,
                             "test_accuracy": base + 0.002 * rng.standard_normal(), "wall_time_s": 1.0})
                if reinit and basis != "random" and r > 0:
                    rows.append({"basis": basis, "control": "reinit", "seed": seed, "round": r, "density": 0.4 ** r,
                                 "test_accuracy": base - 0.2 + 0.002 * rng.standard_normal(), "wall_time_s": 1.0})
    return pd.DataFrame(rows)


def test_dense_effects_match_a_t_interval_computed_by_scipy():
    table = lottery_table()
    tickets = table[table.control == "ticket"]
    effects = study.dense_effects(tickets)
    assert list(effects.side) == ["greater"] * 3 + ["less"] * 3
    assert list(effects["round"]) == [1] * 3 + [3] * 3
    row = effects[(effects.basis == "dct") & (effects["round"] == 3)].iloc[0]
    dct = tickets[tickets.basis == "dct"].set_index(["round", "seed"]).test_accuracy
    differences = (dct[3] - dct[0]).to_numpy()
    low, high = scipy_stats.t.interval(0.95, len(differences) - 1, loc=differences.mean(),
                                       scale=scipy_stats.sem(differences))
    assert row.estimate == pytest.approx(differences.mean())
    assert (row.ci_low, row.ci_high) == pytest.approx((low, high))
    assert row.verdict == "holds"  # 5 pp lower at the sparsest round, claimed less


def test_reinit_effects_hold_where_the_control_is_worse_and_are_empty_without_a_control():
    effects = study.reinit_effects(lottery_table())
    assert set(effects.basis) == {"canonical", "dct"} and set(effects.verdict) == {"holds"}
    assert effects.estimate.to_numpy() == pytest.approx(0.2, abs=0.01)
    empty = study.reinit_effects(lottery_table(reinit=False))
    assert empty.empty and {"basis", "round", "verdict", "sentence"} <= set(empty.columns)


def test_basis_effects_find_a_basis_that_is_better_at_one_round():
    table = lottery_table(shift={("dct", 2): 0.03})
    effects = study.basis_effects(table[table.control == "ticket"], ["dct", "random"])
    assert (effects["round"] > 0).all()
    verdict = effects.set_index(["basis", "round"]).verdict
    assert verdict["dct", 2] == "holds" and verdict["dct", 1] != "holds"


def test_labelled_effects_declared_as_tests_agree_with_tests_computed_from_the_runs():
    table = lottery_table(shift={("dct", 2): 0.03})
    tickets = table[table.control == "ticket"]
    density_at = tickets.groupby("round").density.mean()
    effects = study.labelled(study.reinit_effects(table), density_at)
    assert effects.label.tolist()[:3] == ["canonical"] * 3 and effects.weights.iloc[0] == "40%"
    given = family(effects, given=True, key="c2_reinit", claim="2", side="{side}", arm="control", treatment="ticket",
                   reference="reinit", comparison="ticket − reinit at {weights} of weights (LeNet, {label})")
    grid = [{"basis": b, "label": basis_label(b), "round": r} for b in ("canonical", "dct") for r in (1, 2, 3)]
    computed = family(grid, key="c2_reinit", claim="2", arm="control", treatment="ticket", reference="reinit",
                      round="{round}", filters={"basis": "{basis}"},
                      comparison="ticket − reinit at {weights} (LeNet, {label})")
    from_effects = compute_verdicts(table, given, chapter=study.CHAPTER)
    from_runs = compute_verdicts(table, computed, chapter=study.CHAPTER)
    assert from_effects.comparison.iloc[0] == "ticket − reinit at 40% of weights (LeNet, canonical)"
    assert from_effects.comparison.iloc[0] == from_runs.comparison.iloc[0]
    assert len(from_effects) == 6 and from_effects.comparison.tolist() == from_runs.comparison.tolist()
    for column in ("n", "verdict", "sentence"):
        assert from_effects[column].tolist() == from_runs[column].tolist()
    for column in ("estimate", "ci_low", "ci_high"):
        assert from_effects[column].tolist() == pytest.approx(from_runs[column].tolist())
    assert from_effects.estimate.iloc[0] == pytest.approx(20.0, abs=1.0)  # stored in percentage points
    _, _, ratios = study.compression_effects(tickets, 1.0, ["dct", "random"])
    assert study.labelled(ratios).label.tolist() == [basis_label("dct"), basis_label("random")]


def test_accuracy_by_round_gives_the_controls_their_dense_round():
    tickets, full, curves = study.accuracy_by_round(lottery_table(), ["canonical", "dct"])
    assert (tickets.control == "ticket").all()
    assert ((full.control == "reinit") & (full["round"] == 0)).sum() == 2 * 4
    assert curves.loc[0, "canonical, reinit"] == pytest.approx(curves.loc[0, "canonical, ticket"])
    assert curves["weights remaining (%)"].tolist() == pytest.approx([100 * 0.4 ** r for r in range(4)])


def test_dense_equivariance_reports_the_largest_same_seed_difference():
    table = lottery_table()
    table.loc[(table.basis == "dct") & (table.seed == 2) & (table["round"] == 0), "test_accuracy"] += 0.01
    tickets = table[table.control == "ticket"]
    result = study.dense_equivariance(tickets, ["dct"])
    dense = tickets[tickets["round"] == 0].set_index(["basis", "seed"]).test_accuracy
    expected = 100 * (dense["dct"] - dense["canonical"]).abs().max()
    assert result["max |difference| (pp)"].iloc[0] == pytest.approx(expected)
    assert expected > 1.0


def test_share_relation_and_counts():
    assert study.share_relation(10.0, 20.0) == "fewer than"
    assert study.share_relation(20.0, 10.0) == "more than"
    assert study.share_relation(19.0, 20.0) == "about as many as"
    assert study.share_relation(17.9, 20.0) == "fewer than"
    effects = pd.DataFrame({"verdict": ["inconclusive", "holds", "holds"]})
    assert study.count_verdicts(effects) == "2 holds, 1 inconclusive"
    assert study.count_verdicts(effects.iloc[:0]) == "none"


def test_compaction_numbers_read_the_right_cells():
    index = pd.MultiIndex.from_product([["initialisation", "dense trained", "sparsest ticket"], ["fc1", "fc2", "fc3"]],
                                       names=["state", "layer"])
    k90 = pd.DataFrame({"canonical": np.arange(9.0) + 50, "dct": np.arange(9.0) + 10, "random": np.arange(9.0) + 30},
                       index=index)
    numbers = study.compaction_numbers(k90, "dct")
    assert numbers["c2_k90_trained_focus"] == 13.0 and numbers["c2_k90_trained_canonical"] == 53.0
    assert numbers["c2_k90_hidden_random"] == 34.0 and numbers["c2_k90_ticket_focus"] == 16.0
    assert numbers["c2_k90_init_relation"] == "fewer than"
    numbers = study.compaction_numbers(k90.drop(columns="random"), "dct")
    assert np.isnan(numbers["c2_k90_init_random"])


def test_chapter_runs_pair_every_basis_with_every_seed():
    from glth_core.book.profiles import chapter_parameters

    p = chapter_parameters("02_bases", "quick", smoke=True)
    runs = {group: make(p) for group, make in study.RUN_GROUPS.items()}
    reinit_bases = set(p["reinit_bases"])
    assert len(runs["tickets"]) == 3 * 2 and len(runs["reinit"]) == len(reinit_bases) * 2 and len(runs["adam"]) == 3 * 2
    assert {hp.pruning.basis for hp in runs["reinit"]} == reinit_bases
    both = study.RUN_GROUPS["reinit"]({**p, "reinit_bases": ["canonical", "dct"]})
    assert {(hp.pruning.basis, hp.seed) for hp in both} == {(b, s) for b in ("canonical", "dct") for s in (0, 1)}
    assert {hp.training.optimizer for hp in runs["adam"]} == {"adam"}
    assert study.RUN_GROUPS["reinit"]({**p, "reinit_bases": []}) == []


def test_compared_bases_prefer_the_dct():
    assert study.compared_bases(["canonical", "random", "dct"]) == (["random", "dct"], "dct")
    assert study.compared_bases(["canonical", "hadamard"]) == (["hadamard"], "hadamard")
    with pytest.raises(ValueError, match="besides 'canonical'"):
        study.compared_bases(["canonical"])


def test_the_control_is_the_dct_minus_the_random_basis_paired_on_the_seed():
    tickets = lottery_table(shift={("dct", 2): 0.03, ("dct", 3): 0.03}, reinit=False)
    rounds, ratio = study.versus_control(tickets, 1.0, "dct")
    assert set(rounds.basis) == {"dct"} and set(rounds.reference) == {"random"} and list(rounds["round"]) == [1, 2, 3]
    by = tickets.set_index(["basis", "round", "seed"]).test_accuracy
    differences = (by["dct", 2] - by["random", 2]).to_numpy()
    low, high = scipy_stats.t.interval(0.95, len(differences) - 1, loc=differences.mean(),
                                       scale=scipy_stats.sem(differences))
    row = rounds.set_index("round").loc[2]
    assert row.estimate == pytest.approx(differences.mean()) and (row.ci_low, row.ci_high) == pytest.approx((low, high))
    assert row.verdict == "holds" and rounds.set_index("round").verdict[1] == "inconclusive"
    assert len(ratio) == 1 and ratio.reference.iloc[0] == "random" and ratio.side.iloc[0] == "greater"
    density_at = tickets.groupby("round").density.mean()
    tests = study.control_tests(rounds, ratio, density_at)
    assert len(tests) == 4 and {t.reference for t in tests} == {"random"}
    assert "− random orthogonal" in tests[0].comparison and "/ random orthogonal" in tests[-1].comparison
    numbers = study.control_numbers(rounds, ratio)
    assert numbers["c2_control_ratio"] == ratio.sentence.iloc[0] and "hold" in numbers["c2_control_rounds"]


def test_no_control_without_the_random_basis():
    tickets = lottery_table(reinit=False)
    rounds, ratio = study.versus_control(tickets[tickets.basis != "random"], 1.0, "dct")
    assert rounds.empty and ratio.empty and study.control_tests(rounds, ratio, pd.Series(dtype=float)) == []
    assert study.control_numbers(rounds, ratio)["c2_control_ratio"] == "not run"
