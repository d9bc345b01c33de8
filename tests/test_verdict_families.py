"""Families of declared tests, tests glued or not, and several tables recorded at once (glth_core.book.chapter_verdicts,
glth_core.book.chapter.Chapter.verdicts), checked against verdict rows built by hand with verdict_tables.verdict_row."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tool_modules import load_tool

from glth_core.book import chapter as chapter_module
from glth_core.analysis import stats
from glth_core.book.chapter import Chapter, Test, family
from glth_core.book.chapter_verdicts import compute_verdicts
from glth_core.book.profiles import CHAPTERS
from glth_core.analysis.verdict_tables import verdict_row


def runs_table(seeds=4, rounds=3) -> pd.DataFrame:
    """Tickets and reinit controls in two bases; the dct ticket gains 3 points at round 2 (made-up accuracies)."""
    rng = np.random.default_rng(1)
    rows = []
    for basis in ("canonical", "dct"):
        for seed in range(seeds):
            for r in range(rounds + 1):
                for control in ("ticket", "reinit") if r else ("ticket",):
                    accuracy = 0.9 - 0.02 * r - (0.2 if control == "reinit" else 0) + 0.01 * rng.standard_normal()
                    accuracy += 0.03 if (basis, r, control) == ("dct", 2, "ticket") else 0
                    rows.append(dict(basis=basis, seed=seed, round=r, control=control, density=0.4 ** r,
                                     test_accuracy=accuracy))
    return pd.DataFrame(rows)


def by_hand(table, basis, r):
    effects = stats.paired_difference(table[table.basis == basis], "control", "ticket", "reinit", by=["round"])
    return effects.set_index("round").loc[r]


def test_a_family_over_a_grid_gives_one_hand_built_row_per_member():
    table = runs_table()
    grid = [{"basis": b, "round": r} for b in ("canonical", "dct") for r in (1, 2, 3)]
    tests = family(grid, key="c2_reinit", claim="2", arm="control", treatment="ticket", reference="reinit",
                   round="{round}", filters={"basis": "{basis}"}, comparison="ticket − reinit ({basis}, {weights})")
    assert [t.key for t in tests] == [f"c2_reinit_{i}" for i in range(6)]
    assert tests[4].round == 2 and isinstance(tests[4].round, int) and tests[4].filters == {"basis": "dct"}
    assert not any(t.glue for t in tests)
    got = compute_verdicts(table, tests, chapter="02_x")
    for row, point in zip(got.itertuples(), grid):
        weights = f"{100 * 0.4 ** point['round']:.3g}% of weights"
        expected = verdict_row(by_hand(table, point["basis"], point["round"]), "greater", claim="2", chapter="02_x",
                               comparison=f"ticket − reinit ({point['basis']}, {weights})")
        assert {k: getattr(row, k) for k in expected} == expected


def test_a_family_of_given_effects_keeps_each_rows_side_and_fields():
    effects = pd.DataFrame({"basis": ["canonical", "dct"], "side": ["greater", "less"], "n": [5, 5],
                            "estimate": [0.02, 0.02], "ci_low": [0.01, 0.01], "ci_high": [0.03, 0.03],
                            "params": [1234.4, 99.0]})
    tests = family(effects, given=True, key="c4", claim="4", side="{side}", arm="basis", treatment="{basis}",
                   reference="svd", comparison="{basis} − svd at {params:,.0f} parameters, tol {tol:g} pp")
    got = compute_verdicts(pd.DataFrame(), tests, chapter="04_x", tol=1.0)
    assert list(got.verdict) == ["holds", "contradicted"]
    expected = verdict_row(effects.iloc[1], "less", claim="4", chapter="04_x",
                           comparison="dct − svd at 99 parameters, tol 1 pp")
    assert {k: got.iloc[1][k] for k in expected} == expected
    assert got.comparison[0] == "canonical − svd at 1,234 parameters, tol 1 pp"
    with pytest.raises(ValueError, match="side must be"):
        family(effects.assign(side="more"), given=True, key="c4", claim="4", side="{side}", arm="basis",
               treatment="{basis}", reference="svd", comparison="x")
    assert family(effects.iloc[:0], given=True, key="c4", claim="4", arm="basis", treatment="{basis}",
                  reference="svd", comparison="x") == []


@pytest.fixture
def chapter01(tmp_path, monkeypatch):
    import myst_nb

    monkeypatch.setenv("GLTH_RESULTS_DIR", str(tmp_path))
    glued = {}
    monkeypatch.setattr(myst_nb, "glue", lambda key, value, display=True: glued.__setitem__(key, value))
    names = {k: None for k in CHAPTERS["01_canonical"]["quick"]}
    ch = Chapter("01_canonical", {**names, "smoke": True, "profile": "quick", "device": "cpu",
                                  "scheduler": "serial", "results_dir": None})
    return ch, glued


def test_two_tables_are_recorded_together_once_and_only_chosen_keys_glued(chapter01):
    ch, glued = chapter01
    table = runs_table()
    per_seed = stats.compression(table[table.control == "ticket"], 0.01, reference={"basis": "canonical"})
    reinit = family([{"basis": "canonical"}, {"basis": "dct"}], key="c1_reinit", claim="2", arm="control",
                    treatment="ticket", reference="reinit", round=2, filters={"basis": "{basis}"},
                    comparison="ticket − reinit ({basis})")
    ratio = Test("c1_ratio", "3", "compression dct / canonical", "basis", "dct", "canonical", kind="compression")
    rows = ch.verdicts([(table, reinit), (per_seed, [ratio])])
    assert list(rows.key) == ["c1_reinit_0", "c1_reinit_1", "c1_ratio"]
    assert glued == {"c1_ratio": rows.glued_sentence[2]}
    expected = verdict_row(stats.compression_ratio(per_seed, "basis", "dct", "canonical").iloc[0], "greater",
                           claim="3", chapter="01_canonical", comparison="compression dct / canonical",
                           unit="x", scale=1.0, null=1.0)
    recorded = chapter_module.recorded_verdicts(profile="quick", smoke=True)
    assert len(recorded) == 3 and recorded.comparison[2] == expected["comparison"]
    assert recorded.verdict[2] == expected["verdict"] and recorded.estimate[2] == pytest.approx(expected["estimate"])
    assert recorded.comparison[1] == "ticket − reinit (dct)"
    with pytest.raises(ValueError, match="duplicated Test keys"):
        ch.verdicts([(table, reinit), (table, reinit[:1])])
    with pytest.raises(ValueError, match="not both"):
        ch.verdicts([(table, reinit)], [ratio])


def test_the_glue_tool_reads_which_tests_glue():
    glue_tool = load_tool("book_glue")
    code = ('TESTS = [Test("a", "2"), Test(key="b", glue=False), *family(x, key="c", glue=True),'
            ' *family(x, key="d")]\n')
    patterns = glue_tool.source_keys(code)
    assert patterns[0] == "a" and len(patterns) == 2
    assert glue_tool.re.fullmatch(patterns[1], "c_3") and not glue_tool.re.fullmatch(patterns[1], "d_0")


def chapter02_namespace(**given):
    names = {k: None for k in CHAPTERS["02_bases"]["paper"]}
    return {**names, "smoke": True, "profile": "paper", "device": "cpu", "scheduler": "serial",
            "results_dir": None, **given}


def test_a_default_reinit_bases_is_cut_to_the_chosen_bases_and_a_bad_one_refused_by_name(tmp_path, monkeypatch):
    from glth_core.book.profiles import chapter_parameters

    monkeypatch.setenv("GLTH_RESULTS_DIR", str(tmp_path))
    default = chapter_parameters("02_bases", "paper", smoke=True)["reinit_bases"]
    assert not set(default) <= {"canonical", "dct"}  # the paper profile's default names bases not chosen here
    ch = Chapter("02_bases", chapter02_namespace(bases=["canonical", "dct"]))
    assert ch.params["reinit_bases"] == [b for b in default if b in ("canonical", "dct")] != []
    full = Chapter("02_bases", chapter02_namespace())
    assert full.params["reinit_bases"] == default
    with pytest.raises(ValueError, match="reinit_bases"):
        Chapter("02_bases", chapter02_namespace(bases=["canonical", "dct"], reinit_bases=["canonical", "hadamard"]))
