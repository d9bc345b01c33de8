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
fixed in the registry (see :data:`NORMALIZATION`); ``tests/test_data.py`` recomputes
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

Modules, one job each
---------------------
:mod:`~glth_core.data.registry` (every fact about a data set, in one
:class:`DatasetSpec` per name), :mod:`~glth_core.data.idx` (the idx format),
:mod:`~glth_core.data.checksums` (integrity), :mod:`~glth_core.data.fetchers`
(the fetch steps), :mod:`~glth_core.data.sources` (the lookup order above and
its report), :mod:`~glth_core.data.splits` (normalisation, splits, loaders),
:mod:`~glth_core.data.cli` (the command line). This package re-exports their
public names.
"""
from __future__ import annotations

# The fetch steps are not re-exported: they are looked up on glth_core.data.fetchers,
# the module to patch in a test.
from .cli import main
from .idx import ChecksumError, parse_idx, read_idx
from .registry import (DATASETS, DEBIAN_PACKAGES, IDX_DATASETS, IMAGE_DATASETS, NORMALIZATION, REGISTRY,
                       SYSTEM_DIRS, DatasetSpec, IdxDataset, IdxFile)
from .sources import DatasetNotFoundError, default_data_dir, fetch, resolve_data_dir
from .splits import Splits, load, loaders

__all__ = [
    "DATASETS",
    "IMAGE_DATASETS",
    "REGISTRY",
    "DatasetSpec",
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
