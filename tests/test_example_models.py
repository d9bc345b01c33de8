"""Chapter 07's library: the example models (glth_core.book.example_models) and the structured tickets with
their sizes (glth_core.book.inference_variants)."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from glth_core.book import example_models, inference_variants


@pytest.mark.parametrize("name", ["transformer", "lstm"])
def test_models_map_images_to_logits_and_are_seeded(name):
    x = torch.randn(4, 1, 8, 8)
    a, b = example_models.build(name, 8, 8, seed=3), example_models.build(name, 8, 8, seed=3)
    assert a(x).shape == (4, 10)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    c = example_models.build(name, 8, 8, seed=4)
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))


def test_build_and_parameters_refuse_bad_input():
    with pytest.raises(ValueError, match="unknown model 'mlp'"):
        example_models.build("mlp", 8, 8)
    given = {"smoke": True, "models": None, "steps": None, "resnet_steps": None, "batch_size": 128, "lr": 1e-3,
             "density": 0.2, "unit_density": 0.5, "rank_density": 0.125, "batch_sizes": None, "repeats": None,
             "results_dir": None}
    p = example_models.tutorial_parameters(given)
    assert p["models"] == ["transformer", "lstm"] and p["steps"] == 8 and p["batch_sizes"] == [1, 8]
    with pytest.raises(ValueError, match="batch_sizes"):
        example_models.tutorial_parameters({**given, "batch_sizes": [0]})
    with pytest.raises(ValueError, match="models"):
        example_models.tutorial_parameters({**given, "models": ["vgg"]})


def test_accuracy_counts_hits():
    model = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.eye(2))
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    assert example_models.accuracy(model, x, torch.tensor([0, 1, 1, 1]), batch=3) == 75.0


def test_structured_variants_are_smaller_and_export_what_they_compute(tmp_path):
    import glth_core as glth

    torch.manual_seed(0)
    dense = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    element = glth.generalize(copy.deepcopy(dense), "dct")
    glth.prune(element, 0.8, scope="layer")
    generalized, exported = inference_variants.structured_variants(
        dense, element, glth.export(element).eval(), pairs=[("0", "2")], unit_layers=[], low_rank_layers=["2"],
        unit_density=0.5, rank_density=0.125)
    probe = torch.randn(5, 32)
    sizes = inference_variants.size_table(generalized, exported, tmp_path, "mlp", probe).set_index("ticket")
    assert sizes["export = generalized"].all()
    dense_params = sum(p.numel() for p in dense.parameters())
    assert sizes.loc["dense", "parameters (exported)"] == dense_params
    # half of the 64 units of layer 0 removed: 32 x 32 + 32 (layer 0) and 64 x 32 (layer 2) fewer
    assert sizes.loc["unit-pruned", "parameters (exported)"] == dense_params - (32 * 32 + 32) - 64 * 32
    # layer 2 as rank 8: 8 x (64 + 64) weights instead of 64 x 64
    assert sizes.loc["low-rank", "parameters (exported)"] < dense_params - 64 * 64 + 8 * 128 + 64 + 1
    assert sizes.loc["element ticket", "ticket file bytes"] < sizes.loc["dense", "ticket file bytes"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"mlp-{k}.glth" for k in ("dense", "element-ticket", "unit-pruned", "low-rank"))
    speed, dense_ms = inference_variants.speed_table(exported, lambda b: torch.randn(b, 32), [1, 4], repeats=2)
    assert list(speed.index) == ["dense", "dense, again", "element ticket", "unit-pruned", "low-rank"]
    assert list(speed.columns) == ["speed-up, batch 1", "speed-up, batch 4"]
    assert (dense_ms > 0).all()
