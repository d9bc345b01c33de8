"""Seeds: the one place the project turns a seed and a purpose into a new seed.

``derive_seed(seed, *keys)`` is the top 63 bits of the big-endian SHA-256 of
``repr((seed,) + keys)``: independent streams per (seed, round, purpose, layer,
axis), the same on every platform and whatever ``PYTHONHASHSEED`` is. The
experiment engine (training, re-initialisation, random masks, subspaces) and the
bases (layer seeds, Hadamard signs, random orthogonal factors) all draw from it.
"""
from __future__ import annotations

import hashlib
import numbers

__all__ = ["check_seed", "derive_seed"]


def check_seed(seed, name: str = "seed") -> int:
    """Return ``seed`` as an int, or raise TypeError naming the argument."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name} must be an int (e.g. {name}=0), got {seed!r} of type {type(seed).__name__}")
    return int(seed)


def derive_seed(seed: int, *keys) -> int:
    """A deterministic 63-bit seed from the int ``seed`` and any printable ``keys``."""
    text = repr((check_seed(seed),) + tuple(keys)).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big") >> 1
