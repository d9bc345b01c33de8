"""Round 0 trained once and mapped into each basis (glth_core.engine.shared_dense), and the small CNN's pooling order."""
import dataclasses

import pytest
import torch
import torch.nn.functional as F

from glth_core.core.parametrization import generalized_layers
from glth_core.engine import hparams as H
from glth_core.engine import lottery, training
from glth_core.engine.lottery import round_model, run_imp
from glth_core.engine.models import build_model
from glth_core.engine.run_identity import run_key
from glth_core.engine.shared_dense import dense_hparams, mapped_state, shares_dense
from test_lottery import CountingTrain  # counts engine.training.train calls


def tiny(**flags):
    base = dict(model="lenet300", dataset="digits", epochs=1, batch_size=64, rounds=1, fraction=0.5, seed=0,
                optimizer="sgd", lr=0.05, momentum=0.9, weight_decay=1e-4)
    base.update(flags)
    return H.update(H.ImpHparams(), **base)


def weights(model):
    return {name: module.weight.detach().clone() for name, module in generalized_layers(model).items()}


def test_which_runs_share():
    assert shares_dense(tiny(basis="dct"))
    assert shares_dense(tiny(basis="canonical"))  # another fraction than the dense run's default
    assert shares_dense(tiny(basis="canonical", layer_bases="fc1=dct:in", one_shot=True))
    assert not shares_dense(tiny(basis="dct", optimizer="adam", lr=1e-3))  # Adam is not equivariant
    assert not shares_dense(tiny(basis="dct", share_dense=False))
    assert not shares_dense(tiny(basis="dct", control="reinit"))
    dense = dense_hparams(tiny(basis="dct", rewind_iteration=3, rounds=4))
    assert not shares_dense(dense) and not shares_dense(dataclasses.replace(
        dense, pruning=dataclasses.replace(dense.pruning, rounds=5)))  # the dense run itself trains
    assert dense.pruning.basis == "canonical" and dense.pruning.rewind_iteration == 3 and dense.pruning.rounds == 0
    assert dense.training == tiny().training and dense.seed == 0


def test_share_dense_in_the_key_only_when_off():
    on, off = tiny(basis="dct"), tiny(basis="dct", share_dense=False)
    assert run_key("imp", on) != run_key("imp", off)
    from glth_core.engine.run_identity import identity

    assert "share_dense" not in identity("imp", on)["hparams"]["pruning"]
    assert identity("imp", off)["hparams"]["pruning"]["share_dense"] is False


def test_bases_share_one_dense_training(tmp_path, monkeypatch):
    counter = CountingTrain()
    monkeypatch.setattr(training, "train", counter)
    tables = {b: run_imp(tiny(basis=b), tmp_path, progress=False) for b in ("canonical", "dct", "random")}
    ablation = run_imp(tiny(layer_bases="fc1=dct:out", one_shot=True), tmp_path, progress=False)
    assert counter.calls == 1 + 3 + 1  # one dense training, then one pruned round per run
    dense_row = tables["canonical"].iloc[0]
    for table in [*tables.values(), ablation]:
        assert table["test_accuracy"].iloc[0] == dense_row["test_accuracy"]
        assert table["density"].iloc[0] == 1.0
    # the mapped dense networks synthesise the canonical dense weights (float32 round-off of one analysis)
    reference = weights(round_model(tiny(basis="canonical"), 0, tmp_path))
    for basis in ("dct", "random"):
        mapped = weights(round_model(tiny(basis=basis), 0, tmp_path))
        for name in reference:
            torch.testing.assert_close(mapped[name], reference[name], atol=1e-5, rtol=1e-5)


def test_mapped_round0_matches_training_in_the_basis(tmp_path):
    """Equivariance, checked independently: the dense network trained in the DCT basis itself is the mapped one."""
    shared = weights(round_model(_finished(tiny(basis="dct", rounds=0), tmp_path), 0, tmp_path))
    own = weights(round_model(_finished(tiny(basis="dct", rounds=0, share_dense=False), tmp_path), 0, tmp_path))
    for name in shared:
        scale = float(shared[name].abs().max())
        torch.testing.assert_close(own[name], shared[name], atol=2e-4 * scale, rtol=0)


def _finished(hp, results_dir):
    run_imp(hp, results_dir, progress=False)
    return hp


def test_rewind_snapshot_is_mapped(tmp_path):
    """Round 1 starts from the mapped initial weights: those of the canonical initialisation."""
    hp = tiny(basis="dct", rounds=0)
    run_imp(hp, tmp_path, progress=False)
    checkpoint = lottery._open_store(hp, tmp_path).load_round(0)
    model = lottery.generalized_model(hp, (1, 8, 8), 10)
    model.load_state_dict(checkpoint["rewind"])
    plain = build_model("lenet300", (1, 8, 8), 10, seed=0)
    for name, module in generalized_layers(model).items():
        torch.testing.assert_close(module.weight.detach(), plain.get_submodule(name).weight.detach(),
                                   atol=1e-6, rtol=1e-5)


def test_adam_trains_its_own_round0(tmp_path, monkeypatch):
    counter = CountingTrain()
    monkeypatch.setattr(training, "train", counter)
    run_imp(tiny(basis="dct", optimizer="adam", lr=1e-3, rounds=0), tmp_path, progress=False)
    assert counter.calls == 1
    assert len([p for p in tmp_path.iterdir() if p.name.startswith("imp_")]) == 1  # no dense run was made


def test_mapped_state_refuses_a_pruned_state():
    hp = tiny(basis="canonical")
    source = lottery.generalized_model(hp, (1, 8, 8), 10)
    target = lottery.generalized_model(tiny(basis="dct"), (1, 8, 8), 10)
    from glth_core.core import pruning

    pruning.prune(source, 0.5, scope="layer")
    with pytest.raises(ValueError, match="only a dense state"):
        mapped_state(source.state_dict(), source, target)
    other = lottery.generalized_model(tiny(basis="dct", model="small_cnn"), (1, 8, 8), 10)
    with pytest.raises(ValueError, match="different layers"):
        mapped_state(lottery.generalized_model(hp, (1, 8, 8), 10).state_dict(),
                     lottery.generalized_model(hp, (1, 8, 8), 10), other)


@pytest.mark.parametrize("name", ["small_cnn", "conv2"])
def test_pooling_before_relu_is_the_same_function_and_gradient(name):
    """The models pool before the ReLU, channels-last; the textbook (ReLU, then pool, plain layout) agrees."""
    model = build_model(name, (1, 16, 16), 10, seed=1)
    x = torch.randn(8, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    y = torch.arange(8) % 10

    def textbook(inputs):
        if name == "small_cnn":
            h = F.max_pool2d(F.relu(model.conv1(inputs)), 2)
            h = F.max_pool2d(F.relu(model.conv2(h)), 2)
            return model.fc2(F.relu(model.fc1(h.flatten(1))))
        h = F.relu(model.conv1(inputs))
        h = F.max_pool2d(F.relu(model.conv2(h)), 2)
        h = F.relu(model.fc1(h.flatten(1)))
        h = F.relu(model.fc2(h))
        return model.fc3(h)

    params = list(model.parameters())
    ours = torch.autograd.grad(F.cross_entropy(model(x), y), params)
    reference = torch.autograd.grad(F.cross_entropy(textbook(x), y), params)
    # the same function; the channels-last convolutions sum in another order (float32 round-off)
    torch.testing.assert_close(model(x), textbook(x), atol=1e-5, rtol=1e-5)
    for a, b in zip(ours, reference):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
