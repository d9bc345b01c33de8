"""The chapter object: parameters refused or resolved, named run groups, declared verdicts (glth_core.book.chapter)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from tool_modules import load_tool

from glth_core.book import chapter as chapter_module
from glth_core.book.chapter import Chapter, Test
from glth_core.book.chapter_verdicts import compute_verdicts
from glth_core.engine.hparams import ImpHparams
from glth_core.book.labels import BASIS_LABELS, basis_label, control_label
from glth_core.book.profiles import CHAPTERS
from glth_core.analysis.verdict_tables import verdict_row


@pytest.fixture
def place(tmp_path, monkeypatch):
    monkeypatch.setenv("GLTH_RESULTS_DIR", str(tmp_path))
    return tmp_path


def namespace(**given):
    """A chapter 01 namespace after its parameters cell (every profile setting None), then ``given``."""
    names = {k: None for k in CHAPTERS["01_canonical"]["quick"]}
    return {**names, "smoke": True, "profile": "quick", "device": "cpu", "scheduler": "serial",
            "results_dir": None, **given}


def test_parameters_resolve_from_the_profile_with_smoke_overrides(place):
    ch = Chapter("01_canonical", namespace(epochs=3))
    assert ch.params["dataset"] == "digits" and ch.params["seeds"] == 2  # smoke overrides of the profile
    assert ch.params["epochs"] == 3  # a given value is kept, also in smoke form
    assert ch.params["rounds"] == 3 and ch.params["fraction"] == CHAPTERS["01_canonical"]["quick"]["fraction"]
    assert ch.seeds == [0, 1] and ch.scheduler == "serial"
    paper = Chapter("01_canonical", namespace(smoke=False, profile="paper", dataset="digits"))
    assert paper.params["rounds"] == 20 and paper.seeds == list(range(5))


@pytest.mark.parametrize("given, message", [
    ({"rounds": 0}, r"parameter rounds must be an integer in \[1, 40\]"),
    ({"seeds": 1}, r"parameter seeds must be an integer in \[2, 20\]"),
    ({"optimizer": "rmsprop"}, r"parameter optimizer must be one of \['sgd', 'adam'\]"),
    ({"fraction": 1.5}, "parameter fraction must be a number in"),
    ({"controls": ["ticket"]}, "parameter controls must be a list of distinct names"),
    ({"gamma": -1.0}, r"parameter gamma must be in \(0, 1\]"),
    ({"profile": "fast"}, r"parameter profile must be one of \['quick', 'paper'\]"),
    ({"device": "tpu"}, "parameter device"),
    ({"smoke": "yes"}, "parameter smoke must be True or False"),
])
def test_a_bad_parameter_is_refused_by_name(place, given, message):
    with pytest.raises(ValueError, match=message):
        Chapter("01_canonical", namespace(**given))


def test_an_undeclared_papermill_parameter_is_refused(place):
    history = ["", "seeds = None\nrounds = None", "# Parameters\nseeds = 2\nround = 3\n"]
    with pytest.raises(ValueError, match="unknown parameter.*round.*check the spelling"):
        Chapter("01_canonical", namespace(In=history))


def test_an_unknown_chapter_is_refused(place):
    with pytest.raises(ValueError, match="unknown chapter '09_nope'"):
        Chapter("09_nope", namespace())


def test_run_groups_are_named(place):
    ch = Chapter("01_canonical", namespace(controls=["reinit"]))
    assert ch.groups() == ["tickets", "short"]
    tickets = ch.runs("tickets")
    assert all(isinstance(hp, ImpHparams) for hp in tickets)
    assert sorted((hp.seed, hp.pruning.control) for hp in tickets) == [
        (0, "reinit"), (0, "ticket"), (1, "reinit"), (1, "ticket")]
    short = ch.runs("short")
    assert {hp.training.epochs for hp in short} == {2} and {hp.pruning.rounds for hp in short} == {0}
    with pytest.raises(ValueError, match=r"no run group 'ticket'; its groups: \['tickets', 'short'\]"):
        ch.runs("ticket")
    costs = ch.cost_table().set_index("profile")
    assert costs.loc["quick", "runs"] == str(5 * 3 + 5)  # the quick profile's 5 seeds, not the smoke run's 2


def hand_table() -> pd.DataFrame:
    """Three seeds; a ticket over rounds 0-2 and a reinit control over rounds 1-2 (made up accuracies)."""
    rng = np.random.default_rng(0)
    rows = []
    for seed in range(3):
        for r in range(3):
            rows.append(dict(seed=seed, control="ticket", round=r, density=0.4 ** r,
                             test_accuracy=0.8 + 0.01 * r + 0.02 * rng.standard_normal()))
            if r:
                rows.append(dict(seed=seed, control="reinit", round=r, density=0.4 ** r,
                                 test_accuracy=0.7 + 0.02 * rng.standard_normal()))
    return pd.DataFrame(rows)


def test_a_declared_test_gives_the_verdict_row_built_by_hand():
    from glth_core.analysis import stats

    table = hand_table()
    test = Test("k", "2", "ticket − reinit at {weights} ({where})", "control", "ticket", "reinit", "greater")
    got = compute_verdicts(table, [test], chapter="01_x", where="here").iloc[0]
    effect = stats.paired_difference(table, "control", "ticket", "reinit", by=["round"]).set_index("round").loc[2]
    expected = verdict_row(effect, "greater", claim="2", chapter="01_x",
                           comparison="ticket − reinit at 16% of weights (here)")
    assert {k: got[k] for k in expected} == expected
    assert got["round"] == 2 and got["weights_pct"] == pytest.approx(16.0)
    within = Test("w", "3", "within 1 pp", "control", "ticket", "reinit", "greater", round=1, null=-0.01)
    got = compute_verdicts(table, [within], chapter="01_x").iloc[0]
    effect = stats.paired_difference(table, "control", "ticket", "reinit", by=["round"]).set_index("round").loc[1]
    expected = verdict_row(effect, "greater", claim="3", chapter="01_x", comparison="within 1 pp", null=-0.01)
    assert {k: got[k] for k in expected} == expected and got["null"] == pytest.approx(-1.0)


def test_a_test_against_the_dense_round_matches_scipy():
    table = hand_table()
    test = Test("rise", "2", "ticket − dense", "control", "ticket", "ticket", "less", round="first",
                reference_round=0)
    got = compute_verdicts(table, [test], chapter="01_x").iloc[0]
    ticket = table[table.control == "ticket"].pivot(index="seed", columns="round", values="test_accuracy")
    differences = (ticket[1] - ticket[0]).to_numpy()
    low, high = scipy.stats.t.interval(0.95, len(differences) - 1, loc=differences.mean(),
                                       scale=scipy.stats.sem(differences))
    assert got["n"] == 3 and got["estimate"] == pytest.approx(100 * differences.mean())
    assert (got["ci_low"], got["ci_high"]) == pytest.approx((100 * low, 100 * high))
    assert got["verdict"] == ("holds" if high < 0 else "contradicted" if low > 0 else "inconclusive")


def test_an_effect_computed_elsewhere_is_used_for_its_test():
    effect = {"n": 4, "estimate": 0.012, "ci_low": 0.004, "ci_high": 0.02, "params": 1234, "method": "rows"}
    test = Test("k", "4", "{method} − element ticket at {params:,} parameters", "method", "rows", "element")
    got = compute_verdicts(pd.DataFrame(), [test], chapter="04_x", effects={"k": effect}).iloc[0]
    assert got["comparison"] == "rows − element ticket at 1,234 parameters"
    assert (got["n"], got["estimate"], got["verdict"]) == (4, pytest.approx(1.2), "holds")
    assert got["sentence"] == "holds (n = 4, difference +1.20 pp, 95% CI [+0.40, +2.00])"


def test_a_malformed_test_is_refused():
    with pytest.raises(ValueError, match="claim must be"):
        Test("k", "7", "c", "control", "ticket", "reinit")
    with pytest.raises(ValueError, match="give reference_round"):
        Test("k", "2", "c", "control", "ticket", "ticket")
    with pytest.raises(ValueError, match="comparison label needs 'where'"):
        compute_verdicts(hand_table(), [Test("k", "2", "{where}", "control", "ticket", "reinit")], chapter="x")
    with pytest.raises(ValueError, match="duplicated Test keys"):
        compute_verdicts(hand_table(), [Test("k", "2", "a", "control", "ticket", "reinit")] * 2, chapter="x")


def test_verdicts_are_recorded_and_each_sentence_glued(place, monkeypatch):
    import myst_nb

    glued = {}
    monkeypatch.setattr(myst_nb, "glue", lambda key, value, display=True: glued.__setitem__(key, value))
    ch = Chapter("01_canonical", namespace())
    tests = [Test("c1_vs_reinit", "2", "ticket − reinit ({model})", "control", "ticket", "reinit", "greater"),
             Test("c1_vs_random_mask", "2", "ticket − random mask", "control", "ticket", "random_mask")]
    rows = ch.verdicts(hand_table(), tests, not_run="not run")
    assert list(rows.key) == ["c1_vs_reinit"] and rows.comparison[0] == "ticket − reinit (LeNet-300-100)"
    assert glued == {"c1_vs_reinit": rows.glued_sentence[0], "c1_vs_random_mask": "not run"}
    recorded = chapter_module.recorded_verdicts(profile="quick", smoke=True)
    assert list(recorded.comparison) == ["ticket − reinit (LeNet-300-100)"]
    assert recorded.sentence[0] == rows.sentence[0] and recorded.sentence[0].startswith(rows.verdict[0])
    with pytest.raises(ValueError, match="no rows with control == 'random_mask'"):
        ch.verdicts(hand_table(), tests)  # without not_run, a missing arm is an error


def test_glue_keys_of_declared_tests_are_read_from_the_source():
    glue_tool = load_tool("book_glue")
    code = 'TESTS = [Test("c1_rise", "2", "x", "control", "ticket", "ticket"), Test(key="c1_fall")]\n'
    assert glue_tool.source_keys(code) == ["c1_rise", "c1_fall"]


def test_labels_come_from_one_registry():
    from glth_core.core.bases import BASIS_NAMES

    assert set(BASIS_LABELS) == set(BASIS_NAMES) and basis_label("dct") == "DCT"
    assert control_label("reinit") == "random re-initialisation"
    with pytest.raises(ValueError, match="unknown basis name 'dtc'"):
        basis_label("dtc")


@pytest.mark.parametrize("chapter, extras, bad, message", [
    ("02_bases", {}, {"bases": ["dct", "random"]}, "parameter bases must include 'canonical'"),
    ("02_bases", {}, {"adam_lr": -1.0}, "parameter adam_lr"),
    ("03_subspace", {}, {"dimensions": [5, 5]}, "parameter dimensions"),
    ("03_subspace", {}, {"subspace_batch_sizes": [0]}, "parameter subspace_batch_sizes"),
    ("04_structured", {}, {"row_fraction": 1.0}, "parameter row_fraction"),
    ("04_structured", {}, {"lowrank_bases": ["canonical"]}, "parameter lowrank_bases"),
    ("05_conv", {}, {"models": ["lenet300"]}, "parameter models"),
    ("05_conv", {}, {"channel_dct": True, "bases": ["canonical"]}, "parameter channel_dct"),
])
def test_the_other_chapters_rules_pass_their_defaults_and_refuse_by_name(place, chapter, extras, bad, message):
    ns = {**{k: None for k in CHAPTERS[chapter]["quick"]}, "smoke": True, "profile": "quick", "device": "cpu",
          "scheduler": "serial", "results_dir": None, **extras}
    ch = Chapter(chapter, ns)
    assert ch.params["dataset"] == "digits" and all(k in ch.params for k in extras)
    with pytest.raises(ValueError, match=message):
        Chapter(chapter, {**ns, **bad})
