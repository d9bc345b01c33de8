r"""Data sets by name, offline first, verified by checksum.

:func:`load` returns the standard train/test split of a data set (and,
optionally, a validation split carved from train) as normalised tensors::

    splits = load("fashion_mnist", validation_size=5000, split_seed=0)
    x, y = splits.train          # x: (55000, 1, 28, 28) float32, y: (55000,) int64

Where the files come from
-------------------------
The raw files are looked for in a fixed order, and every step is reported
(``logging`` logger ``glth_core.data``, plus a short print when
``verbose=True``):

1. **the data cache**: ``data_dir`` if given, else ``$GLTH_DATA_DIR``, else
   ``$XDG_CACHE_HOME/glth_core/data``, else ``~/.cache/glth_core/data``;
2. **a system copy** (Fashion-MNIST: ``/usr/share/datasets/fashion-mnist``,
   what Debian's ``dataset-fashion-mnist`` package installs);
3. **the Debian package**, downloaded without root by
   ``apt-get download dataset-fashion-mnist`` in a temporary folder and
   unpacked with ``dpkg-deb -x``; its four ``.gz`` files are copied into the
   cache;
4. **torchvision's download** (``torchvision.datasets.FashionMNIST``,
   ``MNIST`` or ``CIFAR10`` with ``download=True``), for machines online.

``download=False`` disables steps 3 and 4. Steps that do not apply to a data
set are left out (only Fashion-MNIST has a system copy and a Debian package).
``mnist1d`` is generated offline by the ``mnist1d`` package and cached as an
``.npz``; ``digits`` ships with scikit-learn. When every step fails,
:class:`DatasetNotFoundError` lists each step, why it failed and how to fix it.

Integrity
---------
Every idx file is checked before use and again right after it is fetched. A
file that fails (bad checksum, truncated gzip stream, malformed idx header)
is logged, deleted from the cache and fetched again by the next step; it is
never used. The checksums:

* Fashion-MNIST: the official MD5s of the ``.gz`` archives (as listed in
  torchvision's ``FashionMNIST.resources``) *or* the MD5 and SHA-256 of the
  decompressed idx payload. Debian's files are re-compressed (their gzip
  headers drop the file name, so the ``.gz`` bytes and MD5s differ from the
  official release), but their decompressed payloads are identical to the
  official ones: the payload MD5s below are the ones other projects list for
  the official files, and the SHA-256s were computed here from the Debian
  package ``0.0~git20200523.55506a9-1``.
* MNIST: the official MD5s of the ``.gz`` archives (torchvision's
  ``MNIST.resources``).
* CIFAR-10: torchvision's own MD5 check of every batch file.
* mnist1d: the cached ``.npz`` stores a SHA-256 of its arrays, checked on load.

Normalisation
-------------
Images are scaled to [0, 1] and then standardised per channel,
``x = (x / 255 - mean) / std``, with the usual constants (MNIST 0.1307/0.3081,
Fashion-MNIST 0.2860/0.3530, CIFAR-10 (0.4914, 0.4822, 0.4465) /
(0.2470, 0.2435, 0.2616)). For ``digits`` (pixels 0..16, scaled by 1/16) and
``mnist1d`` the constants are the mean and standard deviation of the whole
train split (before any validation split is carved out), computed once and
fixed here (see :data:`NORMALIZATION`); ``tests/test_data.py`` recomputes
them from the raw data.

Splits
------
Standard train/test splits: Fashion-MNIST and MNIST 60000/10000, CIFAR-10
50000/10000, mnist1d 4000/1000 (the package's own 80/20 split of 5000
signals, seed 42), digits 1437/360 (a stratified 80/20 split of the 1797
images by ``sklearn.model_selection.train_test_split(test_size=0.2,
random_state=0, stratify=labels)``). The validation split is a uniformly
random subset of train drawn by ``numpy.random.default_rng(split_seed)``;
train keeps the remaining examples in their original order. No global random
state is read or changed.

Command line::

    python -m glth_core.data list
    python -m glth_core.data fetch fashion_mnist [--data-dir D] [--no-download]
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import logging
import os
import random
import shutil
import subprocess
import sys
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from .store import atomic_write_bytes

__all__ = [
    "DATASETS",
    "NORMALIZATION",
    "Splits",
    "DatasetNotFoundError",
    "ChecksumError",
    "default_data_dir",
    "resolve_data_dir",
    "load",
    "fetch",
    "loaders",
    "read_idx",
    "parse_idx",
    "main",
]

logger = logging.getLogger("glth_core.data")

#: The data sets :func:`load` knows, by name.
DATASETS: tuple[str, ...] = ("fashion_mnist", "mnist", "cifar10", "mnist1d", "digits")

#: Per-channel (mean, std) applied after scaling the raw values to [0, 1]
#: (digits: pixel / 16; mnist1d: the package's values, already roughly
#: standardised). digits and mnist1d: statistics of the full train split.
NORMALIZATION: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "mnist": ((0.1307,), (0.3081,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "mnist1d": ((-0.0003,), (0.9976,)),
    "digits": ((0.3054,), (0.3761,)),
}

_INPUT_SHAPES: dict[str, tuple[int, ...]] = {
    "fashion_mnist": (1, 28, 28),
    "mnist": (1, 28, 28),
    "cifar10": (3, 32, 32),
    "mnist1d": (40,),
    "digits": (1, 8, 8),
}
_SIZES = {  # (train, test): what the loaded files must hold
    "fashion_mnist": (60000, 10000),
    "mnist": (60000, 10000),
    "cifar10": (50000, 10000),
    "mnist1d": (4000, 1000),
    "digits": (1437, 360),
}
_DESCRIPTIONS = {
    "fashion_mnist": "Fashion-MNIST, 10 clothing classes (offline: Debian package dataset-fashion-mnist)",
    "mnist": "MNIST handwritten digits (torchvision download, or files in the cache)",
    "cifar10": "CIFAR-10 colour images (torchvision download, or files in the cache)",
    "mnist1d": "MNIST-1D signals of length 40, generated offline by the mnist1d package",
    "digits": "scikit-learn's 8x8 digits, bundled with scikit-learn",
}

#: Where a system-wide copy of a data set may live (step 2).
SYSTEM_DIRS: dict[str, tuple[str, ...]] = {
    "fashion_mnist": ("/usr/share/datasets/fashion-mnist",),
}
#: Debian package holding a data set (step 3), and the folder inside it.
DEBIAN_PACKAGES: dict[str, tuple[str, str]] = {
    "fashion_mnist": ("dataset-fashion-mnist", "usr/share/datasets/fashion-mnist"),
}

_SUBPROCESS_TIMEOUT_S = 600


class DatasetNotFoundError(RuntimeError):
    """No step could provide the data set.

    ``attempts`` holds ``(step, reason)`` pairs in the order they were tried.
    """

    def __init__(self, message: str, attempts: Sequence[tuple[str, str]] = ()):
        super().__init__(message)
        self.attempts = tuple(attempts)


class ChecksumError(OSError):
    """A data file is corrupt, truncated, malformed or has the wrong checksum."""


@dataclass(frozen=True)
class IdxFile:
    """An expected idx file: its name and the checksums that accept it.

    A file passes when the MD5 of its bytes equals ``archive_md5``, or when the
    MD5 and SHA-256 of its decompressed payload equal ``payload_md5`` and
    ``payload_sha256`` (where given). ``shape`` is the array it must decode to.
    """

    name: str
    shape: tuple[int, ...]
    archive_md5: str | None = None
    payload_md5: str | None = None
    payload_sha256: str | None = None


@dataclass(frozen=True)
class IdxDataset:
    """The four idx files of an MNIST-like data set and where they live."""

    folder: str  # relative to the data cache
    train_images: IdxFile
    train_labels: IdxFile
    test_images: IdxFile
    test_labels: IdxFile
    torchvision_class: str

    @property
    def files(self) -> tuple[IdxFile, ...]:
        return (self.train_images, self.train_labels, self.test_images, self.test_labels)


# Official archive MD5s copied from torchvision 0.29.1
# (torchvision/datasets/mnist.py, FashionMNIST.resources); payload MD5s as
# listed for the official decompressed files; payload SHA-256s computed here
# from Debian's dataset-fashion-mnist 0.0~git20200523.55506a9-1 (same payload).
_FASHION_MNIST = IdxDataset(
    folder="fashion_mnist",
    train_images=IdxFile(
        "train-images-idx3-ubyte.gz", (60000, 28, 28),
        archive_md5="8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        payload_md5="f4a8712d7a061bf5bd6d2ca38dc4d50a",
        payload_sha256="c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
    train_labels=IdxFile(
        "train-labels-idx1-ubyte.gz", (60000,),
        archive_md5="25c81989df183df01b3e8a0aad5dffbe",
        payload_md5="9018921c3c673c538a1fc5bad174d6f9",
        payload_sha256="bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
    test_images=IdxFile(
        "t10k-images-idx3-ubyte.gz", (10000, 28, 28),
        archive_md5="bef4ecab320f06d8554ea6380940ec79",
        payload_md5="8181f5470baa50b63fa0f6fddb340f0a",
        payload_sha256="5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
    test_labels=IdxFile(
        "t10k-labels-idx1-ubyte.gz", (10000,),
        archive_md5="bb300cfdad3c16e7a12a480ee83cd310",
        payload_md5="15d484375f8d13e6eb1aabb0c3f46965",
        payload_sha256="0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
    torchvision_class="FashionMNIST",
)

# Official archive MD5s copied from torchvision 0.29.1 (MNIST.resources). The
# folder is torchvision's own layout, so an existing torchvision download
# (root=<cache>) is found as is.
_MNIST = IdxDataset(
    folder="MNIST/raw",
    train_images=IdxFile("train-images-idx3-ubyte.gz", (60000, 28, 28),
                         archive_md5="f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    train_labels=IdxFile("train-labels-idx1-ubyte.gz", (60000,),
                         archive_md5="d53e105ee54ea40749a09fcbcd1e9432"),
    test_images=IdxFile("t10k-images-idx3-ubyte.gz", (10000, 28, 28),
                        archive_md5="9fb629c4189551a2d022fa330f9573f3"),
    test_labels=IdxFile("t10k-labels-idx1-ubyte.gz", (10000,),
                        archive_md5="ec29112dd5afa0611ce80d1b7f02629c"),
    torchvision_class="MNIST",
)

IDX_DATASETS: dict[str, IdxDataset] = {"fashion_mnist": _FASHION_MNIST, "mnist": _MNIST}

_CIFAR10_FOLDER = "cifar-10-batches-py"  # torchvision's layout under the cache


@dataclass(frozen=True, eq=False)
class Splits:
    """A data set's splits as tensors, ready for training.

    ``train``, ``test`` and (if requested) ``val`` are ``(x, y)`` pairs: ``x``
    float32 of shape ``(n, *input_shape)`` (NCHW for images), normalised with
    ``mean``/``std``; ``y`` int64 in ``[0, num_classes)``. ``source`` says
    where the raw data was read from. Compared by identity (tensors have no
    single truth value).
    """

    name: str
    train: tuple[Tensor, Tensor]
    val: tuple[Tensor, Tensor] | None
    test: tuple[Tensor, Tensor]
    input_shape: tuple[int, ...]
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str = ""

    def __repr__(self) -> str:  # short, with no memory addresses (nbval-friendly)
        def n(pair):
            return "None" if pair is None else str(len(pair[1]))
        return (f"Splits(name={self.name!r}, train={n(self.train)}, val={n(self.val)}, "
                f"test={n(self.test)}, input_shape={self.input_shape}, "
                f"num_classes={self.num_classes})")


# --------------------------------------------------------------------------
# Paths, reporting, atomic writes
# --------------------------------------------------------------------------

def default_data_dir() -> Path:
    """The data cache when nothing is given: ``$GLTH_DATA_DIR``, else
    ``$XDG_CACHE_HOME/glth_core/data``, else ``~/.cache/glth_core/data``."""
    env = os.environ.get("GLTH_DATA_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "glth_core" / "data"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """``data_dir`` if given, else :func:`default_data_dir`; made absolute."""
    if data_dir is not None and not isinstance(data_dir, (str, os.PathLike)):
        raise TypeError(f"data_dir must be a path or None, got {type(data_dir).__name__}")
    path = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    return path.absolute()


def _report(message: str, verbose: bool, level: int = logging.INFO) -> None:
    logger.log(level, message)
    if verbose:
        print(f"[glth_core.data] {message}", flush=True)


def _atomic_copy(src: Path, dst: Path) -> None:
    atomic_write_bytes(dst, Path(src).read_bytes())


# --------------------------------------------------------------------------
# idx files
# --------------------------------------------------------------------------

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def parse_idx(payload: bytes) -> np.ndarray:
    """Decode an uncompressed idx file (the MNIST format) into an array.

    Layout: two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16,
    0x0C int32, 0x0D float32, 0x0E float64), the number of dimensions, then
    one big-endian uint32 per dimension, then the data, big-endian, C order.
    Raises :class:`ChecksumError` if the header is malformed or the data is
    not exactly as long as the header says.
    """
    if len(payload) < 4 or payload[0] != 0 or payload[1] != 0:
        raise ChecksumError("not an idx file: bad magic number")
    code, ndim = payload[2], payload[3]
    if code not in _IDX_DTYPES:
        raise ChecksumError(f"not an idx file: unknown type code 0x{code:02x}")
    header = 4 + 4 * ndim
    if len(payload) < header:
        raise ChecksumError("idx file truncated inside its header")
    shape = tuple(int(d) for d in np.frombuffer(payload, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(payload) - header != expected:
        raise ChecksumError(f"idx file has {len(payload) - header} data bytes, "
                            f"its header {shape} says {expected}")
    array = np.frombuffer(payload, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=True)


def _decompress(raw: bytes) -> bytes:
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise ChecksumError(f"corrupt or truncated gzip stream ({err})") from err


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an idx file, gzip-compressed (``.gz``) or not, with numpy only."""
    return parse_idx(_decompress(Path(path).read_bytes()))


def _read_verified_idx(path: Path, spec: IdxFile) -> np.ndarray:
    """Read ``path`` and check it against ``spec``; :class:`ChecksumError` if not."""
    try:
        return _check_idx_bytes(path.read_bytes(), path.name, spec)
    except ChecksumError as err:
        message = str(err)
        raise ChecksumError(message if message.startswith(path.name) else
                            f"{path.name}: {message}") from err


def _check_idx_bytes(raw: bytes, filename: str, spec: IdxFile) -> np.ndarray:
    payload = _decompress(raw)
    archive_ok = spec.archive_md5 is not None and hashlib.md5(raw).hexdigest() == spec.archive_md5
    if not archive_ok:
        has_payload_sums = spec.payload_md5 is not None or spec.payload_sha256 is not None
        payload_ok = has_payload_sums
        if spec.payload_md5 is not None:
            payload_ok &= hashlib.md5(payload).hexdigest() == spec.payload_md5
        if spec.payload_sha256 is not None:
            payload_ok &= hashlib.sha256(payload).hexdigest() == spec.payload_sha256
        if not payload_ok:
            raise ChecksumError(f"{filename}: checksum mismatch "
                                f"(md5 of file {hashlib.md5(raw).hexdigest()})")
    array = parse_idx(payload)
    if array.shape != spec.shape:
        raise ChecksumError(f"{filename}: shape {array.shape}, expected {spec.shape}")
    return array


def _read_idx_folder(folder: Path, spec: IdxDataset) -> dict[str, np.ndarray]:
    """All four verified arrays from ``folder``.

    Raises FileNotFoundError naming the missing files, or ChecksumError whose
    ``filenames`` attribute lists every corrupt file.
    """
    missing = [f.name for f in spec.files if not (folder / f.name).is_file()]
    if missing:
        raise FileNotFoundError(f"missing {', '.join(missing)}")
    arrays, bad = {}, []
    for key, file in zip(("x_train", "y_train", "x_test", "y_test"), spec.files):
        try:
            arrays[key] = _read_verified_idx(folder / file.name, file)
        except ChecksumError as err:
            bad.append((file.name, str(err)))
    if bad:
        err = ChecksumError("; ".join(msg for _, msg in bad))
        err.filenames = [name for name, _ in bad]
        raise err
    return arrays


# --------------------------------------------------------------------------
# Fetch steps (module-level so that tests can replace them)
# --------------------------------------------------------------------------

def _fetch_debian_package(package: str, inner_folder: str, names: Sequence[str],
                          dest: Path) -> None:
    """``apt-get download`` + ``dpkg-deb -x`` in a temporary folder; copy
    ``names`` from ``inner_folder`` of the package into ``dest``. No root."""
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise FileNotFoundError(f"`{tool}` not found (not a Debian-based system?)")
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".apt-", dir=dest.parent) as tmp:
        tmp = Path(tmp)
        # APT's sandbox user may not write into our folder: harmless, silence it.
        cmd = ["apt-get", "download", package]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd[1:1] = ["-o", "APT::Sandbox::User=root"]
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True,
                              timeout=_SUBPROCESS_TIMEOUT_S)
        debs = sorted(tmp.glob("*.deb"))
        if proc.returncode != 0 or not debs:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise RuntimeError(f"`apt-get download {package}` failed (exit {proc.returncode}): "
                               + " | ".join(tail))
        extracted = tmp / "extracted"
        proc = subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(extracted)],
                              capture_output=True, text=True, timeout=_SUBPROCESS_TIMEOUT_S)
        if proc.returncode != 0:
            raise RuntimeError(f"`dpkg-deb -x {debs[0].name}` failed: {proc.stderr.strip()}")
        source = extracted / inner_folder
        missing = [n for n in names if not (source / n).is_file()]
        if missing:
            raise FileNotFoundError(f"package {package} lacks {', '.join(missing)}")
        for name in names:
            _atomic_copy(source / name, dest / name)


def _fetch_torchvision_idx(class_name: str, names: Sequence[str], dest: Path) -> None:
    """Download with ``torchvision.datasets.<class_name>(download=True)`` into a
    temporary folder and copy the ``.gz`` files ``names`` into ``dest``."""
    import torchvision.datasets as tvd

    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".torchvision-", dir=dest.parent) as tmp:
        dataset_cls = getattr(tvd, class_name)
        dataset_cls(root=tmp, train=True, download=True)
        raw = Path(tmp) / class_name / "raw"
        for name in names:
            _atomic_copy(raw / name, dest / name)


def _fetch_torchvision_cifar10(root: Path) -> None:
    """``torchvision.datasets.CIFAR10(root, download=True)`` (verifies MD5s)."""
    import torchvision.datasets as tvd

    root.mkdir(parents=True, exist_ok=True)
    tvd.CIFAR10(root=str(root), train=True, download=True)


def _generate_mnist1d() -> dict[str, np.ndarray]:
    """MNIST-1D's default data set, generated offline by the ``mnist1d``
    package. ``make_dataset`` reseeds numpy's and Python's global RNGs: both
    states are saved and restored around it."""
    from mnist1d.data import get_dataset_args, make_dataset

    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return {"x_train": np.asarray(data["x"], dtype=np.float32),
            "y_train": np.asarray(data["y"], dtype=np.int64),
            "x_test": np.asarray(data["x_test"], dtype=np.float32),
            "y_test": np.asarray(data["y_test"], dtype=np.int64)}


# --------------------------------------------------------------------------
# Resolution
# --------------------------------------------------------------------------

class _Resolver:
    """Runs the steps in order, remembering why each failed."""

    def __init__(self, name: str, verbose: bool):
        self.name, self.verbose, self.attempts = name, verbose, []

    def fail(self, step: str, reason: str, level: int = logging.INFO) -> None:
        self.attempts.append((step, reason))
        _report(f"{self.name}: {step}: {reason}", self.verbose, level)

    def ok(self, step: str, detail: str) -> None:
        _report(f"{self.name}: {step}: {detail}", self.verbose)

    def not_found(self, fixes: Sequence[str]) -> DatasetNotFoundError:
        lines = [f"Data set {self.name!r} could not be found. Tried, in order:"]
        lines += [f"  {i}. {step}: {reason}" for i, (step, reason) in enumerate(self.attempts, 1)]
        lines.append("How to fix:")
        lines += [f"  - {fix}" for fix in fixes]
        return DatasetNotFoundError("\n".join(lines), self.attempts)


def _describe_error(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


def _try_idx_folder(res: _Resolver, step: str, folder: Path, spec: IdxDataset,
                    delete_corrupt: bool) -> dict[str, np.ndarray] | None:
    if not folder.is_dir():
        res.fail(step, "folder does not exist")
        return None
    try:
        arrays = _read_idx_folder(folder, spec)
    except FileNotFoundError as err:
        res.fail(step, str(err))
        return None
    except ChecksumError as err:
        action = ""
        if delete_corrupt:
            for name in getattr(err, "filenames", []):
                (folder / name).unlink(missing_ok=True)
            action = " (deleted)"
        res.fail(step, f"corrupt file(s){action}: {err}", logging.WARNING)
        return None
    res.ok(step, "found, checksums OK")
    return arrays


def _resolve_idx(name: str, cache: Path, download: bool,
                 verbose: bool) -> tuple[dict[str, np.ndarray], Path]:
    spec = IDX_DATASETS[name]
    res = _Resolver(name, verbose)
    target = cache / spec.folder
    names = [f.name for f in spec.files]

    arrays = _try_idx_folder(res, f"data cache {target}", target, spec, delete_corrupt=True)
    if arrays is not None:
        return arrays, target

    for system_dir in SYSTEM_DIRS.get(name, ()):
        folder = Path(system_dir)
        arrays = _try_idx_folder(res, f"system copy {folder}", folder, spec, delete_corrupt=False)
        if arrays is not None:
            return arrays, folder

    fetchers: list[tuple[str, Callable[[], None]]] = []
    if name in DEBIAN_PACKAGES:
        package, inner = DEBIAN_PACKAGES[name]
        fetchers.append((f"Debian package {package} (apt-get download)",
                         lambda: _fetch_debian_package(package, inner, names, target)))
    fetchers.append((f"torchvision.datasets.{spec.torchvision_class}(download=True)",
                     lambda: _fetch_torchvision_idx(spec.torchvision_class, names, target)))
    for step, fetcher in fetchers:
        if not download:
            res.fail(step, "skipped (download=False)")
            continue
        _report(f"{name}: {step}: fetching into {target} ...", verbose)
        try:
            fetcher()
        except Exception as err:  # any failure of a step means: try the next one
            res.fail(step, _describe_error(err), logging.WARNING)
            continue
        arrays = _try_idx_folder(res, f"{step}, verifying {target}", target, spec,
                                 delete_corrupt=True)
        if arrays is not None:
            return arrays, target

    fixes = []
    if name in DEBIAN_PACKAGES:
        package = DEBIAN_PACKAGES[name][0]
        fixes.append(f"install the Debian package: `apt-get install {package}` (root), or "
                     f"rerun with download=True so that `apt-get download {package}` is tried")
    fixes += [f"put the files {', '.join(names)} into {target}",
              "point GLTH_DATA_DIR (or data_dir=) at a folder that holds them",
              "go online and rerun with download=True (torchvision downloads them)"]
    raise res.not_found(fixes)


def _resolve_cifar10(cache: Path, download: bool, verbose: bool):
    res = _Resolver("cifar10", verbose)
    folder = cache / _CIFAR10_FOLDER
    step = f"data cache {folder}"

    def read():
        import torchvision.datasets as tvd
        train = tvd.CIFAR10(root=str(cache), train=True, download=False)
        test = tvd.CIFAR10(root=str(cache), train=False, download=False)
        return {"x_train": np.asarray(train.data), "y_train": np.asarray(train.targets),
                "x_test": np.asarray(test.data), "y_test": np.asarray(test.targets)}

    if not folder.is_dir():
        res.fail(step, "folder does not exist")
    else:
        try:
            arrays = read()
            res.ok(step, "found, checksums OK (torchvision)")
            return arrays, folder
        except Exception as err:
            shutil.rmtree(folder, ignore_errors=True)
            res.fail(step, f"corrupt or incomplete (deleted): {_describe_error(err)}",
                     logging.WARNING)
    step = "torchvision.datasets.CIFAR10(download=True)"
    if not download:
        res.fail(step, "skipped (download=False)")
    else:
        _report(f"cifar10: {step}: fetching into {cache} ...", verbose)
        try:
            _fetch_torchvision_cifar10(cache)
            arrays = read()
            res.ok(step, "downloaded, checksums OK")
            return arrays, folder
        except Exception as err:
            res.fail(step, _describe_error(err), logging.WARNING)
    raise res.not_found([
        f"put torchvision's extracted {_CIFAR10_FOLDER} folder into {cache}",
        "point GLTH_DATA_DIR (or data_dir=) at a folder that holds it",
        "go online and rerun with download=True (torchvision downloads it)"])


def _mnist1d_cache_file(cache: Path) -> Path:
    from importlib.metadata import version
    return cache / "mnist1d" / f"mnist1d-{version('mnist1d')}-default.npz"


def _arrays_digest(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for key in sorted(arrays):
        value = np.ascontiguousarray(arrays[key])
        digest.update(f"{key}:{value.dtype.str}:{value.shape};".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


_ARRAY_KEYS = ("x_train", "y_train", "x_test", "y_test")


def _resolve_mnist1d(cache: Path, verbose: bool):
    res = _Resolver("mnist1d", verbose)
    try:
        path = _mnist1d_cache_file(cache)
    except Exception as err:  # package not installed
        res.fail("mnist1d package", _describe_error(err))
        raise res.not_found(["install the package: pip install mnist1d==0.0.2.post1"]) from err
    step = f"data cache {path}"
    if not path.is_file():
        res.fail(step, "file does not exist")
    else:
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in _ARRAY_KEYS}
                stored = str(npz["sha256"])
            if _arrays_digest(arrays) != stored:
                raise ChecksumError("stored SHA-256 does not match the arrays")
            res.ok(step, "found, checksum OK")
            return arrays, path
        except Exception as err:
            path.unlink(missing_ok=True)
            res.fail(step, f"corrupt (deleted): {_describe_error(err)}", logging.WARNING)
    step = "generate with mnist1d.data.make_dataset(get_dataset_args())"
    _report(f"mnist1d: {step} ...", verbose)
    try:
        arrays = _generate_mnist1d()
    except Exception as err:
        res.fail(step, _describe_error(err), logging.WARNING)
        raise res.not_found(["install the package: pip install mnist1d==0.0.2.post1"]) from err
    buffer = io.BytesIO()
    np.savez(buffer, **arrays, sha256=np.array(_arrays_digest(arrays)))
    atomic_write_bytes(path, buffer.getvalue())
    res.ok(step, f"generated, cached in {path}")
    return arrays, path


def _resolve_digits(verbose: bool):
    res = _Resolver("digits", verbose)
    step = "sklearn.datasets.load_digits() (bundled with scikit-learn)"
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
        bunch = load_digits()
    except Exception as err:
        res.fail(step, _describe_error(err))
        raise res.not_found(["install scikit-learn"]) from err
    images = bunch.images.astype(np.float32) / 16.0
    labels = bunch.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=0.2, random_state=0, stratify=labels)
    res.ok(step, f"loaded {len(labels)} images, split {len(y_train)}/{len(y_test)}")
    import sklearn.datasets
    source = str(Path(sklearn.datasets.__file__).parent / "data" / "digits.csv.gz")
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}, source


def _check_name(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, one of {', '.join(DATASETS)}; "
                        f"got {type(name).__name__}")
    key = name.strip().lower().replace("-", "_")
    if key not in DATASETS:
        raise ValueError(f"unknown data set {name!r}: name must be one of {', '.join(DATASETS)}")
    return key


def _raw_arrays(name: str, data_dir, download: bool, verbose: bool):
    cache = resolve_data_dir(data_dir)
    if name in IDX_DATASETS:
        return _resolve_idx(name, cache, download, verbose)
    if name == "cifar10":
        return _resolve_cifar10(cache, download, verbose)
    if name == "mnist1d":
        return _resolve_mnist1d(cache, verbose)
    return _resolve_digits(verbose)


def fetch(name: str, *, data_dir: str | os.PathLike | None = None, download: bool = True,
          verbose: bool = True) -> Path:
    """Make sure data set ``name`` is available offline, verified; return where
    its files are (a folder, or the cached ``.npz`` for mnist1d). Same steps
    and errors as :func:`load`."""
    name = _check_name(name)
    return Path(_raw_arrays(name, data_dir, download, verbose)[1])


# --------------------------------------------------------------------------
# Public loading API
# --------------------------------------------------------------------------

def _normalise(name: str, x: np.ndarray) -> np.ndarray:
    """Raw arrays -> float32 ``(n, *input_shape)``, ``(x / scale - mean) / std``."""
    mean, std = (np.asarray(v, dtype=np.float64) for v in NORMALIZATION[name])
    if x.dtype == np.uint8:  # images: one table lookup per channel, exact in float64
        if name == "cifar10":  # torchvision: (n, 32, 32, 3) -> NCHW
            x = x.transpose(0, 3, 1, 2)
        x = x.reshape((len(x),) + _INPUT_SHAPES[name])
        tables = ((np.arange(256)[None, :] / 255.0 - mean[:, None]) / std[:, None]).astype(np.float32)
        out = np.empty(x.shape, dtype=np.float32)
        for channel in range(x.shape[1]):
            np.take(tables[channel], x[:, channel], out=out[:, channel])
        return out
    x = x.reshape((len(x),) + _INPUT_SHAPES[name]).astype(np.float64)  # digits, mnist1d
    return ((x - mean[0]) / std[0]).astype(np.float32)


def _validation_count(validation_size: int | float, n_train: int) -> int:
    if isinstance(validation_size, bool) or not isinstance(validation_size, (int, float, np.integer)):
        raise TypeError("validation_size must be an int (number of examples) or a float in "
                        f"[0, 1) (fraction of train), got {type(validation_size).__name__}")
    if isinstance(validation_size, float):
        if not 0.0 <= validation_size < 1.0:
            raise ValueError(f"validation_size as a fraction must be in [0, 1), got {validation_size}")
        return int(round(validation_size * n_train))
    if not 0 <= validation_size < n_train:
        raise ValueError(f"validation_size must be in [0, {n_train}) for this data set's "
                         f"{n_train} training examples, got {validation_size}")
    return int(validation_size)


def load(name: str, *, validation_size: int | float = 0, split_seed: int = 0,
         data_dir: str | os.PathLike | None = None, download: bool = True,
         verbose: bool = True) -> Splits:
    """Load data set ``name`` (one of :data:`DATASETS`) as normalised tensors.

    ``validation_size``: examples moved from train to a validation split, an
    int count or a float fraction of train (0: no validation split, ``val`` is
    None). ``split_seed`` picks them (``numpy.random.default_rng``); the same
    seed always gives the same split. ``data_dir``: the data cache (default
    :func:`default_data_dir`). ``download=False`` never fetches (steps 3-4).
    Raises ValueError for an unknown name, :class:`DatasetNotFoundError` if no
    step can provide the data.
    """
    name = _check_name(name)
    if isinstance(split_seed, bool) or not isinstance(split_seed, (int, np.integer)) or split_seed < 0:
        raise ValueError(f"split_seed must be a non-negative int, got {split_seed!r}")
    arrays, source = _raw_arrays(name, data_dir, bool(download), verbose)

    x_train, y_train = _normalise(name, arrays["x_train"]), arrays["y_train"].astype(np.int64)
    x_test, y_test = _normalise(name, arrays["x_test"]), arrays["y_test"].astype(np.int64)
    n_val = _validation_count(validation_size, len(y_train))
    val = None
    if n_val:
        order = np.random.default_rng(int(split_seed)).permutation(len(y_train))
        val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
        val = (torch.from_numpy(np.ascontiguousarray(x_train[val_idx])),
               torch.from_numpy(np.ascontiguousarray(y_train[val_idx])))
        x_train, y_train = x_train[train_idx], y_train[train_idx]
    mean, std = NORMALIZATION[name]
    splits = Splits(
        name=name,
        train=(torch.from_numpy(np.ascontiguousarray(x_train)),
               torch.from_numpy(np.ascontiguousarray(y_train))),
        val=val,
        test=(torch.from_numpy(np.ascontiguousarray(x_test)),
              torch.from_numpy(np.ascontiguousarray(y_test))),
        input_shape=_INPUT_SHAPES[name], num_classes=10, mean=mean, std=std,
        source=str(source))
    return splits


def loaders(splits: Splits, batch_size: int, *, seed: int = 0,
            eval_batch_size: int | None = None, drop_last: bool = False,
            num_workers: int = 0):
    """``(train_loader, test_loader)``, plus ``val_loader`` last if
    ``splits.val`` exists. The train loader reshuffles every epoch with a
    ``torch.Generator`` seeded by ``seed`` (reproducible, no global state);
    test/validation loaders keep their order, batches of ``eval_batch_size``
    (default ``batch_size``)."""
    from torch.utils.data import DataLoader, TensorDataset

    if not isinstance(splits, Splits):
        raise TypeError(f"splits must be a Splits from load(), got {type(splits).__name__}")
    for arg, value in (("batch_size", batch_size), ("eval_batch_size", eval_batch_size)):
        if value is None and arg == "eval_batch_size":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{arg} must be a positive int, got {value!r}")
    eval_batch_size = eval_batch_size or batch_size
    generator = torch.Generator().manual_seed(int(seed))
    out = [DataLoader(TensorDataset(*splits.train), batch_size=batch_size, shuffle=True,
                      generator=generator, drop_last=drop_last, num_workers=num_workers),
           DataLoader(TensorDataset(*splits.test), batch_size=eval_batch_size, shuffle=False,
                      num_workers=num_workers)]
    if splits.val is not None:
        out.append(DataLoader(TensorDataset(*splits.val), batch_size=eval_batch_size,
                              shuffle=False, num_workers=num_workers))
    return tuple(out)


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------

def _cached_status(name: str, cache: Path) -> str:
    if name in IDX_DATASETS:
        spec = IDX_DATASETS[name]
        folder = cache / spec.folder
        if all((folder / f.name).is_file() for f in spec.files):
            return f"in cache ({folder})"
        for system_dir in SYSTEM_DIRS.get(name, ()):
            if all((Path(system_dir) / f.name).is_file() for f in spec.files):
                return f"system copy ({system_dir})"
        return "not fetched"
    if name == "cifar10":
        folder = cache / _CIFAR10_FOLDER
        return f"in cache ({folder})" if folder.is_dir() else "not fetched"
    if name == "mnist1d":
        try:
            path = _mnist1d_cache_file(cache)
        except Exception:
            return "mnist1d package not installed"
        return f"in cache ({path})" if path.is_file() else "generated on first use"
    return "bundled with scikit-learn"


def main(argv: Sequence[str] | None = None) -> int:
    """``list`` the data sets, or ``fetch`` some ahead of time."""
    parser = argparse.ArgumentParser(prog="python -m glth_core.data",
                                     description="Fetch and inspect glth_core's data sets.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_list = sub.add_parser("list", help="list the known data sets and where they are")
    p_fetch = sub.add_parser("fetch", help="fetch data sets into the cache and check them")
    p_fetch.add_argument("names", nargs="+", metavar="NAME", help=", ".join(DATASETS))
    p_fetch.add_argument("--no-download", action="store_true",
                         help="only look offline (cache, system copy); never download")
    p_fetch.add_argument("--quiet", action="store_true", help="print only the summary")
    for p in (p_list, p_fetch):
        p.add_argument("--data-dir", default=None,
                       help="data cache (default: $GLTH_DATA_DIR or ~/.cache/glth_core/data)")
    args = parser.parse_args(argv)
    cache = resolve_data_dir(args.data_dir)

    if args.command == "list":
        print(f"data cache: {cache}")
        for name in DATASETS:
            train, test = _SIZES[name]
            print(f"{name:14s} {str(_INPUT_SHAPES[name]):12s} 10 classes, {train}/{test} "
                  f"train/test  [{_cached_status(name, cache)}]")
            print(f"{'':14s} {_DESCRIPTIONS[name]}")
        return 0

    try:
        names = [_check_name(n) for n in args.names]
    except (TypeError, ValueError) as err:
        parser.error(str(err))
    status = 0
    for name in names:
        try:
            splits = load(name, data_dir=cache, download=not args.no_download,
                          verbose=not args.quiet)
        except DatasetNotFoundError as err:
            print(str(err), file=sys.stderr)
            status = 1
            continue
        (xtr, ytr), (xte, yte) = splits.train, splits.test
        print(f"{name}: files at {splits.source}")
        print(f"{name}: train x {tuple(xtr.shape)} y {tuple(ytr.shape)}, "
              f"test x {tuple(xte.shape)} y {tuple(yte.shape)}, "
              f"{splits.num_classes} classes")
    return status


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(main())
