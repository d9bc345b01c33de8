"""Chapter 04's analysis (glth_core.book.structured_study) on synthetic tables, and its figures module."""
from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest

from glth_core.book import structured_study as study
from glth_core.book.chapter import family
from glth_core.book.chapter_verdicts import compute_verdicts
from glth_core.analysis.verdict_tables import verdict_row
from glth_core.book.chapter_figures_bases import basis_accuracy_figure, parameters_figure

matplotlib.use("Agg")


def frame(ticket_gain=0.02, seeds=4):
    """Canonical element tickets, DCT low-rank tickets and their truncated SVD, with known accuracies."""
    rng = np.random.default_rng(1)
    rows = []
    for seed in range(seeds):
        for r in range(4):
            size = 1000 * 0.5 ** r
            rows.append({"granularity": "element", "basis": "canonical", "seed": seed, "round": r, "params": size,
                         "density": 0.5 ** r, "test_accuracy": 0.8 + 0.001 * rng.standard_normal()})
            if r > 0:
                low = {"granularity": "row", "basis": "dct", "seed": seed, "round": r, "params": size,
                       "density": 0.5 ** r, "test_accuracy": 0.7 + ticket_gain + 0.001 * rng.standard_normal()}
                rows += [low, {**low, "basis": "svd", "test_accuracy": 0.7 + 0.001 * rng.standard_normal()}]
    table = pd.DataFrame(rows)
    table["method"] = [study.method_of(g, b) for g, b in zip(table.granularity, table.basis)]
    return table


def test_method_names():
    assert study.method_of("row", "dct") == "low rank, DCT rows"
    assert study.method_of("row", "canonical") == "units (canonical rows)"
    assert study.method_of("row", "svd") == study.SVD_METHOD
    assert study.method_of("element", "random") == "element ticket, random orthogonal"


def test_svd_effects_are_ticket_minus_truncation_per_round():
    effects = study.svd_effects(frame(ticket_gain=0.02), ["dct"])
    assert list(effects["round"]) == [1, 2, 3] and set(effects.method) == {"low rank, DCT rows"}
    assert effects.estimate.to_numpy() == pytest.approx(0.02, abs=0.003)
    assert set(effects.verdict) == {"holds"}
    assert set(study.svd_effects(frame(ticket_gain=-0.02), ["dct"]).verdict) == {"contradicted"}


def test_element_effects_compare_at_equal_parameter_count():
    effects = study.element_effects(frame())
    # the low-rank ticket (0.72) against the element ticket (0.80) at the same size: 8 pp lower
    assert effects.estimate.to_numpy() == pytest.approx(-0.08, abs=0.003)
    assert set(effects.verdict) == {"contradicted"}
    assert "verdict (structured − element)" in study.element_table(effects).columns


def test_declared_verdicts_and_counts():
    effects = study.svd_effects(frame(), ["dct"])
    tests = family(effects, given=True, key="c4_svd", claim="4", arm="method", treatment="{method}",
                   reference="truncated SVD", comparison="{method} − truncated SVD, round {round:.0f} (LeNet)")
    rows = compute_verdicts(frame(), tests, chapter=CHAPTER)
    assert set(rows.claim) == {"4"} and set(rows.chapter) == {CHAPTER}
    for row, (_, effect) in zip(rows.itertuples(), effects.iterrows()):
        expected = verdict_row(effect, "greater", claim="4", chapter=CHAPTER,
                               comparison=f"{effect.method} − truncated SVD, round {int(effect['round'])} (LeNet)")
        assert {k: getattr(row, k) for k in expected} == expected
    assert study.verdict_counts(effects) == {"n": 3, "holds": 3, "contradicted": 0, "inconclusive": 0}
    with pytest.raises(ValueError, match="never censored"):
        study.verdict_counts(pd.DataFrame({"verdict": ["censored"]}))


CHAPTER = "04_structured"


def test_export_report_lists_every_pair_and_every_check():
    check = {"pairs": {"fc1": (784, 20, 300)}, "checks": {"a": True, "b": False}, "exported": 100, "dense": 1000,
             "exported_madds": 90, "dense_madds": 900, "engine": 120}
    text = study.export_report(check)
    assert "fc1: Linear(784 -> 20) then Linear(20 -> 300): r = 20, r(out + in) = 21,680" in text
    assert "PASS  a" in text and "FAIL  b" in text and "not the exported count" in text


def test_chapter_runs_never_prune_the_output_rows():
    from glth_core.book.profiles import chapter_parameters

    runs = study.chapter_runs(chapter_parameters("04_structured", "quick", smoke=True))
    rows = [hp for hp in runs if hp.pruning.granularity == "row"]
    elements = [hp for hp in runs if hp.pruning.granularity == "element"]
    assert len(rows) == 2 * 2 and len(elements) == 2 * 2 and runs[:len(rows)] == rows  # rows first
    assert {hp.pruning.output_fraction for hp in rows} == {0.0}
    assert {hp.pruning.basis for hp in elements} == {"canonical", "dct"}


def test_figures():
    fig = parameters_figure(frame())
    assert fig.axes[0].get_xscale() == "log" and len(fig.axes[0].get_lines()) >= 3
    table = frame().rename(columns={"method": "m"})
    tickets = table[table.granularity == "element"].assign(control="ticket")
    fig = basis_accuracy_figure(tickets, tickets, bases=["canonical"], reinit_bases=[], labels={"canonical": "c"},
                                tolerance_pp=1.0)
    assert len(fig.axes) == 1
    with pytest.raises(ValueError, match="canonical"):
        basis_accuracy_figure(tickets, tickets, bases=["dct"], reinit_bases=[], labels={}, tolerance_pp=1.0)
