"""The tutorial's cache of trained models (glth_core.book.tutorial_cache): a second fetch does not train and
gives bit-identical models, a changed parameter or changed code trains again, a damaged entry is retrained."""
from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import glth_core as glth
from glth_core.book import tutorial_cache
from glth_core.book.tutorial_cache import TrainedModels, code_fingerprint
from glth_core.storage.store import CorruptCheckpointWarning

INPUTS = torch.randn(5, 6, generator=torch.Generator().manual_seed(0))


def build():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))


class Trainer:
    """``train()`` for :meth:`TrainedModels.fetch`, counting its calls: a DCT ticket of a few SGD steps."""

    def __init__(self, steps=3):
        self.calls, self.steps = 0, steps

    def __call__(self):
        self.calls += 1
        model = glth.generalize(build(), "dct")
        start = glth.snapshot(model)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        for _ in range(self.steps):
            loss = model(INPUTS).square().mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        dense = glth.export(model)
        glth.prune(model, 0.5, scope="layer")
        glth.rewind(model, start)
        return model, dense


def fetch(tmp_path, trainer, **parameters):
    models = TrainedModels(tmp_path, {"steps": trainer.steps, **parameters}, code=[build])
    return models, models.fetch("net", trainer, build)


def test_a_second_fetch_reads_back_bit_identical_models_without_training(tmp_path):
    trainer = Trainer()
    first, (ticket, dense) = fetch(tmp_path, trainer)
    again, (ticket2, dense2) = fetch(tmp_path, trainer)
    assert trainer.calls == 1 and first.trained == ["net"] and again.trained == []
    with torch.no_grad():
        assert torch.equal(ticket(INPUTS), ticket2(INPUTS)) and torch.equal(dense(INPUTS), dense2(INPUTS))
    assert glth.density(ticket2) == glth.density(ticket) < 1
    entry = tmp_path / "tutorial" / first.key("net")
    assert sorted(p.name for p in entry.iterdir()) == ["hparams.json", "round_0000.pt", "ticket.glth"]


def test_a_changed_parameter_or_library_version_trains_again(tmp_path, monkeypatch):
    trainer = Trainer()
    first, _ = fetch(tmp_path, trainer)
    other, _ = fetch(tmp_path, trainer, lr=0.2)
    assert trainer.calls == 2 and other.key("net") != first.key("net")
    fetch(tmp_path, trainer, lr=0.2)
    assert trainer.calls == 2
    monkeypatch.setattr(tutorial_cache._version, "__version__", "0.0.0-test")
    fetch(tmp_path, trainer)
    assert trainer.calls == 3


def test_changed_training_code_changes_the_key(tmp_path):
    namespace = {}
    exec(compile("def train(x):\n    return x * 2\n", "<cell-1>", "exec"), namespace)
    same = {}
    exec(compile("\n\ndef train(x):\n    return x * 2  # a comment\n", "<cell-2>", "exec"), same)
    changed = {}
    exec(compile("def train(x):\n    return x * 3\n", "<cell-1>", "exec"), changed)
    # a notebook function: its compiled code, not its file name or line numbers
    assert code_fingerprint(namespace["train"]) == code_fingerprint(same["train"])
    assert code_fingerprint(namespace["train"]) != code_fingerprint(changed["train"])
    keys = {TrainedModels(tmp_path, {}, code=[f["train"]]).key("net") for f in (namespace, same, changed)}
    assert len(keys) == 2
    # a function of a Python file: the code of its whole module (here this test file)
    assert code_fingerprint(build) == code_fingerprint(Trainer.__call__) != code_fingerprint(tutorial_cache)
    with pytest.raises(TypeError, match="functions or modules"):
        code_fingerprint(42)


@pytest.mark.parametrize("damaged", ["round_0000.pt", "ticket.glth"])
def test_a_damaged_entry_is_trained_again(tmp_path, damaged):
    trainer = Trainer()
    models, _ = fetch(tmp_path, trainer)
    path = tmp_path / "tutorial" / models.key("net") / damaged
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CorruptCheckpointWarning)
        fetch(tmp_path, trainer)
    assert trainer.calls == 2
    fetch(tmp_path, trainer)
    assert trainer.calls == 2
