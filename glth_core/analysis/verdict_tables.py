r"""Verdict tables: one chapter's rows for :func:`glth_core.book.chapter.record_verdicts`, and the summary of all.

A *verdict row* (columns :data:`glth_core.book.chapter.VERDICT_COLUMNS`) is one tested
comparison: its claim ("1".."5"), chapter, a short ``comparison`` label, ``n``,
the effect and its interval *in the printed unit* (``"pp"``: percentage points,
100 x a difference of accuracy fractions; ``"x"``: a ratio, null 1), the
``verdict`` of :func:`glth_core.analysis.stats.verdict` and the sentence of
:func:`glth_core.analysis.stats.verdict_sentence`.

* :func:`verdict_row` turns an effect (a row of ``stats.paired_difference`` or
  ``stats.compression_ratio``) and the claimed side into such a row;
* :func:`claim_summary` counts a claim's verdicts ("2 of 3 comparisons hold,
  1 inconclusive");
* :func:`claim_evidence` lists a claim's comparisons with their sentences (Markdown);
* :func:`display_table` formats every row for reading (effect and interval as
  text), :func:`markdown_table` renders a table as Markdown, and
  :class:`MarkdownText` displays it in a notebook (Markdown for the book, the
  same text for ``text/plain``, so that nbval compares the content);
* :func:`forest_panels` draws the effects, one panel per group (e.g. per claim and unit).
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from . import stats

__all__ = ["verdict_row", "claim_summary", "claim_evidence", "missing_chapters", "format_effect", "display_table",
           "markdown_table", "MarkdownText", "forest_panels"]


def verdict_row(effect: Mapping, claimed_side: str, *, claim: str, chapter: str, comparison: str,
                unit: str = "pp", scale: float = 100.0, null: float = 0.0) -> dict:
    """One verdict row of ``effect`` (keys ``n``, ``estimate``, ``ci_low``, ``ci_high``, optional ``bound``).

    ``null``: the effect's null in the effect's own units (0 for a difference, 1 for
    a ratio). ``estimate``/``ci_low``/``ci_high``/``null`` are stored as ``scale *
    value`` (100: accuracy fractions as percentage points; a ratio:
    ``unit="x", scale=1, null=1``).
    """
    if not isinstance(claim, str) or claim not in {"1", "2", "3", "4", "5"}:
        raise ValueError(f"claim must be the paper's claim number as a string '1'..'5', got {claim!r}")
    bound = effect.get("bound", "exact")
    return {
        "claim": claim, "chapter": chapter, "comparison": comparison, "n": int(effect["n"]),
        "estimate": scale * float(effect["estimate"]), "ci_low": scale * float(effect["ci_low"]),
        "ci_high": scale * float(effect["ci_high"]), "unit": unit, "null": scale * float(null),
        "verdict": stats.verdict((effect["ci_low"], effect["ci_high"]), claimed_side, null=null, bound=bound),
        "sentence": stats.verdict_sentence(effect, claimed_side, unit=unit, scale=scale, null=null),
    }


def claim_summary(verdicts: pd.DataFrame, claim: str) -> str:
    """``"2 of 3 comparisons hold, 1 inconclusive"`` for ``claim``; ``"no comparison recorded"`` if none."""
    verdicts_of_claim = verdicts.loc[verdicts["claim"] == claim, "verdict"]
    if verdicts_of_claim.empty:
        return "no comparison recorded"
    counts = verdicts_of_claim.value_counts()
    total = int(counts.sum())
    noun = "comparison" if total == 1 else "comparisons"
    held = int(counts.get("holds", 0))
    parts = [f"{held} of {total} {noun} {'holds' if total == 1 else 'hold'}"]
    parts += [f"{int(counts[v])} {v}" for v in ("contradicted", "inconclusive", "censored") if counts.get(v, 0)]
    return ", ".join(parts)


def claim_evidence(verdicts: pd.DataFrame, claim: str, *, link_chapters: bool = True) -> str:
    """A Markdown list of ``claim``'s comparisons: chapter, comparison and verdict sentence, in row order.

    ``link_chapters``: name each chapter by a MyST ``{doc}`` link (the chapters are
    notebooks next to the summary). An empty claim gives an italic "no comparison" line.
    """
    rows = verdicts[verdicts["claim"] == claim]
    if rows.empty:
        return "*No comparison recorded for this claim in this build.*"
    def where(chapter):
        return f"{{doc}}`{chapter}`" if link_chapters else chapter

    return "\n".join(f"- {where(r.chapter)}: {r.comparison}: **{r.verdict}** {r.sentence.removeprefix(r.verdict).strip()}"
                     for r in rows.itertuples())


def missing_chapters(verdicts: pd.DataFrame, expected: Sequence[str]) -> list[str]:
    """The chapters of ``expected`` that recorded no verdict row, in ``expected``'s order."""
    present = set(verdicts["chapter"])
    return [c for c in expected if c not in present]


def format_effect(estimate: float, low: float, high: float, unit: str, digits: int = 2) -> tuple[str, str]:
    """``("+1.23 pp", "[+0.40, +2.06]")`` for a difference, ``("1.80x", "[1.20x, 2.70x]")`` for a ratio."""
    def number(v):
        if v is None or not math.isfinite(v):
            return "n/a"
        return f"{v:.{digits}f}x" if unit == "x" else f"{v:+.{digits}f}"

    return number(estimate) + ("" if unit == "x" else f" {unit}"), f"[{number(low)}, {number(high)}]"


def display_table(verdicts: pd.DataFrame) -> pd.DataFrame:
    """Every verdict row for reading: claim, chapter, comparison, n, estimate, 95% CI, verdict (all text)."""
    effects = [format_effect(r.estimate, r.ci_low, r.ci_high, r.unit) for r in verdicts.itertuples()]
    return pd.DataFrame({
        "claim": verdicts["claim"].astype(str).to_numpy(), "chapter": verdicts["chapter"].to_numpy(),
        "comparison": verdicts["comparison"].to_numpy(), "n": verdicts["n"].astype(int).astype(str).to_numpy(),
        "estimate": [e for e, _ in effects], "95% CI": [ci for _, ci in effects],
        "verdict": verdicts["verdict"].to_numpy(),
    })


def markdown_table(table: pd.DataFrame) -> str:
    """``table`` as a Markdown (pipe) table, cells as text with ``|`` escaped."""
    def cell(v):
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in table.columns) + " |",
             "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


class MarkdownText:
    """Markdown shown by Jupyter and myst-nb; its ``text/plain`` form is the same text (compared by nbval)."""

    def __init__(self, text: str):
        if not isinstance(text, str):
            raise TypeError(f"text must be a str of Markdown, got {type(text).__name__}")
        self.text = text

    def _repr_markdown_(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text


def forest_panels(verdicts: pd.DataFrame, *, label: str = "label", panel: str = "unit", width: float = 10.0):
    """One :func:`glth_core.analysis.plots.forest` panel per value of the column ``panel``, titled with that value.

    ``verdicts``: rows already in the printed unit (:func:`verdict_row`), with a
    ``label`` column naming each row. Rows of one panel must share their ``unit``
    and ``null`` (one axis holds one unit): differences (``"pp"``) are drawn on a
    linear axis, ratios (``"x"``) on a log axis with plain tick labels. Panels
    follow the order of first appearance, rows the table's order. Returns the figure.
    """
    import matplotlib.pyplot as plt

    from .plots import forest

    stats._check_columns(verdicts, [label, panel, "estimate", "ci_low", "ci_high", "verdict", "unit", "null"],
                         "verdicts")
    if verdicts.empty:
        raise ValueError("verdicts is empty: nothing to draw")
    names = list(pd.unique(verdicts[panel]))
    parts = [verdicts[verdicts[panel] == name] for name in names]
    for name, part in zip(names, parts):
        if part["unit"].nunique() != 1 or part["null"].nunique() != 1:
            raise ValueError(f"panel {name!r} mixes units {sorted(part['unit'].unique())} or nulls "
                             f"{sorted(part['null'].unique())}; one axis holds one unit")
    sizes = [len(part) for part in parts]
    fig, axes = plt.subplots(len(parts), 1, figsize=(width, 0.45 * sum(sizes) + 1.1 * len(parts)),
                             gridspec_kw={"height_ratios": sizes}, squeeze=False)
    for ax, name, part in zip(axes[:, 0], names, parts):
        unit, null = part["unit"].iloc[0], float(part["null"].iloc[0])
        ratio = unit == "x"
        forest(part, label, ax=ax, scale=1.0, null=null, log=ratio,
               xlabel="ratio (log scale), 95% CI" if ratio else f"difference ({unit}), 95% CI")
        if ratio:
            _plain_log_ticks(ax.xaxis, part)
        ax.set_title(str(name), loc="left", fontsize="medium")
    fig.tight_layout()
    return fig


def _plain_log_ticks(axis, part: pd.DataFrame) -> None:
    """Ticks of a log axis of ratios labelled ``0.5x``, ``1x``, ``2x`` (denser within one decade)."""
    import matplotlib.ticker as mticker

    values = part[["ci_low", "ci_high", "estimate", "null"]].to_numpy(dtype=float).ravel()
    values = values[(values > 0) & np.isfinite(values)]
    decades = np.log10(values.max() / values.min()) if values.size else 1.0
    subs = (1.0, 2.0, 5.0) if decades > 1 else (1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 7.0)
    axis.set_major_locator(mticker.LogLocator(base=10, subs=subs))
    axis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}x"))
    axis.set_minor_formatter(mticker.NullFormatter())
