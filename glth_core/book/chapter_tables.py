r"""Tables that the chapters show, formatted for reading (text cells; see :func:`glth_core.book.chapter.Chapter.show`).

Every number in them comes from :mod:`glth_core.analysis.stats` (paired differences over
seeds, 95% t intervals); these functions only select rows and format:

* :func:`schedule_comparison`: dense networks of two training schedules, seed by seed;
* :func:`versus_dense`: a ticket against its own dense network (round 0), at every round;
* :func:`versus_controls`: a ticket against each control, at every pruned round;
* :func:`side_word`: "reaches" / "falls short of" a bar, for the Markdown;
* :func:`numbered_verdicts`: the summary's table of every recorded verdict;
* :func:`listed`: names as one glued phrase ("none" when empty).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import pandas as pd

from ..analysis import stats
from .labels import control_label

__all__ = ["TRAINED_ACCURACY", "schedule_comparison", "versus_dense", "versus_controls", "side_word",
           "weights_percent", "numbered_verdicts", "listed"]

#: Test accuracy (fraction) that a trained dense LeNet-300-100 reaches on Fashion-MNIST: the book's bar for
#: "trained" (DESIGN.md's evidence standard; chapter 01 checks the profile's schedule against it).
TRAINED_ACCURACY = 0.885

#: What the verdict of "ticket - dense > 0" says of the ticket, in the per-round table.
SIDE_WORDS = {"holds": "above dense", "contradicted": "below dense", "inconclusive": "inconclusive (CI includes 0)"}


def _dense(table: pd.DataFrame, arm: str, treatment: str) -> pd.DataFrame:
    return table[(table[arm] == treatment) & (table["round"] == 0)]


def schedule_comparison(tables: Mapping[str, pd.DataFrame], labels: Mapping[str, str], treatment: str,
                        reference: str, *, arm: str = "control", dense: str = "ticket") -> tuple[pd.DataFrame, dict]:
    """The dense networks (round 0 of ``dense`` runs) of several schedules, and ``treatment - reference``.

    Args:
        tables: schedule name -> its sweep table (same seeds).
        labels: schedule name -> its description (:func:`glth_core.book.labels.schedule_label`).
        treatment: the schedule claimed better.
        reference: the other schedule.
        arm: the column of the run kind; ``dense``: its value whose round 0 is the dense network.

    Returns:
        ``(shown, facts)``: a text table (one row per schedule, then the paired difference), and
        ``{"<name>_acc": mean accuracy (%) per schedule, "<treatment>_n": seeds, "gain": the verdict
        sentence of treatment > reference}``.
    """
    rows = pd.concat([_dense(t, arm, dense).assign(schedule=name) for name, t in tables.items()])
    summary = stats.summarize(rows, "schedule").set_index("schedule").loc[list(tables)]
    gain = stats.paired_difference(rows, "schedule", treatment, reference, by=[]).iloc[0]
    shown = pd.DataFrame({
        "schedule": [labels[s] for s in summary.index] + [f"{treatment} − {reference} (paired)"],
        "n": [str(int(v)) for v in summary.n] + [str(int(gain.n))],
        "dense accuracy (%)": [f"{100 * m:.2f}" for m in summary["mean"]] + [f"{100 * gain.estimate:+.2f} pp"],
        "sd": [f"{100 * s:.2f}" for s in summary.sd] + [f"{100 * gain.sd:.2f}"],
        "95% CI": [f"[{100 * lo:.2f}, {100 * hi:.2f}]" for lo, hi in zip(summary.ci_low, summary.ci_high)]
                  + [f"[{100 * gain.ci_low:+.2f}, {100 * gain.ci_high:+.2f}]"],
    })
    facts = {f"{name}_acc": 100 * float(summary.loc[name, "mean"]) for name in tables}
    facts[f"{treatment}_n"] = int(summary.loc[treatment, "n"])
    facts["gain"] = stats.verdict_sentence(gain, "greater", label=f"{treatment} − {reference}")
    return shown, facts


def weights_percent(table: pd.DataFrame, arm: str = "control", treatment: str = "ticket") -> pd.Series:
    """Mean density (%) of ``treatment``'s runs per round."""
    return 100 * table[table[arm] == treatment].groupby("round").density.mean()


def versus_dense(table: pd.DataFrame, arm: str = "control", treatment: str = "ticket") -> pd.DataFrame:
    """``treatment`` at round ``r`` minus its own round 0 (same seed), at every pruned round, as text.

    Returns:
        Columns round, weights (%), n, ticket (%), dense (%), ticket − dense (pp), 95% CI and "ticket is"
        (above / below dense where the interval excludes 0).
    """
    tickets = table[table[arm] == treatment]
    pruned = sorted(int(r) for r in tickets["round"].unique() if r > 0)
    dense = _dense(table, arm, treatment)
    paired = pd.concat([tickets[tickets["round"] > 0].assign(_arm="ticket"),
                        *[dense.assign(_arm="dense", round=r) for r in pruned]])
    effects = stats.paired_difference(paired, "_arm", "ticket", "dense", by=["round"]).set_index("round")
    weights = weights_percent(table, arm, treatment)
    return pd.DataFrame({
        "round": effects.index,
        "weights (%)": [f"{weights[r]:.3g}" for r in effects.index],
        "n": effects.n.astype(int),
        "ticket (%)": [f"{100 * v:.2f}" for v in effects.treatment_mean],
        "dense (%)": [f"{100 * v:.2f}" for v in effects.reference_mean],
        "ticket − dense (pp)": [f"{100 * v:+.2f}" for v in effects.estimate],
        "95% CI": [f"[{100 * lo:+.2f}, {100 * hi:+.2f}]" for lo, hi in zip(effects.ci_low, effects.ci_high)],
        "ticket is": [SIDE_WORDS[stats.verdict((lo, hi), "greater")] for lo, hi in zip(effects.ci_low,
                                                                                      effects.ci_high)],
    })


def versus_controls(table: pd.DataFrame, controls: Sequence[str], arm: str = "control",
                    treatment: str = "ticket") -> pd.DataFrame:
    """``treatment`` minus each control at every pruned round (claimed > 0), as text: effect, CI, verdict."""
    weights = weights_percent(table, arm, treatment)
    pruned = [int(r) for r in weights.index if r > 0]
    columns = {"round": pruned, "weights (%)": [f"{weights[r]:.3g}" for r in pruned]}
    for c in controls:
        effects = stats.with_verdicts(stats.paired_difference(table, arm, treatment, c, by=["round"]),
                                      "greater").set_index("round")
        columns[f"ticket − {control_label(c)} (pp), 95% CI"] = [
            f"{100 * effects.estimate[r]:+.2f} [{100 * effects.ci_low[r]:+.2f}, {100 * effects.ci_high[r]:+.2f}]"
            for r in pruned]
        columns[f"verdict ({c})"] = [effects.verdict[r] for r in pruned]
    return pd.DataFrame(columns)


def side_word(value: float, bar: float, *, above: str = "reaches", below: str = "falls short of") -> str:
    """``above`` if ``value >= bar`` else ``below``: the word the Markdown needs around a threshold."""
    return above if value >= bar else below


def numbered_verdicts(verdicts: pd.DataFrame) -> pd.DataFrame:
    """Every verdict row as text (:func:`glth_core.analysis.verdict_tables.display_table`), numbered ``#`` from 1,
    chapters by their number ("01")."""
    from ..analysis.verdict_tables import display_table

    shown = display_table(verdicts)
    shown.insert(0, "#", range(1, len(shown) + 1))
    shown["chapter"] = shown["chapter"].str[:2]
    return shown


def listed(names: Sequence[str], empty: str = "none") -> str:
    """``names`` joined by commas, or ``empty`` when there is none."""
    return ", ".join(names) if len(names) else empty
