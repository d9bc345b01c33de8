"""Training loop: schedule closed form, determinism, rewind replay, divergence, evaluation."""
import math

import pytest
import torch
import torch.nn.functional as F

from glth_core.engine.hparams import TrainingHparams
from glth_core.engine.models import build_model
from glth_core.engine.training import (
    TrainingDiverged,
    evaluate,
    iterations_per_epoch,
    lr_factor,
    resolve_device,
    total_iterations,
    train,
)


@pytest.fixture(scope="module")
def digits():
    from glth_core.data import load

    return load("digits", validation_size=200, verbose=False)


def states_equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_schedule_closed_form():
    hp = TrainingHparams(lr=1.0, warmup_iterations=4, milestones=(2, 3), gamma=0.5)
    per_epoch = 10
    got = [lr_factor(t, hp, per_epoch) for t in range(35)]
    expected = [min(1, (t + 1) / 4) * 0.5 ** ((t >= 20) + (t >= 30)) for t in range(35)]
    assert got == expected
    assert iterations_per_epoch(1437, 128) == 12
    assert total_iterations(TrainingHparams(epochs=3, batch_size=128), 1437) == 36
    assert total_iterations(TrainingHparams(epochs=3, iterations=7), 1437) == 7


def test_evaluate_matches_manual(digits):
    model = build_model("mlp1d", (1, 8, 8), 10, seed=0)
    x, y = digits.test
    acc, loss = evaluate(model, x, y, batch_size=7)
    with torch.no_grad():
        logits = model(x)
    assert acc == (logits.argmax(1) == y).sum().item() / len(y)
    assert loss == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-5)
    assert model.training  # mode restored


@pytest.mark.parametrize("optimizer,lr,momentum", [("sgd", 0.1, 0.9), ("adam", 1e-2, 0.0)])
def test_bit_identical_and_learns(digits, optimizer, lr, momentum):
    hp = TrainingHparams(optimizer=optimizer, lr=lr, momentum=momentum, epochs=3, batch_size=64, eval_every=5,
                         weight_decay=1e-4)
    runs = []
    for _ in range(2):
        model = build_model("mlp1d", (1, 8, 8), 10, seed=0)
        result = train(model, digits.train, digits.test, hp, seed=3, val_data=digits.val, device="cpu", progress=False)
        runs.append((model.state_dict(), result))
    assert states_equal(runs[0][0], runs[1][0])
    assert runs[0][1].history == runs[1][1].history
    result = runs[0][1]
    assert result.test_accuracy > 0.8  # chance is 0.1
    assert result.iterations == 3 * iterations_per_epoch(len(digits.train[1]), 64)
    # best accuracy is tracked on the validation split
    assert result.best_accuracy == max(h["val_accuracy"] for h in result.history)
    best = [h for h in result.history if h["val_accuracy"] == result.best_accuracy][0]
    assert result.best_iteration == best["iteration"]
    # another data order gives other weights
    other = build_model("mlp1d", (1, 8, 8), 10, seed=0)
    train(other, digits.train, digits.test, hp, seed=4, device="cpu", progress=False)
    assert not states_equal(runs[0][0], other.state_dict())


def test_resume_from_snapshot_replays_data_order(digits):
    """Plain SGD has no optimiser state, so training 0..T in one go must equal
    0..k, then k..T started from the snapshot at k (the rewinding path)."""
    hp = TrainingHparams(optimizer="sgd", lr=0.05, epochs=2, batch_size=100, milestones=(1,), gamma=0.5)
    k = 17  # mid-epoch
    model = build_model("mlp1d", (1, 8, 8), 10, seed=1)
    full = train(model, digits.train, digits.test, hp, seed=5, snapshot_at=k, device="cpu", progress=False)
    resumed = build_model("mlp1d", (1, 8, 8), 10, seed=1)
    resumed.load_state_dict(full.snapshot)
    train(resumed, digits.train, digits.test, hp, seed=5, start_iteration=k, device="cpu", progress=False)
    assert states_equal(model.state_dict(), resumed.state_dict())
    # snapshot at 0 is the initialisation
    init = build_model("mlp1d", (1, 8, 8), 10, seed=1)
    again = build_model("mlp1d", (1, 8, 8), 10, seed=1)
    res0 = train(again, digits.train, digits.test, hp, seed=5, snapshot_at=0, device="cpu", progress=False)
    assert states_equal(res0.snapshot, init.state_dict())


def test_rewind_point_outside_schedule(digits):
    hp = TrainingHparams(epochs=1, batch_size=128)
    model = build_model("mlp1d", (1, 8, 8), 10)
    with pytest.raises(ValueError, match="rewind-iteration"):
        train(model, digits.train, digits.test, hp, seed=0, snapshot_at=1000, device="cpu", progress=False)


@pytest.mark.parametrize("lr", [1e30, float("nan")])
def test_divergence_names_round_and_step(digits, lr):
    hp = TrainingHparams(lr=1.0, epochs=1, batch_size=32)
    hp = TrainingHparams(**{**hp.__dict__, "lr": lr}) if not math.isnan(lr) else hp
    model = build_model("mlp1d", (1, 8, 8), 10)
    if math.isnan(lr):
        with torch.no_grad():
            model.fc1.weight[0, 0] = float("nan")
    with pytest.raises(TrainingDiverged, match=r"round 4 at step \d+") as e:
        train(model, digits.train, digits.test, hp, seed=0, round_index=4, device="cpu", progress=False)
    assert e.value.round_index == 4
    assert e.value.step >= 0 and not (abs(e.value.loss) < 1e4)


def test_no_trainable_parameters(digits):
    model = build_model("mlp1d", (1, 8, 8), 10)
    model.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        train(model, digits.train, digits.test, TrainingHparams(epochs=1), seed=0, device="cpu", progress=False)


def test_device_resolution():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device(None).type == expected
    assert resolve_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def _generalized_mlp(basis="dct"):
    from glth_core.core.parametrization import generalize

    model = build_model("mlp1d", (1, 8, 8), 10, seed=0)
    return generalize(model, basis, seed=0, image_shape=(1, 8, 8))


def test_pre_analysed_inputs_train_like_raw_inputs(digits):
    # analysing the training set once for the first layer changes nothing but float round-off
    from glth_core.engine.training import input_analysis_layer

    hp = TrainingHparams(optimizer="adam", lr=1e-2, epochs=2, batch_size=64, eval_every=10)
    assert input_analysis_layer(_generalized_mlp(), digits.train[0]) is not None  # the fast path is taken
    runs = {}
    for pre in (True, False):
        model = _generalized_mlp()
        result = train(model, digits.train, digits.test, hp, seed=3, device="cpu", progress=False, pre_analyse=pre)
        runs[pre] = (model.state_dict(), result)
    (state_pre, res_pre), (state_raw, res_raw) = runs[True], runs[False]
    for key in state_raw:
        torch.testing.assert_close(state_pre[key], state_raw[key], atol=1e-4, rtol=1e-3)
    assert [h["iteration"] for h in res_pre.history] == [h["iteration"] for h in res_raw.history]
    for a, b in zip(res_pre.history, res_raw.history):
        assert a["test_loss"] == pytest.approx(b["test_loss"], rel=1e-3)
    assert res_pre.test_accuracy > 0.8


def test_input_analysis_layer_only_where_it_gives_the_same_outputs(digits):
    from glth_core.core.parametrization import generalize
    from glth_core.engine.training import input_analysis_layer

    x = digits.train[0]
    model = _generalized_mlp()
    assert input_analysis_layer(model, x) is model.fc1
    assert input_analysis_layer(_generalized_mlp("canonical"), x) is None  # nothing to take out
    offset = generalize(build_model("mlp1d", (1, 8, 8), 10), "random", offset="init")
    assert input_analysis_layer(offset, x) is None  # x W0^T needs the raw inputs

    class Centred(torch.nn.Module):  # a per-pixel shift before fc1 does not commute with the DCT
        def __init__(self, inner):
            super().__init__()
            self.inner = inner
            self.register_buffer("mean", torch.linspace(0, 1, 64).reshape(1, 8, 8))

        def forward(self, x):
            return self.inner(x - self.mean)

    centred = Centred(_generalized_mlp())
    assert input_analysis_layer(centred, x) is None
    assert centred.training  # mode restored


def test_analysed_inputs_are_kept_while_data_and_basis_are_the_same(digits):
    from glth_core.core.parametrization import analyse_inputs
    from glth_core.engine.training import AnalysedInputs

    x = digits.train[0].clone()
    cache = AnalysedInputs()
    first = cache.get(_generalized_mlp().fc1, x, x)
    torch.testing.assert_close(first, analyse_inputs(_generalized_mlp().fc1, x))
    assert cache.get(_generalized_mlp().fc1, x, x) is first  # a rebuilt model with the same basis: reused
    assert cache.get(_generalized_mlp("hadamard").fc1, x, x) is not first  # another basis: recomputed
    again = cache.get(_generalized_mlp().fc1, x, x)
    assert again is not first
    torch.testing.assert_close(again, first)
    with torch.no_grad():
        x.mul_(2)  # the data changed in place
    doubled = cache.get(_generalized_mlp().fc1, x, x)
    torch.testing.assert_close(doubled, 2 * first)
    hp = TrainingHparams(epochs=1, batch_size=64)
    for _ in range(2):  # train() fills and then uses it
        train(_generalized_mlp(), (x, digits.train[1]), digits.test, hp, seed=0, device="cpu", progress=False,
              analysed_inputs=cache)
    assert cache.get(_generalized_mlp().fc1, x, x) is doubled


def test_deferred_loss_checks_train_the_same_numbers(digits):
    """The GPU's way (losses checked every k steps, from device tensors) changes no number on the CPU."""
    hp = TrainingHparams(optimizer="sgd", lr=0.05, momentum=0.9, epochs=2, batch_size=64, eval_every=7)
    results = []
    for every in (1, 5, 10**6):
        model = build_model("mlp1d", (1, 8, 8), 10, seed=3)
        result = train(model, digits.train, digits.test, hp, seed=1, device="cpu", progress=False,
                       loss_check_every=every)
        results.append((model.state_dict(), result.test_accuracy, result.history))
    for state, accuracy, history in results[1:]:
        assert states_equal(state, results[0][0])
        assert accuracy == results[0][1] and history == results[0][2]


@pytest.mark.parametrize("every", [1, 4, 10**6])
def test_deferred_loss_checks_find_the_first_bad_step(digits, every):
    hp = TrainingHparams(lr=1e30, epochs=1, batch_size=32)
    model = build_model("mlp1d", (1, 8, 8), 10)
    with pytest.raises(TrainingDiverged) as e:
        train(model, digits.train, digits.test, hp, seed=0, device="cpu", progress=False, loss_check_every=every)
    reference = build_model("mlp1d", (1, 8, 8), 10)
    with pytest.raises(TrainingDiverged) as first:
        train(reference, digits.train, digits.test, hp, seed=0, device="cpu", progress=False, loss_check_every=1)
    assert e.value.step == first.value.step
    assert e.value.loss == first.value.loss or (math.isnan(e.value.loss) and math.isnan(first.value.loss))


def test_loss_check_every_is_checked(digits):
    with pytest.raises(ValueError, match="loss_check_every"):
        train(build_model("mlp1d", (1, 8, 8), 10), digits.train, digits.test, TrainingHparams(epochs=1), seed=0,
              device="cpu", progress=False, loss_check_every=0)
