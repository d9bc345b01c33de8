r"""Ticket files: a pruned generalized model in the fewest bytes, checked when read back.

A ticket is what pruning leaves: for each generalized tensor the coefficients
``M * C`` that survive, the basis they live in, and the rest of the model's
state. :func:`save_ticket` writes exactly that and nothing the model can rebuild:

* per generalized tensor: the positions of its unmasked coefficients (the mask,
  implied by them) and their values; its basis spec (name, seed, axes,
  image shape, block view; :func:`glth_core.core.params.basis_spec`); an ``"svd"``
  basis, which is fitted and not regenerable, stores its matrices; a
  random-subspace offset ``W_0`` is stored dense;
* every other entry of the state dict (biases, normalisation layers, BatchNorm
  statistics), dense.

Basis matrices of fixed bases are rebuilt from the spec. An unmasked
coefficient that is exactly zero keeps its place in the mask (positions are
those of the mask, not of nonzero values).

File format, version 1 (all integers little-endian)::

    bytes 0-11    magic  b"GLTH-TICKET\n"
    bytes 12-15   n, the header's length (uint32)
    next n bytes  header, UTF-8 JSON (below)
    next p bytes  payload: the arrays back to back, p = header["payload_bytes"]
    last 32 bytes SHA-256 of every byte before them

The header holds ``{"format": "glth-ticket", "version": 1, "glth_core": <version>,
"payload_bytes": p, "targets": [...], "state": {key: array}}``; each target is
``{"key", "module", "tensor", "shape", "dtype", "spec", "positions", "values",
"basis_state", "offset"}`` and each array ``{"dtype", "shape", "start",
"nbytes"}`` (``start`` counted from the payload's first byte). ``positions`` is
either ``{"encoding": "indices", ...}`` (flat row-major indices, int32, or int64
past 2^31 elements) or ``{"encoding": "bitmask", ...}`` (the mask packed 8 per
byte, most significant bit first, ``numpy.packbits``), whichever is smaller.

:func:`load_ticket` checks the magic, the version, the length (a truncated
file) and the digest (any changed byte) before reading anything, then that the
model has the ticket's tensors with the same shapes and the same state keys. A
freshly built (not generalized) model is generalized from the specs; a
generalized one must have the same specs. After loading, the model computes
exactly what the saved one did.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import struct
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from .._version import __version__
from .params import (build_basis, generalized_parameters, materialize, reads_child_weights,
                     require_generalized_parameters)
from .generalize import register_generalized

__all__ = ["save_ticket", "load_ticket", "read_header", "state_dict_bytes", "MAGIC", "VERSION", "TicketError"]


MAGIC = b"GLTH-TICKET\n"
VERSION = 1
_DIGEST = 32


class TicketError(ValueError):
    """A ticket file that cannot be read (corrupt, truncated, another version) or does not fit the model."""


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _dtype(name: str) -> torch.dtype:
    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise TicketError(f"ticket header names an unknown dtype {name!r}; the file is corrupt or from a newer torch")
    return dtype


class _Payload:
    """Arrays appended to one byte buffer; each returns its header entry."""

    def __init__(self):
        self.parts: list[bytes] = []
        self.size = 0

    def add(self, t: Tensor) -> dict:
        t = t.detach().to("cpu").contiguous()
        raw = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        entry = {"dtype": _dtype_name(t.dtype), "shape": list(t.shape), "start": self.size, "nbytes": len(raw)}
        self.parts.append(raw)
        self.size += len(raw)
        return entry

    def add_bytes(self, raw: bytes) -> dict:
        entry = {"dtype": "uint8", "shape": [len(raw)], "start": self.size, "nbytes": len(raw)}
        self.parts.append(raw)
        self.size += len(raw)
        return entry


def _array(payload: memoryview, entry: dict) -> Tensor:
    dtype = _dtype(entry["dtype"])
    start, nbytes = int(entry["start"]), int(entry["nbytes"])
    if start < 0 or start + nbytes > len(payload):
        raise TicketError("ticket header points outside the payload; the file is corrupt")
    raw = bytearray(payload[start:start + nbytes])
    flat = torch.frombuffer(raw, dtype=torch.uint8) if raw else torch.empty(0, dtype=torch.uint8)
    return flat.view(dtype).reshape(entry["shape"]).clone()


def _positions(mask: Tensor, payload: _Payload) -> dict:
    flat = mask.detach().reshape(-1).ne(0).cpu()
    n, kept = flat.numel(), int(flat.sum())
    index_dtype = torch.int32 if n < 2 ** 31 else torch.int64
    index_bytes = kept * (4 if index_dtype == torch.int32 else 8)
    if index_bytes <= (n + 7) // 8:
        return {"encoding": "indices", **payload.add(flat.nonzero().reshape(-1).to(index_dtype))}
    return {"encoding": "bitmask", **payload.add_bytes(np.packbits(flat.numpy()).tobytes())}


def _decode_positions(entry: dict, payload: memoryview, numel: int) -> Tensor:
    """Bool mask of ``numel`` entries."""
    if entry.get("encoding") == "indices":
        index = _array(payload, entry).to(torch.int64)
        if index.numel() and (index.min() < 0 or index.max() >= numel):
            raise TicketError("ticket positions lie outside their tensor; the file is corrupt")
        flat = torch.zeros(numel, dtype=torch.bool)
        flat[index] = True
        return flat
    if entry.get("encoding") == "bitmask":
        bits = np.unpackbits(_array(payload, entry).numpy(), count=numel)
        return torch.from_numpy(bits.astype(bool))
    raise TicketError(f"ticket positions have an unknown encoding {entry.get('encoding')!r}")


def _target_prefix(target) -> str:
    return (f"{target.module_name}." if target.module_name else "") + f"parametrizations.{target.tensor}."


def save_ticket(model: nn.Module, path) -> Path:
    """Write the ticket of the generalized ``model`` to ``path`` (format in the module docstring).

    Args:
        model: a model made by :func:`glth_core.generalize` (pruned or not).
        path: the file to write; written to a temporary file and renamed (atomic).

    Returns:
        The path written.

    Raises:
        ValueError: ``model`` has no generalized tensor.
    """
    targets = require_generalized_parameters(model, "save_ticket")
    payload, entries = _Payload(), []
    state = model.state_dict()
    owned = [_target_prefix(t) for t in targets.values()]
    for key, target in targets.items():
        gw = target.parametrization
        mask, c = gw.mask.detach(), target.coefficients.detach()
        spec = getattr(gw, "spec", None)
        if spec is None:
            raise ValueError(f"{key!r} was generalized without a basis spec (not by glth_core.generalize); "
                             "generalize the model with glth_core.generalize to save a ticket")
        basis_state = {}
        if spec["basis"] == "svd":  # fitted to trained weights: not regenerable from a seed
            basis_state = {k: payload.add(v) for k, v in gw.basis.state_dict().items()}
        entries.append({
            "key": key, "module": target.module_name, "tensor": target.tensor, "shape": list(c.shape),
            "dtype": _dtype_name(c.dtype), "spec": spec, "positions": _positions(mask, payload),
            "values": payload.add(c.reshape(-1)[mask.reshape(-1).ne(0)]), "basis_state": basis_state,
            "offset": None if gw.offset is None else payload.add(gw.offset)})
    rest = {k: payload.add(v) for k, v in state.items() if not any(k.startswith(p) for p in owned)}
    header = json.dumps({"format": "glth-ticket", "version": VERSION, "glth_core": __version__,
                         "payload_bytes": payload.size, "targets": entries, "state": rest},
                        separators=(",", ":")).encode()
    body = MAGIC + struct.pack("<I", len(header)) + header + b"".join(payload.parts)
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as f:
        f.write(body + hashlib.sha256(body).digest())
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)
    return path


def _read(path) -> tuple[dict, memoryview]:
    """The header and the payload of the ticket file ``path``, after every file-level check."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no ticket file at {str(path)!r}; write one with glth_core.save_ticket(model, path)")
    data = path.read_bytes()
    where = f"ticket file {path.name!r}"
    if not data.startswith(MAGIC):
        raise TicketError(f"{where} is not a glth_core ticket (it does not start with {MAGIC!r})")
    fixed = len(MAGIC) + 4
    if len(data) < fixed + _DIGEST:
        raise TicketError(f"{where} is truncated ({len(data)} bytes); save the ticket again")
    (header_length,) = struct.unpack("<I", data[len(MAGIC):fixed])
    header_bytes = data[fixed:fixed + header_length]
    try:
        header = json.loads(header_bytes.decode()) if len(header_bytes) == header_length else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        header = None
    expected = fixed + header_length + int(header["payload_bytes"]) + _DIGEST if isinstance(header, dict) \
        and isinstance(header.get("payload_bytes"), int) else None
    if expected is not None and len(data) < expected:
        raise TicketError(f"{where} is truncated: {len(data)} bytes, its header announces {expected}; "
                          "copy or save the ticket again")
    if hashlib.sha256(data[:-_DIGEST]).digest() != data[-_DIGEST:]:
        problem = "is truncated or has extra bytes" if expected is not None and len(data) != expected else \
            "is corrupt: its SHA-256 does not match (a byte changed since it was written)"
        raise TicketError(f"{where} {problem}; copy or save the ticket again")
    if header is None or expected != len(data):
        raise TicketError(f"{where} has a malformed header; the file was not written by glth_core.save_ticket")
    if header.get("format") != "glth-ticket" or header.get("version") != VERSION:
        raise TicketError(f"{where} has format {header.get('format')!r} version {header.get('version')!r}; this "
                          f"glth_core ({__version__}) reads 'glth-ticket' version {VERSION}")
    return header, memoryview(data)[fixed + header_length:len(data) - _DIGEST]


def read_header(path) -> dict:
    """The checked JSON header of a ticket file (what it holds, without loading it)."""
    return _read(path)[0]


def _refuse(message: str):
    raise TicketError(f"ticket does not fit this model: {message}; load it into a model built like the one saved "
                      "(same architecture and sizes)")


def load_ticket(model: nn.Module, path) -> nn.Module:
    """Load the ticket file ``path`` into ``model`` (in place); returns ``model``.

    ``model`` is either freshly built (then generalized here from the ticket's basis specs) or
    generalized with the same specs. Afterwards its masks, coefficients and every other state
    entry are the saved ones, so it computes what the saved model computed.

    Args:
        model: the model the ticket was saved from, freshly built (same architecture) or
            already generalized with the same basis specs.
        path: the ticket file written by :func:`save_ticket`.

    Returns:
        ``model`` itself, generalized, with the ticket's masks and coefficients.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``.
        TicketError: a corrupt, truncated or foreign file (checked first), or a model that does
            not fit the ticket (other tensors, shapes, specs or state keys).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    header, payload = _read(path)
    materialize(model)  # lazy modules: a ValueError saying to run one forward pass first
    modules = dict(model.named_modules())
    existing = generalized_parameters(model)
    keys = [e["key"] for e in header["targets"]]
    if existing and sorted(existing) != sorted(keys):
        _refuse(f"the model's generalized tensors {sorted(existing)} differ from the ticket's {sorted(keys)}")
    for entry in header["targets"]:
        module = modules.get(entry["module"])
        if module is None or not hasattr(module, entry["tensor"]):
            _refuse(f"it has no tensor {entry['key']!r}")
        shape = tuple(getattr(module, entry["tensor"]).shape)
        if shape != tuple(entry["shape"]):
            _refuse(f"{entry['key']!r} has shape {shape}, the ticket's has {tuple(entry['shape'])}")
        if existing and getattr(existing[entry["key"]].parametrization, "spec", entry["spec"]) != entry["spec"]:
            _refuse(f"{entry['key']!r} is generalized in another basis ({existing[entry['key']].parametrization.spec}) "
                    f"than the ticket's ({entry['spec']}); load into a freshly built model instead")
    owned = {(e["module"], e["tensor"]) for e in header["targets"]}
    plain_state = {k for k in model.state_dict()
                   if not any(k.startswith((f"{m}." if m else "") + f"parametrizations.{t}.") for m, t in owned)}
    if not existing:  # a model generalized by the ticket: its state keys then match the saved model's
        plain_state = {k for k in plain_state
                       if k not in {(f"{m}." if m else "") + t for m, t in owned}}
    if plain_state != set(header["state"]):
        _refuse(f"state keys differ (only in the model: {sorted(plain_state - set(header['state']))[:4]}, only in "
                f"the ticket: {sorted(set(header['state']) - plain_state)[:4]})")
    state = model.state_dict()
    for key, entry in header["state"].items():
        if tuple(state[key].shape) != tuple(entry["shape"]):
            _refuse(f"{key!r} has shape {tuple(state[key].shape)}, the ticket's has {tuple(entry['shape'])}")

    if not existing:
        direct = reads_child_weights(model)
        for entry in header["targets"]:
            module = modules[entry["module"]]
            w = getattr(module, entry["tensor"]).detach()
            basis = build_basis(entry["spec"], w, entry["key"])
            if entry["basis_state"]:
                basis.load_state_dict({k: _array(payload, v) for k, v in entry["basis_state"].items()})
            offset = None if entry["offset"] is None else _array(payload, entry["offset"]).to(w)
            register_generalized(module, entry["tensor"], basis, entry["spec"], offset=offset, direct=direct)
    targets = generalized_parameters(model)
    with torch.no_grad():
        for entry in header["targets"]:
            target = targets[entry["key"]]
            mask, c = target.mask, target.coefficients
            kept = _decode_positions(entry["positions"], payload, mask.numel())
            values = _array(payload, entry["values"])
            if values.numel() != int(kept.sum()):
                raise TicketError(f"ticket entry {entry['key']!r} has {values.numel()} values for "
                                  f"{int(kept.sum())} positions; the file is corrupt")
            mask.copy_(kept.reshape(mask.shape).to(mask))
            flat = torch.zeros(c.numel(), dtype=c.dtype)
            flat[kept] = values.to(c.dtype)
            c.copy_(flat.reshape(c.shape))
            if entry["offset"] is not None:
                target.parametrization.offset.copy_(_array(payload, entry["offset"]))
        state = model.state_dict()
        for key, entry in header["state"].items():
            state[key].copy_(_array(payload, entry))
    return model


def state_dict_bytes(model: nn.Module) -> int:
    """Bytes of ``torch.save(model.state_dict())``: what the dense checkpoint of a plain model costs on disk."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.tell()
