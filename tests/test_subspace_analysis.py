"""Chapter 03's library (glth_core.book.subspace_analysis, glth_core.book.chapter_figures_subspace) on synthetic tables."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from glth_core.book.chapter import family
from glth_core.book.chapter_verdicts import compute_verdicts
from glth_core.analysis.verdict_tables import verdict_row
from glth_core.book import chapter_figures_subspace, subspace_analysis as sub
from glth_core.book.profiles import chapter_parameters


def namespace(**overrides):
    names = {"smoke": True, "profile": "quick", "device": "cpu", "scheduler": "serial", "results_dir": None}
    declared = dict.fromkeys(chapter_parameters("03_subspace", "quick"))
    declared.pop("profile"), declared.pop("smoke")
    for engine_only in ("model", "dataset", "optimizer", "lr", "momentum", "weight_decay", "batch_size",
                        "milestones", "gamma", "fraction", "output_fraction", "rewind_iteration"):
        declared.pop(engine_only)
    return {**declared, **names, **overrides}


def test_the_chapter_sorts_the_grid_and_names_a_bad_parameter():
    from glth_core.book.chapter import Chapter

    params = Chapter("03_subspace", namespace(dimensions=[3000, 1000])).params
    assert params["dimensions"] == [1000, 3000] and params["dataset"] == "digits"
    for bad, message in [({"threshold": 1.5}, "threshold"),
                         ({"subspace_batch_sizes": [128, 0.5]}, "subspace_batch_sizes"),
                         ({"subspace_lrs": [0.3, 0.3]}, "subspace_lrs"), ({"search_dimension": 0}, "search_dimension"),
                         ({"ticket_bases": ["random"]}, "ticket_bases must include 'canonical'")]:
        with pytest.raises(ValueError, match=message):
            Chapter("03_subspace", namespace(**bad))


def test_search_runs_are_the_grid_plus_the_previous_schedule():
    p = chapter_parameters("03_subspace", "quick")
    runs = sub.search_runs(p)
    assert len(runs) == len(p["subspace_lrs"]) * len(p["subspace_batch_sizes"]) + 1
    previous = runs["previous"]
    training = previous.training
    assert training.batch_size == 512 and training.lr == p["lr"] and training.epochs == p["epochs"]
    assert {hp.dimension for hp in runs.values()} == {p["search_dimension"]}
    assert all(hp.seed == 0 and hp.dataset.validation_size == p["validation_size"] for hp in runs.values())
    subspace, tickets = sub.chapter_runs(p, {"lr": 1.0, "batch_size": 128, "epochs": 3})
    assert len(subspace) == len(p["dimensions"]) * p["seeds"]
    assert {hp.training.lr for hp in subspace} == {1.0} and len(tickets) == 2 * p["seeds"]


def _tables(gap):
    """Tickets (canonical) and subspaces whose accuracy is log-linear in size; tickets ``gap`` above."""
    total, seeds = 10_000, [0, 1, 2]
    rng = np.random.default_rng(0)

    def acc(size):
        return 0.5 + 0.1 * np.log10(size)

    subspaces = pd.DataFrame([{"dimension": d, "density": d / total, "seed": s,
                               "test_accuracy": acc(d) + rng.normal(0, 0.001)}
                              for d in (100, 1000, 10_000) for s in seeds])
    tickets = pd.DataFrame([{"basis": "canonical", "round": r, "density": 0.4 ** r, "seed": s,
                             "test_accuracy": acc(total * 0.4 ** r) + gap + rng.normal(0, 0.001)}
                            for r in range(4) for s in seeds])
    return tickets, subspaces, total


@pytest.mark.parametrize("gap, verdict", [(0.05, "holds"), (-0.05, "contradicted")])
def test_equal_size_effects_and_recorded_rows(gap, verdict):
    tickets, subspaces, total = _tables(gap)
    effects, shown = sub.equal_size_effects(tickets, subspaces, total)
    assert (effects["verdict"] == verdict).all()
    assert np.allclose(effects["estimate"], gap, atol=0.005)
    tests = family(effects, given=True, key="c3", claim="5", arm="arm", treatment="ticket", reference="subspace",
                   comparison="ticket ({label}) − random subspace at {size:,} coefficients (LeNet)")
    rows = compute_verdicts(tickets, tests, chapter=sub.CHAPTER)
    assert rows["claim"].eq("5").all() and len(rows) == len(effects)
    expected = verdict_row(effects.iloc[-1], "greater", claim="5", chapter=sub.CHAPTER,
                           comparison="ticket (canonical) − random subspace at 640 coefficients (LeNet)")
    assert {k: rows.iloc[-1][k] for k in expected} == expected
    assert shown["basis"].eq("canonical").all()


def test_intrinsic_summary_interpolates_each_seed():
    tickets, subspaces, total = _tables(0.0)
    p = {"dimensions": [100, 1000, 10_000], "threshold": 0.9}
    summary = sub.intrinsic_summary(subspaces, tickets, p)
    assert summary["total"] == total
    # dense 0.9 -> target 0.81 -> 0.5 + 0.1 log10(d) = 0.81 at d = 10^3.1
    assert summary["sentence"].startswith("geometric mean 1,2")
    assert summary["table"]["d (grid)"].eq("10,000").all()


def test_figures_draw_every_method():
    tickets, subspaces, total = _tables(0.02)
    fig = chapter_figures_subspace.subspace_figure(tickets, subspaces, total, 0.9, 0.9)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert "IMP ticket, canonical basis" in labels and "random subspace (Li et al.)" in labels
    search = pd.DataFrame({"setting": [(0.1, 128), (1.0, 128), "previous"], "lr": [0.1, 1.0, 0.05],
                           "batch_size": [128, 128, 512], "best_accuracy": [0.7, 0.8, 0.6]})
    fig = chapter_figures_subspace.search_figure(search, [128])
    assert len(fig.axes[0].get_lines()) == 1
