r"""The analysis of chapter 04 (structured pruning as generalized tickets): runs, baseline, checks, verdict rows.

Row pruning of the coefficients :math:`C` is unit pruning in the canonical basis and a
low-rank factorisation :math:`W = Q_1[:, K]\,(C[K, :]\,Q_2^\top)` in a rotated output
basis. This module gives the chapter:

* :func:`chapter_runs`: the structured (row) runs and the shared element runs;
* :func:`method_of`: the display name of a (granularity, basis) pair;
* :func:`with_svd_baseline`: the runs table plus the trained dense network truncated
  by SVD to the structured runs' ranks (not retrained), with a ``method`` column;
* :func:`export_check`: the exported low-rank ticket's factorised layers and the
  three checks of claim 4 "by construction";
* :func:`element_effects`, :func:`svd_effects`: the paired effects (structured - element
  at equal parameter count; low-rank ticket - truncation), which the chapter declares as tests;
* :func:`verdict_counts`: how many comparisons hold, are contradicted, inconclusive.
"""
from __future__ import annotations

import json

import pandas as pd
import torch

from ..analysis import equal_size, stats
from ..core.bases import basis_label
from ..core.export import count_parameters, export, multiply_adds
from ..engine.lottery import load_splits, round_model
from .profiles import imp_base
from ..engine.training import evaluate
from ..analysis.truncation import ranks_from_densities, truncate_svd

__all__ = ["CHAPTER", "SVD_METHOD", "chapter_runs", "row_run", "method_of", "with_svd_baseline", "export_check",
           "element_effects", "svd_effects", "verdict_counts", "structured_summary",
           "export_report", "element_table", "svd_table"]

CHAPTER = "04_structured"
SVD_METHOD = "trained SVD, truncated"


def row_run(p: dict, basis: str, seed: int):
    """The structured (row-granularity) IMP run of ``basis`` and ``seed`` under resolved parameters ``p``.

    The output layer is never pruned (``output_fraction=0``): its rows are the classes.
    """
    return imp_base(p, granularity="row", fraction=p["row_fraction"], rounds=p["row_rounds"], output_fraction=0.0,
                    basis=basis, seed=seed)


def chapter_runs(p: dict) -> list:
    """Chapter 04's runs under resolved parameters ``p``: the structured (row) runs of the canonical basis and of
    ``lowrank_bases``, then the shared element runs of ``element_bases`` (every seed)."""
    seeds = range(p["seeds"])
    return ([row_run(p, b, s) for b in ["canonical", *p["lowrank_bases"]] for s in seeds]
            + [imp_base(p, basis=b, seed=s) for b in p["element_bases"] for s in seeds])


def method_of(granularity: str, basis: str) -> str:
    """``("row", "dct") -> "low rank, DCT rows"``; ``("row", "canonical") -> "units (canonical rows)"``."""
    if granularity == "element":
        return f"element ticket, {basis_label(basis)}"
    if basis == "svd":
        return SVD_METHOD
    return "units (canonical rows)" if basis == "canonical" else f"low rank, {basis_label(basis)} rows"


def with_svd_baseline(table: pd.DataFrame, p: dict, results_dir=None) -> pd.DataFrame:
    """``table`` plus, per seed and structured round, the trained dense network truncated by SVD to the same ranks.

    Each seed's dense network is round 0 of its canonical element run; the ranks of each
    canonical structured round come from its stored layer densities
    (:func:`glth_core.analysis.truncation.ranks_from_densities`); the truncation is evaluated on the
    test set without retraining. Adds a ``method`` column (:func:`method_of`) to every row.
    """
    x_test, y_test = load_splits(imp_base(p).dataset).test
    units = table[(table.granularity == "row") & (table.basis == "canonical") & (table["round"] > 0)]
    rows = []
    for seed in range(p["seeds"]):
        dense = round_model(imp_base(p, basis="canonical", seed=seed), 0, results_dir)
        mine = units[units.seed == seed]
        for r, densities in zip(mine["round"], mine.layer_densities):
            truncated = truncate_svd(dense, ranks_from_densities(dense, json.loads(densities)))
            accuracy, _ = evaluate(truncated, x_test, y_test)
            rows.append({"basis": "svd", "granularity": "row", "seed": seed, "round": int(r),
                         "params": count_parameters(truncated), "test_accuracy": accuracy})
    frame = pd.concat([table, pd.DataFrame(rows)], ignore_index=True)
    frame["method"] = [method_of(g, b) for g, b in zip(frame.granularity, frame.basis)]
    return frame


def export_check(p: dict, results_dir=None) -> dict:
    """Export the sparsest round of the first low-rank run (seed 0) and check claim 4 by construction.

    Returns:
        A dict: ``basis``; ``pairs`` (layer name -> ``(in, r, out)`` of each exported
        ``Linear(in -> r)``, ``Linear(r -> out)`` pair); ``checks`` (description -> bool:
        pairs exist, outputs agree to 1e-4 on the test set, exported parameters = sum of
        r(out + in) + the rest); ``exported``/``dense`` parameters; ``exported_madds``/``dense_madds``
        (multiply-adds per image); ``engine`` (``count_parameters`` of the generalized model).
    """
    hp = row_run(p, p["lowrank_bases"][0], 0)
    x_test = load_splits(hp.dataset).test[0]
    generalized = round_model(hp, p["row_rounds"], results_dir)
    plain = export(generalized)
    with torch.no_grad():
        max_difference = float((generalized(x_test) - plain(x_test)).abs().max())
    pairs = {name: m for name, m in plain.named_modules() if isinstance(m, torch.nn.Sequential) and len(m) == 2
             and all(isinstance(layer, torch.nn.Linear) for layer in m)}
    factor_params = sum(m[0].out_features * (m[0].in_features + m[1].out_features) for m in pairs.values())
    outside = [q for n, q in plain.named_parameters() if not any(n.startswith(k + ".") for k in pairs)]
    other_params = sum(q.numel() for q in outside) + sum(m[1].bias.numel() for m in pairs.values()
                                                         if m[1].bias is not None)
    exported = sum(q.numel() for q in plain.parameters())
    dense = export(round_model(imp_base(p, basis="canonical", seed=0), 0, results_dir))
    shape = tuple(x_test.shape[1:])
    return {
        "basis": hp.pruning.basis,
        "pairs": {n: (m[0].in_features, m[0].out_features, m[1].out_features) for n, m in pairs.items()},
        "checks": {"factorised layers are Linear(in -> r) then Linear(r -> out)": len(pairs) > 0,
                   "outputs agree: max |generalized - exported| < 1e-4": max_difference < 1e-4,
                   "exported parameters = sum of r(out + in) + the rest": exported == factor_params + other_params},
        "exported": exported, "dense": sum(q.numel() for q in dense.parameters()),
        "exported_madds": multiply_adds(plain, shape), "dense_madds": multiply_adds(dense, shape),
        "engine": count_parameters(generalized),
    }


def element_effects(frame: pd.DataFrame) -> pd.DataFrame:
    """Structured ticket minus the same seed's canonical element ticket at equal parameter count, claimed greater.

    The element ticket's accuracy is interpolated linearly in log(parameters) between its
    neighbouring rounds (:func:`glth_core.analysis.equal_size.equal_size_difference`).
    """
    element = frame[(frame.granularity == "element") & (frame.basis == "canonical")]
    structured = frame[(frame.granularity == "row") & (frame.basis != "svd") & (frame["round"] > 0)]
    return stats.with_verdicts(equal_size.equal_size_difference(structured, element, x="params",
                                                                by=["method", "round"]), "greater")


def svd_effects(frame: pd.DataFrame, lowrank_bases) -> pd.DataFrame:
    """Each low-rank ticket minus the truncated SVD at the same ranks and seed, at every structured round (greater)."""
    pruned = frame[frame["round"] > 0]
    effects = pd.concat([stats.paired_difference(pruned, "method", method_of("row", b), SVD_METHOD, by=["round"])
                         .assign(method=method_of("row", b)) for b in lowrank_bases], ignore_index=True)
    return stats.with_verdicts(effects, "greater")


def verdict_counts(effects: pd.DataFrame) -> dict:
    """``{"n": ..., "holds": ..., "contradicted": ..., "inconclusive": ...}``: the verdicts of paired differences.

    A paired difference is never censored (only a compression can be), so a ``censored``
    verdict here is an error.
    """
    counts = effects.verdict.value_counts()
    if counts.get("censored", 0):
        raise ValueError("verdict_counts counts paired differences, which are never censored")
    return {"n": int(len(effects)), **{v: int(counts.get(v, 0)) for v in ("holds", "contradicted", "inconclusive")}}


def structured_summary(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean test accuracy (%) and mean parameter count of the structured methods, by round (rows) and method."""
    summary = stats.summarize(frame[frame.granularity == "row"], ["method", "round"], means=["params"])
    accuracy = summary.pivot(index="round", columns="method", values="mean").mul(100).round(2)
    params = summary.pivot(index="round", columns="method", values="params").round(0).astype("Int64")
    return accuracy, params


def export_report(check: dict) -> str:
    """The printout of :func:`export_check`: each factorised pair, sizes, multiply-adds and PASS/FAIL per check."""
    lines = [f"{name}: Linear({i} -> {r}) then Linear({r} -> {o}): r = {r}, r(out + in) = {r * (i + o):,}"
             for name, (i, r, o) in check["pairs"].items()]
    lines.append(f"parameters: exported {check['exported']:,} (dense {check['dense']:,}); multiply-adds per image: "
                 f"exported {check['exported_madds']:,} (dense {check['dense_madds']:,})")
    lines += [f"{'PASS' if ok else 'FAIL'}  {what}" for what, ok in check["checks"].items()]
    same = check["engine"] == check["exported"]
    lines.append(f"count_parameters of the generalized model (the figure's axis): {check['engine']:,}, " + (
        "the exported count" if same else "not the exported count: a row-pruned layer with r(out + in) >= out * in "
        "is exported dense, while count_parameters counts its nonzero coefficients"))
    return "\n".join(lines)


def element_table(effects: pd.DataFrame) -> pd.DataFrame:
    """:func:`element_effects` for reading: method, round, parameters, both accuracies (%), the verdict sentence."""
    return pd.DataFrame({"structured": effects.method, "round": effects["round"],
                         "parameters": effects.params.round().astype(int),
                         "structured (%)": 100 * effects.treatment_mean, "element (%)": 100 * effects.reference_mean,
                         "verdict (structured − element)": effects.sentence}).round(2)


def svd_table(effects: pd.DataFrame) -> pd.DataFrame:
    """:func:`svd_effects` for reading: method, round, both accuracies (%), the verdict sentence."""
    return pd.DataFrame({"low-rank ticket": effects.method, "round": effects["round"],
                         "ticket (%)": 100 * effects.treatment_mean, "truncated SVD (%)": 100 * effects.reference_mean,
                         "verdict (ticket − truncation)": effects.sentence}).round(2)
