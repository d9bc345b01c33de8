r"""Chapter 03 (random subspaces against tickets): parameters, runs, the validation search, and the tables.

The chapter's parameters are checked by :class:`glth_core.book.chapter.Chapter` (rules in
:mod:`glth_core.book.chapter_runs`); the functions here take its resolved parameters plus
``device``, ``scheduler`` and ``results_dir``.

* :func:`search_runs` / :func:`search_table`: the subspaces' learning rate, minibatch and
  epochs chosen on a validation split (seed 0 at ``search_dimension``), with the schedule
  of earlier versions of the chapter for reference;
* :func:`chapter_runs`: the subspace runs (trained with the chosen setting) and the ticket
  runs (shared with chapters 01 and 02);
* :func:`intrinsic_summary`: the intrinsic dimension per seed and over seeds (a Student-t
  interval on $\log d$);
* :func:`equal_size_effects`: *ticket − subspace* at each ticket size inside the grid,
  paired on the seed, with the fields of claim 5's verdict labels (the chapter declares the tests).
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .labels import basis_label

__all__ = ["CHAPTER", "SCHEDULE_KEYS", "search_runs", "search_table", "shown_search", "chapter_runs",
           "sweep_runs", "cost_lines", "intrinsic_summary", "equal_size_effects"]

CHAPTER = "03_subspace"
SCHEDULE_KEYS = ("model", "dataset", "optimizer", "momentum", "weight_decay", "gamma")


def search_runs(p: Mapping) -> dict:
    """The validation search: ``{(lr, batch size) or "previous": SubspaceHparams}`` at ``search_dimension``, seed 0."""
    from ..engine.hparams import SubspaceHparams, update

    base = update(SubspaceHparams(), **{k: p[k] for k in SCHEDULE_KEYS}, dimension=p["search_dimension"],
                  seed=0, validation_size=p["validation_size"], split_seed=0)
    runs = {(lr, bs): update(base, lr=lr, batch_size=bs, epochs=p["subspace_epochs"], milestones=())
            for lr in p["subspace_lrs"] for bs in p["subspace_batch_sizes"]}
    runs["previous"] = update(base, lr=p["lr"], batch_size=512, epochs=p["epochs"],
                              milestones=tuple(p["milestones"]))
    return runs


def search_table(p: Mapping) -> tuple[pd.DataFrame, dict]:
    """Run the validation search; a setting whose training diverged is kept as a row without accuracy.

    Returns:
        ``(search, chosen)``: one row per setting (``setting``, ``lr``, ``batch_size``, ``epochs``,
        ``best epoch``, ``best_accuracy``, ``val_accuracy``, ``wall_time_s``, ...), grid settings first;
        ``chosen``: ``lr``, ``batch_size``, ``epochs`` of the best grid setting and its ``best_accuracy``.

    Raises:
        RuntimeError: every grid setting, or the previous schedule, failed.
    """
    from ..engine.hparams import run_key
    from ..runs.sweep import sweep

    searched = search_runs(p)
    search = sweep(list(searched.values()), scheduler=p["scheduler"], device=p["device"],
                   results_dir=p["results_dir"], progress=False)
    label_of = {run_key("subspace", hp): label for label, hp in searched.items()}
    search = search.assign(setting=search.run_id.map(label_of))
    diverged = [label for label in searched if label != "previous" and label not in set(search.setting)]
    if len(diverged) == len(searched) - 1 or "previous" not in set(search.setting):
        raise RuntimeError("search runs failed:\n" + "\n".join(map(str, search.attrs["failures"])))
    search = pd.concat([search, pd.DataFrame({"setting": diverged, "lr": [lr for lr, _ in diverged],
                                              "batch_size": [bs for _, bs in diverged],
                                              "epochs": p["subspace_epochs"]})], ignore_index=True)
    search = search.assign(_previous=search.setting == "previous").sort_values(["_previous", "lr", "batch_size"]) \
        .drop(columns="_previous").reset_index(drop=True)
    steps_per_epoch = search.iterations / search.epochs
    search["best epoch"] = (search.best_iteration / steps_per_epoch).round().clip(lower=1).astype("Int64")
    grid = search[search.setting != "previous"]
    best = grid.loc[grid.best_accuracy.idxmax()]
    chosen = {"lr": float(best.lr), "batch_size": int(best.batch_size), "epochs": int(best["best epoch"]),
              "best_accuracy": float(best.best_accuracy)}
    return search, chosen


def shown_search(search: pd.DataFrame) -> pd.DataFrame:
    """The search table for display (accuracies in %, a diverged setting marked as such)."""
    return pd.DataFrame({
        "setting": ["previous (tickets' schedule, minibatch 512)" if s == "previous" else "grid"
                    for s in search.setting],
        "lr": search.lr, "minibatch": search.batch_size.astype(int), "epochs run": search.epochs.astype(int),
        "best epoch": search["best epoch"].astype(object).where(search["best epoch"].notna(), "diverged"),
        "best val. accuracy (%)": 100 * search.best_accuracy,
        "final val. accuracy (%)": 100 * search.val_accuracy}).round(2)


def chapter_runs(p: Mapping, setting: Mapping) -> tuple[list, list]:
    """(subspace runs trained with ``setting``, ticket runs): every dimension, ticket basis and seed."""
    from ..engine.hparams import SubspaceHparams, update
    from .profiles import imp_base

    base = update(SubspaceHparams(), **{k: p[k] for k in SCHEDULE_KEYS}, lr=setting["lr"],
                  batch_size=setting["batch_size"], epochs=setting["epochs"], milestones=())
    seeds = range(p["seeds"])
    subspace = [update(base, dimension=d, seed=s) for d in p["dimensions"] for s in seeds]
    tickets = [imp_base(p, basis=b, seed=s) for b in p["ticket_bases"] for s in seeds]
    return subspace, tickets


def sweep_runs(p: Mapping, setting: Mapping) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(subspaces, tickets): the swept tables of :func:`chapter_runs` (a failed run raises)."""
    from ..runs.sweep import sweep

    subspace_runs, ticket_runs = chapter_runs(p, setting)
    where = dict(scheduler=p["scheduler"], device=p["device"], results_dir=p["results_dir"], progress=False,
                 errors="raise")
    return sweep(subspace_runs, **where), sweep(ticket_runs, **where)


def cost_lines(p: Mapping, chosen: Mapping, search: pd.DataFrame, subspaces: pd.DataFrame,
               tickets: pd.DataFrame) -> str:
    """What this build trained (minutes, steps per run) and the other profile's estimated ticket cost."""
    from .profiles import chapter_parameters, estimated_cost_hours

    def hours(h):
        return "not measured" if h is None else f"{h:.2f} h"

    other = "paper" if p["profile"] == "quick" else "quick"
    _, other_tickets = chapter_runs(chapter_parameters(CHAPTER, other), chosen)
    minutes = (subspaces.wall_time_s.sum() + search.wall_time_s.sum() + tickets.wall_time_s.sum()) / 60
    per_ticket = tickets.groupby(["basis", "seed"])
    return "\n".join([
        f"this build ({p['profile']}{', smoke' if p['smoke'] else ''}): {minutes:.1f} min of training "
        f"(subspaces {subspaces.wall_time_s.sum() / 60:.1f} min, validation search "
        f"{search.wall_time_s.sum() / 60:.1f} min, tickets {tickets.wall_time_s.sum() / 60:.1f} min)",
        f"cost per run (median): a subspace run {int(subspaces.iterations.median()):,} steps of minibatch "
        f"{chosen['batch_size']} ({chosen['epochs']} epochs, {subspaces.wall_time_s.median():.1f} s); a ticket run, "
        f"all {p['rounds'] + 1} rounds, {int(per_ticket.iterations.sum().median()):,} steps of minibatch "
        f"{p['batch_size']} ({p['epochs']} epochs per round, {per_ticket.wall_time_s.sum().median():.1f} s)",
        f"profile {other}, tickets: CPU {hours(estimated_cost_hours(other_tickets, 'cpu'))}, "
        f"GPU {hours(estimated_cost_hours(other_tickets, 'gpu'))}; subspace runs: not measured"])


def intrinsic_summary(subspaces: pd.DataFrame, tickets: pd.DataFrame, p: Mapping) -> dict:
    """The intrinsic dimension per seed and over seeds.

    Returns:
        ``total`` (coefficients of the network), ``dense`` (per-seed dense accuracy, a Series),
        ``table`` (per seed, for display), ``sentence`` (the estimate over seeds: geometric mean and
        95% t interval of the interpolated ``d``, or the bound the grid gives) and ``subspace``
        (test accuracy over seeds per ``d``).
    """
    from ..analysis import equal_size, stats

    grid = p["dimensions"]
    total = int(round(float((subspaces.dimension / subspaces.density).mean())))
    dense = tickets[(tickets["round"] == 0) & (tickets.basis == "canonical")].set_index("seed").test_accuracy
    intrinsic = equal_size.intrinsic_dimensions(subspaces, dense.to_dict(), p["threshold"])
    log_d = np.log(intrinsic.interpolated.dropna())
    if len(log_d) >= 2:
        low, high = stats.t_interval(log_d)
        sentence = f"geometric mean {np.exp(log_d.mean()):,.0f}, 95% CI [{np.exp(low):,.0f}, {np.exp(high):,.0f}]"
    elif len(log_d) == 1:
        sentence = f"{np.exp(log_d.iloc[0]):,.0f} (one seed reaches the line)"
    else:
        sentence = f"larger than the grid (> {grid[-1]:,}) for every seed"
    n_censored = int(intrinsic.censored.sum())
    if n_censored == len(intrinsic):
        sentence = f"at most {grid[0]:,} for every seed (the smallest d of the grid already reaches the line)"
    elif n_censored:
        sentence += (f"; {n_censored} of {len(intrinsic)} seeds already reach the line at the smallest d of the "
                     "grid, so this is an upper bound")
    table = intrinsic.assign(**{
        "dense (%)": 100 * intrinsic.dense, "target (%)": 100 * intrinsic.target,
        "d (grid)": [("≤ " if c else "") + (f"{g:,}" if pd.notna(g) else f"> {grid[-1]:,}")
                     for g, c in zip(intrinsic.grid, intrinsic.censored)],
        "d (interpolated)": [f"{v:,.0f}" if np.isfinite(v) else "n/a" for v in intrinsic.interpolated]})
    table = table[["seed", "dense (%)", "target (%)", "d (grid)", "d (interpolated)"]].round(2)
    subspace = stats.summarize(subspaces, ["dimension"])
    return {"total": total, "dense": dense, "table": table, "sentence": sentence, "subspace": subspace}


def equal_size_effects(tickets: pd.DataFrame, subspaces: pd.DataFrame, total: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(*ticket − subspace* at each ticket round inside the grid, paired on the seed, with verdicts and the
    fields of the chapter's verdict labels: ``label``, the basis' reader label, and ``size``, the ticket's
    coefficients rounded to an int; the same for display)."""
    from ..analysis import equal_size, stats

    sized = tickets.assign(coefficients=tickets.density * total)
    effects = equal_size.equal_size_difference(sized, subspaces, x="coefficients", reference_x="dimension",
                                               by=["basis", "round"])
    effects = stats.with_verdicts(effects, "greater")
    effects = effects.assign(label=[basis_label(b) for b in effects.basis],
                             size=[int(round(c)) for c in effects.coefficients])
    shown = pd.DataFrame({
        "basis": effects.basis.map(basis_label), "round": effects["round"],
        "coefficients": effects.coefficients.round().astype(int),
        "ticket (%)": 100 * effects.treatment_mean, "subspace (%)": 100 * effects.reference_mean,
        "verdict (ticket − subspace)": effects.sentence}).round(2)
    return effects, shown
