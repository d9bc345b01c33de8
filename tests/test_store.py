"""Store and hyperparameters: atomic writes, writability checks, run identity."""
import dataclasses
import json

import pandas as pd
import pytest
import torch

import glth_core
from glth_core.engine import hparams as H
from glth_core.engine import run_identity
from glth_core.storage.store import RunStore, StorageError, atomic_torch_save, atomic_write_csv, check_writable, default_results_dir


def test_atomic_torch_save_roundtrip_and_no_leftovers(tmp_path):
    path = tmp_path / "sub" / "ckpt.pt"
    atomic_torch_save({"a": torch.arange(3), "row": {"x": 1.5, "s": "t"}}, path)
    loaded = torch.load(path, weights_only=True)
    assert torch.equal(loaded["a"], torch.arange(3)) and loaded["row"] == {"x": 1.5, "s": "t"}
    assert sorted(p.name for p in path.parent.iterdir()) == ["ckpt.pt"]


def test_failed_write_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    atomic_torch_save({"v": 1}, path)

    def broken_save(obj, f):
        f.write(b"partial")
        raise RuntimeError("killed")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(RuntimeError):
        atomic_torch_save({"v": 2}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]


def test_atomic_csv(tmp_path):
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    atomic_write_csv(df, tmp_path / "t.csv")
    assert pd.read_csv(tmp_path / "t.csv").equals(df)


def test_unwritable_folder(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(StorageError, match="not writable.*GLTH_RESULTS_DIR"):
        check_writable(blocker / "results")


def test_too_little_free_space(tmp_path):
    with pytest.raises(StorageError, match="MiB free"):
        check_writable(tmp_path, min_free_bytes=2**62)


def test_default_results_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("GLTH_RESULTS_DIR", str(tmp_path))
    assert default_results_dir() == tmp_path
    assert default_results_dir("elsewhere") == type(tmp_path)("elsewhere")
    monkeypatch.delenv("GLTH_RESULTS_DIR")
    assert str(default_results_dir()) == "results"


def test_run_store_rejects_other_identity(tmp_path):
    store = RunStore(tmp_path, "imp_abc", {"x": 1})
    assert json.loads((store.path / "hparams.json").read_text()) == {"x": 1}
    RunStore(tmp_path, "imp_abc", {"x": 1})  # same identity: fine
    with pytest.raises(StorageError, match="another run"):
        RunStore(tmp_path, "imp_abc", {"x": 2})
    assert store.load_round(0) is None
    store.save_round(0, {"row": {"a": 1}})
    assert store.has_round(0) and store.load_round(0) == {"row": {"a": 1}}


# ----------------------------------------------------------------- hyperparameters


def test_run_key_identity():
    hp = H.ImpHparams()
    key = H.run_key("imp", hp)
    assert key.startswith("imp_") and len(key) == 4 + 12 and int(key[4:], 16) >= 0
    assert H.run_key("imp", H.ImpHparams()) == key
    assert H.run_key("imp", H.update(hp, lr=0.05)) != key
    assert H.run_key("imp", H.update(hp, control="reinit")) != key
    assert H.run_key("imp", H.update(hp, seed=1)) != key
    assert H.run_key("imp", H.update(hp, rounds=3)) == key  # rounds is the extent, not the identity


def test_run_key_depends_on_version_and_source(monkeypatch):
    hp = H.ImpHparams()
    key = H.run_key("imp", hp)
    monkeypatch.setattr(glth_core._version, "__version__", "999.0")
    assert H.run_key("imp", hp) != key
    monkeypatch.undo()
    assert H.run_key("imp", hp) == key
    source = H.source_hash()
    assert len(source) == 64
    monkeypatch.setattr(run_identity, "source_hash", lambda: "0" * 64)
    assert H.run_key("imp", hp) != key


def test_run_key_is_sha256_of_canonical_json():
    import hashlib

    hp = H.ImpHparams()
    ident = H.identity("imp", hp)
    assert "rounds" not in ident["hparams"]["pruning"] and ident["version"] == glth_core.__version__
    text = json.dumps(ident, sort_keys=True, separators=(",", ":"))
    assert H.run_key("imp", hp) == "imp_" + hashlib.sha256(text.encode()).hexdigest()[:12]


def test_dict_roundtrip_and_update():
    hp = H.update(H.ImpHparams(), model="conv2", dataset="digits", milestones=[2, 3], output_fraction=0.0,
                  one_shot=True, basis="dct")
    assert hp.model.name == "conv2" and hp.training.milestones == (2, 3) and hp.pruning.one_shot
    assert H.from_dict(H.ImpHparams, H.to_dict(hp)) == hp
    sub = H.SubspaceHparams(dimension=17)
    assert H.from_dict(H.SubspaceHparams, H.to_dict(sub)) == sub
    with pytest.raises(TypeError, match="no hyperparameter 'learning_rate'.*lr"):
        H.update(hp, learning_rate=0.1)


def test_flags_unique_and_documented():
    for cls in (H.ImpHparams, H.SubspaceHparams):
        names = [H.flag_name(p, f) for p, f, _ in H.leaf_fields(cls)]
        assert len(names) == len(set(names))
        assert all(f.metadata.get("help") for _, f, _ in H.leaf_fields(cls))


@pytest.mark.parametrize(
    "flags,match",
    [
        ({"model": "vgg"}, "unknown model 'vgg'; valid names: lenet300, conv2"),
        ({"dataset": "imagenet"}, "unknown dataset 'imagenet'; valid names: .*fashion_mnist"),
        ({"basis": "wavelet"}, "unknown basis 'wavelet'; valid names: canonical, dct"),
        ({"control": "none"}, "unknown control 'none'"),
        ({"optimizer": "rmsprop"}, "unknown optimizer 'rmsprop'; valid names: sgd, adam"),
        ({"fraction": 1.0}, "--fraction must be in"),
        ({"output_fraction": 1.0}, "--output-fraction"),
        ({"lr": 0.0}, "--lr must be > 0"),
        ({"epochs": 0}, "--epochs >= 1 or --iterations"),
        ({"batch_size": 0}, "--batch-size"),
        ({"rewind_iteration": -1}, "--rewind-iteration"),
    ],
)
def test_validate_messages(flags, match):
    with pytest.raises(ValueError, match=match):
        H.validate(H.update(H.ImpHparams(), **flags))


def test_validate_types():
    with pytest.raises(TypeError, match="--epochs must be an int"):
        H.validate(H.update(H.ImpHparams(), epochs=1.5))
    with pytest.raises(ValueError, match="--dimension"):
        H.validate(H.SubspaceHparams(dimension=0))
    assert dataclasses.is_dataclass(H.ImpHparams())


def test_asking_for_fewer_rounds_does_not_shrink_the_table(tmp_path):
    import pandas as pd

    from glth_core.storage.store import RunStore

    store = RunStore(tmp_path, "imp_test", {"kind": "imp"})
    rows = [{"run_id": "imp_test", "round": r} for r in range(4)]
    for r, row in enumerate(rows):  # the table is derived from the finished rounds' checkpoints
        store.save_round(r, {"round": r, "row": row})
    store.write_table(rows)
    store.write_table(rows[:2])
    assert list(pd.read_csv(store.path / "rounds.csv")["round"]) == [0, 1, 2, 3]
    store.write_table(rows + [{"run_id": "imp_test", "round": 4}])
    assert list(pd.read_csv(store.path / "rounds.csv")["round"]) == [0, 1, 2, 3, 4]
