"""glth_core.analysis.plots, headless: the drawn lines and bands carry the statistics of glth_core.analysis.stats."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import scipy.stats  # noqa: E402

from glth_core.analysis import plots  # noqa: E402


def _table():
    rng = np.random.default_rng(0)
    rows = []
    for basis in ("canonical", "dct"):
        for control in ("ticket", "reinit"):
            for seed in range(3):
                for r in range(4):
                    rows.append({"basis": basis, "control": control, "seed": seed, "round": r, "density": 0.6 ** r,
                                 "params": 1000 * 0.6 ** r + seed,
                                 "test_accuracy": 0.88 - 0.01 * r * (control == "reinit") + rng.normal(0, 0.004)})
    return pd.DataFrame(rows)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_accuracy_curves_lines_are_group_means_and_bands_t_intervals():
    table = _table()
    tickets = table[table.control == "ticket"]
    ax = plots.accuracy_curves(tickets, "basis", labels={"dct": "DCT"}, reference=0.88, tolerance=0.01)
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert {"canonical", "DCT", "dense network (mean)"} <= set(lines)
    dct = tickets[tickets.basis == "dct"]
    for r in range(4):
        values = dct[dct["round"] == r].test_accuracy.to_numpy()
        assert lines["DCT"].get_ydata()[r] == pytest.approx(100 * values.mean())
        assert lines["DCT"].get_xdata()[r] == pytest.approx(100 * 0.6 ** r)
    bands = {c.get_gid(): c for c in ax.collections if c.get_gid()}
    vertices = bands["DCT"].get_paths()[0].vertices
    for r in range(4):
        values = dct[dct["round"] == r].test_accuracy.to_numpy()
        low, high = scipy.stats.t.interval(0.95, 2, loc=values.mean(), scale=scipy.stats.sem(values))
        at = vertices[np.isclose(vertices[:, 0], 100 * 0.6 ** r)][:, 1]
        assert min(at) == pytest.approx(100 * low) and max(at) == pytest.approx(100 * high)
    assert lines["dense network (mean)"].get_ydata()[0] == pytest.approx(88.0)
    assert ax.get_xscale() == "log" and ax.xaxis_inverted()
    assert [t.get_text() for t in ax.get_xticklabels() if t.get_text()][:2] == ["100", "50"]


def test_accuracy_curves_style_params_axis_and_own_axes():
    fig, axes = plt.subplots(1, 2)
    ax = plots.accuracy_curves(_table(), "basis", style="control", x="params", ax=axes[1],
                               style_order=["ticket", "reinit"])
    assert ax is axes[1] and not axes[0].get_lines()
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {f"{b}, {c}" for b in ("canonical", "dct") for c in ("ticket", "reinit")}
    assert lines["dct, ticket"].get_linestyle() == "-" and lines["dct, reinit"].get_linestyle() == "--"
    assert lines["dct, ticket"].get_color() == lines["dct, reinit"].get_color()
    assert lines["dct, ticket"].get_xdata()[0] == pytest.approx(1001.0)  # mean params over seeds 0..2
    assert ax.get_xlabel().startswith("parameters")


def test_accuracy_curves_one_seed_has_no_band_and_bad_arguments():
    one = _table().query("seed == 0 and control == 'ticket'")
    ax = plots.accuracy_curves(one, "basis")
    assert len(ax.get_lines()) == 2 and not [c for c in ax.collections if c.get_gid()]
    with pytest.raises(ValueError, match="hue_order"):
        plots.accuracy_curves(one, "basis", hue_order=["hadamard"])
    with pytest.raises(ValueError, match="reference"):
        plots.accuracy_curves(one, "basis", tolerance=0.01)
    with pytest.raises(ValueError, match="no column"):
        plots.accuracy_curves(one, "method")


def test_forest_rows_intervals_and_colours():
    effects = pd.DataFrame({"claim": ["claim 2", "claim 3", "claim 4"], "estimate": [0.02, -0.005, -0.03],
                            "ci_low": [0.01, -0.02, -0.05], "ci_high": [0.03, 0.01, -0.01],
                            "verdict": ["holds", "inconclusive", "contradicted"]})
    ax = plots.forest(effects)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["claim 2", "claim 3", "claim 4"]
    for i, (container, (_, row)) in enumerate(zip(ax.containers, effects.iterrows())):
        point = container.lines[0]
        assert point.get_xdata()[0] == pytest.approx(100 * row.estimate) and point.get_ydata()[0] == -i
        segment = container.lines[2][0].get_segments()[0]
        assert segment[:, 0] == pytest.approx([100 * row.ci_low, 100 * row.ci_high])
        assert matplotlib.colors.to_hex(point.get_color()) == plots.VERDICT_COLORS[row.verdict]
    zero = [line for line in ax.get_lines() if list(line.get_xdata()) == [0, 0]]
    assert zero, "no vertical line at the null"
    with pytest.raises(ValueError, match="verdicts"):
        plots.forest(effects.assign(verdict="partly"))


def test_log_percent_axis_still_importable_from_chapter():
    from glth_core.book.chapter import log_percent_axis

    fig, ax = plt.subplots()
    ax.set_xscale("log")
    log_percent_axis(ax.xaxis)
    assert list(ax.xaxis.get_major_locator().tick_values(0.1, 100))[:3] == [100, 50, 20]
