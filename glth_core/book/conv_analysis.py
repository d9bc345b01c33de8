"""Chapter 05 (convolutional networks): its runs, and the tables of claims 2 and 3.

The chapter prunes convolutional networks with IMP in the canonical basis, in DCT bases and
in a random orthogonal basis (the control: is it the DCT's structure, or any rotation?);
:class:`glth_core.book.chapter.Chapter` checks its parameters, and its run groups "tickets"
and "ablations" are declared in :mod:`glth_core.book.chapter_runs`. This module turns the
resolved parameters into runs (one per model, basis variant and seed), sweeps them until
every run has left the one-point band (:func:`swept_tickets`, through
:mod:`glth_core.book.adaptive_rounds`), labels the swept table with the variants, and
computes the tables the chapter shows: dense accuracy over seeds, claim 2 (*ticket − dense*
at the first round and at the sparsest round every seed reached, paired on the seed),
claim 3 per round for every pair of :func:`comparisons` (*DCT − canonical*, *random −
canonical*, *DCT − random*, paired on the seed, at the rounds both arms reached on every
seed) and claim 3 as compression at equal accuracy (ratio of compressions, a Student-t
interval on the log ratios, ``"censored"`` when a side never left the band). Every verdict
comes from :func:`glth_core.analysis.stats.with_verdicts`; the chapter declares the recorded
ones as tests (``ch.verdicts``, through :func:`glth_core.analysis.verdict_tables.verdict_row`).
The ablations are in :mod:`glth_core.book.conv_ablations`.
"""
from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from .labels import model_label

__all__ = ["CHAPTER", "CONV_MODELS", "MODEL_LABELS", "DCT_LABELS", "TOLERANCE", "DENSE_TARGET",
           "basis_variants", "chapter_runs", "variant_order", "in_order", "label_variants",
           "dense_summary", "claim2_table", "claim3_rounds", "compression_tables", "comparisons", "shown_compression",
           "trained_rounds", "training_minutes",
           "sparsest_complete_round", "per_seed_compression", "in_band_runs", "rounds_sentence", "swept_tickets",
           "round_counts_sentence", "joined_sentences", "verdict_list", "side_word", "shown_effects", "dense_numbers"]

CHAPTER = "05_conv"
CONV_MODELS = ("small_cnn", "conv2", "conv4", "conv6")
MODEL_LABELS = {m: model_label(m) for m in CONV_MODELS}
DCT_LABELS = {False: "dct (spatial)", True: "dct (spatial + channels)"}
#: "Equal accuracy": within one percentage point of the dense canonical network.
TOLERANCE = 0.01
#: The dense accuracy the quick profile is sized for (Fashion-MNIST).
DENSE_TARGET = 0.90


def basis_variants(p: Mapping) -> dict:
    """``{label: ImpHparams overrides}`` of the basis variants of resolved parameters ``p``.

    ``channel_dct`` is set for the dct basis only (the library refuses it for another basis); the
    paper profile runs the dct basis both without and with it.
    """
    variants = {}
    for b in p["bases"]:
        if b != "dct":
            variants[b] = {"basis": b}
            continue
        flags = [False, True] if (p["profile"] == "paper" and p["channel_dct"]) else [p["channel_dct"]]
        variants.update({DCT_LABELS[f]: {"basis": "dct", "channel_dct": f} for f in flags})
    return variants


def chapter_runs(p: Mapping) -> dict:
    """``{ImpHparams: (model, variant label)}``: one ticket run per model, basis variant and seed."""
    from .profiles import imp_base

    return {imp_base(p, model=m, seed=s, **overrides): (m, label)
            for m in p["models"] for label, overrides in basis_variants(p).items() for s in range(p["seeds"])}


def variant_order(p: Mapping) -> tuple[list[str], str]:
    """(variant labels in parameter order, the reference variant: canonical if run, else the first)."""
    variants = list(basis_variants(p))
    return variants, ("canonical" if "canonical" in variants else variants[0])


def in_order(frame: pd.DataFrame, p: Mapping, columns=("model", "variant")) -> pd.DataFrame:
    """``frame`` sorted by the order of the parameters ``models`` and of the basis variants (not alphabetically)."""
    rank = {name: i for i, name in enumerate([*p["models"], *basis_variants(p)])}
    return frame.sort_values(list(columns), kind="stable",
                             key=lambda c: c.map(rank) if c.name in ("model", "variant", "reference") else c)


def label_variants(table: pd.DataFrame, runs: Mapping) -> pd.DataFrame:
    """The swept ``table`` with a ``variant`` column (the run's basis variant label).

    Raises:
        ValueError: a row of ``table`` belongs to none of ``runs``.
    """
    from ..engine.hparams import run_key

    label_of = {run_key("imp", hp): label for hp, (_, label) in runs.items()}
    table = table.assign(variant=table["run_id"].map(label_of))
    if table["variant"].isna().any():
        raise ValueError("a run of the table is not one of the chapter's runs")
    return table


def dense_summary(table: pd.DataFrame, p: Mapping) -> tuple[pd.DataFrame, float]:
    """(accuracy of round 0 over seeds per model and variant, the largest same-seed gap between variants in pp)."""
    from ..analysis import stats

    dense = table[table["round"] == 0]
    summary = in_order(stats.summarize(dense, ["model", "variant"], "test_accuracy"), p)
    spread = dense.pivot_table(index=["model", "seed"], columns="variant", values="test_accuracy")
    return summary, float(100 * (spread.max(axis=1) - spread.min(axis=1)).max())


def dense_numbers(summary: pd.DataFrame, gap: float, p: Mapping) -> dict:
    """The first model's dense accuracy in the reference basis, for the prose.

    Returns:
        ``mean``, ``sd``, ``ci_low``, ``ci_high`` (%), ``n``, ``target_word`` ("at or above" or
        "below" :data:`DENSE_TARGET`) and ``gap`` (the same-seed gap between variants, pp).
    """
    _, reference = variant_order(p)
    row = summary[summary["variant"] == reference].set_index("model").loc[p["models"][0]]
    numbers = {key: float(100 * row[key]) for key in ("mean", "sd", "ci_low", "ci_high")}
    return {**numbers, "n": int(row["n"]), "target_word": side_word(row["mean"], DENSE_TARGET), "gap": gap}


def side_word(value: float, threshold: float, words=("at or above", "below")) -> str:
    """``words[0]`` if ``value >= threshold`` else ``words[1]`` (a word for the prose, from the data)."""
    return words[0] if value >= threshold else words[1]


def _with_density(frame: pd.DataFrame, density_at: pd.Series) -> pd.DataFrame:
    frame = frame.copy()
    frame["weights remaining (%)"] = [100 * density_at.loc[(m, r)] for m, r in zip(frame["model"], frame["round"])]
    return frame


def sparsest_complete_round(table: pd.DataFrame, variant: str, model: str) -> int:
    """The sparsest round that every seed of ``variant`` (on ``model``) reached (runs extended one by one stop
    at different rounds)."""
    from .adaptive_rounds import complete_rounds

    return complete_rounds(table[table["model"] == model], "variant", [variant])[-1]


def claim2_table(table: pd.DataFrame, p: Mapping) -> pd.DataFrame:
    """*ticket − dense* at round 1 and at each variant's sparsest round reached by every seed, paired on the seed,
    with verdicts against ``-TOLERANCE`` (claimed side "greater"); ``sparsest`` marks the latter rows."""
    from ..analysis import stats

    density_at = table.groupby(["model", "round"])["density"].mean()
    parts = []
    for (m, v), part in table.groupby(["model", "variant"], sort=False):
        last = sparsest_complete_round(table, v, m)
        for r in sorted({1, last}):
            parts.append(stats.paired_difference(part, "round", r, 0, by=["model", "variant"], pair_on=["seed"])
                         .assign(round=r, sparsest=r == last))
    claim2 = _with_density(pd.concat(parts, ignore_index=True), density_at)
    return in_order(stats.with_verdicts(claim2, "greater", null=-TOLERANCE), p, ("round", "model", "variant"))


def comparisons(p: Mapping) -> list[tuple[str, str]]:
    """The claim-3 pairs ``(treatment, reference)``: every variant against the reference (canonical), and every
    DCT variant against the random basis, the control for "any rotation" (when both were run)."""
    variants, reference = variant_order(p)
    pairs = [(v, reference) for v in variants if v != reference]
    if "random" in variants and reference != "random":
        pairs += [(v, "random") for v in variants if v.startswith("dct")]
    return pairs


def claim3_rounds(table: pd.DataFrame, p: Mapping) -> pd.DataFrame:
    """*treatment − reference* (:func:`comparisons`) per pruned round and model, paired on the seed, with verdicts
    (side "greater"), at the rounds where both arms have every seed
    (:func:`glth_core.book.adaptive_rounds.complete_rounds`)."""
    from ..analysis import stats
    from .adaptive_rounds import complete_rounds

    columns = ["model", "variant", "reference", "round", "n", "estimate", "ci_low", "ci_high"]
    parts = []
    for m in p["models"]:
        for v, ref in comparisons(p):
            part = table[table["model"] == m]
            part = part[part["round"].isin(complete_rounds(part, "variant", [v, ref]))]
            parts.append(stats.paired_difference(part, "variant", v, ref, by=["round"])
                         .assign(model=m, variant=v, reference=ref))
    if not parts:
        return pd.DataFrame(columns=[*columns, "verdict", "sentence", "weights remaining (%)"])
    rounds = pd.concat(parts, ignore_index=True)
    rounds = in_order(stats.with_verdicts(rounds[rounds["round"] > 0], "greater"), p,
                      ("model", "reference", "variant", "round"))
    return _with_density(rounds, table.groupby(["model", "round"])["density"].mean())


def per_seed_compression(table: pd.DataFrame, p: Mapping) -> pd.DataFrame:
    """:func:`glth_core.analysis.stats.compression` per model, variant and run (seed), against the dense
    reference-basis network of the same seed, with the chapter's one-point band."""
    from ..analysis import stats

    _, reference = variant_order(p)
    return pd.concat([
        stats.compression(table[table["model"] == m], TOLERANCE, reference={"variant": reference},
                          by=["variant", "run_id"]).assign(model=m) for m in p["models"]], ignore_index=True)


def in_band_runs(table: pd.DataFrame, runs: Mapping, p: Mapping) -> set:
    """The run_ids of the swept ``table`` still inside the band at their last round (censored compression):
    the runs :func:`glth_core.book.adaptive_rounds.sweep_until_out_of_band` extends."""
    per_seed = per_seed_compression(label_variants(table, runs), p)
    return set(per_seed.loc[per_seed["censored"].astype(bool), "run_id"])


def compression_tables(table: pd.DataFrame, p: Mapping) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(compression at equal accuracy per model and variant over seeds, ratio treatment / reference per
    :func:`comparisons`, with verdicts).

    The ratio's interval is a Student-t interval on the per-seed log ratios
    (:func:`glth_core.analysis.stats.compression_ratio`); a comparison with a censored side has the
    verdict ``"censored"``.
    """
    from ..analysis import stats

    per_seed = per_seed_compression(table, p).drop(columns="run_id")
    summary = in_order(stats.summarize_compression(per_seed, by=["model", "variant"]), p)
    lower = summary["bound"] == "lower"
    summary = summary.assign(
        shown=[stats.format_compression(v, c, 1) for v, c in zip(summary["compression"], lower)],
        interval=[f"[{stats.format_compression(a, c, 1)}, {stats.format_compression(b, c, 1)}]"
                  for a, b, c in zip(summary["ci_low"], summary["ci_high"], lower)])
    pairs = comparisons(p)
    if not pairs:
        return summary, pd.DataFrame()
    ratios = pd.concat([
        stats.compression_ratio(per_seed[per_seed["model"] == m], "variant", v, ref).assign(
            model=m, variant=v, reference=ref) for m in p["models"] for v, ref in pairs], ignore_index=True)
    return summary, stats.with_verdicts(ratios, "greater", unit="x", scale=1, null=1.0)


def shown_compression(summary: pd.DataFrame) -> pd.DataFrame:
    """The compression summary of :func:`compression_tables` for display (``≥`` marks a lower bound)."""
    return summary[["model", "variant", "n", "censored", "shown", "interval"]].rename(columns={"shown": "compression"})


def rounds_sentence(reached: pd.DataFrame, maximum: int) -> str:
    """How many rounds each variant needed to leave the band, and how many runs stayed inside it at ``maximum``
    (a table of :func:`glth_core.book.adaptive_rounds.rounds_reached` by model and variant)."""
    parts = []
    for _, r in reached.iterrows():
        span = (f"{r['fewest rounds']}" if r["fewest rounds"] == r["most rounds"]
                else f"{r['fewest rounds']} to {r['most rounds']}")
        censored = int(r["censored at max"])
        tail = (f"{censored} of {r['runs']} runs still inside the band at the maximum of {maximum} (censored)"
                if censored else "every run left the band")
        parts.append(f"{MODEL_LABELS[r['model']]}, {r['variant']}: {span} rounds, {tail}")
    return "; ".join(parts)


def joined_sentences(frame: pd.DataFrame, template: str) -> str:
    """The verdict sentences of ``frame`` joined by "; ", each prefixed by ``template`` formatted with
    the row (and ``label``, the model's label); "none" for an empty frame."""
    if len(frame) == 0:
        return "none"
    return "; ".join(template.format(**r, label=MODEL_LABELS[r["model"]]) + r["sentence"]
                     for _, r in frame.iterrows())


def verdict_list(frame: pd.DataFrame) -> str:
    """``"small CNN dct (spatial) / canonical: holds; ..."``: each row's verdict ("not tested" for an empty frame);
    a row without ``reference`` is named by its model and variant only."""
    if len(frame) == 0:
        return "not tested"
    return "; ".join(f"{MODEL_LABELS[r['model']]} {r['variant']}" + (f" / {r['reference']}" if "reference" in r else "")
                     + f": {r['verdict']}" for _, r in frame.iterrows())


def round_counts_sentence(rounds: pd.DataFrame) -> str:
    """Per model and comparison, at how many pruned rounds the treatment is above (holds), below
    (contradicted) or not told apart from (inconclusive) the reference."""
    if len(rounds) == 0:
        return "only one basis was run, so there is nothing to compare"
    counts = (rounds.groupby(["model", "variant", "reference"], sort=False)["verdict"].value_counts()
              .unstack(fill_value=0))
    return "; ".join(
        f"{MODEL_LABELS[m]}, {v} − {ref}: holds at {row.get('holds', 0)}, "
        f"contradicted at {row.get('contradicted', 0)} "
        f"and inconclusive at {row.get('inconclusive', 0)} of {int(row.sum())} pruned rounds"
        for (m, v, ref), row in counts.iterrows())


def shown_effects(frame: pd.DataFrame) -> pd.DataFrame:
    """An effects table for display: ``estimate`` and its interval in percentage points, rounded."""
    columns = ["model", "variant", "reference", "round", "weights remaining (%)", "n", "estimate", "ci_low",
               "ci_high", "verdict"]
    shown = frame.assign(**{c: 100 * frame[c] for c in ("estimate", "ci_low", "ci_high")})
    return shown[[c for c in columns if c in shown.columns]].round(2)


def swept_tickets(ch, runs: Mapping, p: Mapping) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Chapter ``ch``'s ticket ``runs`` pruned until every run left the band (at most ``p["rounds"]`` rounds).

    Sweeps ``p["first_rounds"]`` rounds, then extends the runs still inside the band one round at a time
    (:func:`glth_core.book.adaptive_rounds.sweep_until_out_of_band`, band: :func:`in_band_runs`), on the
    chapter's scheduler, device and results folder.

    Returns:
        ``(table, reached)``: the swept table with its ``variant`` column, and per model and variant the
        rounds reached and the runs censored at the maximum
        (:func:`glth_core.book.adaptive_rounds.rounds_reached`).
    """
    from ..runs.sweep import sweep
    from .adaptive_rounds import rounds_reached, sweep_until_out_of_band

    def run(hparams):
        return sweep(hparams, scheduler=ch.scheduler, device=ch.device, results_dir=ch.results_dir, progress=False,
                     errors="raise")

    table = sweep_until_out_of_band(list(runs), run, first=p["first_rounds"],
                                    in_band=lambda t: in_band_runs(t, runs, p))
    table = label_variants(table, runs)
    reached = rounds_reached(table, ["model", "variant"], p["rounds"], in_band_runs(table, runs, p))
    return table, in_order(reached, p)


def trained_rounds(*tables: pd.DataFrame) -> int:
    """Rounds these tables' runs train: every pruned round, plus one dense round 0 per model and seed (round 0
    is trained once and shared by every basis and configuration of the same model, data, training and seed)."""
    tables = [t for t in tables if len(t)]
    if not tables:
        return 0
    rows = pd.concat([t[["model", "seed", "round"]] for t in tables], ignore_index=True)
    return int((rows["round"] > 0).sum() + rows.loc[rows["round"] == 0, ["model", "seed"]].drop_duplicates().shape[0])


def training_minutes(*tables: pd.DataFrame) -> float:
    """Measured training time of the tables' rounds (``wall_time_s``), in minutes."""
    return float(sum(t["wall_time_s"].sum() for t in tables if len(t))) / 60
