"""Random-subspace baseline: allocation, exactly d trained scalars, frozen offset and biases, sweep."""
import pandas as pd
import pytest
import torch

from glth_core.engine import hparams as H
from glth_core.engine import training
from glth_core.engine.models import build_model
from glth_core.storage.store import RunStore
from glth_core.engine.subspace import allocate_dimension, intrinsic_dimension, run_subspace, subspace_sweep


def tiny(**flags):
    base = dict(model="mlp1d", dataset="digits", epochs=2, batch_size=64, dimension=200, lr=0.05, seed=0)
    base.update(flags)
    return H.update(H.SubspaceHparams(), **base)


def test_allocate_dimension_largest_remainder():
    sizes = {"a": 6400, "b": 10000, "c": 1000}
    alloc = allocate_dimension(100, sizes)
    assert sum(alloc.values()) == 100
    total = sum(sizes.values())
    for name, n in sizes.items():
        assert abs(alloc[name] - 100 * n / total) < 1
    # exact shares stay exact; remainders go to the largest fractional parts
    assert allocate_dimension(4, {"a": 2, "b": 2}) == {"a": 2, "b": 2}
    assert allocate_dimension(3, {"a": 1, "b": 1, "c": 1}) == {"a": 1, "b": 1, "c": 1}
    assert allocate_dimension(1, {"a": 3, "b": 1}) == {"a": 1, "b": 0}
    with pytest.raises(ValueError, match="dimension must be in"):
        allocate_dimension(0, sizes)
    with pytest.raises(ValueError, match="dimension must be in"):
        allocate_dimension(total + 1, sizes)


def test_exactly_d_trained_and_frozen_rest(tmp_path):
    hp = tiny(dimension=123)
    df = run_subspace(hp, tmp_path, progress=False)
    assert len(df) == 1
    row = df.iloc[0]
    assert row["dimension"] == 123 and row["trainable"] == 123
    n_coeffs = 64 * 100 + 100 * 100 + 100 * 10
    assert row["density"] == pytest.approx(123 / n_coeffs)
    state = RunStore(tmp_path, row["run_id"], H.identity("subspace", hp)).load_round(0)["state"]
    init = build_model("mlp1d", (1, 8, 8), 10, seed=0).state_dict()
    masks = {k: v for k, v in state.items() if k.endswith(".mask")}
    assert sum(int(m.sum()) for m in masks.values()) == 123
    changed = 0
    for layer in ("fc1", "fc2", "fc3"):
        # biases frozen at the initialisation (Li et al. train only d)
        assert torch.equal(state[f"{layer}.bias"], init[f"{layer}.bias"])
        coeffs = state[f"{layer}.parametrizations.weight.original"]
        mask = state[f"{layer}.parametrizations.weight.0.mask"]
        # coefficients outside the mask are exactly zero; inside they moved from zero
        assert coeffs[mask == 0].abs().max() == 0
        changed += int((coeffs[mask == 1] != 0).sum())
        # the frozen offset W0 is the initial weight
        offsets = [v for k, v in state.items() if k.startswith(f"{layer}.") and k.endswith("offset")]
        assert len(offsets) == 1 and torch.equal(offsets[0], init[f"{layer}.weight"])
    assert changed == 123
    assert 0.1 < row["test_accuracy"] <= 1


def test_train_biases_option_counts_and_trains_them(tmp_path):
    hp = tiny(dimension=50, train_biases=True, epochs=1)
    df = run_subspace(hp, tmp_path, progress=False)
    assert df["trainable"][0] == 50 + 100 + 100 + 10
    state = RunStore(tmp_path, df["run_id"][0], H.identity("subspace", hp)).load_round(0)["state"]
    init = build_model("mlp1d", (1, 8, 8), 10, seed=0).state_dict()
    for layer in ("fc1", "fc2", "fc3"):
        moved = (state[f"{layer}.bias"] != init[f"{layer}.bias"]).float().mean()
        assert moved > 0.5, f"{layer}.bias was not trained ({moved:.0%} of its entries moved)"


def test_sweep_cache_and_determinism(tmp_path, monkeypatch):
    hp = tiny(epochs=1)
    df = subspace_sweep(hp, [10, 300], tmp_path, progress=False)
    assert list(df["dimension"]) == [10, 300] and df["run_id"].nunique() == 2
    monkeypatch.setattr(training, "train", lambda *a, **k: pytest.fail("cached run trained again"))
    again = subspace_sweep(hp, [10, 300], tmp_path, progress=False)
    pd.testing.assert_frame_equal(df, again)
    monkeypatch.undo()
    other = subspace_sweep(hp, [10, 300], tmp_path / "other", progress=False)
    pd.testing.assert_frame_equal(df.drop(columns="wall_time_s"), other.drop(columns="wall_time_s"))
    with pytest.raises(ValueError, match="dimension must be in"):
        run_subspace(tiny(dimension=10**7), tmp_path, progress=False)
    with pytest.raises(ValueError, match="at least one d"):
        subspace_sweep(hp, [], tmp_path)


def test_intrinsic_dimension_closed_form():
    df = pd.DataFrame({
        "dimension": [10, 10, 100, 100, 1000, 1000],
        "seed": [0, 1, 0, 1, 0, 1],
        "test_accuracy": [0.5, 0.6, 0.85, 0.95, 0.97, 0.98],
    })
    # means: 10 -> 0.55, 100 -> 0.90, 1000 -> 0.975; 90% of 1.0 = 0.9
    assert intrinsic_dimension(df, dense_accuracy=1.0) == 100
    assert intrinsic_dimension(df, dense_accuracy=1.0, threshold=0.95) == 1000
    assert intrinsic_dimension(df, dense_accuracy=1.0, threshold=0.5) == 10
    assert intrinsic_dimension(df, dense_accuracy=1.2) is None  # 0.9 * 1.2 = 1.08 never reached
    with pytest.raises(ValueError, match="threshold"):
        intrinsic_dimension(df, 1.0, threshold=0)
    with pytest.raises(ValueError, match="'dimension' column"):
        intrinsic_dimension(df.drop(columns="dimension"), 1.0)
