r"""A chapter's verdicts as data: :class:`Test` declares a tested comparison, :func:`compute_verdicts`
computes it through the one verdict function, and :func:`record_verdicts` keeps it for the summary.

A :class:`Test` names a claim of the paper, the two arms of a paired comparison
(``treatment - reference`` of ``test_accuracy``, paired by seed; or the ratio of
two compressions), the round it is tested at (fixed before the runs: a round
number, ``"first"``: the first pruned round, ``"last"``: the sparsest, or the
round nearest a density) and the claimed side. :func:`compute_verdicts` gives
one verdict row per test (columns :data:`VERDICT_COLUMNS` and ``key``), made by
:func:`glth_core.analysis.verdict_tables.verdict_row`, the same function that builds the
rows by hand, so a declared test and a hand-built row agree to the last digit.

Tests whose number depends on the parameters (every basis x every pruned round; one
per model and variant) are declared once as a :func:`family`, a template expanded over
a grid or over the rows of a table of effects computed elsewhere (``given=True``); a
family's members are not glued one by one (``Test.glue``), the chapter glues their
sentences together under one key.
"""
from __future__ import annotations

import dataclasses
import re
import string
from typing import Mapping, Sequence

import pandas as pd

from ..analysis import stats
from ..analysis.verdict_tables import verdict_row

__all__ = ["Test", "family", "compute_verdicts", "effect_of", "VERDICT_COLUMNS", "record_verdicts", "recorded_verdicts"]

KINDS = ("difference", "compression")


@dataclasses.dataclass(frozen=True)
class Test:
    """One tested comparison of a chapter.

    Args:
        key: the glue key of its verdict sentence (``"c1_rise"``), shown by the chapter's Markdown.
        claim: the paper's claim number, ``"1"`` .. ``"5"``.
        comparison: the row's label; ``{weights}`` becomes ``"40.6% of weights"`` (mean density of
            the treatment at the tested round), ``{round}`` the round, and any other ``{name}`` a
            keyword of :func:`compute_verdicts` (e.g. ``{where}``).
        arm: the column that tells the arms apart (``"control"``, ``"basis"``).
        treatment: the arm whose value is tested (``"ticket"``).
        reference: the other arm (``"reinit"``); with ``reference_round`` it may equal ``treatment``.
        side: the claimed side of the null, ``"greater"`` or ``"less"``.
        round: the tested round: an int, ``"first"`` (the first round > 0 of the treatment) or
            ``"last"`` (its last round); ignored when ``density`` is given.
        density: test at the treatment's round whose mean density (fraction) is nearest this.
        reference_round: compare with the reference arm at this round (e.g. 0: the same seed's dense
            network) instead of at the tested round.
        null: the null in the effect's own units (an accuracy fraction; -0.01: "within 1 pp").
        kind: ``"difference"`` (percentage points, :func:`glth_core.analysis.stats.paired_difference`) or
            ``"compression"`` (a ratio, null 1, :func:`glth_core.analysis.stats.compression_ratio` of a
            :func:`glth_core.analysis.stats.compression` table, which has no rounds).
        filters: ``{column: value}`` selecting the rows of the table first (e.g. ``{"basis": "dct"}``).
        label: the effect's name in the glued sentence (default: "difference" / "ratio").
        glue: glue the verdict sentence under ``key`` (False: a member of a :func:`family`, whose
            sentences the chapter glues together, or not at all).
        effect: the effect, computed elsewhere (a mapping with ``n``, ``estimate``, ``ci_low``,
            ``ci_high``, optional ``bound``; its other fields fill the comparison label), used
            instead of reading the table; the arms then only document the comparison.
    """

    __test__ = False  # not a pytest test class, although tests import it

    key: str
    claim: str
    comparison: str
    arm: str
    treatment: object
    reference: object
    side: str = "greater"
    round: int | str = "last"
    density: float | None = None
    reference_round: int | None = None
    null: float = 0.0
    kind: str = "difference"
    filters: Mapping = dataclasses.field(default_factory=dict)
    label: str | None = None
    glue: bool = True
    effect: Mapping | None = None

    def __post_init__(self):
        if not isinstance(self.key, str) or not self.key.isidentifier():
            raise ValueError(f"Test key must be a glue key (a Python name), got {self.key!r}")
        if self.claim not in {"1", "2", "3", "4", "5"}:
            raise ValueError(f"Test {self.key}: claim must be '1'..'5', got {self.claim!r}")
        if self.side not in ("greater", "less"):
            raise ValueError(f"Test {self.key}: side must be 'greater' or 'less', got {self.side!r}")
        if self.kind not in KINDS:
            raise ValueError(f"Test {self.key}: kind must be one of {KINDS}, got {self.kind!r}")
        if not (self.round in ("first", "last") or (isinstance(self.round, int) and self.round >= 0)):
            raise ValueError(f"Test {self.key}: round must be 'first', 'last' or a round >= 0, got {self.round!r}")
        if self.treatment == self.reference and self.reference_round is None:
            raise ValueError(f"Test {self.key}: treatment and reference are both {self.treatment!r}; give "
                             "reference_round to compare an arm with its own earlier round")


def _partial_format(text: str, row: Mapping) -> str:
    """``text`` with the fields that ``row`` has formatted; the others kept, with their format spec."""
    out = []
    for literal, name, spec, conversion in string.Formatter().parse(text):
        out.append(literal.replace("{", "{{").replace("}", "}}"))
        if name is None:
            continue
        field = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
        out.append(field.format_map(row) if name in row else field)
    return "".join(out)


def _fill(value, row: Mapping):
    if isinstance(value, str):
        whole = re.fullmatch(r"\{(\w+)\}", value)
        if whole and whole.group(1) in row:  # the row's value itself: an int round stays an int
            return row[whole.group(1)]
        return _partial_format(value, row) if "{" in value else value  # compute_verdicts formats the rest
    if isinstance(value, Mapping):
        return {k: _fill(v, row) for k, v in value.items()}
    return value


def family(rows, *, given: bool = False, glue: bool = False, **fields) -> list[Test]:
    """One :class:`Test` per row of ``rows``: a family of tests whose size depends on the parameters
    (every basis x every pruned round; one per model and variant).

    Every text field (and every value of ``filters``) is a template formatted with the row:
    ``"{basis}"`` alone takes the row's value as it is (an int round stays an int), and a longer
    text is formatted (``"ticket − reinit ({label})"``); a ``{name}`` the row lacks is kept for
    :func:`compute_verdicts` (``{weights}``, ``{round}``, a keyword of ``verdicts``). The i-th
    test's key is ``f"{key}_{i}"`` unless ``key`` names a row field.

    Args:
        rows: a DataFrame (one test per row, in order) or a sequence of mappings, e.g. a grid
            ``[{"basis": b, "round": r} for b in bases for r in rounds]``.
        given: each row is also the test's ``effect`` (a table of effects computed elsewhere,
            with ``n``, ``estimate``, ``ci_low``, ``ci_high``).
        glue: glue each member's sentence under its own key (default: no; glue the family's
            sentences as one text under one key).
        **fields: the :class:`Test` fields (``key``, ``claim``, ``comparison``, ``arm`` ...).

    Returns:
        The tests, in the rows' order (empty for no rows).

    Raises:
        ValueError: an invalid member (as :class:`Test`), e.g. a side that is not "greater"/"less".
    """
    if isinstance(rows, pd.DataFrame):
        rows = rows.to_dict("records")
    tests = []
    for i, row in enumerate(rows):
        filled = {name: _fill(value, row) for name, value in fields.items()}
        if filled["key"] == fields["key"]:
            filled["key"] = f"{fields['key']}_{i}"
        tests.append(Test(**filled, glue=glue, effect=dict(row) if given else None))
    return tests


def _select(table: pd.DataFrame, filters: Mapping) -> pd.DataFrame:
    for column, value in filters.items():
        if column not in table.columns:
            raise ValueError(f"filter column {column!r} is not in the table (columns: {list(table.columns)})")
        table = table[table[column] == value]
    return table


def _tested_round(test: Test, treated: pd.DataFrame) -> int:
    rounds = sorted(int(r) for r in treated["round"].unique())
    if test.density is not None:
        density = treated.groupby("round").density.mean()
        return int((density - test.density).abs().idxmin())
    pruned = [r for r in rounds if r > 0]
    if test.round == "first" or test.round == "last":
        if not pruned:
            raise ValueError(f"Test {test.key}: the arm {test.treatment!r} has no pruned round (rounds {rounds})")
        return pruned[0] if test.round == "first" else pruned[-1]
    if test.round not in rounds:
        raise ValueError(f"Test {test.key}: round {test.round} not in the table's rounds {rounds}")
    return test.round


def effect_of(table: pd.DataFrame, test: Test) -> tuple[pd.Series, dict]:
    """The effect row that ``test`` reads from ``table``, and the fields of its comparison label.

    Returns:
        ``(effect, fields)``: a row of :func:`glth_core.analysis.stats.paired_difference` (or of
        :func:`glth_core.analysis.stats.compression_ratio`), and ``{"round": r, "weights": "40.6% of weights",
        "weights_pct": 40.6...}`` (empty for a compression test).

    Raises:
        ValueError: an arm, column or round the table does not have.
    """
    table = _select(table, test.filters)
    if test.kind == "compression":
        effect = stats.compression_ratio(table, test.arm, test.treatment, test.reference)
        return effect.iloc[0], {}
    treated = table[table[test.arm] == test.treatment]
    if treated.empty:
        raise ValueError(f"Test {test.key}: no rows with {test.arm} == {test.treatment!r}")
    r = _tested_round(test, treated)
    percent = 100 * float(treated[treated["round"] == r].density.mean())
    fields = {"round": r, "weights": f"{percent:.3g}% of weights", "weights_pct": percent}
    if test.reference_round is None:
        effects = stats.paired_difference(table, test.arm, test.treatment, test.reference, by=["round"])
    else:  # the reference arm at one round, paired with every other round of the treatment
        others = sorted(int(x) for x in treated["round"].unique() if x != test.reference_round)
        base = table[(table[test.arm] == test.reference) & (table["round"] == test.reference_round)]
        frame = pd.concat([treated[treated["round"] != test.reference_round].assign(_arm="treatment"),
                           *[base.assign(_arm="reference", round=x) for x in others]])
        effects = stats.paired_difference(frame, "_arm", "treatment", "reference", by=["round"])
    effects = effects.set_index("round")
    if r not in effects.index:
        raise ValueError(f"Test {test.key}: no seed has both arms at round {r}")
    return effects.loc[r], fields


def compute_verdicts(table: pd.DataFrame, tests: Sequence[Test], *, chapter: str,
                     effects: Mapping[str, Mapping] | None = None, **context) -> pd.DataFrame:
    """One verdict row per test (:data:`VERDICT_COLUMNS`, plus ``key``, the glued ``glued_sentence``, and the
    tested ``round`` and ``weights_pct``, mean density in %, of a difference test; None for a compression).

    Args:
        table: a tidy table of runs (``sweep``), or of :func:`glth_core.analysis.stats.compression` for
            compression tests.
        tests: the chapter's :class:`Test` s.
        chapter: the chapter's name (``"01_canonical"``).
        effects: test key -> an effect computed elsewhere (a row with ``n``, ``estimate``, ``ci_low``,
            ``ci_high``, optional ``bound``; e.g. a comparison at equal parameter count), used instead of
            reading the table for that test; its other fields (``params``, ``method`` ...) fill the
            comparison label. The test's arms then only document the comparison.
        **context: values of the ``{name}`` fields of the tests' comparison labels.

    Returns:
        A DataFrame in the tests' order; ``estimate``/``ci_low``/``ci_high``/``null`` in percentage
        points (differences) or as ratios (unit ``"x"``).

    Raises:
        ValueError: a duplicated key, a label field without a value, or a test the table cannot answer.
    """
    keys = [t.key for t in tests]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicated Test keys: {sorted({k for k in keys if keys.count(k) > 1})}")
    rows = []
    for test in tests:
        given = test.effect if test.effect is not None else (effects or {}).get(test.key)
        if given is not None:
            effect = pd.Series(dict(given))
            fields = {k: v for k, v in effect.items() if k not in ("n", "estimate", "ci_low", "ci_high", "bound")}
        else:
            effect, fields = effect_of(table, test)
        ratio = test.kind == "compression"
        units = dict(unit="x", scale=1.0, null=1.0) if ratio else dict(unit="pp", scale=100.0, null=test.null)
        try:
            comparison = test.comparison.format(**{**context, **fields})
        except KeyError as missing:
            raise ValueError(f"Test {test.key}: comparison label needs {missing}; pass it to verdicts()") from None
        row = verdict_row(effect, test.side, claim=test.claim, chapter=chapter, comparison=comparison, **units)
        row["glued_sentence"] = stats.verdict_sentence(effect, test.side, label=test.label, **units)
        rows.append({"key": test.key, "glue": test.glue, **row, "round": fields.get("round"),
                     "weights_pct": fields.get("weights_pct")})
    return pd.DataFrame(rows, columns=["key", *VERDICT_COLUMNS, "glued_sentence", "round", "weights_pct", "glue"])


#: Columns of a chapter's verdict table (:func:`record_verdicts`), one row per tested claim.
VERDICT_COLUMNS = ["claim", "chapter", "comparison", "n", "estimate", "ci_low", "ci_high", "unit", "null",
                   "verdict", "sentence"]


def _verdicts_folder(profile: str, smoke: bool, results_dir=None):
    from ..storage.store import default_results_dir

    return default_results_dir(results_dir) / "verdicts" / (f"{profile}-smoke" if smoke else profile)


def record_verdicts(chapter: str, verdicts, *, profile: str, smoke: bool, results_dir=None):
    """Save ``chapter``'s verdict table (a DataFrame with :data:`VERDICT_COLUMNS`) for the summary chapter.

    Written atomically to ``<results>/verdicts/<profile>[-smoke]/<chapter>.csv``;
    ``estimate``/``ci_low``/``ci_high`` in the table's ``unit`` (e.g. percentage
    points, or a ratio with ``null`` 1). Returns the path.
    """
    from ..storage.store import atomic_write_csv

    table = pd.DataFrame(verdicts)
    missing = [c for c in VERDICT_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"verdict table has no column(s) {missing}; it needs {VERDICT_COLUMNS}")
    path = _verdicts_folder(profile, smoke, results_dir) / f"{chapter}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_csv(table[VERDICT_COLUMNS], path)
    return path


def recorded_verdicts(*, profile: str, smoke: bool, results_dir=None):
    """Every chapter's recorded verdicts for ``profile`` (one DataFrame, in chapter order; empty if none)."""
    folder = _verdicts_folder(profile, smoke, results_dir)
    text = {"claim": str, "chapter": str, "comparison": str, "unit": str, "verdict": str, "sentence": str}
    tables = [pd.read_csv(p, dtype=text) for p in sorted(folder.glob("*.csv"))] if folder.is_dir() else []
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=VERDICT_COLUMNS)
