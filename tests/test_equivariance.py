"""SGD's rotation equivariance, checked directly (glth_core.analysis.equivariance) on scikit-learn's digits."""
from __future__ import annotations

import pytest
import torch

from glth_core.analysis.equivariance import equivariance_probe, probe_network, relative_gap
from glth_core.book.profiles import chapter_parameters, imp_base


@pytest.fixture(scope="module")
def hparams(tmp_path_factory):
    return imp_base(chapter_parameters("02_bases", "quick", smoke=True))


def test_relative_gap_of_a_known_perturbation():
    torch.manual_seed(0)
    a = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    b = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    b.load_state_dict(a.state_dict())
    x = torch.randn(5, 4)
    assert relative_gap(a, b, x) == {"weights": 0.0, "test-set outputs": 0.0}
    with torch.no_grad():
        b[2].weight[0, 0] += 0.5
    expected = 0.5 / float(a[2].weight.detach().abs().max())
    assert relative_gap(a, b, x)["weights"] == pytest.approx(expected)
    with pytest.raises(ValueError, match="same architecture"):
        relative_gap(a, torch.nn.Sequential(torch.nn.Linear(4, 2)), x)


def test_sgd_in_the_dct_basis_is_sgd_on_the_weights_in_float64(hparams):
    dct = probe_network(hparams, "dct", torch.float64, steps=10)
    canonical = probe_network(hparams, "canonical", torch.float64, steps=10)
    nudged = probe_network(hparams, "canonical", torch.float64, nudge=True, steps=10)
    assert next(dct.parameters()).dtype == torch.float64
    x = torch.rand(8, 64, dtype=torch.float64)
    assert relative_gap(dct, canonical, x)["weights"] < 1e-10  # equivariant up to float64 round-off
    assert relative_gap(nudged, canonical, x)["weights"] > 0.0  # the nudge moves a weight


def test_adam_is_not_equivariant(hparams):
    from glth_core.engine.hparams import update

    adam = update(hparams, optimizer="adam", lr=1e-3)
    x = torch.rand(8, 64, dtype=torch.float64)
    gap = relative_gap(probe_network(adam, "dct", torch.float64, steps=10),
                       probe_network(adam, "canonical", torch.float64, steps=10), x)
    assert gap["weights"] > 1e-4


def test_the_probe_table_has_three_rows_named_after_the_basis(hparams):
    table = equivariance_probe(hparams, "dct", "DCT", steps=3)
    assert list(table.index) == ["DCT vs canonical, float64", "DCT vs canonical, float32",
                                 "canonical vs canonical nudged by one rounding, float32"]
    assert table.loc["DCT vs canonical, float64", "weights"] < table.loc["DCT vs canonical, float32", "weights"]
    with pytest.raises(ValueError, match="steps"):
        probe_network(hparams, "dct", torch.float64, steps=0)


def test_the_probe_is_cached_per_settings_and_read_back_exactly(hparams, tmp_path, monkeypatch):
    import glth_core.analysis.equivariance as equivariance

    first = equivariance_probe(hparams, "dct", "DCT", steps=3, cache=True, results_dir=tmp_path)
    assert len(list((tmp_path / "equivariance").glob("*.csv"))) == 1

    def no_training(*args, **kwargs):
        raise AssertionError("a cached probe was trained again")

    monkeypatch.setattr(equivariance, "probe_network", no_training)
    again = equivariance_probe(hparams, "dct", "the DCT", steps=3, cache=True, results_dir=tmp_path)
    assert list(again.index)[:2] == ["the DCT vs canonical, float64", "the DCT vs canonical, float32"]
    assert again.to_numpy().tolist() == first.to_numpy().tolist()  # the same floats, bit for bit
    with pytest.raises(AssertionError, match="trained again"):  # other settings are another cache entry
        equivariance_probe(hparams, "dct", steps=4, cache=True, results_dir=tmp_path)
