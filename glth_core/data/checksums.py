"""Integrity checks: idx files against their :class:`~.registry.IdxFile` checksums,
cached arrays (mnist1d) against the SHA-256 stored with them.

A corrupt file raises :class:`~.idx.ChecksumError`; what to do with it
(delete, try the next source) is decided in :mod:`.sources`.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from .idx import ChecksumError, decompress, parse_idx
from .registry import IdxDataset, IdxFile

__all__ = ["ARRAY_KEYS", "check_idx_bytes", "read_verified_idx", "read_idx_folder", "arrays_digest"]

#: The arrays every source provides, in the order of an :class:`IdxDataset`'s files.
ARRAY_KEYS = ("x_train", "y_train", "x_test", "y_test")


def check_idx_bytes(raw: bytes, filename: str, spec: IdxFile) -> np.ndarray:
    """The array in ``raw`` (the bytes of file ``filename``) if it passes ``spec``'s
    checksums and shape; :class:`ChecksumError` naming ``filename`` if not."""
    payload = decompress(raw)
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


def read_verified_idx(path: Path, spec: IdxFile) -> np.ndarray:
    """Read ``path`` and check it against ``spec``; :class:`ChecksumError` if not."""
    try:
        return check_idx_bytes(path.read_bytes(), path.name, spec)
    except ChecksumError as err:
        message = str(err)
        raise ChecksumError(message if message.startswith(path.name) else
                            f"{path.name}: {message}") from err


def read_idx_folder(folder: Path, spec: IdxDataset) -> dict[str, np.ndarray]:
    """All four verified arrays from ``folder``.

    Raises FileNotFoundError naming the missing files, or ChecksumError whose
    ``filenames`` attribute lists every corrupt file.
    """
    missing = [f.name for f in spec.files if not (folder / f.name).is_file()]
    if missing:
        raise FileNotFoundError(f"missing {', '.join(missing)}")
    arrays, bad = {}, []
    for key, file in zip(ARRAY_KEYS, spec.files):
        try:
            arrays[key] = read_verified_idx(folder / file.name, file)
        except ChecksumError as err:
            bad.append((file.name, str(err)))
    if bad:
        err = ChecksumError("; ".join(msg for _, msg in bad))
        err.filenames = [name for name, _ in bad]
        raise err
    return arrays


def arrays_digest(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 (hex) of named arrays: each key, dtype, shape and bytes, keys sorted."""
    digest = hashlib.sha256()
    for key in sorted(arrays):
        value = np.ascontiguousarray(arrays[key])
        digest.update(f"{key}:{value.dtype.str}:{value.shape};".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()
