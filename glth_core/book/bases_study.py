r"""The analysis of chapter 02 (lottery tickets in other bases): runs, tables and verdict rows.

The chapter trains IMP tickets of LeNet-300-100 in several bases (claim 2: tickets
exist in every basis; claim 3: a suitable basis compresses better), a random
re-initialisation control and dense Adam networks (Adam is not rotation-equivariant).
This module turns the sweep's tidy tables into what the chapter shows:

* :data:`RUN_GROUPS`: every run, by experiment group (``tickets``, ``reinit``, ``adam``, ``one_sided``,
  ``own_dense``; the last two analysed by :mod:`glth_core.book.bases_ablation`);
* :func:`accuracy_by_round`, :func:`dense_equivariance`, :func:`adam_dense`: tables;
* :func:`reinit_effects`, :func:`dense_effects`, :func:`compression_effects`,
  :func:`basis_effects`: the paired effects with their verdicts, and :func:`labelled`
  adds the fields of their labels, for the chapter's declared tests (``ch.verdicts``);
* :func:`compaction_table`, :func:`compaction_numbers`: energy compaction (90% of the
  energy) of seed 0's layers at initialisation, after dense training and in the
  sparsest tickets, and the numbers the prose quotes;
* :func:`count_verdicts`, :func:`labelled_sentences`, :func:`share_relation`: short
  texts the chapter glues (verdict counts, verdict sentences, one comparative word).

Basis display names come from the basis registry (:func:`glth_core.core.bases.basis_label`).
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from ..analysis import compaction, stats
from . import bases_ablation
from ..engine import lottery
from ..core.bases import basis_label
from .profiles import imp_base
from ..runs.sweep import grid

__all__ = ["CHAPTER", "RUN_GROUPS", "compared_bases", "percent", "count_verdicts", "labelled_sentences",
           "accuracy_by_round", "dense_equivariance", "adam_dense", "reinit_effects", "dense_effects",
           "compression_effects", "basis_effects", "versus_control", "control_tests", "control_numbers",
           "effect_table", "labelled", "compaction_table", "share_relation", "compaction_numbers"]

CHAPTER = "02_bases"
_label = basis_label


#: Chapter 02's named run groups (``Chapter.runs(group)``), functions of the resolved parameters ``p``:
#: the IMP tickets of every basis and seed, the random re-initialisation control of ``reinit_bases``, the
#: dense Adam networks of ``adam_seeds`` seeds, the one-shot ablation of the first layer's axes
#: (``one_sided``) and the dense networks trained in their own basis (``own_dense``), both of
#: :mod:`glth_core.book.bases_ablation`.
RUN_GROUPS = {
    "tickets": lambda p: grid(imp_base(p), basis=p["bases"], seed=list(range(p["seeds"]))),
    "reinit": lambda p: grid(imp_base(p, control="reinit"), basis=p["reinit_bases"], seed=list(range(p["seeds"])))
    if p["reinit_bases"] else [],
    "adam": lambda p: grid(imp_base(p, rounds=0, optimizer="adam", lr=p["adam_lr"]), basis=p["bases"],
                           seed=list(range(p["adam_seeds"]))),
    "one_sided": lambda p: list(bases_ablation.one_sided_runs(p, compared_bases(p["bases"])[1])),
    "own_dense": bases_ablation.own_dense_runs,
}


def compared_bases(bases: Sequence[str]) -> tuple[list[str], str]:
    """The bases compared with the canonical one, and the one the prose discusses: the DCT if run, else the first.

    Raises:
        ValueError: ``bases`` has no basis besides ``canonical``.
    """
    others = [b for b in bases if b != "canonical"]
    if not others:
        raise ValueError(f"bases must name at least one basis besides 'canonical', got {list(bases)}")
    return others, "dct" if "dct" in others else others[0]


def percent(density: float) -> str:
    """``0.166 -> "16.6%"`` (three significant digits)."""
    return f"{100 * density:.3g}%"


def count_verdicts(effects: pd.DataFrame) -> str:
    """``"3 holds, 2 inconclusive"``: the ``verdict`` column counted in :data:`glth_core.analysis.stats.VERDICTS` order."""
    counts = effects.verdict.value_counts()
    return ", ".join(f"{counts[v]} {v}" for v in stats.VERDICTS if v in counts) or "none"


def labelled_sentences(effects: pd.DataFrame, column: str = "basis") -> str:
    """``"canonical: holds (...); DCT: inconclusive (...)"``: each row's verdict sentence after its label."""
    return "; ".join(f"{_label(r[column])}: {r.sentence}" for _, r in effects.iterrows())


def accuracy_by_round(lottery_table: pd.DataFrame, reinit_bases: Sequence[str]) -> tuple:
    """Tickets, tickets with controls (dense round 0 added), and mean accuracy (%) by round and arm.

    Returns:
        ``(tickets, with_controls, curves)``: the ticket rows; the ticket rows plus the
        control rows of ``reinit_bases`` with their ticket's round 0; and a table indexed by
        round with the mean density (%) and one column per (basis, control) in percent.
    """
    tickets = lottery_table[lottery_table.control == "ticket"]
    controls = lottery_table[lottery_table.control != "ticket"]
    if not controls.empty:  # the controls start at round 1: give them the dense round 0 of their ticket
        controls = stats.with_dense_round(lottery_table[lottery_table.basis.isin(reinit_bases)])
        controls = controls[controls.control != "ticket"]
    full = pd.concat([tickets, controls], ignore_index=True)
    accuracy = stats.summarize(full, ["basis", "control", "round"], means=["density"])
    curves = accuracy.pivot(index="round", columns=["basis", "control"], values="mean").mul(100)
    curves.columns = [f"{_label(b)}, {c}" for b, c in curves.columns]
    curves.insert(0, "weights remaining (%)", 100 * tickets.groupby("round").density.mean())
    return tickets, full, curves


def dense_equivariance(tickets: pd.DataFrame, others: Sequence[str]) -> pd.DataFrame:
    """Round 0 (dense SGD) of each basis in ``others`` minus canonical, paired over seeds.

    Columns: ``basis`` (raw name), ``n``, ``estimate``/``ci_low``/``ci_high`` (fractions),
    ``mean difference (pp)``, ``max |difference| (pp)``.
    """
    dense = tickets[tickets["round"] == 0]
    table = pd.concat([stats.paired_difference(dense, "basis", b, "canonical", by=[]).assign(basis=b)
                       for b in others], ignore_index=True)
    table["mean difference (pp)"] = 100 * table.estimate
    table["max |difference| (pp)"] = [100 * stats.paired_values(dense, "basis", b, "canonical", pair_on=["seed"])
                                      .difference.abs().max() for b in others]
    return table


def adam_dense(adam_table: pd.DataFrame, others: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Dense Adam accuracy by basis, each basis minus canonical, and the numbers the prose quotes.

    Returns:
        ``(by_basis, versus_canonical, numbers)`` where ``numbers`` has ``spread`` (pp
        between the best and worst mean) and ``max_abs`` (largest same-seed |difference|, pp).
    """
    dense = stats.summarize(adam_table, ["basis"])
    versus = pd.concat([stats.paired_difference(adam_table, "basis", b, "canonical", by=[]).assign(basis=b)
                        for b in others], ignore_index=True)
    by_basis = pd.DataFrame({
        "basis": dense.basis.map(_label), "n": dense.n, "dense accuracy (%)": 100 * dense["mean"],
        "95% CI": [f"[{100 * lo:.2f}, {100 * hi:.2f}]" for lo, hi in zip(dense.ci_low, dense.ci_high)]})
    shown = pd.DataFrame({
        "basis": versus.basis.map(_label), "n": versus.n, "minus canonical (pp)": 100 * versus.estimate,
        "95% CI": [f"[{100 * lo:+.2f}, {100 * hi:+.2f}]" for lo, hi in zip(versus.ci_low, versus.ci_high)],
        "interval excludes 0": (versus.ci_low > 0) | (versus.ci_high < 0)})
    largest = max(stats.paired_values(adam_table, "basis", b, "canonical").difference.abs().max() for b in others)
    numbers = {"spread": float(100 * (dense["mean"].max() - dense["mean"].min())), "max_abs": float(100 * largest)}
    return by_basis, shown, numbers


def reinit_effects(lottery_table: pd.DataFrame) -> pd.DataFrame:
    """Ticket minus random re-initialisation by basis and pruned round, claimed greater (with verdicts)."""
    if not (lottery_table.control == "reinit").any():  # the chapter ran no control (reinit_bases empty)
        return pd.DataFrame(columns=["basis", "round", "n", "estimate", "ci_low", "ci_high", "verdict", "sentence",
                                     "side"])
    effects = stats.paired_difference(lottery_table, "control", "ticket", "reinit", by=["basis", "round"])
    return stats.with_verdicts(effects, "greater").assign(side="greater")


def dense_effects(tickets: pd.DataFrame) -> pd.DataFrame:
    """Ticket minus the dense network of the same seed, at round 1 (claimed greater) and the last (claimed less)."""
    last = int(tickets["round"].max())
    parts = [stats.with_verdicts(stats.paired_difference(tickets, "round", r, 0, by=["basis"]), side)
             .assign(round=r, side=side) for r, side in ((1, "greater"), (last, "less"))]
    return pd.concat(parts, ignore_index=True)


def compression_effects(tickets: pd.DataFrame, tolerance_pp: float, others: Sequence[str]) -> tuple:
    """Compression at equal accuracy (claim 3), per basis and as paired ratios to the canonical basis.

    Args:
        tickets: the ticket rows (every basis, seed and round).
        tolerance_pp: the accuracy band below the same seed's dense canonical network, in pp.
        others: the bases compared with the canonical one.

    Returns:
        ``(summary, per_seed, ratios)``: a display table of each basis' geometric-mean
        compression with its interval and the check against each basis' own dense network;
        the per-seed compressions as text (seeds x bases); each basis' ratio to canonical
        with its verdict (claimed greater than 1, ``side`` column).
    """
    per_seed = stats.compression(tickets, tolerance_pp / 100, reference={"basis": "canonical"})
    own_reference = stats.compression(tickets, tolerance_pp / 100, reference="own")
    own = stats.summarize_compression(own_reference).set_index("basis")
    summary = stats.summarize_compression(per_seed)
    shown = pd.DataFrame({
        "basis": summary.basis.map(_label), "n": summary.n, "censored": summary.censored,
        "compression (geo. mean)": [stats.format_compression(r.compression, r.censored > 0, 1)
                                    for r in summary.itertuples()],
        "95% CI": [f"[{r.ci_low:.1f}, {r.ci_high:.1f}]" + (" (lower bound)" if r.bound == "lower" else "")
                   for r in summary.itertuples()],
        "check: own reference": [stats.format_compression(own.compression[b], own.censored[b] > 0, 1)
                                 for b in summary.basis]})
    bases = ["canonical", *others]
    by_seed = per_seed.assign(shown=[stats.format_compression(r.compression, r.censored, 1)
                                     for r in per_seed.itertuples()])
    by_seed = by_seed.pivot(index="seed", columns="basis", values="shown")[bases].rename(columns=_label)
    ratios = pd.concat([stats.compression_ratio(per_seed, "basis", b, "canonical").assign(basis=b) for b in others],
                       ignore_index=True)
    ratios = stats.with_verdicts(ratios, "greater", unit="x", scale=1, null=1).assign(side="greater")
    return shown, by_seed, ratios


def basis_effects(tickets: pd.DataFrame, others: Sequence[str]) -> pd.DataFrame:
    """Each basis minus canonical at every matched pruned round, claimed greater (with verdicts)."""
    effects = pd.concat([stats.paired_difference(tickets, "basis", b, "canonical").assign(basis=b) for b in others],
                        ignore_index=True)
    return stats.with_verdicts(effects[effects["round"] > 0].reset_index(drop=True), "greater").assign(side="greater")


def versus_control(tickets: pd.DataFrame, tolerance_pp: float, focus: str, control: str = "random") -> tuple:
    """Claim 3's control: is it ``focus``'s structure, or rotation as such? ``focus`` minus ``control``.

    Args:
        tickets: the ticket rows (every basis, seed and round).
        tolerance_pp: the accuracy band of the compressions (below the same seed's dense canonical network).
        focus: the basis under test (the DCT).
        control: the structureless rotation it is compared with (a random orthogonal basis).

    Returns:
        ``(rounds, ratio)``: the paired difference ``focus - control`` at every matched pruned round and
        the paired compression ratio ``focus / control``, each with its verdict (claimed greater, ``side``
        column) and the columns ``basis`` (``focus``) and ``reference`` (``control``); both empty when one
        of the two bases was not run.
    """
    if focus == control or not {focus, control} <= set(tickets["basis"]):
        return pd.DataFrame(), pd.DataFrame()
    rounds = stats.paired_difference(tickets, "basis", focus, control)
    rounds = stats.with_verdicts(rounds[rounds["round"] > 0].reset_index(drop=True), "greater")
    per_seed = stats.compression(tickets, tolerance_pp / 100, reference={"basis": "canonical"})
    ratio = stats.with_verdicts(stats.compression_ratio(per_seed, "basis", focus, control), "greater", unit="x",
                                scale=1, null=1)
    return tuple(t.assign(basis=focus, reference=control, side="greater") for t in (rounds, ratio))


def control_tests(rounds: pd.DataFrame, ratio: pd.DataFrame, density_at: pd.Series) -> list:
    """The declared tests (:func:`glth_core.book.chapter_verdicts.family`) of :func:`versus_control`'s tables."""
    from .chapter_verdicts import family

    if rounds.empty:
        return []
    return [*family(labelled(rounds, density_at).assign(reference_label=lambda f: f.reference.map(_label)),
                    given=True, key="c2_control", claim="3", side="{side}", arm="basis", treatment="{basis}",
                    reference="{reference}", comparison="{label} − {reference_label} at {weights} of weights (LeNet)"),
            *family(labelled(ratio).assign(reference_label=lambda f: f.reference.map(_label)), given=True,
                    key="c2_control_ratio", claim="3", side="{side}", kind="compression", arm="basis",
                    treatment="{basis}", reference="{reference}",
                    comparison="compression {label} / {reference_label} within {tolerance:g} pp (LeNet)")]


def control_numbers(rounds: pd.DataFrame, ratio: pd.DataFrame) -> dict:
    """What the chapter glues about :func:`versus_control`: the round verdicts counted, the ratio's sentence."""
    if rounds.empty:
        return {"c2_control_rounds": "not run (the chapter's bases lack the DCT or the random basis)",
                "c2_control_ratio": "not run"}
    return {"c2_control_rounds": count_verdicts(rounds), "c2_control_ratio": ratio["sentence"].iloc[0]}


def effect_table(effects: pd.DataFrame, density_at: pd.Series) -> pd.DataFrame:
    """``effects`` for reading: basis label (and, for effects against another basis than the canonical one, the
    ``reference`` it is compared with, column ``minus``), round, weights remaining (``density_at[round]``), side,
    sentence."""
    minus = {"minus": effects.reference.map(_label)} if "reference" in effects else {}
    return pd.DataFrame({"basis": effects.basis.map(_label), **minus, "round": effects["round"],
                         "weights": [percent(density_at[r]) for r in effects["round"]], "side": effects.side,
                         "sentence": effects.sentence})


def labelled(effects: pd.DataFrame, density_at: pd.Series | None = None) -> pd.DataFrame:
    """``effects`` with the fields the chapter's verdict labels name: ``label`` (the basis' reader label)
    and, given each round's mean density ``density_at``, ``weights`` (``"16.6%"``)."""
    labelled = effects.assign(label=[_label(b) for b in effects.basis])
    if density_at is None:
        return labelled
    return labelled.assign(weights=[percent(density_at[r]) for r in effects["round"]])


def compaction_table(runs_of_seed0: dict, bases: Sequence[str], results_dir=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Energy compaction of seed 0's layers in every basis, at three moments.

    Args:
        runs_of_seed0: basis -> that basis' seed-0 ticket run (``ImpHparams``); must hold ``canonical``.
        bases: the bases measured (columns, in this order).
        results_dir: where the runs' checkpoints are.

    Returns:
        ``(curves, k90)``: the energy curves (``glth_core.analysis.compaction.energy_curve`` rows
        with a ``state`` column) and the percent of coefficients holding 90% of each
        layer's energy, indexed by (state, layer), one column per basis. States:
        ``initialisation`` and ``dense trained`` (the canonical run's round 0, written in
        each basis, first layer image-aware) and ``sparsest ticket`` (each basis' last
        round in its own coefficients).
    """
    canonical = runs_of_seed0["canonical"]
    split = lottery.load_splits(canonical.dataset)
    shape = split.input_shape
    states = {"initialisation": lottery.generalized_model(canonical, shape, split.num_classes),
              "dense trained": lottery.round_model(canonical, 0, results_dir)}
    curves, needed = [], []
    for state, net in states.items():
        for b in bases:
            curves.append(compaction.energy_curve(net, b, image_shape=shape).assign(state=state))
            needed.append(compaction.energy_needed(net, b, levels=(0.9,), image_shape=shape).assign(state=state))
    for b in bases:
        ticket = lottery.round_model(runs_of_seed0[b], runs_of_seed0[b].pruning.rounds, results_dir)
        curves.append(compaction.energy_curve(ticket).assign(state="sparsest ticket"))
        needed.append(compaction.energy_needed(ticket, levels=(0.9,)).assign(state="sparsest ticket"))
    curves, needed = pd.concat(curves, ignore_index=True), pd.concat(needed, ignore_index=True)
    k90 = needed.pivot_table(index=["state", "layer"], columns="basis", values="k_percent", sort=False)[list(bases)]
    return curves, k90


def share_relation(a: float, b: float) -> str:
    """How a share of coefficients ``a`` compares with ``b``: "fewer than", "about as many as" (within 10%) or
    "more than"."""
    return "about as many as" if abs(a - b) <= 0.1 * max(a, b) else "fewer than" if a < b else "more than"


def compaction_numbers(k90: pd.DataFrame, focus: str) -> dict:
    """What the prose quotes from :func:`compaction_table`'s ``k90``, for the ``focus`` basis against canonical.

    For the moments ``init`` (first layer at initialisation), ``trained`` (first layer
    after dense training), ``hidden`` (second layer after dense training) and ``ticket``
    (first layer of the sparsest tickets), keys ``c2_k90_<moment>_focus``,
    ``..._canonical``, ``..._random`` (NaN without a random basis) in percent and
    ``c2_k90_<moment>_relation`` (:func:`share_relation` of focus to canonical), plus
    ``c2_first_layer``/``c2_hidden_layer`` (layer names).
    """
    layers = list(k90.loc["dense trained"].index)
    first, hidden = layers[0], layers[1] if len(layers) > 2 else layers[-1]
    numbers = {"c2_first_layer": first, "c2_hidden_layer": hidden}
    for moment, (state, layer) in {"init": ("initialisation", first), "trained": ("dense trained", first),
                                   "hidden": ("dense trained", hidden), "ticket": ("sparsest ticket", first)}.items():
        share = k90.loc[(state, layer)]
        numbers[f"c2_k90_{moment}_focus"] = float(share[focus])
        numbers[f"c2_k90_{moment}_canonical"] = float(share["canonical"])
        numbers[f"c2_k90_{moment}_random"] = float(share["random"]) if "random" in share else float("nan")
        numbers[f"c2_k90_{moment}_relation"] = share_relation(share[focus], share["canonical"])
    return numbers
