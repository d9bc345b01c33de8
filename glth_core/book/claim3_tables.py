r"""Chapter 06's claim-3 tables and sentences, from :mod:`glth_core.book.claim3_mechanisms`' measurements.

* :func:`shown_configurations`, :func:`shown_predictions`: the measured configurations and the
  candidates' predictive power, for reading;
* :func:`mechanism_sentences`: what the prediction table supports, in words
  (:func:`glth_core.analysis.mechanisms.prediction_sentences`);
* :func:`network_lines`: one line per network, the DCT − canonical effect at the fixed density with
  its interval, the compression verdict and the DCT − random controls that its chapter recorded;
* :func:`density_text`, :func:`claim3_models`: the fixed density and the networks, for the prose.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import pandas as pd

from ..analysis import intervals, mechanisms
from .claim3_mechanisms import CANDIDATES, CHAPTERS, by_configuration, chapter_ticket_runs, target_density
from .labels import model_label

__all__ = ["shown_predictions", "shown_configurations", "mechanism_sentences", "density_text", "claim3_models",
           "network_lines"]


def _ci(value: float, low: float, high: float) -> str:
    return "n/a" if pd.isna(value) else (f"{value:+.2f}" + ("" if pd.isna(low) else f" [{low:+.2f}, {high:+.2f}]"))


def shown_predictions(table: pd.DataFrame) -> pd.DataFrame:
    """A prediction table for reading.

    Args:
        table: :func:`glth_core.book.claim3_mechanisms.prediction_table`.

    Returns:
        One text row per candidate and level: ``n``, Pearson and Spearman with their 95% intervals in
        brackets (none below n = 4), and the sign agreement ``k/n`` with its Wilson interval.
    """
    return pd.DataFrame({
        "candidate": table.candidate.map(CANDIDATES), "points": table.level, "n": table.n,
        "Pearson r [95% CI]": [_ci(r.pearson, r.pearson_low, r.pearson_high) for r in table.itertuples()],
        "Spearman ρ [95% CI]": [_ci(r.spearman, r.spearman_low, r.spearman_high) for r in table.itertuples()],
        "same sign [95% CI]": ["n/a" if not r.n else f"{round(r.sign_agreement * r.n)}/{r.n} "
                               f"[{r.sign_low:.2f}, {r.sign_high:.2f}]" for r in table.itertuples()]})


def shown_configurations(points: pd.DataFrame) -> pd.DataFrame:
    """The configurations for reading.

    Args:
        points: :func:`glth_core.book.claim3_mechanisms.mechanism_points`.

    Returns:
        One text row per configuration (:func:`~glth_core.book.claim3_mechanisms.by_configuration`):
        network, configuration, seeds, the effect (pp) and each candidate's difference from the canonical
        ticket, in percentage points of the layer-weighted value (3 significant digits).
    """
    config = by_configuration(points)
    shown = pd.DataFrame({"network": config.model, "configuration": config.configuration, "seeds": config.seeds,
                          "effect (pp)": config.effect.map(lambda v: f"{v:+.2f}")})
    for column, name in CANDIDATES.items():
        shown[name] = (100 * config[column]).map(lambda v: f"{v:+.3g}")
    return shown


def mechanism_sentences(predictions: pd.DataFrame) -> str:
    """What the configuration-level rows of a prediction table support, in words.

    Args:
        predictions: :func:`glth_core.book.claim3_mechanisms.prediction_table`.

    Returns:
        The sentences of :func:`glth_core.analysis.mechanisms.prediction_sentences`, joined, or why
        there is nothing to say (no configuration was paired).
    """
    rows = predictions[predictions.level == "configuration"]
    if rows.empty or not rows.n.max():
        return ("No configuration could be paired with a canonical ticket in the results folder (the notes above "
                "say what is missing), so no candidate is tested in this build.")
    return " ".join(mechanisms.prediction_sentences(rows, CANDIDATES))


def density_text(profile: str, smoke: bool, chapters: Sequence[str] = CHAPTERS) -> str:
    """The fixed density of the measurements, for the prose.

    Args:
        profile, smoke: the build.
        chapters: the chapters read.

    Returns:
        ``"6.4%"``, or ``"6.4% (02_bases), 51.2% (05_conv)"`` when the chapters' densities differ.
    """
    found = {c: f"{100 * target_density(chapter_ticket_runs(c, profile, smoke)[0]):.3g}%" for c in chapters}
    return next(iter(found.values())) if len(set(found.values())) == 1 else ", ".join(
        f"{d} ({c})" for c, d in found.items())


def _recorded(verdicts: pd.DataFrame, chapter: str, model: str, models: int, *words: str) -> pd.DataFrame:
    """Recorded claim-3 rows of ``chapter`` whose comparison names every word, of network ``model`` (by the
    record's ``model`` field where it has one, else by the comparison's text when the chapter has several)."""
    rows = verdicts[(verdicts.chapter == chapter) & (verdicts.claim.astype(str) == "3")]
    text = rows.comparison.str.lower()
    keep = pd.Series(True, index=rows.index)
    for word in words:
        keep &= text.str.contains(word, regex=False)
    names = {model.lower(), model_label(model).lower()}
    if "model" in rows.columns and rows.model.notna().any():  # a record that names its model
        keep &= rows.model.astype(str).str.lower().isin(names) | rows.model.isna()
    elif models > 1:
        keep &= text.str.contains(model.lower(), regex=False) | text.str.contains(model_label(model).lower(),
                                                                                   regex=False)
    return rows[keep]


def claim3_models(profile: str, smoke: bool, chapters: Sequence[str] = CHAPTERS) -> dict[str, list[str]]:
    """The networks of each chapter under the resolved parameters.

    Args:
        profile, smoke: the build.
        chapters: the chapters read.

    Returns:
        ``{chapter: [model, ...]}`` (``models`` of chapter 05, ``model`` of chapter 02).
    """
    out = {}
    for chapter in chapters:
        params = chapter_ticket_runs(chapter, profile, smoke)[0]
        out[chapter] = list(params["models"]) if "models" in params else [params["model"]]
    return out


def network_lines(points: pd.DataFrame, verdicts: pd.DataFrame, chapter_models: Mapping[str, Sequence[str]]
                  ) -> pd.DataFrame:
    """One line per network: the DCT − canonical effect at the fixed density (mean over seeds, t-interval),
    the chapter's recorded compression verdict for it and its recorded DCT − random controls.

    Args:
        points: :func:`glth_core.book.claim3_mechanisms.mechanism_points`.
        verdicts: :func:`glth_core.book.chapter.recorded_verdicts` of the same build.
        chapter_models: chapter -> its models (:func:`claim3_models`).

    Returns:
        One text row per network: ``network``, ``chapter``, ``DCT − canonical (95% CI)`` (mean over seeds
        with a Student-t interval, or "not measured"), the recorded compression verdict of the DCT against
        the canonical basis and the recorded comparisons of the DCT with a random basis (or "not recorded").
    """
    rows = []
    for chapter, models in chapter_models.items():
        for model in models:
            dct = points[(points.chapter == chapter) & (points.model_name == model) & (points.configuration == "DCT")]
            effect = "not measured (no finished DCT and canonical tickets)"
            if len(dct) > 1:
                low, high = intervals.t_interval(dct.effect)
                effect = (f"{dct.effect.mean():+.2f} pp [{low:+.2f}, {high:+.2f}] at "
                          f"{100 * dct.density.iloc[0]:.3g}% of weights, n = {len(dct)}")
            elif len(dct):
                effect = f"{dct.effect.iloc[0]:+.2f} pp at {100 * dct.density.iloc[0]:.3g}% of weights, n = 1"
            compression = _recorded(verdicts, chapter, model, len(models), "compression", "dct", "canonical")
            controls = _recorded(verdicts, chapter, model, len(models), "dct", "random")
            rows.append({"network": model_label(model), "chapter": chapter,
                         "DCT − canonical (95% CI)": effect,
                         "compression DCT / canonical (recorded)": "; ".join(compression.sentence) or "not recorded",
                         "controls: DCT − random (recorded)": "; ".join(f"{r.comparison}: {r.sentence}"
                                                                        for r in controls.itertuples())
                         or f"not recorded by chapter {chapter}"})
    return pd.DataFrame(rows)
