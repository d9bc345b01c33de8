"""Atomic writes and the results folder's checks: the storage every layer may use.

Every file is written to a temporary file in the same folder, flushed and fsynced, then
``os.replace``-d onto its name (atomic on POSIX), so a killed process leaves either the
old file or the new one. The data layer writes its caches through this module; the
checkpoint store (:mod:`glth_core.storage.store`) builds on it.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["StorageError", "MIN_FREE_BYTES", "default_results_dir", "check_writable",
           "atomic_write_bytes", "atomic_write_text"]

#: Free space required in the results folder before training starts.
MIN_FREE_BYTES = 100 * 2**20


class StorageError(OSError):
    """The results folder cannot hold the run (not writable, or too little free space)."""


def default_results_dir(results_dir: str | os.PathLike | None = None) -> Path:
    """``results_dir`` if given, else ``$GLTH_RESULTS_DIR``, else ``./results``."""
    if results_dir is not None:
        return Path(results_dir)
    return Path(os.environ.get("GLTH_RESULTS_DIR") or "results")


def check_writable(folder: str | os.PathLike, min_free_bytes: int = MIN_FREE_BYTES) -> Path:
    """Create ``folder`` if needed and check that a file can be written there and that
    at least ``min_free_bytes`` are free. Raises :class:`StorageError` otherwise."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-", delete=True) as f:
            f.write(b"ok")
            f.flush()
    except OSError as e:
        raise StorageError(
            f"results folder {str(folder)!r} is not writable ({e.strerror or e}); "
            f"pass another results_dir / --results-dir or set GLTH_RESULTS_DIR"
        ) from e
    free = shutil.disk_usage(folder).free
    if free < min_free_bytes:
        raise StorageError(
            f"results folder {str(folder)!r} has only {free / 2**20:.0f} MiB free, "
            f"need at least {min_free_bytes / 2**20:.0f} MiB; free space or set GLTH_RESULTS_DIR elsewhere"
        )
    return folder


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, fsync, os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))
