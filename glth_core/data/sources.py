"""Where a data set's raw files come from: the lookup order, and a report of every step.

For an idx data set (Fashion-MNIST, MNIST) the steps are, in order: the data
cache (:func:`resolve_data_dir`), a system copy (the spec's ``system_dirs``),
the Debian package (``debian_package``), torchvision's download; CIFAR-10: the
cache, then torchvision; mnist1d: the cached ``.npz``, then the ``mnist1d``
package; digits: scikit-learn. Each step is logged (logger
``glth_core.data``, plus a short print when ``verbose``); a file that fails
its checksum is deleted from the cache and the next step is tried; when every
step fails, :class:`DatasetNotFoundError` lists the steps, why each failed and
how to fix it. The full description is the docstring of :mod:`glth_core.data`.

Each ``resolve_*`` function returns ``(arrays, source)``: the raw arrays under
:data:`~.checksums.ARRAY_KEYS` and where they were read from.
"""
from __future__ import annotations

import io
import logging
import os
import shutil
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..storage.atomic import atomic_write_bytes
from . import fetchers
from .checksums import ARRAY_KEYS, arrays_digest, read_idx_folder
from .idx import ChecksumError
from .registry import DEBIAN_PACKAGES, IDX_DATASETS, REGISTRY, SYSTEM_DIRS, IdxDataset, check_name

__all__ = [
    "DatasetNotFoundError",
    "default_data_dir",
    "resolve_data_dir",
    "raw_arrays",
    "fetch",
    "cached_status",
]

logger = logging.getLogger("glth_core.data")


class DatasetNotFoundError(RuntimeError):
    """No step could provide the data set.

    ``attempts`` holds ``(step, reason)`` pairs in the order they were tried.
    """

    def __init__(self, message: str, attempts: Sequence[tuple[str, str]] = ()):
        super().__init__(message)
        self.attempts = tuple(attempts)


# --------------------------------------------------------------------------
# Paths and reporting
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


# --------------------------------------------------------------------------
# One resolver per kind of data set
# --------------------------------------------------------------------------

def _try_idx_folder(res: _Resolver, step: str, folder: Path, spec: IdxDataset,
                    delete_corrupt: bool) -> dict[str, np.ndarray] | None:
    if not folder.is_dir():
        res.fail(step, "folder does not exist")
        return None
    try:
        arrays = read_idx_folder(folder, spec)
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


def resolve_idx(name: str, cache: Path, download: bool,
                verbose: bool) -> tuple[dict[str, np.ndarray], Path]:
    """Steps 1-4 for an idx data set (a key of :data:`~.registry.IDX_DATASETS`)."""
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

    fetch_steps: list[tuple[str, Callable[[], None]]] = []
    if name in DEBIAN_PACKAGES:
        package, inner = DEBIAN_PACKAGES[name]
        fetch_steps.append((f"Debian package {package} (apt-get download)",
                            lambda: fetchers.fetch_debian_package(package, inner, names, target)))
    fetch_steps.append((f"torchvision.datasets.{spec.torchvision_class}(download=True)",
                        lambda: fetchers.fetch_torchvision_idx(spec.torchvision_class, names, target)))
    for step, fetch_step in fetch_steps:
        if not download:
            res.fail(step, "skipped (download=False)")
            continue
        _report(f"{name}: {step}: fetching into {target} ...", verbose)
        try:
            fetch_step()
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


def resolve_cifar10(cache: Path, download: bool, verbose: bool):
    """The cache (torchvision's layout, checked by torchvision), then torchvision's download."""
    res = _Resolver("cifar10", verbose)
    folder_name = REGISTRY["cifar10"].folder
    folder = cache / folder_name
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
            fetchers.fetch_torchvision_cifar10(cache)
            arrays = read()
            res.ok(step, "downloaded, checksums OK")
            return arrays, folder
        except Exception as err:
            res.fail(step, _describe_error(err), logging.WARNING)
    raise res.not_found([
        f"put torchvision's extracted {folder_name} folder into {cache}",
        "point GLTH_DATA_DIR (or data_dir=) at a folder that holds it",
        "go online and rerun with download=True (torchvision downloads it)"])


def mnist1d_cache_file(cache: Path) -> Path:
    """The cached ``.npz`` of mnist1d, named by the installed package's version."""
    from importlib.metadata import version
    return cache / "mnist1d" / f"mnist1d-{version('mnist1d')}-default.npz"


def resolve_mnist1d(cache: Path, verbose: bool):
    """The cached ``.npz`` (its stored SHA-256 checked), else generated and cached."""
    res = _Resolver("mnist1d", verbose)
    try:
        path = mnist1d_cache_file(cache)
    except Exception as err:  # package not installed
        res.fail("mnist1d package", _describe_error(err))
        raise res.not_found(["install the package: pip install mnist1d==0.0.2.post1"]) from err
    step = f"data cache {path}"
    if not path.is_file():
        res.fail(step, "file does not exist")
    else:
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in ARRAY_KEYS}
                stored = str(npz["sha256"])
            if arrays_digest(arrays) != stored:
                raise ChecksumError("stored SHA-256 does not match the arrays")
            res.ok(step, "found, checksum OK")
            return arrays, path
        except Exception as err:
            path.unlink(missing_ok=True)
            res.fail(step, f"corrupt (deleted): {_describe_error(err)}", logging.WARNING)
    step = "generate with mnist1d.data.make_dataset(get_dataset_args())"
    _report(f"mnist1d: {step} ...", verbose)
    try:
        arrays = fetchers.generate_mnist1d()
    except Exception as err:
        res.fail(step, _describe_error(err), logging.WARNING)
        raise res.not_found(["install the package: pip install mnist1d==0.0.2.post1"]) from err
    buffer = io.BytesIO()
    np.savez(buffer, **arrays, sha256=np.array(arrays_digest(arrays)))
    atomic_write_bytes(path, buffer.getvalue())
    res.ok(step, f"generated, cached in {path}")
    return arrays, path


def resolve_digits(verbose: bool):
    """scikit-learn's digits, pixels / 16, split 80/20 stratified (``random_state=0``)."""
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


def raw_arrays(name: str, data_dir, download: bool, verbose: bool):
    """``(arrays, source)`` of the checked data set ``name``, from the first step that works."""
    cache = resolve_data_dir(data_dir)
    if name in IDX_DATASETS:
        return resolve_idx(name, cache, download, verbose)
    if name == "cifar10":
        return resolve_cifar10(cache, download, verbose)
    if name == "mnist1d":
        return resolve_mnist1d(cache, verbose)
    return resolve_digits(verbose)


def fetch(name: str, *, data_dir: str | os.PathLike | None = None, download: bool = True,
          verbose: bool = True) -> Path:
    """Make sure data set ``name`` is available offline, verified; return where
    its files are (a folder, or the cached ``.npz`` for mnist1d). Same steps
    and errors as :func:`glth_core.data.load`."""
    name = check_name(name)
    return Path(raw_arrays(name, data_dir, download, verbose)[1])


def cached_status(name: str, cache: Path) -> str:
    """Where data set ``name`` would be found now, without reading or fetching anything."""
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
        folder = cache / REGISTRY["cifar10"].folder
        return f"in cache ({folder})" if folder.is_dir() else "not fetched"
    if name == "mnist1d":
        try:
            path = mnist1d_cache_file(cache)
        except Exception:
            return "mnist1d package not installed"
        return f"in cache ({path})" if path.is_file() else "generated on first use"
    return "bundled with scikit-learn"
