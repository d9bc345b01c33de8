"""The idx file format (MNIST's), read with numpy only.

:func:`parse_idx` decodes an uncompressed idx payload, :func:`read_idx` a file
that may be gzip-compressed. Malformed input raises :class:`ChecksumError`.
"""
from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

__all__ = ["ChecksumError", "parse_idx", "decompress", "read_idx"]


class ChecksumError(OSError):
    """A data file is corrupt, truncated, malformed or has the wrong checksum."""


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


def decompress(raw: bytes) -> bytes:
    """``raw`` gunzipped if it starts with the gzip magic, else ``raw`` itself;
    :class:`ChecksumError` for a corrupt or truncated gzip stream."""
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise ChecksumError(f"corrupt or truncated gzip stream ({err})") from err


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an idx file, gzip-compressed (``.gz``) or not, with numpy only."""
    return parse_idx(decompress(Path(path).read_bytes()))
