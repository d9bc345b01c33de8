"""The fetch steps: each one puts a data set's raw files into the data cache, or raises.

- :func:`fetch_debian_package`: ``apt-get download`` + ``dpkg-deb -x``, no root;
- :func:`fetch_torchvision_idx`, :func:`fetch_torchvision_cifar10`: torchvision's
  download;
- :func:`generate_mnist1d`: MNIST-1D generated offline by the ``mnist1d`` package.

They check nothing themselves: :mod:`.sources` verifies what they wrote. They
are looked up on this module at call time, so tests can replace them.
"""
from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from ..storage.atomic import atomic_write_bytes

__all__ = ["fetch_debian_package", "fetch_torchvision_idx", "fetch_torchvision_cifar10",
           "generate_mnist1d", "SUBPROCESS_TIMEOUT_S"]

#: Seconds ``apt-get download`` and ``dpkg-deb`` may take.
SUBPROCESS_TIMEOUT_S = 600


def _atomic_copy(src: Path, dst: Path) -> None:
    atomic_write_bytes(dst, Path(src).read_bytes())


def fetch_debian_package(package: str, inner_folder: str, names: Sequence[str],
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
                              timeout=SUBPROCESS_TIMEOUT_S)
        debs = sorted(tmp.glob("*.deb"))
        if proc.returncode != 0 or not debs:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise RuntimeError(f"`apt-get download {package}` failed (exit {proc.returncode}): "
                               + " | ".join(tail))
        extracted = tmp / "extracted"
        proc = subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(extracted)],
                              capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S)
        if proc.returncode != 0:
            raise RuntimeError(f"`dpkg-deb -x {debs[0].name}` failed: {proc.stderr.strip()}")
        source = extracted / inner_folder
        missing = [n for n in names if not (source / n).is_file()]
        if missing:
            raise FileNotFoundError(f"package {package} lacks {', '.join(missing)}")
        for name in names:
            _atomic_copy(source / name, dest / name)


def fetch_torchvision_idx(class_name: str, names: Sequence[str], dest: Path) -> None:
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


def fetch_torchvision_cifar10(root: Path) -> None:
    """``torchvision.datasets.CIFAR10(root, download=True)`` (verifies MD5s)."""
    import torchvision.datasets as tvd

    root.mkdir(parents=True, exist_ok=True)
    tvd.CIFAR10(root=str(root), train=True, download=True)


def generate_mnist1d() -> dict[str, np.ndarray]:
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
