"""glth_core.analysis.mechanisms against closed forms and scipy."""
import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import torch
from torch import nn

from glth_core.analysis import mechanisms as mech
from glth_core.core.parametrization import generalize
from glth_core.core.pruning import masks as current_masks, prune, set_masks


def _matrix_with_singular_values(values, shape=(6, 5), seed=0):
    g = torch.Generator().manual_seed(seed)
    u, _ = torch.linalg.qr(torch.randn(shape[0], shape[0], generator=g, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(shape[1], shape[1], generator=g, dtype=torch.float64))
    s = torch.zeros(shape, dtype=torch.float64)
    s[range(len(values)), range(len(values))] = torch.tensor(values, dtype=torch.float64)
    return u @ s @ v.T


# --------------------------------------------------------------------------- closed forms


def test_effective_rank_closed_forms():
    assert mech.effective_rank(_matrix_with_singular_values([2.0, 2.0, 2.0])) == pytest.approx(3.0, rel=1e-10)
    assert mech.effective_rank(_matrix_with_singular_values([5.0])) == pytest.approx(1.0, rel=1e-10)
    p = np.array([0.75, 0.25])  # singular values 3 and 1
    expected = math.exp(-(p * np.log(p)).sum())
    assert mech.effective_rank(_matrix_with_singular_values([3.0, 1.0])) == pytest.approx(expected, rel=1e-10)
    assert mech.effective_rank(torch.eye(4)) == pytest.approx(4.0)
    assert math.isnan(mech.effective_rank(torch.zeros(3, 3)))
    # a conv kernel is viewed as (out, in * kh * kw): rank 1 when every filter is a multiple of one
    kernel = torch.arange(1.0, 4.0)[:, None, None, None] * torch.randn(1, 2, 3, 3)
    assert mech.effective_rank(kernel) == pytest.approx(1.0, rel=1e-6)


def test_effective_rank_against_numpy_svd_wide_and_tall():
    rng = np.random.default_rng(3)
    for shape in ((30, 78), (78, 30), (16, 4, 3, 3)):
        w = rng.normal(size=shape) * np.linspace(0.1, 3, shape[0]).reshape(-1, *[1] * (len(shape) - 1))
        s = np.linalg.svd(w.reshape(shape[0], -1), compute_uv=False)
        p = s / s.sum()
        assert mech.effective_rank(torch.from_numpy(w)) == pytest.approx(math.exp(-(p * np.log(p)).sum()), rel=1e-9)


def test_jaccard_of_known_masks():
    a, b = torch.tensor([1, 1, 0, 0]), torch.tensor([1, 0, 1, 0])
    assert mech.jaccard(a, b) == pytest.approx(1 / 3)
    assert mech.jaccard(a, a) == 1.0 and mech.jaccard(a, 1 - a) == 0.0
    assert mech.jaccard(torch.zeros(3), torch.zeros(3)) == 1.0
    nested = torch.tensor([1, 1, 1, 1, 0, 0]), torch.tensor([1, 1, 0, 0, 0, 0])
    assert mech.jaccard(*nested) == pytest.approx(2 / 4)  # nested masks: the density ratio
    with pytest.raises(ValueError, match="same shape"):
        mech.jaccard(torch.ones(3), torch.ones(4))


def test_magnitude_mask_keeps_the_largest_entries():
    values = torch.tensor([[0.1, -3.0, 2.0], [0.5, -0.2, 1.0]])
    assert mech.magnitude_mask(values, 3).tolist() == [[0.0, 1.0, 1.0], [0.0, 0.0, 1.0]]
    assert mech.magnitude_mask(values, 0).sum() == 0
    with pytest.raises(ValueError, match="keep must be"):
        mech.magnitude_mask(values, 7)


def test_connectivity_counts_rows_and_columns_without_weight():
    w = torch.ones(4, 5)
    w[1] = 0  # output unit 1 has no weight
    w[:, [0, 3]] = 0  # inputs 0 and 3 have none
    assert mech.connectivity(w) == {"dead_outputs": pytest.approx(1 / 4), "dead_inputs": pytest.approx(2 / 5)}
    kernel = torch.ones(3, 2, 3, 3)
    kernel[:, 1] = 0  # input channel 1 unused
    assert mech.connectivity(kernel) == {"dead_outputs": 0.0, "dead_inputs": pytest.approx(0.5)}
    assert mech.connectivity(torch.full((2, 2), 1e-9), atol=1e-6)["dead_outputs"] == 1.0


def test_distance_travelled_closed_form():
    w0 = torch.randn(5, 4)
    assert mech.distance_travelled(w0, 2 * w0) == pytest.approx(1.0)
    assert mech.distance_travelled(w0, w0) == 0.0
    assert math.isnan(mech.distance_travelled(torch.zeros(2, 2), torch.ones(2, 2)))


# --------------------------------------------------------------------------- a ticket's measurements


def _net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 4))


def test_canonical_ticket_disconnects_units_and_a_rotated_ticket_does_not():
    mask = torch.ones(8, 16)
    mask[2] = 0  # unit 2 of the first layer loses every input
    mask[:, 5] = 0  # input 5 is read by no unit
    measured = {}
    for basis in ("canonical", "dct"):
        net = generalize(_net(), basis)
        set_masks(net, {"0": mask})
        measured[basis] = mech.ticket_measurements(net).set_index("layer")
    canonical, dct = measured["canonical"].loc["0"], measured["dct"].loc["0"]
    assert canonical.dead_outputs == pytest.approx(1 / 8) and canonical.dead_inputs == pytest.approx(1 / 16)
    assert dct.dead_outputs == 0.0 and dct.dead_inputs == 0.0  # synthesised weight is dense
    assert canonical.density == pytest.approx(mask.mean().item())
    assert list(measured["dct"].columns) == mech.MEASUREMENT_COLUMNS[1:]


def test_ticket_measurements_against_the_functions_they_combine():
    initial = generalize(_net(), "dct")
    dense = generalize(_net(), "dct")
    with torch.no_grad():  # "training": every coefficient moves
        for p in dense.parameters():
            p.mul_(1.5).add_(0.01)
    ticket = generalize(_net(), "dct")
    ticket.load_state_dict(dense.state_dict())
    prune(ticket, 0.5, scope="layer")
    previous = current_masks(ticket)
    prune(ticket, 0.5, scope="layer")
    out = mech.ticket_measurements(ticket, initial=initial, dense=dense, previous_masks=previous).set_index("layer")
    row = out.loc["0"]
    assert row.density == pytest.approx(0.25)
    assert row.overlap_previous == pytest.approx(0.5)  # nested masks: density ratio
    w_ticket, w_initial = ticket[0].weight.detach().double(), initial[0].weight.detach().double()
    assert row.distance == pytest.approx(float((w_ticket - w_initial).norm() / w_initial.norm()))
    assert row.effective_rank == pytest.approx(mech.effective_rank(w_ticket))
    assert row.effective_rank_fraction == pytest.approx(row.effective_rank / 8)
    # compaction of the dense weights at the ticket's density: the largest quarter of its DCT coefficients
    c = dense[0].parametrizations.weight.original.detach().double().ravel() ** 2
    top = torch.sort(c, descending=True).values[: int(0.25 * c.numel())].sum() / c.sum()
    assert row.energy_dense == pytest.approx(float(top))
    assert 0 < row.energy_init < 1 and 0 <= row.overlap_init_magnitude <= 1
    with pytest.raises(ValueError, match="pruned"):
        mech.energy_at_density(ticket, {"0": 0.25})
    with pytest.raises(ValueError, match="ticket's bases"):
        mech.ticket_measurements(ticket, initial=generalize(_net(), "canonical"))


def test_overlap_with_initial_magnitudes_is_one_for_a_one_shot_ticket_of_the_initial_weights():
    initial = generalize(_net(1), "canonical")
    ticket = generalize(_net(1), "canonical")
    prune(ticket, 0.75, scope="layer")  # magnitude pruning of the initial weights themselves
    out = mech.ticket_measurements(ticket, initial=initial)
    assert out.overlap_init_magnitude.tolist() == pytest.approx([1.0, 1.0])
    # untrained: the ticket is W0 * M, so it travelled sqrt(1 - kept energy) of ||W0||
    expected = []
    for i in (0, 2):
        w0, kept = initial[i].weight.detach().double(), ticket[i].weight.detach().double()
        expected.append(math.sqrt(1 - float((kept ** 2).sum() / (w0 ** 2).sum())))
    assert out.distance.tolist() == pytest.approx(expected)
    assert all(0.5 < d < 1 for d in expected)  # a quarter of the weights kept, the largest ones


# --------------------------------------------------------------------------- predictive power


def test_predictive_power_against_scipy_and_closed_forms():
    rng = np.random.default_rng(0)
    x = rng.normal(size=12)
    table = pd.DataFrame({"effect": 2 * x + rng.normal(scale=0.5, size=12), "good": x,
                          "noise": rng.normal(size=12), "monotone": np.exp(x)})
    table.loc[0, "noise"] = np.nan
    out = mech.predictive_power(table, "effect", ["good", "noise", "monotone"]).set_index("candidate")
    assert list(out.reset_index().columns) == mech.PREDICTION_COLUMNS
    reference = scipy.stats.pearsonr(table.good, table.effect)
    interval = reference.confidence_interval(0.95)
    good = out.loc["good"]
    assert good.n == 12 and good.pearson == pytest.approx(reference.statistic)
    assert (good.pearson_low, good.pearson_high) == pytest.approx((interval.low, interval.high))
    # Spearman: invariant under a monotone map; Fisher-z interval with se sqrt((1 + r^2/2) / (n - 3))
    rho = scipy.stats.spearmanr(table.good, table.effect).statistic
    assert out.loc["monotone", "spearman"] == pytest.approx(rho) and good.spearman == pytest.approx(rho)
    half = 1.959963984540054 * math.sqrt((1 + rho ** 2 / 2) / 9)
    assert (good.spearman_low, good.spearman_high) == pytest.approx((math.tanh(math.atanh(rho) - half),
                                                                    math.tanh(math.atanh(rho) + half)))
    assert out.loc["noise", "n"] == 11
    # sign agreement with the Wilson interval, closed form
    k, n = int((np.sign(table.good) == np.sign(table.effect)).sum()), 12
    z = 1.959963984540054
    centre = (k + z ** 2 / 2) / (n + z ** 2)
    spread = z * math.sqrt(k * (n - k) / n + z ** 2 / 4) / (n + z ** 2)
    assert good.sign_agreement == pytest.approx(k / n)
    assert (good.sign_low, good.sign_high) == pytest.approx((centre - spread, centre + spread))


def test_predictive_power_small_n_and_errors():
    table = pd.DataFrame({"effect": [1.0, -1.0, 2.0], "c": [0.5, -0.2, 0.1]})
    row = mech.predictive_power(table, "effect", "c").iloc[0]
    assert row.n == 3 and math.isnan(row.pearson_low) and math.isnan(row.spearman_low)  # n < 4: no interval
    assert row.sign_agreement == 1.0
    with pytest.raises(ValueError, match="no column"):
        mech.predictive_power(table, "effect", ["nope"])
