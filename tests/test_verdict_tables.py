"""Verdict rows, per-claim summaries, the readable table and the forest panels of the summary chapter."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import scipy.stats  # noqa: E402

from glth_core.book import chapter  # noqa: E402
from glth_core.analysis import stats, verdict_tables as vt


def _rows(*specs):
    """Verdict rows from (claim, chapter, verdict, unit) tuples, with made-up effects."""
    rows = []
    for i, (claim, chap, verdict, unit) in enumerate(specs):
        null = 1.0 if unit == "x" else 0.0
        rows.append(dict(claim=claim, chapter=chap, comparison=f"c{i}", n=5, estimate=null + 0.5, ci_low=null + 0.1,
                         ci_high=null + 0.9, unit=unit, null=null, verdict=verdict, sentence=f"{verdict} (n = 5)"))
    return pd.DataFrame(rows)


def test_verdict_row_scales_a_paired_difference_to_pp_and_matches_scipy():
    table = pd.DataFrame({"control": ["ticket"] * 4 + ["reinit"] * 4, "seed": [0, 1, 2, 3] * 2, "round": 1,
                          "test_accuracy": [0.80, 0.82, 0.81, 0.83, 0.78, 0.79, 0.80, 0.79]})
    effect = stats.paired_difference(table, "control", "ticket", "reinit").iloc[0]
    row = vt.verdict_row(effect, "greater", claim="2", chapter="01_canonical", comparison="ticket − reinit")
    interval = scipy.stats.ttest_rel([0.80, 0.82, 0.81, 0.83], [0.78, 0.79, 0.80, 0.79]).confidence_interval()
    assert row["estimate"] == pytest.approx(100 * 0.025)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((100 * interval.low, 100 * interval.high))
    assert row["verdict"] == ("holds" if interval.low > 0 else "inconclusive")
    assert row["sentence"].startswith(row["verdict"]) and "pp" in row["sentence"]
    assert row["unit"] == "pp" and row["null"] == 0 and list(row) == chapter.VERDICT_COLUMNS
    less = vt.verdict_row(effect, "less", claim="2", chapter="01_canonical", comparison="x")
    assert less["verdict"] == ("contradicted" if interval.low > 0 else "inconclusive")


def test_verdict_row_of_a_ratio_keeps_its_unit_and_null():
    effect = dict(n=3, estimate=0.8, ci_low=0.6, ci_high=0.95)
    row = vt.verdict_row(effect, "greater", claim="3", chapter="05_conv", comparison="dct / canonical",
                         unit="x", scale=1.0, null=1.0)
    assert (row["estimate"], row["null"], row["verdict"]) == (0.8, 1.0, "contradicted")
    assert "0.80x" in row["sentence"]
    with pytest.raises(ValueError, match="claim must be"):
        vt.verdict_row(effect, "greater", claim=3, chapter="05_conv", comparison="x")


def test_verdict_row_of_a_censored_ratio_is_censored_never_holds():
    effect = dict(n=3, estimate=1.8, ci_low=1.3, ci_high=2.5, bound="lower")
    row = vt.verdict_row(effect, "greater", claim="3", chapter="05_conv", comparison="dct / canonical",
                         unit="x", scale=1.0, null=1.0)
    assert row["verdict"] == "censored" and row["sentence"].startswith("censored (n = 3, ratio 1.80x")
    exact = vt.verdict_row({**effect, "bound": "exact"}, "greater", claim="3", chapter="05_conv", comparison="x",
                           unit="x", scale=1.0, null=1.0)
    assert exact["verdict"] == "holds"


def test_claim_summary_counts_each_verdict():
    verdicts = _rows(("2", "01", "holds", "pp"), ("2", "01", "holds", "pp"), ("2", "02", "inconclusive", "pp"),
                     ("3", "02", "contradicted", "x"))
    assert vt.claim_summary(verdicts, "2") == "2 of 3 comparisons hold, 1 inconclusive"
    assert vt.claim_summary(verdicts, "3") == "0 of 1 comparison holds, 1 contradicted"
    assert vt.claim_summary(verdicts, "5") == "no comparison recorded"
    censored = _rows(("3", "05", "holds", "x"), ("3", "05", "censored", "x"))
    assert vt.claim_summary(censored, "3") == "1 of 2 comparisons hold, 1 censored"


def test_claim_evidence_lists_each_comparison_of_the_claim_only():
    verdicts = _rows(("2", "01_canonical", "holds", "pp"), ("3", "02_bases", "inconclusive", "x"),
                     ("2", "05_conv", "inconclusive", "pp"))
    lines = vt.claim_evidence(verdicts, "2").splitlines()
    assert lines == ["- {doc}`01_canonical`: c0: **holds** (n = 5)", "- {doc}`05_conv`: c2: **inconclusive** (n = 5)"]
    assert vt.claim_evidence(verdicts, "3", link_chapters=False).startswith("- 02_bases: c1: **inconclusive**")
    assert "No comparison" in vt.claim_evidence(verdicts, "4")


def test_missing_chapters_in_expected_order():
    verdicts = _rows(("2", "02_bases", "holds", "pp"))
    assert vt.missing_chapters(verdicts, ["01_canonical", "02_bases", "05_conv"]) == ["01_canonical", "05_conv"]
    assert vt.missing_chapters(pd.DataFrame(columns=chapter.VERDICT_COLUMNS), ["a"]) == ["a"]


def test_display_table_formats_differences_and_ratios():
    shown = vt.display_table(_rows(("2", "01", "holds", "pp"), ("3", "02", "holds", "x")))
    assert list(shown.columns) == ["claim", "chapter", "comparison", "n", "estimate", "95% CI", "verdict"]
    assert shown.loc[0, "estimate"] == "+0.50 pp" and shown.loc[0, "95% CI"] == "[+0.10, +0.90]"
    assert shown.loc[1, "estimate"] == "1.50x" and shown.loc[1, "95% CI"] == "[1.10x, 1.90x]"
    assert vt.format_effect(float("nan"), 0.0, 1.0, "pp")[0] == "n/a pp"


def test_markdown_table_escapes_pipes_and_has_one_line_per_row():
    text = vt.markdown_table(pd.DataFrame({"a": ["x|y", "z"], "b": [1, 2]}))
    lines = text.splitlines()
    assert lines[0] == "| a | b |" and lines[1] == "|---|---|" and lines[2] == "| x\\|y | 1 |" and len(lines) == 4
    shown = vt.MarkdownText(text)
    assert shown._repr_markdown_() == text == repr(shown)
    with pytest.raises(TypeError):
        vt.MarkdownText(3)


def test_forest_panels_one_axis_per_panel_ratios_on_log_scale():
    verdicts = _rows(("2", "01", "holds", "pp"), ("3", "02", "inconclusive", "x"), ("2", "02", "holds", "pp"))
    verdicts["label"] = verdicts["comparison"]
    fig = vt.forest_panels(verdicts)
    try:
        assert len(fig.axes) == 2
        pp, ratio = fig.axes
        assert pp.get_title(loc="left") == "pp" and ratio.get_title(loc="left") == "x"
        assert pp.get_xscale() == "linear" and ratio.get_xscale() == "log"
        assert len(pp.containers) == 2 and len(ratio.containers) == 1
        assert [t.get_text() for t in pp.get_yticklabels()] == ["c0", "c2"]
        null_lines = [line for line in ratio.get_lines() if list(line.get_xdata()) == [1.0, 1.0]]
        assert null_lines, "the ratio panel draws its null at 1"
        assert ratio.xaxis.get_major_formatter()(2.0, 0) == "2x"
    finally:
        plt.close(fig)
    verdicts["panel"] = ["claim " + c for c in verdicts["claim"]]
    fig = vt.forest_panels(verdicts, panel="panel")
    try:
        assert [ax.get_title(loc="left") for ax in fig.axes] == ["claim 2", "claim 3"]
    finally:
        plt.close(fig)
    with pytest.raises(ValueError, match="mixes units"):
        vt.forest_panels(verdicts.assign(panel="all"), panel="panel")
    with pytest.raises(ValueError, match="empty"):
        vt.forest_panels(verdicts.iloc[:0])


def calls(source: str, name: str) -> int:
    """How many calls of ``name`` (a function, or a method/attribute ``.name``) the Python ``source`` makes."""
    import ast
    import textwrap

    return sum(isinstance(n, ast.Call) and name in (getattr(n.func, "id", None), getattr(n.func, "attr", None))
               for n in ast.walk(ast.parse(textwrap.dedent(source))))


def test_every_chapter_records_its_verdicts_with_one_ch_verdicts_call_through_verdict_row():
    import inspect
    from pathlib import Path

    from glth_core.book import chapter_verdicts

    repo = Path(__file__).resolve().parents[1]
    # the one path: Chapter.verdicts -> compute_verdicts -> verdict_row, then record_verdicts
    assert calls(inspect.getsource(chapter.Chapter.verdicts), "compute_verdicts") == 1
    assert calls(inspect.getsource(chapter.Chapter.verdicts), "record_verdicts") == 1
    assert calls(inspect.getsource(chapter_verdicts.compute_verdicts), "verdict_row") == 1
    sources = {p.stem: p.read_text(encoding="utf-8") for p in sorted((repo / "notebooks").glob("*.py"))}
    recording = {name for name, text in sources.items() if calls(text, "verdicts")}
    assert {"01_canonical", "02_bases", "03_subspace", "04_structured", "05_conv"} <= recording
    for name, text in sources.items():
        assert calls(text, "verdicts") <= 1, f"{name} records its verdicts in more than one ch.verdicts call"
        for other in ("record_verdicts", "verdict_row", "with_verdicts"):
            assert not calls(text, other), f"{name} calls {other} itself instead of declaring Tests for ch.verdicts"
    # and no library module builds verdict rows or records them outside the one path
    for path in (repo / "glth_core").glob("*.py"):
        if path.stem not in ("chapter", "chapter_verdicts", "verdict_tables"):
            text = path.read_text(encoding="utf-8")
            assert not calls(text, "verdict_row") and not calls(text, "record_verdicts"), path.name


def test_the_chapter_rule_can_fail():
    assert calls("ch.verdicts(t, A)\nch.verdicts(u, B)\n", "verdicts") == 2
    assert calls("from glth_core.book.chapter import record_verdicts\nrecord_verdicts('x', rows)\n", "record_verdicts") == 1
    assert calls("rows = [vt.verdict_row(e, 'greater')]\n", "verdict_row") == 1
    assert calls("# ch.verdicts(table, TESTS)\n", "verdicts") == 0


