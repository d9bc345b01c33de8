r"""Chapter 02's ablation and equivariance check: where in ``fc1`` the DCT acts, and whether SGD's dense
networks are the same in every basis.

**One-sided ablation** (issue 19). LeNet-300-100's first layer ``fc1`` (784 -> 300) holds most of its
weights and reads the image. Four configurations, all pruned *one-shot* (``one_shot=True``, one round)
from the dense network straight to the density of iterative round ``r`` = ``one_sided_round``:
``(1 - fraction)^r`` in the hidden layers, ``(1 - output_fraction)^r`` in the output layer:

* ``canonical``: every layer canonical;
* ``<basis>`` (the chapter's focus basis, the DCT): every layer in that basis, ``fc1``'s input axis
  viewed as the image;
* ``<basis>:in``: ``fc1`` in that basis on its input axis only (``W = C A_in``, the image-aware
  2-D transform of each row), every other layer canonical;
* ``<basis>:out``: ``fc1`` on its output axis only (``W = A_out^T C``), every other layer canonical.

Each configuration is compared, paired on the seed, with one-shot canonical and with the one-shot
full basis (:func:`one_sided_effects`), and :func:`effect_location` says in words which axis carries
the full basis' effect.

**Dense equivariance.** Under SGD the engine trains an SGD run's dense round 0 once, canonically, and
maps it into every basis. The group ``own_dense`` trains round 0 in each rotated basis itself
(``share_dense=False``) for a few seeds; :func:`equivariance_table` compares those networks, and the
mapped ones, with the shared canonical network.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import pandas as pd

from ..analysis import stats
from ..core.bases import basis_label
from ..engine.hparams import update
from ..engine.run_identity import run_key
from .profiles import imp_base

__all__ = ["first_layer", "one_shot_fractions", "one_sided_runs", "configuration_label", "label_configurations",
           "one_sided_effects", "one_sided_accuracy", "one_sided_text", "one_sided_numbers", "labelled_sentences",
           "direction", "effect_location", "compaction_versus_tickets", "OWN_DENSE", "own_dense_runs",
           "equivariance_table"]

#: Flags that make a run train its dense round 0 in its own basis: the engine's switch ``share_dense``
#: (by default round 0 of an SGD run is trained once, canonically, and mapped; glth_core.engine.shared_dense).
OWN_DENSE = {"share_dense": False}


def first_layer(p: Mapping) -> str:
    """The name of the layer of model ``p["model"]`` that reads data set ``p["dataset"]`` (``"fc1"`` in LeNet)."""
    from ..data.registry import REGISTRY
    from ..engine.models import build_model, input_layer_name

    spec = REGISTRY[p["dataset"]]
    return input_layer_name(build_model(p["model"], tuple(spec.input_shape), spec.num_classes, seed=0))


def one_shot_fractions(p: Mapping) -> tuple[float, float]:
    """``(fraction, output_fraction)`` pruned once to the densities of iterative round ``p["one_sided_round"]``:
    ``1 - (1 - f)^r`` for the hidden layers' fraction ``f`` and the output layer's (``fraction / 2`` when
    ``output_fraction`` is None, as in the engine)."""
    r, f = p["one_sided_round"], p["fraction"]
    q = f / 2 if p.get("output_fraction") is None else p["output_fraction"]
    return round(1 - (1 - f) ** r, 12), round(1 - (1 - q) ** r, 12)  # rounded: a readable run identity


def one_sided_runs(p: Mapping, focus: str) -> dict:
    """The ablation's runs: ``{ImpHparams: configuration}`` for every configuration (module docstring) and seed.

    Args:
        p: the chapter's resolved parameters (``seeds``, ``one_sided_round``, the training settings).
        focus: the basis ablated (the DCT when the chapter runs it).
    """
    fraction, output_fraction = one_shot_fractions(p)
    base = imp_base(p, one_shot=True, rounds=1, fraction=fraction, output_fraction=output_fraction)
    layer = first_layer(p)
    configurations = {"canonical": dict(basis="canonical"), focus: dict(basis=focus),
                      f"{focus}:in": dict(basis="canonical", layer_bases=f"{layer}={focus}:in"),
                      f"{focus}:out": dict(basis="canonical", layer_bases=f"{layer}={focus}:out")}
    return {update(base, seed=seed, **flags): name for name, flags in configurations.items()
            for seed in range(p["seeds"])}


def configuration_label(configuration: str, layer: str = "fc1") -> str:
    """Reader label: ``"canonical"``, ``"DCT"``, ``"DCT on fc1's input axis"``, ``"DCT on fc1's output axis"``."""
    name, _, side = configuration.partition(":")
    return basis_label(name) + {"": "", "in": f" on {layer}'s input axis", "out": f" on {layer}'s output axis"}[side]


def label_configurations(table: pd.DataFrame, runs: Mapping) -> pd.DataFrame:
    """The swept ``table`` with a ``configuration`` column, from each row's ``run_id``.

    Raises:
        ValueError: a row belongs to none of ``runs``.
    """
    name_of = {run_key("imp", hp): name for hp, name in runs.items()}
    labelled = table.assign(configuration=table["run_id"].map(name_of))
    if labelled.configuration.isna().any():
        raise ValueError("a row of the one-sided table belongs to none of the ablation's runs")
    return labelled


def one_sided_effects(table: pd.DataFrame, focus: str, layer: str = "fc1") -> pd.DataFrame:
    """Each configuration minus one-shot canonical and minus the one-shot full ``focus`` basis, at the pruned
    round, paired on the seed (95% t interval), claimed greater, with verdicts.

    Args:
        table: :func:`label_configurations` rows (rounds 0 and 1).
        focus: the ablated basis. layer: the ablated layer's name (labels only).

    Returns:
        One row per comparison: ``configuration``, ``reference``, ``n``, ``estimate``, ``ci_low``,
        ``ci_high`` (fractions), ``verdict``, ``sentence``, ``side``, ``label``/``reference_label``
        (reader labels) and ``weights`` (mean density of the pruned round, ``"6.4%"``).
    """
    pruned = table[table["round"] == table["round"].max()]
    weights = f"{100 * pruned.density.mean():.3g}%"
    pairs = [(c, "canonical") for c in (focus, f"{focus}:in", f"{focus}:out")]
    pairs += [(c, focus) for c in (f"{focus}:in", f"{focus}:out")]
    parts = [stats.paired_difference(pruned, "configuration", c, ref, by=[]).assign(configuration=c, reference=ref)
             for c, ref in pairs]
    effects = stats.with_verdicts(pd.concat(parts, ignore_index=True), "greater").assign(side="greater")
    return effects.assign(label=[configuration_label(c, layer) for c in effects.configuration],
                          reference_label=[configuration_label(r, layer) for r in effects.reference], weights=weights)


def one_sided_accuracy(table: pd.DataFrame, layer: str = "fc1") -> pd.DataFrame:
    """Mean test accuracy (%) and weights remaining (%) of each configuration, dense and one-shot pruned.

    Args:
        table: :func:`label_configurations` rows. layer: the ablated layer's name (labels only).

    Returns:
        One row per configuration (in the table's order): ``configuration`` (reader label), ``n``,
        ``dense (%)``, ``one-shot (%)``, ``weights (%)``.
    """
    order = list(dict.fromkeys(table.configuration))
    mean = table.groupby(["configuration", "round"]).agg(accuracy=("test_accuracy", "mean"), n=("seed", "nunique"),
                                                         density=("density", "mean"))
    last = int(table["round"].max())
    return pd.DataFrame({"configuration": [configuration_label(c, layer) for c in order],
                         "n": [int(mean.loc[(c, last), "n"]) for c in order],
                         "dense (%)": [100 * mean.loc[(c, 0), "accuracy"] for c in order],
                         "one-shot (%)": [100 * mean.loc[(c, last), "accuracy"] for c in order],
                         "weights (%)": [100 * mean.loc[(c, last), "density"] for c in order]})


def one_sided_text(table: pd.DataFrame, effects: pd.DataFrame, layer: str = "fc1") -> str:
    """The ablation for reading: :func:`one_sided_accuracy` (rounded to 0.01), then each comparison of
    :func:`one_sided_effects` (configuration, minus which, verdict sentence)."""
    accuracy = one_sided_accuracy(table, layer).round(2).to_string(index=False)
    shown = effects[["label", "reference_label", "sentence"]].rename(columns={"reference_label": "minus"})
    return f"{accuracy}\n\n{shown.to_string(index=False)}"


def labelled_sentences(effects: pd.DataFrame) -> str:
    """``"DCT: holds (...); DCT on fc1's input axis: inconclusive (...)"``: each row's ``label`` and sentence."""
    return "; ".join(f"{r.label}: {r.sentence}" for r in effects.itertuples()) or "none"


def direction(effect) -> str:
    """``"above"`` / ``"below"`` when the 95% interval of ``effect`` excludes 0 on that side, else
    ``"indistinguishable from"``."""
    return "above" if effect["ci_low"] > 0 else "below" if effect["ci_high"] < 0 else "indistinguishable from"


def effect_location(effects: pd.DataFrame, focus: str, layer: str = "fc1") -> str:
    """What the ablation shows, in one sentence read off :func:`one_sided_effects`' intervals.

    The full basis' effect (full minus canonical) is *carried* by an axis when that axis alone differs
    from canonical in the same direction and is indistinguishable from the full basis.
    """
    at = effects.set_index(["configuration", "reference"])
    where = direction(at.loc[(focus, "canonical")])
    name = basis_label(focus)
    axes = {"in": f"{layer}'s input axis", "out": f"{layer}'s output axis"}
    alone = {s: direction(at.loc[(f"{focus}:{s}", "canonical")]) for s in axes}
    if where == "indistinguishable from":
        differing = [f"the {name} on {axes[s]} alone is {d} it" for s, d in alone.items() if d != where]
        shown = f"at this density the one-shot {name} network is indistinguishable from the canonical one"
        shown += f", while {' and '.join(differing)}" if differing else ", and so is each axis alone"
        return shown + f": there is no effect of the full {name} to locate"
    carriers = [axes[s] for s, d in alone.items() if d == where
                and direction(at.loc[(f"{focus}:{s}", focus)]) == "indistinguishable from"]
    shown = f"the one-shot {name} network is {where} the canonical one; "
    if len(carriers) == 1:
        return shown + f"the {name} on {carriers[0]} alone reproduces that, the other axis alone does not"
    if carriers:
        return shown + f"the {name} on either axis of {layer} alone reproduces that"
    return shown + f"neither axis of {layer} alone reproduces that"


def one_sided_numbers(p: Mapping, effects: pd.DataFrame, focus: str, layer: str = "fc1") -> dict:
    """What chapter 02's prose quotes from the ablation: ``c2_os_round`` (the iterative round whose density
    it prunes to), ``c2_os_hidden``/``c2_os_output`` (that density in %, hidden and output layers),
    ``c2_os_reading`` (:func:`effect_location`) and the sentences of each configuration against one-shot
    canonical (``c2_os_vs_canonical``) and against the one-shot full basis (``c2_os_vs_full``)."""
    hidden, output = one_shot_fractions(p)
    return {"c2_os_round": int(p["one_sided_round"]), "c2_os_hidden": 100 * (1 - hidden),
            "c2_os_output": 100 * (1 - output), "c2_os_reading": effect_location(effects, focus, layer),
            "c2_os_vs_canonical": labelled_sentences(effects[effects.reference == "canonical"]),
            "c2_os_vs_full": labelled_sentences(effects[effects.reference == focus])}


def own_dense_runs(p: Mapping) -> list:
    """Round 0 trained in each non-canonical basis of ``p["bases"]`` itself (:data:`OWN_DENSE`), for the
    first ``p["equivariance_seeds"]`` seeds."""
    base = imp_base(p, rounds=0, **OWN_DENSE)
    return [update(base, basis=b, seed=s) for b in p["bases"] if b != "canonical"
            for s in range(p["equivariance_seeds"])]


def equivariance_table(tickets: pd.DataFrame, own_dense: pd.DataFrame, others: Sequence[str]) -> pd.DataFrame:
    """Dense accuracy of each basis in ``others`` minus the shared canonical dense network, paired on the seed.

    Args:
        tickets: the ticket rows (their canonical round 0 is the shared dense network; their other bases'
            round 0, the mapped one).
        own_dense: the rows of :func:`own_dense_runs` (round 0 trained in each basis itself).
        others: the non-canonical bases.

    Returns:
        One row per basis: ``basis`` (raw), ``n``, ``estimate``/``ci_low``/``ci_high`` (fractions, trained in
        its own basis), ``mean difference (pp)``, ``max |difference| (pp)`` and ``mapped: max |difference|
        (pp)`` (the ticket runs' round 0 in that basis).
    """
    canonical = tickets[(tickets.basis == "canonical") & (tickets["round"] == 0)]
    dense = pd.concat([own_dense[own_dense["round"] == 0], canonical], ignore_index=True)
    rows = []
    for b in others:
        effect = stats.paired_difference(dense, "basis", b, "canonical", by=[]).iloc[0]
        own = stats.paired_values(dense, "basis", b, "canonical", pair_on=["seed"]).difference.abs().max()
        mapped = stats.paired_values(tickets[tickets["round"] == 0], "basis", b, "canonical", pair_on=["seed"])
        rows.append({"basis": b, "n": int(effect.n), "estimate": effect.estimate, "ci_low": effect.ci_low,
                     "ci_high": effect.ci_high, "mean difference (pp)": 100 * effect.estimate,
                     "max |difference| (pp)": 100 * own, "mapped: max |difference| (pp)":
                     100 * mapped.difference.abs().max()})
    return pd.DataFrame(rows)


def compaction_versus_tickets(relation: str, effect, basis: str, layer: str = "fc1") -> str:
    """Whether compaction and the tickets point the same way, for one basis against canonical, in words.

    Args:
        relation: :func:`glth_core.book.bases_study.share_relation` of the basis' share of coefficients
            holding 90% of the trained layer's energy to the canonical share ("fewer than": more compact).
        effect: the tickets' accuracy difference, basis minus canonical (``ci_low``, ``ci_high``).
        basis: the basis' name. layer: the measured layer's name.

    Returns:
        A sentence such as "the DCT writes the trained fc1 more compactly than the canonical basis, and its
        tickets are below the canonical ones: here compaction and the tickets point opposite ways".
    """
    compact = {"fewer than": "more compactly than", "more than": "less compactly than",
               "about as many as": "about as compactly as"}[relation]
    where = direction(effect)
    separates = relation != "about as many as"
    if not separates:
        verdict = "compaction does not separate the bases" + (", and neither do the tickets"
                                                               if where == "indistinguishable from" else
                                                               ", the tickets do")
    elif where == "indistinguishable from":
        verdict = "the tickets do not separate the bases, so this pair neither supports nor contradicts compaction"
    else:
        same = (relation == "fewer than") == (where == "above")
        verdict = f"here compaction and the tickets point {'the same way' if same else 'opposite ways'}"
    return (f"the {basis_label(basis)} writes the trained {layer} {compact} the canonical basis, and its tickets "
            f"are {where} the canonical ones: {verdict}")
