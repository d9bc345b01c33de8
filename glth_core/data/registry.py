"""The data sets by name: every fact about a data set in one :class:`DatasetSpec`.

:data:`REGISTRY` maps a name to its spec (shapes, sizes, classes, the
normalisation constants, the idx files with their official checksums, where a
system copy or Debian package holds it, its torchvision class). Everything
else in :mod:`glth_core.data` reads these specs; :data:`DATASETS`,
:data:`IMAGE_DATASETS`, :data:`NORMALIZATION`, :data:`IDX_DATASETS`, :data:`SYSTEM_DIRS` and
:data:`DEBIAN_PACKAGES` are indexes derived from :data:`REGISTRY` (the fetch
steps look them up at call time, so a test may substitute one entry).
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "IdxFile",
    "IdxDataset",
    "DatasetSpec",
    "REGISTRY",
    "DATASETS",
    "IMAGE_DATASETS",
    "NORMALIZATION",
    "IDX_DATASETS",
    "SYSTEM_DIRS",
    "DEBIAN_PACKAGES",
    "check_name",
]


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


@dataclass(frozen=True)
class DatasetSpec:
    """Everything :mod:`glth_core.data` knows about one data set.

    ``input_shape``: one example (NCHW images without N). ``sizes``: (train,
    test) examples the loaded files must hold. ``mean``/``std``: per-channel
    constants applied after scaling the raw values to [0, 1] (digits: pixel /
    16; mnist1d: the package's values, already roughly standardised).
    ``channels_last``: the raw images are (n, H, W, C). ``idx``: the idx files
    (MNIST-like sets); ``folder``: the cache folder of a set read by
    torchvision itself (CIFAR-10). ``system_dirs``: where a system-wide copy
    may live (step 2 of the lookup); ``debian_package``: (package, folder inside
    it) (step 3).
    """

    name: str
    description: str
    input_shape: tuple[int, ...]
    sizes: tuple[int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    num_classes: int = 10
    channels_last: bool = False
    idx: IdxDataset | None = None
    folder: str | None = None
    system_dirs: tuple[str, ...] = ()
    debian_package: tuple[str, str] | None = None


# Official archive MD5s copied from torchvision 0.29.1
# (torchvision/datasets/mnist.py, FashionMNIST.resources); payload MD5s as
# listed for the official decompressed files; payload SHA-256s computed here
# from Debian's dataset-fashion-mnist 0.0~git20200523.55506a9-1 (same payload).
_FASHION_MNIST_FILES = IdxDataset(
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
_MNIST_FILES = IdxDataset(
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

#: The data sets :func:`glth_core.data.load` knows, by name, in the order listed.
REGISTRY: dict[str, DatasetSpec] = {spec.name: spec for spec in (
    DatasetSpec(
        "fashion_mnist",
        "Fashion-MNIST, 10 clothing classes (offline: Debian package dataset-fashion-mnist)",
        input_shape=(1, 28, 28), sizes=(60000, 10000), mean=(0.2860,), std=(0.3530,),
        idx=_FASHION_MNIST_FILES,
        system_dirs=("/usr/share/datasets/fashion-mnist",),
        debian_package=("dataset-fashion-mnist", "usr/share/datasets/fashion-mnist")),
    DatasetSpec(
        "mnist", "MNIST handwritten digits (torchvision download, or files in the cache)",
        input_shape=(1, 28, 28), sizes=(60000, 10000), mean=(0.1307,), std=(0.3081,),
        idx=_MNIST_FILES),
    DatasetSpec(
        "cifar10", "CIFAR-10 colour images (torchvision download, or files in the cache)",
        input_shape=(3, 32, 32), sizes=(50000, 10000),
        mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616),
        channels_last=True, folder="cifar-10-batches-py"),  # torchvision's layout under the cache
    # digits and mnist1d: mean and std of the full train split (tests/test_data.py recomputes them)
    DatasetSpec(
        "mnist1d", "MNIST-1D signals of length 40, generated offline by the mnist1d package",
        input_shape=(40,), sizes=(4000, 1000), mean=(-0.0003,), std=(0.9976,)),
    DatasetSpec(
        "digits", "scikit-learn's 8x8 digits, bundled with scikit-learn",
        input_shape=(1, 8, 8), sizes=(1437, 360), mean=(0.3054,), std=(0.3761,)),
)}

#: The data set names, in registry order.
DATASETS: tuple[str, ...] = tuple(REGISTRY)

#: The data sets of images, ``input_shape`` (C, H, W) (what a conv net reads).
IMAGE_DATASETS: tuple[str, ...] = tuple(name for name, spec in REGISTRY.items() if len(spec.input_shape) == 3)

#: Per-channel (mean, std) applied after scaling the raw values to [0, 1].
NORMALIZATION: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    name: (spec.mean, spec.std) for name, spec in REGISTRY.items()}

#: The idx files of the MNIST-like data sets.
IDX_DATASETS: dict[str, IdxDataset] = {
    name: spec.idx for name, spec in REGISTRY.items() if spec.idx is not None}

#: Where a system-wide copy of a data set may live (step 2).
SYSTEM_DIRS: dict[str, tuple[str, ...]] = {
    name: spec.system_dirs for name, spec in REGISTRY.items() if spec.system_dirs}

#: Debian package holding a data set (step 3), and the folder inside it.
DEBIAN_PACKAGES: dict[str, tuple[str, str]] = {
    name: spec.debian_package for name, spec in REGISTRY.items() if spec.debian_package}


def check_name(name: object) -> str:
    """The registry key of ``name`` (case-insensitive, ``-`` read as ``_``).

    Raises TypeError for a non-string, ValueError naming the valid data sets.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, one of {', '.join(DATASETS)}; "
                        f"got {type(name).__name__}")
    key = name.strip().lower().replace("-", "_")
    if key not in DATASETS:
        raise ValueError(f"unknown data set {name!r}: name must be one of {', '.join(DATASETS)}")
    return key
