"""Tests for glth_core.data: parsing, checksums, resolution order, splits.

Everything runs offline. The fetch steps are replaced by fakes wherever a test
is about the resolution logic; the one full-size Fashion-MNIST test uses the
real steps (the data cache, else `apt-get download dataset-fashion-mnist`) and
fails, never skips, when the data cannot be had.
"""
from __future__ import annotations

import gzip
import hashlib
import logging
import os
import random
import struct
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from glth_core import data
from glth_core.data import fetchers

torch.set_num_threads(1)

FASHION_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


# --------------------------------------------------------------------------
# helpers: idx files written by hand (struct), independent of data.parse_idx
# --------------------------------------------------------------------------

_TYPE_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B,
               np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}


def idx_bytes(array: np.ndarray) -> bytes:
    array = np.asarray(array)
    header = bytes([0, 0, _TYPE_CODES[array.dtype], array.ndim])
    header += struct.pack(">" + "I" * array.ndim, *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx_gz(path: Path, array: np.ndarray) -> bytes:
    payload = idx_bytes(array)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(payload, mtime=0))
    return payload


@pytest.fixture
def tiny_fashion(tmp_path, monkeypatch):
    """A tiny Fashion-MNIST stand-in (12 train / 5 test images) with its own
    checksums, an empty cache, no system copy, and fake fetch steps that fail
    unless a test says otherwise."""
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
              "y_train": rng.integers(0, 10, 12).astype(np.uint8),
              "x_test": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
              "y_test": rng.integers(0, 10, 5).astype(np.uint8)}
    mirror = tmp_path / "mirror"
    files = []
    for name, key in zip(FASHION_NAMES, ("x_train", "y_train", "x_test", "y_test")):
        payload = write_idx_gz(mirror / name, arrays[key])
        files.append(data.IdxFile(name, arrays[key].shape,
                                  payload_md5=hashlib.md5(payload).hexdigest(),
                                  payload_sha256=hashlib.sha256(payload).hexdigest()))
    spec = data.IdxDataset("fashion_mnist", *files, torchvision_class="FashionMNIST")
    monkeypatch.setitem(data.IDX_DATASETS, "fashion_mnist", spec)
    system = tmp_path / "system"
    monkeypatch.setitem(data.SYSTEM_DIRS, "fashion_mnist", (str(system),))
    calls = []

    def failing(step):
        def fetch(*args):
            calls.append(step)
            raise RuntimeError(f"{step} offline in this test")
        return fetch

    monkeypatch.setattr(fetchers, "fetch_debian_package", failing("debian"))
    monkeypatch.setattr(fetchers, "fetch_torchvision_idx", failing("torchvision"))
    cache = tmp_path / "cache"
    return SimpleNamespace(arrays=arrays, mirror=mirror, system=system, cache=cache,
                           folder=cache / "fashion_mnist", calls=calls)


def copy_mirror(tiny, step, corrupt=()):
    """A fake fetch step that copies the good files (corrupting ``corrupt``)."""
    def fetch(*args):
        tiny.calls.append(step)
        dest = args[-1]
        dest.mkdir(parents=True, exist_ok=True)
        for name in FASHION_NAMES:
            raw = (tiny.mirror / name).read_bytes()
            (dest / name).write_bytes(raw[: len(raw) // 2] if name in corrupt else raw)
    return fetch


def expected_images(raw: np.ndarray) -> np.ndarray:
    return ((raw.astype(np.float64) / 255.0 - 0.2860) / 0.3530).reshape(len(raw), 1, 28, 28)


def assert_tiny_loaded(splits, tiny):
    np.testing.assert_allclose(splits.train[0].numpy(), expected_images(tiny.arrays["x_train"]),
                               rtol=0, atol=1e-5)
    np.testing.assert_array_equal(splits.train[1].numpy(), tiny.arrays["y_train"])
    np.testing.assert_allclose(splits.test[0].numpy(), expected_images(tiny.arrays["x_test"]),
                               rtol=0, atol=1e-5)
    np.testing.assert_array_equal(splits.test[1].numpy(), tiny.arrays["y_test"])


# --------------------------------------------------------------------------
# idx parser
# --------------------------------------------------------------------------

@pytest.mark.parametrize("array", [
    np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4),
    np.array([[-70000, 1], [2, 2**31 - 1]], dtype=np.int32),
    np.array([-1, 0, 127], dtype=np.int8),
    np.array([[1.5, -2.25, 3e30]], dtype=np.float32),
    np.linspace(-1, 1, 7),
])
@pytest.mark.parametrize("compressed", [True, False])
def test_read_idx_round_trip(tmp_path, array, compressed):
    path = tmp_path / ("a.idx.gz" if compressed else "a.idx")
    if compressed:
        write_idx_gz(path, array)
    else:
        path.write_bytes(idx_bytes(array))
    got = data.read_idx(path)
    assert got.shape == array.shape and got.dtype == array.dtype
    np.testing.assert_array_equal(got, array)


def test_parse_idx_rejects_malformed():
    good = idx_bytes(np.zeros((3, 2), dtype=np.uint8))
    with pytest.raises(data.ChecksumError, match="data bytes"):
        data.parse_idx(good[:-1])
    with pytest.raises(data.ChecksumError, match="data bytes"):
        data.parse_idx(good + b"\0")
    with pytest.raises(data.ChecksumError, match="magic"):
        data.parse_idx(b"\x01" + good[1:])
    with pytest.raises(data.ChecksumError, match="type code"):
        data.parse_idx(good[:2] + b"\x07" + good[3:])
    with pytest.raises(data.ChecksumError, match="header"):
        data.parse_idx(good[:6])


def test_read_idx_rejects_truncated_gzip(tmp_path):
    path = tmp_path / "x.gz"
    write_idx_gz(path, np.arange(1000, dtype=np.int32))
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(data.ChecksumError, match="gzip"):
        data.read_idx(path)


# --------------------------------------------------------------------------
# resolution order and checksums (tiny stand-in, fake fetch steps)
# --------------------------------------------------------------------------

def test_valid_cache_is_used_without_fetching(tiny_fashion):
    for name in FASHION_NAMES:
        (tiny_fashion.folder).mkdir(parents=True, exist_ok=True)
        (tiny_fashion.folder / name).write_bytes((tiny_fashion.mirror / name).read_bytes())
    splits = data.load("fashion_mnist", data_dir=tiny_fashion.cache, verbose=False)
    assert tiny_fashion.calls == []
    assert splits.source == str(tiny_fashion.folder.absolute())
    assert_tiny_loaded(splits, tiny_fashion)


@pytest.mark.parametrize("damage", ["truncate", "flip_payload_byte"])
def test_corrupt_cache_file_is_detected_deleted_and_refetched(tiny_fashion, monkeypatch,
                                                              caplog, damage):
    tiny_fashion.folder.mkdir(parents=True)
    for name in FASHION_NAMES:
        (tiny_fashion.folder / name).write_bytes((tiny_fashion.mirror / name).read_bytes())
    bad = tiny_fashion.folder / "train-images-idx3-ubyte.gz"
    if damage == "truncate":
        bad.write_bytes(bad.read_bytes()[:1000])
    else:  # a valid gzip whose payload differs by one byte: only a checksum can tell
        payload = bytearray(gzip.decompress(bad.read_bytes()))
        payload[-1] ^= 0xFF
        bad.write_bytes(gzip.compress(bytes(payload)))
    monkeypatch.setattr(fetchers, "fetch_debian_package", copy_mirror(tiny_fashion, "debian"))
    with caplog.at_level(logging.INFO, logger="glth_core.data"):
        splits = data.load("fashion_mnist", data_dir=tiny_fashion.cache, verbose=False)
    assert tiny_fashion.calls == ["debian"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("corrupt" in m and "train-images-idx3-ubyte.gz" in m and "deleted" in m
               for m in warnings), warnings
    assert_tiny_loaded(splits, tiny_fashion)
    assert bad.read_bytes() == (tiny_fashion.mirror / bad.name).read_bytes()


def test_corrupt_download_is_never_used(tiny_fashion, monkeypatch, caplog):
    monkeypatch.setattr(fetchers, "fetch_debian_package",
                        copy_mirror(tiny_fashion, "debian", corrupt={"t10k-labels-idx1-ubyte.gz"}))
    monkeypatch.setattr(fetchers, "fetch_torchvision_idx", copy_mirror(tiny_fashion, "torchvision"))
    with caplog.at_level(logging.INFO, logger="glth_core.data"):
        splits = data.load("fashion_mnist", data_dir=tiny_fashion.cache, verbose=False)
    assert tiny_fashion.calls == ["debian", "torchvision"]
    assert any("t10k-labels-idx1-ubyte.gz" in r.getMessage() and r.levelno == logging.WARNING
               for r in caplog.records)
    assert_tiny_loaded(splits, tiny_fashion)


def test_all_downloads_corrupt_raises_and_leaves_no_corrupt_file(tiny_fashion, monkeypatch):
    corrupt = {"train-labels-idx1-ubyte.gz"}
    monkeypatch.setattr(fetchers, "fetch_debian_package", copy_mirror(tiny_fashion, "debian", corrupt))
    monkeypatch.setattr(fetchers, "fetch_torchvision_idx",
                        copy_mirror(tiny_fashion, "torchvision", corrupt))
    with pytest.raises(data.DatasetNotFoundError) as info:
        data.load("fashion_mnist", data_dir=tiny_fashion.cache, verbose=False)
    message = str(info.value)
    assert message.count("train-labels-idx1-ubyte.gz: corrupt or truncated gzip") == 2, message
    assert not (tiny_fashion.folder / "train-labels-idx1-ubyte.gz").exists()


def test_not_found_lists_every_step_in_order_and_the_fixes(tiny_fashion):
    with pytest.raises(data.DatasetNotFoundError) as info:
        data.load("fashion_mnist", data_dir=tiny_fashion.cache, download=False, verbose=False)
    err = info.value
    assert isinstance(err, RuntimeError)
    steps = [step for step, _ in err.attempts]
    assert len(steps) == 4
    assert steps[0] == f"data cache {tiny_fashion.folder.absolute()}"
    assert steps[1] == f"system copy {tiny_fashion.system}"
    assert "Debian package dataset-fashion-mnist" in steps[2]
    assert "torchvision.datasets.FashionMNIST" in steps[3]
    assert [reason for _, reason in err.attempts] == [
        "folder does not exist", "folder does not exist",
        "skipped (download=False)", "skipped (download=False)"]
    message = str(err)
    positions = [message.index(step) for step in steps]
    assert positions == sorted(positions)
    for fix in ("apt-get install dataset-fashion-mnist", str(tiny_fashion.folder.absolute()),
                "GLTH_DATA_DIR", "download=True"):
        assert fix in message
    assert tiny_fashion.calls == []  # download=False: steps 3-4 never run


def test_failed_fetch_steps_report_their_reason(tiny_fashion):
    with pytest.raises(data.DatasetNotFoundError) as info:
        data.load("fashion_mnist", data_dir=tiny_fashion.cache, verbose=False)
    assert tiny_fashion.calls == ["debian", "torchvision"]
    reasons = dict(info.value.attempts)
    assert "RuntimeError: debian offline in this test" in str(info.value)
    assert "RuntimeError: torchvision offline in this test" in str(info.value)
    assert len(reasons) == 4


def test_missing_files_are_named(tiny_fashion):
    tiny_fashion.folder.mkdir(parents=True)
    (tiny_fashion.folder / FASHION_NAMES[0]).write_bytes((tiny_fashion.mirror / FASHION_NAMES[0]).read_bytes())
    with pytest.raises(data.DatasetNotFoundError) as info:
        data.load("fashion_mnist", data_dir=tiny_fashion.cache, download=False, verbose=False)
    reason = info.value.attempts[0][1]
    assert reason == "missing " + ", ".join(FASHION_NAMES[1:])


def test_system_copy_is_used_and_never_deleted(tiny_fashion, monkeypatch):
    tiny_fashion.system.mkdir()
    for name in FASHION_NAMES:
        (tiny_fashion.system / name).write_bytes((tiny_fashion.mirror / name).read_bytes())
    splits = data.load("fashion_mnist", data_dir=tiny_fashion.cache, download=False, verbose=False)
    assert splits.source == str(tiny_fashion.system)
    assert_tiny_loaded(splits, tiny_fashion)

    bad = tiny_fashion.system / FASHION_NAMES[2]
    bad.write_bytes(bad.read_bytes()[:50])
    monkeypatch.setattr(fetchers, "fetch_debian_package", copy_mirror(tiny_fashion, "debian"))
    splits = data.load("fashion_mnist", data_dir=tiny_fashion.cache, verbose=False)
    assert splits.source == str(tiny_fashion.folder.absolute())
    assert bad.exists()  # a system file is reported, not deleted
    assert tiny_fashion.calls == ["debian"]


def test_verbose_prints_each_step(tiny_fashion, capsys):
    with pytest.raises(data.DatasetNotFoundError):
        data.load("fashion_mnist", data_dir=tiny_fashion.cache, download=False, verbose=True)
    out = capsys.readouterr().out
    assert out.count("[glth_core.data] fashion_mnist:") == 4
    with pytest.raises(data.DatasetNotFoundError):
        data.load("fashion_mnist", data_dir=tiny_fashion.cache, download=False, verbose=False)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("name, steps", [
    ("mnist", ("data cache", "torchvision.datasets.MNIST(download=True)")),
    ("cifar10", ("data cache", "torchvision.datasets.CIFAR10(download=True)")),
])
def test_other_image_sets_not_found_offline(tmp_path, name, steps):
    with pytest.raises(data.DatasetNotFoundError) as info:
        data.load(name, data_dir=tmp_path, download=False, verbose=False)
    tried = [step for step, _ in info.value.attempts]
    assert len(tried) == len(steps)
    for step, expected in zip(tried, steps):
        assert step.startswith(expected)
    assert "GLTH_DATA_DIR" in str(info.value)


def test_corrupt_cifar10_folder_is_deleted(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "data_batch_1").write_bytes(b"not a pickle")
    with pytest.raises(data.DatasetNotFoundError, match="corrupt or incomplete"):
        data.load("cifar10", data_dir=tmp_path, download=False, verbose=False)
    assert not folder.exists()


# --------------------------------------------------------------------------
# names, paths
# --------------------------------------------------------------------------

def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError) as info:
        data.load("imagenet", verbose=False)
    for name in data.DATASETS:
        assert name in str(info.value)
    with pytest.raises(TypeError, match="name"):
        data.load(3, verbose=False)
    assert data.DATASETS == ("fashion_mnist", "mnist", "cifar10", "mnist1d", "digits")
    assert data.IMAGE_DATASETS == ("fashion_mnist", "mnist", "cifar10", "digits")  # mnist1d: 1-D signals


def test_data_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("GLTH_DATA_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data.default_data_dir() == tmp_path / "env"
    assert data.resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv("GLTH_DATA_DIR")
    assert data.default_data_dir() == tmp_path / "xdg" / "glth_core" / "data"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert data.default_data_dir() == tmp_path / "home" / ".cache" / "glth_core" / "data"
    monkeypatch.chdir(tmp_path)
    assert data.resolve_data_dir("rel") == tmp_path / "rel"
    with pytest.raises(TypeError, match="data_dir"):
        data.resolve_data_dir(5)


# --------------------------------------------------------------------------
# digits
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits():
    return data.load("digits", verbose=False)


def test_digits_shapes_labels_and_split(digits):
    from sklearn.datasets import load_digits

    (xtr, ytr), (xte, yte) = digits.train, digits.test
    assert digits.val is None
    assert xtr.shape == (1437, 1, 8, 8) and xte.shape == (360, 1, 8, 8)
    assert xtr.dtype == torch.float32 and ytr.dtype == torch.int64 and yte.dtype == torch.int64
    assert digits.input_shape == (1, 8, 8) and digits.num_classes == 10
    reference = load_digits()
    all_counts = np.bincount(reference.target, minlength=10)
    test_counts = np.bincount(yte.numpy(), minlength=10)
    np.testing.assert_array_equal(np.bincount(ytr.numpy(), minlength=10) + test_counts, all_counts)
    # stratified: each class's test share is 20% of its size, rounded either way
    assert np.all(np.abs(test_counts - 0.2 * all_counts) <= 1)
    # un-normalised pixels are the original values k/16, k in 0..16
    raw = xtr.double() * digits.std[0] + digits.mean[0]
    assert torch.allclose(raw * 16, (raw * 16).round(), atol=1e-4)
    assert raw.min() > -1e-5 and raw.max() < 1 + 1e-5
    # every test image is one of sklearn's images with the same label
    images = {img.tobytes(): int(t) for img, t in zip(reference.images.astype(np.int64), reference.target)}
    raw_test = (xte.double() * digits.std[0] + digits.mean[0]) * 16
    for img, label in zip(raw_test.round().long().numpy()[:, 0], yte.numpy()):
        assert images[img.astype(np.int64).tobytes()] == label


def test_digits_normalisation_constants_are_train_statistics(digits):
    raw = digits.train[0].double() * digits.std[0] + digits.mean[0]
    assert abs(raw.mean().item() - digits.mean[0]) < 5e-5
    assert abs(raw.std(unbiased=False).item() - digits.std[0]) < 5e-5


# --------------------------------------------------------------------------
# mnist1d
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mnist1d_generated(tmp_path_factory):
    """Generates mnist1d once into a fresh cache, from an empty working
    directory, recording the global RNG states around it."""
    cache = tmp_path_factory.mktemp("mnist1d-cache")
    workdir = tmp_path_factory.mktemp("mnist1d-cwd")
    old_cwd = os.getcwd()
    np.random.seed(1234)
    random.seed(4321)
    before = (np.random.get_state(), random.getstate())
    os.chdir(workdir)
    try:
        data.fetch("mnist1d", data_dir=cache, verbose=False)
    finally:
        os.chdir(old_cwd)
    after = (np.random.get_state(), random.getstate())
    return SimpleNamespace(cache=cache, workdir=workdir, before=before, after=after)


@pytest.fixture(scope="module")
def mnist1d_cache(mnist1d_generated):
    return mnist1d_generated.cache


def test_mnist1d_generation_keeps_global_rng_and_writes_nothing_to_cwd(mnist1d_generated):
    (np_before, py_before), (np_after, py_after) = mnist1d_generated.before, mnist1d_generated.after
    assert np_after[0] == np_before[0] and np.array_equal(np_after[1], np_before[1])
    assert np_after[2:] == np_before[2:]
    assert py_after == py_before
    assert list(mnist1d_generated.workdir.iterdir()) == []
    assert [p.name for p in (mnist1d_generated.cache / "mnist1d").iterdir()] == [
        "mnist1d-0.0.2.post1-default.npz"]


def test_mnist1d_matches_the_package_and_constants_are_train_statistics(mnist1d_cache):
    from mnist1d.data import get_dataset_args, make_dataset

    splits = data.load("mnist1d", data_dir=mnist1d_cache, verbose=False)
    state = np.random.get_state()
    try:
        reference = make_dataset(get_dataset_args())  # the package itself, for comparison
    finally:
        np.random.set_state(state)
    mean, std = splits.mean[0], splits.std[0]
    np.testing.assert_allclose(splits.train[0].double().numpy() * std + mean, reference["x"],
                               rtol=0, atol=1e-5)
    np.testing.assert_allclose(splits.test[0].double().numpy() * std + mean, reference["x_test"],
                               rtol=0, atol=1e-5)
    np.testing.assert_array_equal(splits.train[1].numpy(), reference["y"])
    np.testing.assert_array_equal(splits.test[1].numpy(), reference["y_test"])
    # normalisation constants: statistics of the raw train split (4 decimals)
    assert abs(reference["x"].mean() - mean) < 5e-5 and abs(reference["x"].std() - std) < 5e-5


def test_mnist1d_shapes_and_classes(mnist1d_cache):
    splits = data.load("mnist1d", data_dir=mnist1d_cache, verbose=False)
    (xtr, ytr), (xte, yte) = splits.train, splits.test
    assert xtr.shape == (4000, 40) and xte.shape == (1000, 40)
    assert xtr.dtype == torch.float32 and ytr.dtype == torch.int64
    assert splits.input_shape == (40,) and splits.num_classes == 10
    assert ytr.min() == 0 and ytr.max() == 9 and yte.min() == 0 and yte.max() == 9
    counts = np.bincount(np.concatenate([ytr.numpy(), yte.numpy()]), minlength=10)
    np.testing.assert_array_equal(counts, np.full(10, 500))  # 5000 signals, 500 per class
    assert abs(xtr.mean().item()) < 1e-3 and abs(xtr.std().item() - 1) < 1e-3


def test_mnist1d_cache_is_reused_and_corruption_regenerates(mnist1d_cache, tmp_path,
                                                           monkeypatch, caplog):
    cached = data.load("mnist1d", data_dir=mnist1d_cache, verbose=False)
    arrays = {"x_train": (cached.train[0].double().numpy() * cached.std[0] + cached.mean[0]),
              "y_train": cached.train[1].numpy(),
              "x_test": (cached.test[0].double().numpy() * cached.std[0] + cached.mean[0]),
              "y_test": cached.test[1].numpy()}
    calls = []

    def fake_generate():
        calls.append(1)
        return {k: v.astype(np.float32 if k.startswith("x") else np.int64) for k, v in arrays.items()}

    monkeypatch.setattr(fetchers, "generate_mnist1d", fake_generate)
    data.load("mnist1d", data_dir=mnist1d_cache, verbose=False)
    assert calls == []  # served from the cache
    copy = tmp_path / "copy"
    source = data.fetch("mnist1d", data_dir=mnist1d_cache, verbose=False)
    target = copy / source.relative_to(mnist1d_cache)
    target.parent.mkdir(parents=True)
    target.write_bytes(source.read_bytes()[:-100])  # truncated
    with caplog.at_level(logging.WARNING, logger="glth_core.data"):
        again = data.load("mnist1d", data_dir=copy, verbose=False)
    assert calls == [1]
    assert any("corrupt" in r.getMessage() for r in caplog.records)
    assert torch.allclose(again.train[0], cached.train[0], atol=1e-6)
    data.load("mnist1d", data_dir=copy, verbose=False)  # the rewritten cache is valid
    assert calls == [1]


# --------------------------------------------------------------------------
# validation split
# --------------------------------------------------------------------------

def _rows(x: torch.Tensor) -> list[bytes]:
    return [row.tobytes() for row in x.numpy()]


def test_validation_split_is_deterministic_disjoint_and_complete(mnist1d_cache):
    full = data.load("mnist1d", data_dir=mnist1d_cache, verbose=False)
    a = data.load("mnist1d", data_dir=mnist1d_cache, validation_size=400, split_seed=7, verbose=False)
    b = data.load("mnist1d", data_dir=mnist1d_cache, validation_size=400, split_seed=7, verbose=False)
    c = data.load("mnist1d", data_dir=mnist1d_cache, validation_size=400, split_seed=8, verbose=False)
    assert a.train[0].shape == (3600, 40) and a.val[0].shape == (400, 40)
    assert torch.equal(a.val[0], b.val[0]) and torch.equal(a.train[1], b.train[1])
    assert not torch.equal(a.val[0], c.val[0])
    full_rows = _rows(full.train[0])
    assert len(set(full_rows)) == 4000  # continuous signals: rows identify examples
    train_rows, val_rows = _rows(a.train[0]), _rows(a.val[0])
    assert not set(train_rows) & set(val_rows)
    assert set(train_rows) | set(val_rows) == set(full_rows)
    # labels travel with their signals, and train keeps the original order
    label_of = dict(zip(full_rows, full.train[1].tolist()))
    assert [label_of[r] for r in val_rows] == a.val[1].tolist()
    position = {r: i for i, r in enumerate(full_rows)}
    assert [position[r] for r in train_rows] == sorted(position[r] for r in train_rows)
    assert torch.equal(a.test[0], full.test[0])
    fraction = data.load("mnist1d", data_dir=mnist1d_cache, validation_size=0.1, split_seed=7,
                         verbose=False)
    assert fraction.val[0].shape == (400, 40) and torch.equal(fraction.val[0], a.val[0])


@pytest.mark.parametrize("size, error", [(-1, ValueError), (1437, ValueError), (1.0, ValueError),
                                         (True, TypeError), ("10", TypeError)])
def test_validation_size_is_checked(size, error):
    with pytest.raises(error, match="validation_size"):
        data.load("digits", validation_size=size, verbose=False)


def test_split_seed_is_checked():
    with pytest.raises(ValueError, match="split_seed"):
        data.load("digits", validation_size=10, split_seed=-1, verbose=False)


# --------------------------------------------------------------------------
# loaders
# --------------------------------------------------------------------------

def test_loaders_are_seeded_and_complete():
    splits = data.load("digits", validation_size=137, verbose=False)
    train, test, val = data.loaders(splits, 100, seed=3, eval_batch_size=256)
    first = next(iter(train))
    assert first[0].shape == (100, 1, 8, 8) and first[1].shape == (100,)
    again = next(iter(data.loaders(splits, 100, seed=3)[0]))
    other = next(iter(data.loaders(splits, 100, seed=4)[0]))
    assert torch.equal(first[1], again[1]) and not torch.equal(first[1], other[1])
    assert sum(len(y) for _, y in train) == 1300
    assert torch.equal(torch.cat([x for x, _ in test]), splits.test[0])
    assert torch.equal(torch.cat([y for _, y in val]), splits.val[1])
    assert len(data.loaders(data.load("digits", verbose=False), 32)) == 2
    with pytest.raises(ValueError, match="batch_size"):
        data.loaders(splits, 0)
    with pytest.raises(TypeError, match="splits"):
        data.loaders((splits.train, splits.test), 10)


# --------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------

def test_cli_list_and_fetch(capsys, tmp_path):
    assert data.main(["list", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name in data.DATASETS:
        assert name in out
    assert data.main(["fetch", "digits", "--quiet", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "train x (1437, 1, 8, 8)" in out and "test x (360, 1, 8, 8)" in out
    assert data.main(["fetch", "mnist", "--no-download", "--quiet",
                      "--data-dir", str(tmp_path)]) == 1
    assert "could not be found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        data.main(["fetch", "imagenet"])


def test_cli_module_entry_point(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "glth_core.data", "list", "--data-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert f"data cache: {tmp_path}" in proc.stdout and "fashion_mnist" in proc.stdout


# --------------------------------------------------------------------------
# the real Fashion-MNIST (never skipped)
# --------------------------------------------------------------------------

@pytest.fixture(scope="session")
def fashion_data_dir(tmp_path_factory):
    return os.environ.get("GLTH_DATA_DIR") or str(tmp_path_factory.mktemp("glth-data"))


def test_fashion_mnist_full_size(fashion_data_dir):
    """Loads the real data set from the cache, or fetches it (Debian package,
    then torchvision); a failure to fetch fails this test with the message."""
    splits = data.load("fashion_mnist", data_dir=fashion_data_dir, verbose=False)
    (xtr, ytr), (xte, yte) = splits.train, splits.test
    assert xtr.shape == (60000, 1, 28, 28) and xte.shape == (10000, 1, 28, 28)
    assert xtr.dtype == torch.float32 and ytr.dtype == torch.int64
    assert splits.num_classes == 10 and splits.input_shape == (1, 28, 28)
    # Fashion-MNIST is balanced: 6000 train and 1000 test images per class
    np.testing.assert_array_equal(np.bincount(ytr.numpy(), minlength=10), np.full(10, 6000))
    np.testing.assert_array_equal(np.bincount(yte.numpy(), minlength=10), np.full(10, 1000))
    raw = xtr.double() * 0.3530 + 0.2860
    assert abs(raw.mean().item() - 0.2860) < 5e-4 and abs(raw.std().item() - 0.3530) < 5e-4
    assert abs(raw.min().item()) < 1e-5 and abs(raw.max().item() - 1) < 1e-5
    val = data.load("fashion_mnist", data_dir=fashion_data_dir, validation_size=5000,
                    download=False, verbose=False)
    assert val.train[0].shape == (55000, 1, 28, 28) and val.val[0].shape == (5000, 1, 28, 28)
