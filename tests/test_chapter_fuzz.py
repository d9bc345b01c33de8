"""Fuzz every chapter's parameters in smoke form (hypothesis, reproducible): a bad value fails in the
chapter's first code cells, within seconds, with a message naming the parameter; a good one passes them.

The cells are executed from the chapter's paired ``.py`` source (its ``parameters`` cell, then the
values papermill would inject, then the check cell: ``ch = Chapter(NAME, globals())``, or the explicit
checks of a chapter not yet converted), not through papermill, to keep this fast.
"""
import math
import re
import time
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
CHAPTERS = sorted(p.stem for p in NOTEBOOKS.glob("0*_*.py"))
NAN, INF = float("nan"), float("inf")

# name: (valid values, invalid values); None (the profile's value) is always valid, so never listed as invalid
VALUES = {
    "profile": (["quick", "paper"], ["fast", 3]),
    "seeds": ([2, 3], [1, 0, -1, 21, 10**6, 2.5, "2", True]),
    "adam_seeds": ([2], [1, 21, "x"]),
    "rounds": ([1, 2], [0, -1, 41, 10**6, 1.5, "3"]),
    "row_rounds": ([1, 2], [0, 41, 10**6, "2"]),
    "epochs": ([1, 2], [0, -3, 101, 10**9, 1.5]),
    "batch_size": ([32, 64], [0, -1, 2**21, 3.5]),
    "lr": ([0.05, 0.1], [0.0, -0.1, NAN, INF, "0.1", True]),
    "momentum": ([0.0, 0.9], [-0.5, 1.0, 1.5, NAN]),
    "weight_decay": ([0.0, 1e-4], [-1e-4, INF, NAN]),
    "gamma": ([0.1, 1.0], [0.0, -1.0, 1.5, NAN]),
    "milestones": ([[1], []], [[0], [2, 1], 4, ["1"], [1.5]]),
    "fraction": ([0.2, 0.6], [0.0, 1.0, -0.2, NAN, "0.2"]),
    "output_fraction": ([0.1, 0.3], [1.0, -0.1, NAN]),
    "rewind_iteration": ([0, 5], [-1, 2.5, 10**9]),
    "optimizer": (["sgd", "adam"], ["rmsprop", 3]),
    "dataset": (["digits"], ["imagenet", 3]),
    "model": (["lenet300"], ["vgg", 3]),
    "models": ([["small_cnn"]], [["vgg"], [], "small_cnn"]),
    "bases": ([["canonical", "dct"]], [["nope"], [], "dct", ["canonical", "canonical"]]),
    "reinit_bases": ([[], ["canonical"]], [["nope"], "dct"]),
    "controls": ([[], ["reinit"]], [["ticket"], ["nope"], "reinit"]),
    "tolerance": ([0.5, 1.0], [-1.0, NAN, "1"]),
    "adam_lr": ([1e-3], [0.0, -1.0, NAN]),
    "one_sided_round": ([1, 3], [0, -1, 10**6, 1.5, "3"]),
    "equivariance_seeds": ([2], [1, 0, 21, 2.5, "2"]),
    "dimensions": ([[1000], [1000, 3000]], [[0], [], [10**12], [60000], [5, 5], "1000", [1.5]]),
    "ticket_bases": ([["canonical", "random"]], [["random"], ["nope"], []]),
    "threshold": ([0.9, 1.0], [0.0, 1.5, NAN, "0.9"]),
    "subspace_batch_size": ([256, 512], [0, -1, 2**21, 1.5]),
    "subspace_lrs": ([[0.3, 1.0], [1.0]], [[], [0.0], [0.3, 0.3], "0.3", [True]]),
    "subspace_batch_sizes": ([[128], [64, 128]], [[], [0], [1.5], [128, 128], 128]),
    "subspace_epochs": ([1, 2], [0, -1, 1.5, "2"]),
    "search_dimension": ([100, 1000], [0, -5, 2.5]),
    "validation_size": ([100, 300], [0, -1, 1.5]),
    "row_fraction": ([0.4], [0.0, 1.0, NAN]),
    "lowrank_bases": ([["dct"]], [["canonical"], [], ["nope"]]),
    "element_bases": ([["canonical", "dct"]], [["dct"], []]),
    "channel_dct": ([False], ["yes", 1]),
    "device": (["auto", "cpu"], ["tpu", 3, "cuda:x"]),
    "scheduler": (["auto", "serial"], ["slurm", "tcp://127.0.0.1:1", "tcp://nohost", 3]),
    "results_dir": (["RESULTS"], [3, "UNDER_A_FILE"]),
}
# chapter 06 reads a results folder: it must exist
SUMMARY_VALUES = {"results_dir": (["RESULTS"], [3, "MISSING", "A_FILE"])}
# chapter 07 (a tutorial) trains its own models with its own loop: its names mean other things
TUTORIAL_VALUES = {
    "models": ([["transformer"], ["lstm", "transformer"]], [["vgg"], [], "lstm"]),
    "steps": ([1, 2], [0, -1, 1.5, "2"]),
    "resnet_steps": ([1], [0, 2.5]),
    "batch_size": ([16, 32], [0, -1, 1.5]),
    "lr": ([1e-3], [0.0, -0.1, NAN, "0.1", True]),
    "density": ([0.2], [0.0, 1.0, NAN]),
    "unit_density": ([0.5], [0.0, 1.5]),
    "rank_density": ([0.125], [0.0, -0.1]),
    "batch_sizes": ([[1, 8]], [[], [0], "1", [True]]),
    "repeats": ([1, 2], [0, 1.5]),
    "results_dir": (["RESULTS"], [3]),
}
# chapter 05's own parameters (rounds until out of the band, one-shot ablations)
CONV_VALUES = {
    "first_rounds": ([1, 3], [0, -1, 41, 1.5, "2"]),
    "ablations": ([["canonical", "fc1"], []], [["nope"], "fc1", ["fc1", "fc1"]]),
    "ablation_seeds": ([0, 2], [-1, 21, 1.5, "2"]),
    "ablation_round": ([1, 2], [0, 41, 2.5]),
}
CHAPTER_VALUES = {"05_conv": {**VALUES, **CONV_VALUES}, "06_summary": SUMMARY_VALUES, "07_your_model": TUTORIAL_VALUES}
#: Parameters whose default is a value, not None (None is then invalid, never drawn as valid).
NOT_NONE = {"profile", "device", "scheduler", "results_dir", "subspace_batch_size"}
CHAPTER_NOT_NONE = {"07_your_model": {"batch_size", "lr", "density", "unit_density", "rank_density"}}


def cells(chapter: str) -> tuple[str, str]:
    """(parameters cell, check cell) of ``chapter``'s paired .py source."""
    source = (NOTEBOOKS / f"{chapter}.py").read_text()
    chunks = re.split(r"^# %%.*$", source, flags=re.M)
    headers = re.findall(r"^# %%.*$", source, flags=re.M)
    index = next(i for i, h in enumerate(headers) if 'tags=["parameters"]' in h)
    check = chunks[index + 2]
    assert "Chapter(" in check or "check_parameters(globals())" in check, f"{chapter}: the cell after the " \
        "parameters cell must check them (ch = Chapter(NAME, globals()))"
    return chunks[index + 1], check


def declared(chapter: str) -> list[str]:
    parameters, _ = cells(chapter)
    return re.findall(r"^(\w+)\s*=", parameters, flags=re.M)


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    root = tmp_path_factory.mktemp("chapter_fuzz")
    (root / "results").mkdir()
    (root / "a_file").write_text("x")
    return {"RESULTS": str(root / "results"), "UNDER_A_FILE": str(root / "a_file" / "results"),
            "MISSING": str(root / "missing"), "A_FILE": str(root / "a_file")}


def run_first_cells(chapter: str, overrides: dict) -> None:
    """Execute ``chapter``'s parameters cell, ``overrides`` (as papermill injects them), and its check cell."""
    parameters, check = cells(chapter)
    namespace = {"__name__": "__main__"}
    threads = torch.get_num_threads()
    try:
        exec(compile(parameters, f"{chapter}:parameters", "exec"), namespace)
        namespace.update(overrides)
        exec(compile(check, f"{chapter}:check", "exec"), namespace)
    finally:
        torch.set_num_threads(threads)  # smoke mode sets one thread; keep the other tests' setting


def test_every_chapter_parameter_is_fuzzed():
    for chapter in CHAPTERS:
        table = CHAPTER_VALUES.get(chapter, VALUES)
        missing = [n for n in declared(chapter) if n != "smoke" and n not in table and n not in VALUES]
        assert not missing, f"{chapter}: no fuzz values for {missing}"


@pytest.mark.parametrize("chapter", CHAPTERS)
@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_fuzz_chapter_parameters(chapter, places, data, monkeypatch):
    monkeypatch.setenv("GLTH_RESULTS_DIR", places["RESULTS"])
    table = {**VALUES, **CHAPTER_VALUES.get(chapter, {})}
    names = [n for n in declared(chapter) if n in table]
    broken = data.draw(st.one_of(st.none(), st.sampled_from(names)), label="broken")
    overrides = {"smoke": True}
    for name in names:
        valid, invalid = table[name]
        not_none = NOT_NONE | CHAPTER_NOT_NONE.get(chapter, set())
        value = data.draw(st.sampled_from(invalid if name == broken else valid + ([None] if name not in not_none
                                                                                  else [])), label=name)
        overrides[name] = places.get(value, value) if isinstance(value, str) else value
    start = time.perf_counter()
    if broken is None:
        run_first_cells(chapter, overrides)
        event("valid parameters pass the check cell")
        return
    with pytest.raises((ValueError, TypeError)) as failure:
        run_first_cells(chapter, overrides)
    elapsed = time.perf_counter() - start
    assert broken in str(failure.value), (broken, overrides[broken], str(failure.value))
    assert elapsed < 10, f"{chapter}: a bad {broken} took {elapsed:.1f} s to be refused"
    event(f"bad {broken} refused")


def test_rounds_limit_says_how_to_go_further(places, monkeypatch):
    monkeypatch.setenv("GLTH_RESULTS_DIR", places["RESULTS"])
    with pytest.raises(ValueError, match=r"parameter rounds must be an integer in \[1, 40\], got 1000000.*"
                                         r"GLTH_MAX_ROUNDS=1000000"):
        run_first_cells("01_canonical", {"smoke": True, "rounds": 1000000})
    monkeypatch.setenv("GLTH_MAX_ROUNDS", "50")  # raised: the engine's own bound (density) decides then
    run_first_cells("01_canonical", {"smoke": True, "rounds": 41, "fraction": 0.2})
    with pytest.raises(ValueError, match=r"parameter rounds must be in \[0, 22\] at parameter fraction 0.6"):
        run_first_cells("01_canonical", {"smoke": True, "rounds": 41, "fraction": 0.6})


def test_gamma_is_bounded_as_in_the_engine(places, monkeypatch):
    monkeypatch.setenv("GLTH_RESULTS_DIR", places["RESULTS"])
    for chapter in ("01_canonical", "05_conv"):
        with pytest.raises(ValueError, match=r"parameter gamma must be in \(0, 1\]"):
            run_first_cells(chapter, {"smoke": True, "gamma": -1.0})


def test_a_data_set_missing_offline_fails_in_the_first_cell(places, monkeypatch):
    from glth_core import data

    def missing(name, **kwargs):
        raise data.DatasetNotFoundError(f"data set {name!r} not found: tried the cache; run make data")

    monkeypatch.setenv("GLTH_RESULTS_DIR", places["RESULTS"])
    monkeypatch.setattr(data, "fetch", missing)
    with pytest.raises(ValueError, match=r"parameter dataset 'digits': data set 'digits' not found.*make data"):
        run_first_cells("02_bases", {"smoke": True})


@pytest.mark.parametrize("where", ["MISSING", "A_FILE"])
def test_summary_names_a_missing_results_folder(places, where):
    with pytest.raises(ValueError, match=re.escape(repr(places[where])) + r" \(parameter results_dir"):
        run_first_cells("06_summary", {"smoke": True, "results_dir": places[where]})


def test_summary_names_an_unreadable_results_folder(places, monkeypatch):
    import os

    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False if str(path) == places["RESULTS"]
                        else real_access(path, mode))  # root reads everything: simulate a chmod 000 folder
    with pytest.raises(ValueError, match=re.escape(repr(places["RESULTS"])) + r".*cannot be read"):
        run_first_cells("06_summary", {"smoke": True, "results_dir": places["RESULTS"]})
    monkeypatch.undo()
    run_first_cells("06_summary", {"smoke": True, "results_dir": places["RESULTS"]})  # readable again: passes


def test_the_fuzz_values_really_are_out_of_bounds():
    """Guard the table itself: each numeric bad value is outside what the engine's validate accepts."""
    from glth_core.engine import hparams as H

    for name in ("lr", "momentum", "weight_decay", "gamma", "fraction", "output_fraction", "batch_size"):
        for value in VALUES[name][1]:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                with pytest.raises((ValueError, TypeError)):
                    H.validate(H.update(H.ImpHparams(), **{name: value}))
    assert math.isnan(VALUES["gamma"][1][-1])
