"""IMP engine on digits with tiny models: determinism, caching, schedules, controls, faults."""
import dataclasses
import json

import pandas as pd
import pytest
import torch

from glth_core.engine import hparams as H
from glth_core.engine import lottery, training
from glth_core.engine.lottery import TABLE_COLUMNS, round_masks, run_imp
from glth_core.storage.store import StorageError


def tiny(**flags):
    base = dict(model="mlp1d", dataset="digits", epochs=1, batch_size=64, rounds=2, fraction=0.2, seed=0)
    base.update(flags)
    return H.update(H.ImpHparams(), **base)


def deterministic(df):
    return df.drop(columns=["wall_time_s"])


class CountingTrain:
    def __init__(self):
        self.calls = 0
        self.original = training.train

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.original(*args, **kwargs)


def test_table_shape_and_determinism(tmp_path):
    hp = tiny(basis="dct", rounds=2)
    a = run_imp(hp, tmp_path / "a", progress=False)
    b = run_imp(hp, tmp_path / "b", progress=False)
    assert list(a.columns) == TABLE_COLUMNS
    assert list(a["round"]) == [0, 1, 2]
    pd.testing.assert_frame_equal(deterministic(a), deterministic(b))
    assert (a["wall_time_s"] > 0).all()
    assert a["density"].iloc[0] == 1.0 and a["density"].is_monotonic_decreasing
    # the CSV on disk is the same table
    on_disk = pd.read_csv(tmp_path / "a" / a["run_id"][0] / "rounds.csv")
    assert list(on_disk["test_accuracy"]) == list(a["test_accuracy"])
    # another seed is another run with other numbers
    c = run_imp(tiny(basis="dct", rounds=2, seed=1), tmp_path / "a", progress=False)
    assert c["run_id"][0] != a["run_id"][0]
    assert not c["test_accuracy"].equals(a["test_accuracy"])


def test_cache_hit_and_extension(tmp_path, monkeypatch):
    hp = tiny(rounds=1)
    first = run_imp(hp, tmp_path, progress=False)

    def no_training(*args, **kwargs):
        raise AssertionError("a cached round was trained again")

    monkeypatch.setattr(training, "train", no_training)
    again = run_imp(hp, tmp_path, progress=False)
    pd.testing.assert_frame_equal(first, again)  # wall times too: read back, not recomputed
    # more rounds: only the new round trains
    monkeypatch.undo()
    counter = CountingTrain()
    monkeypatch.setattr(training, "train", counter)
    longer = run_imp(dataclasses.replace(hp, pruning=dataclasses.replace(hp.pruning, rounds=2)), tmp_path,
                     progress=False)
    assert counter.calls == 1
    assert list(longer["round"]) == [0, 1, 2]
    pd.testing.assert_frame_equal(longer.iloc[:2], first)


def test_changed_hparam_is_new_run(tmp_path, monkeypatch):
    a = run_imp(tiny(rounds=0), tmp_path, progress=False)
    counter = CountingTrain()
    monkeypatch.setattr(training, "train", counter)
    b = run_imp(tiny(rounds=0, lr=0.05), tmp_path, progress=False)
    assert counter.calls == 1 and a["run_id"][0] != b["run_id"][0]


def kept(mask):
    return int(mask.sum().item())


@pytest.mark.parametrize("one_shot", [False, True])
def test_density_schedule_per_layer(tmp_path, one_shot):
    p, rounds = 0.2, 3
    hp = tiny(rounds=rounds, fraction=p, scope="layer", one_shot=one_shot)
    df = run_imp(hp, tmp_path, progress=False)
    q = p / 2  # output layer at half rate by default
    sizes = {name: m.numel() for name, m in round_masks(hp, 0, tmp_path).items()}
    assert sizes == {"fc1": 64 * 100, "fc2": 100 * 100, "fc3": 100 * 10}
    for r in range(rounds + 1):
        masks = round_masks(hp, r, tmp_path)
        for name, n in sizes.items():
            rate = q if name == "fc3" else p
            target = n * (1 - rate) ** r
            # within one coefficient per layer and round (rounding to whole coefficients)
            assert abs(kept(masks[name]) - target) <= max(r, 1) * 0.5 + 1e-9, (r, name)
            # torch.nn.utils.prune's rule: prune round(rate * remaining) each round (IMP),
            # or round((1 - (1 - rate)^r) * n) once (one-shot)
            if one_shot:
                expected = n - round((1 - (1 - rate) ** r) * n)
            else:
                expected = n
                for _ in range(r):
                    expected -= round(rate * expected)
            assert kept(masks[name]) == expected
        layer_densities = json.loads(df["layer_densities"][r])
        assert layer_densities == {k: round(kept(masks[k]) / sizes[k], 8) for k in sizes}
        assert df["density"][r] == pytest.approx(sum(kept(m) for m in masks.values()) / sum(sizes.values()))
    # IMP masks are nested (each round prunes what the previous one kept)
    if not one_shot:
        for r in range(1, rounds + 1):
            prev, cur = round_masks(hp, r - 1, tmp_path), round_masks(hp, r, tmp_path)
            assert all(bool((cur[k] <= prev[k]).all()) for k in cur)


def test_params_column_counts_unmasked_and_biases(tmp_path):
    hp = tiny(rounds=1)
    df = run_imp(hp, tmp_path, progress=False)
    masks = round_masks(hp, 1, tmp_path)
    biases = 100 + 100 + 10
    assert df["params"][1] == sum(kept(m) for m in masks.values()) + biases
    assert df["params"][0] == 64 * 100 + 100 * 100 + 100 * 10 + biases


def test_pruned_coefficients_are_lowest_magnitude_of_trained_round(tmp_path):
    """Round r's new masks drop exactly the smallest |c| of round r-1's trained coefficients (canonical basis)."""
    hp = tiny(rounds=1, scope="layer")
    run_imp(hp, tmp_path, progress=False)
    store = lottery._open_store(hp, tmp_path)
    trained = store.load_round(0)["state"]
    mask = round_masks(hp, 1, tmp_path)["fc2"]
    weights = trained["fc2.parametrizations.weight.original"].abs()
    threshold_kept = weights[mask.bool()].min()
    threshold_pruned = weights[~mask.bool()].max()
    assert threshold_pruned <= threshold_kept
    assert kept(mask) == 10000 - 2000


@pytest.mark.parametrize("control", ["reinit", "random_mask"])
def test_controls_use_ticket_densities(tmp_path, control):
    ticket_hp = tiny(rounds=2, basis="hadamard")
    hp = H.update(ticket_hp, control=control)
    df = run_imp(hp, tmp_path, progress=False)
    assert list(df["round"]) == [1, 2] and (df["control"] == control).all()
    ticket = run_imp(ticket_hp, tmp_path, progress=False)
    for r in (1, 2):
        ticket_masks = round_masks(ticket_hp, r, tmp_path)
        control_masks = round_masks(hp, r, tmp_path)
        for name in ticket_masks:
            assert kept(control_masks[name]) == kept(ticket_masks[name])
        same = all(torch.equal(control_masks[k], ticket_masks[k]) for k in ticket_masks)
        assert same == (control == "reinit")
        assert df.loc[df["round"] == r, "layer_densities"].item() == ticket.loc[ticket["round"] == r, "layer_densities"].item()
        assert df.loc[df["round"] == r, "density"].item() == ticket.loc[ticket["round"] == r, "density"].item()


def test_reinit_uses_another_init_random_mask_the_original(tmp_path, monkeypatch):
    seen = {}
    original = training.train

    def spy(model, *args, **kwargs):
        seen.setdefault(kwargs["round_index"], []).append(
            {k: v.detach().clone() for k, v in model.state_dict().items() if k.endswith("bias")})
        return original(model, *args, **kwargs)

    monkeypatch.setattr(training, "train", spy)
    hp = tiny(rounds=1)
    run_imp(hp, tmp_path, progress=False)  # ticket: round 0 and round 1 start from the init biases
    run_imp(H.update(hp, control="random_mask"), tmp_path, progress=False)
    run_imp(H.update(hp, control="reinit"), tmp_path, progress=False)
    init, ticket_r1, random_r1, reinit_r1 = seen[0][0], seen[1][0], seen[1][1], seen[1][2]
    assert all(torch.equal(init[k], ticket_r1[k]) for k in init)  # rewound to iteration 0
    assert all(torch.equal(init[k], random_r1[k]) for k in init)
    assert not any(torch.equal(init[k], reinit_r1[k]) for k in init)


def test_late_rewinding(tmp_path, monkeypatch):
    seen = []
    original = training.train

    def spy(model, *args, **kwargs):
        seen.append(kwargs)
        return original(model, *args, **kwargs)

    monkeypatch.setattr(training, "train", spy)
    hp = tiny(rounds=1, rewind_iteration=5)
    run_imp(hp, tmp_path, progress=False)
    assert seen[0]["snapshot_at"] == 5 and seen[0]["start_iteration"] == 0
    assert seen[1]["start_iteration"] == 5 and seen[1]["snapshot_at"] is None
    with pytest.raises(ValueError, match="rewind-iteration"):
        run_imp(tiny(rounds=1, rewind_iteration=10_000), tmp_path, progress=False)


def test_divergence_keeps_finished_rounds(tmp_path, monkeypatch):
    original = training.train

    def explode_in_round_2(model, train_data, test_data, hp, **kwargs):
        if kwargs["round_index"] == 2:
            hp = dataclasses.replace(hp, lr=1e30)
        return original(model, train_data, test_data, hp, **kwargs)

    monkeypatch.setattr(training, "train", explode_in_round_2)
    hp = tiny(rounds=3)
    with pytest.raises(training.TrainingDiverged, match=r"round 2 at step \d+"):
        run_imp(hp, tmp_path, progress=False)
    store = lottery._open_store(hp, tmp_path)
    assert store.has_round(0) and store.has_round(1) and not store.has_round(2)
    assert list(pd.read_csv(store.path / "rounds.csv")["round"]) == [0, 1]
    # fixed: the run resumes at round 2 and matches an uninterrupted run
    monkeypatch.setattr(training, "train", original)
    resumed = run_imp(hp, tmp_path, progress=False)
    clean = run_imp(hp, tmp_path / "clean", progress=False)
    pd.testing.assert_frame_equal(deterministic(resumed), deterministic(clean))


def test_unwritable_results_fail_before_training(tmp_path, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("trained before checking the results folder")

    monkeypatch.setattr(training, "train", no_training)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StorageError, match="not writable"):
        run_imp(tiny(), blocker / "results", progress=False)


@pytest.mark.parametrize(
    "flags,match",
    [({"model": "alexnet"}, "unknown model 'alexnet'; valid names: lenet300, conv2, conv4, conv6, small_cnn, resnet20, mlp1d"),
     ({"dataset": "svhn"}, "unknown dataset 'svhn'; valid names: .*digits"),
     ({"basis": "fourier"}, "unknown basis 'fourier'; valid names: canonical, dct, hadamard, random, svd")],
)
def test_unknown_names(tmp_path, flags, match):
    with pytest.raises(ValueError, match=match):
        run_imp(tiny(**flags), tmp_path, progress=False)


def test_model_not_fitting_data_fails_before_training(tmp_path, monkeypatch):
    from glth_core.data import Splits

    flat = (torch.zeros(8, 40), torch.zeros(8, dtype=torch.long))
    fake = Splits(name="mnist1d", train=flat, val=None, test=flat, input_shape=(40,), num_classes=10,
                  mean=(0.0,), std=(1.0,))
    monkeypatch.setattr(lottery, "load_splits", lambda dataset_hparams: fake)
    monkeypatch.setattr(training, "train", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(ValueError, match=r"model 'conv2' needs an image input.*\(40,\)"):
        run_imp(tiny(model="conv2", dataset="mnist1d"), tmp_path, progress=False)


def test_wrong_hparams_type(tmp_path):
    with pytest.raises(TypeError, match="ImpHparams"):
        run_imp({"model": "lenet300"}, tmp_path)


@pytest.mark.parametrize("image_aware", [True, False])
def test_engine_views_first_linear_input_as_image(tmp_path, image_aware):
    """The engine's first Linear gets the image view exactly when image_aware is set (scipy reference)."""
    import numpy as np
    import scipy.fft

    from glth_core.engine.models import input_layer_name
    from glth_core.core.parametrization import generalized_weight

    hp = tiny(model="lenet300", basis="dct", rounds=0, image_aware=image_aware)
    run_imp(hp, tmp_path, progress=False)
    model = lottery.round_model(hp, 0, tmp_path)
    first = model.get_submodule(input_layer_name(model))
    shape = tuple(lottery.load_splits(hp.dataset).input_shape)
    assert len(shape) == 3 and isinstance(first, torch.nn.Linear)
    assert generalized_weight(first).basis.image_shape == (shape if image_aware else None)
    w = first.weight.detach().double().numpy()
    view = w.reshape((w.shape[0],) + shape) if image_aware else w
    expected = scipy.fft.dctn(view, type=2, norm="ortho").reshape(w.shape)
    got = first.parametrizations.weight.original.detach().double().numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # the trained model of the round is the one the table describes
    table = run_imp(hp, tmp_path, progress=False)
    x, y = lottery.load_splits(hp.dataset).test
    with torch.no_grad():
        accuracy = float((model(x).argmax(dim=1) == y).float().mean())
    assert accuracy == pytest.approx(table["test_accuracy"].iloc[0], abs=1e-6)
