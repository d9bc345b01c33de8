r"""Chapter 05's ablations: which layer's basis decides the DCT's effect on the small CNN.

Each configuration prunes the first model of the chapter *one-shot* (``one_shot=True``,
``rounds=1``) from its trained dense network to the density that iterative pruning reaches at
round ``k = ablation_round``: a hidden layer keeps ``(1 - fraction)^k`` of its coefficients, the
output layer ``(1 - output_fraction)^k``, so the one-shot fractions are

.. math:: f_\text{one-shot} = 1 - (1 - f)^k, \qquad f^\text{out}_\text{one-shot} = 1 - (1 - f^\text{out})^k .

The configurations (:data:`ABLATIONS`) differ only in the basis of some layers
(:attr:`glth_core.engine.hparams.PruningHparams.layer_bases`, :mod:`glth_core.core.layer_bases`):
the canonical basis everywhere, the DCT everywhere, the DCT in the conv layers only, in ``fc1``
only, and on one axis of ``fc1`` only. Round 0 (the dense network) is the same in every
configuration, so a configuration costs one trained round per seed.

:func:`ablation_table` compares each configuration with one-shot canonical and with one-shot
DCT (paired on the seed, 95% t interval); :func:`seed_gated` is the book's rule that a
comparison with fewer than :data:`MIN_SEEDS` seeds is never reported as holding or contradicted;
:func:`deciding_layer_sentence` says, from the numbers, which layer decides.
"""
from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

__all__ = ["ABLATIONS", "ABLATION_LABELS", "MIN_SEEDS", "one_shot_fractions", "ablation_runs", "seed_gated",
           "ablation_table", "shown", "deciding_layer_sentence"]

#: name -> (the run's basis, its layer-bases spec).
ABLATIONS = {
    "canonical": ("canonical", ""),
    "dct": ("dct", ""),
    "conv": ("canonical", "conv*=dct"),
    "fc1": ("canonical", "fc1=dct"),
    "fc1:in": ("canonical", "fc1=dct:in"),
    "fc1:out": ("canonical", "fc1=dct:out"),
}
ABLATION_LABELS = {"canonical": "canonical everywhere", "dct": "DCT everywhere", "conv": "DCT in conv layers only",
                   "fc1": "DCT in fc1 only", "fc1:in": "DCT on fc1's input axis", "fc1:out": "DCT on fc1's output axis"}
#: Fewest seeds for a comparison reported as holding or contradicted (issue 19).
MIN_SEEDS = 5


def one_shot_fractions(p: Mapping) -> tuple[float, float]:
    """(hidden, output) one-shot pruning fractions reaching iterative round ``p["ablation_round"]``'s density."""
    k = p["ablation_round"]
    return 1 - (1 - p["fraction"]) ** k, 1 - (1 - p["output_fraction"]) ** k


def ablation_runs(p: Mapping) -> dict:
    """``{ImpHparams: (model, configuration)}``: one one-shot run per configuration of ``p["ablations"]`` and seed
    ``0 .. ablation_seeds - 1``, on the first model of ``p["models"]``.

    Raises:
        ValueError: an unknown configuration name.
    """
    from .profiles import imp_base

    unknown = [a for a in p["ablations"] if a not in ABLATIONS]
    if unknown:
        raise ValueError(f"parameter ablations: unknown configuration(s) {unknown}; choose from {list(ABLATIONS)}")
    fraction, output_fraction = one_shot_fractions(p)
    model = p["models"][0]
    return {imp_base(p, model=model, seed=s, basis=ABLATIONS[a][0], layer_bases=ABLATIONS[a][1], one_shot=True,
                     rounds=1, fraction=fraction, output_fraction=output_fraction): (model, a)
            for a in p["ablations"] for s in range(p["ablation_seeds"])}


def seed_gated(verdict: str, n: int, min_seeds: int = MIN_SEEDS) -> str:
    """``verdict``, except that "holds" or "contradicted" from fewer than ``min_seeds`` seeds reads
    ``"inconclusive (n < min_seeds)"``: the book reports neither from so few seeds."""
    if verdict in ("holds", "contradicted") and int(n) < min_seeds:
        return f"inconclusive (n < {min_seeds})"
    return verdict


def ablation_table(table: pd.DataFrame, runs: Mapping, min_seeds: int = MIN_SEEDS) -> pd.DataFrame:
    """Each configuration minus one-shot canonical and minus one-shot DCT, at the pruned round, paired on the seed.

    Args:
        table: the swept table of :func:`ablation_runs` (``run_id``, ``seed``, ``round``, ``test_accuracy``).
        runs: :func:`ablation_runs`.
        min_seeds: see :func:`seed_gated`.

    Returns:
        One row per (configuration, reference) with both present: ``configuration``, ``reference``,
        ``n``, ``estimate``, ``ci_low``, ``ci_high`` (accuracy fractions), ``verdict`` (claimed side
        "greater", gated by :func:`seed_gated`) and ``density`` (mean, %).
    """
    from ..analysis import stats
    from ..engine.hparams import run_key

    columns = ["configuration", "reference", "n", "estimate", "ci_low", "ci_high", "verdict", "density"]
    if not runs or table.empty:
        return pd.DataFrame(columns=columns)
    name_of = {run_key("imp", hp): a for hp, (_, a) in runs.items()}
    pruned = table[table["round"] == 1].assign(configuration=table["run_id"].map(name_of))
    present = list(dict.fromkeys(a for _, a in runs.values()))
    rows = []
    for reference in ("canonical", "dct"):
        if reference not in present:
            continue
        for config in (a for a in present if a != reference and not (reference == "dct" and a == "canonical")):
            effect = stats.paired_difference(pruned, "configuration", config, reference, by=["round"])
            if len(effect):
                rows.append({"configuration": config, "reference": reference,
                             **effect.iloc[0][["n", "estimate", "ci_low", "ci_high"]].to_dict()})
    frame = pd.DataFrame(rows, columns=columns[:6])
    if frame.empty:
        return pd.DataFrame(columns=columns)
    frame = stats.with_verdicts(frame, "greater")
    frame["verdict"] = [seed_gated(v, n, min_seeds) for v, n in zip(frame["verdict"], frame["n"])]
    frame["n"] = frame["n"].astype(int)
    frame["density"] = 100 * float(pruned["density"].mean())
    return frame[columns]


def shown(frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`ablation_table` for display: configurations by their labels, effects in percentage points, rounded
    (a one-line frame saying so when no ablation ran)."""
    if frame.empty:
        return pd.DataFrame({"ablations": ["none run (ablation_seeds = 0, or no configuration)"]})
    points = frame.assign(**{c: 100 * frame[c].astype(float) for c in ("estimate", "ci_low", "ci_high")})
    return points.replace({"configuration": ABLATION_LABELS, "reference": ABLATION_LABELS}).round(2)


def _effect(frame: pd.DataFrame, config: str, reference: str):
    row = frame[(frame["configuration"] == config) & (frame["reference"] == reference)]
    return None if row.empty else row.iloc[0]


def _pp(row) -> str:
    return f"{100 * row['estimate']:+.2f} pp [{100 * row['ci_low']:+.2f}, {100 * row['ci_high']:+.2f}]"


def _contains_zero(row) -> bool:
    return row["ci_low"] <= 0 <= row["ci_high"]


def deciding_layer_sentence(frame: pd.DataFrame, min_seeds: int = MIN_SEEDS) -> str:
    """Which layer's basis decides the DCT's effect, in words computed from :func:`ablation_table`.

    The DCT's effect is *DCT everywhere − canonical*. A layer group (``conv`` or ``fc1``)
    *reproduces* it when its single-group configuration differs from canonical (interval
    excludes 0) and not from DCT everywhere (interval contains 0). One reproducing group is named
    as deciding; otherwise the sentence says the effect is not located. With fewer than
    ``min_seeds`` seeds the sentence says it is a pointer, not a verdict.
    """
    total = None if frame.empty else _effect(frame, "dct", "canonical")
    if total is None:
        return "the ablations did not run DCT everywhere and canonical everywhere, so no layer can be singled out"
    parts = [f"the DCT everywhere moves the one-shot ticket by {_pp(total)} against the canonical basis"]
    reproducing = []
    for group, words in (("conv", "the conv layers"), ("fc1", "fc1")):
        alone, against_all = _effect(frame, group, "canonical"), _effect(frame, group, "dct")
        if alone is None:
            continue
        share = (f", {100 * alone['estimate'] / total['estimate']:.0f}% of it" if total["estimate"] != 0 else "")
        parts.append(f"the DCT in {words} only by {_pp(alone)}{share}")
        if against_all is not None and not _contains_zero(alone) and _contains_zero(against_all):
            reproducing.append(words)
    for side in ("in", "out"):
        alone = _effect(frame, f"fc1:{side}", "canonical")
        if alone is not None:
            parts.append(f"fc1's {side}put axis alone by {_pp(alone)}")
    if _contains_zero(total):
        verdict = "no layer can be singled out, since the DCT's own effect at this density is not told apart from 0"
    elif len(reproducing) == 1:
        verdict = f"{reproducing[0]} alone reproduces the DCT's effect, so {reproducing[0]} decides the verdict"
    else:
        verdict = ("either layer group alone reproduces the DCT's effect, so neither is singled out" if reproducing
                   else "no single layer group reproduces the DCT's effect on its own, so it is not located")
    n = int(total["n"])
    caveat = (f" (n = {n} seeds, fewer than {min_seeds}: a pointer, not a verdict)" if n < min_seeds else
              f" (n = {n} seeds)")
    return "; ".join(parts) + ": " + verdict + caveat
