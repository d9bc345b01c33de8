r"""The identity of a run: its key, and the digest of the code that computes numbers.

Run identity (:func:`run_key`): a run is named ``<kind>_<hash>`` where
``hash`` is the first 12 hex digits of the SHA-256 of the canonical JSON
(sorted keys, no spaces) of ``{"kind", "hparams", "version", "source"}``:
its hyperparameters, ``glth_core.__version__`` and :func:`source_hash`, a
SHA-256 of the code that computes numbers (:func:`code_digest`): every
top-level statement (function, class, constant) of every module in the numeric
layers of the package, the folders of :data:`NUMERIC_LAYERS` (``core/``,
``data/``, ``engine/``; their command lines ``cli.py``, ``__main__.py`` and
re-export files ``__init__.py`` left out), without docstrings and imports
(``ast.dump``: comments and layout never reach it), sorted. The digest says
*what* the code computes, not *where* it lives: moving a function between
modules of these layers keeps it. The other layers (``storage/``, ``runs/``,
``analysis/``, ``book/``, ``cli/``) cannot change a stored number: they write,
orchestrate or read finished runs; ``_version.py`` is hashed on its own (the
version). So a changed hyperparameter, library version or line of numeric code
gives a new run, while editing a docstring, a comment, the command line, the
sweep, the result store, the analysis or the book helpers keeps every cached
result. A module belongs to the layer of its folder: one added to ``core/``,
``data/`` or ``engine/`` counts.
``PruningHparams.rounds`` is excluded from the key: it is the extent
of a run, not its identity, so asking for more rounds continues a finished run
and asking for fewer returns a prefix of it. ``PruningHparams.layer_bases``
enters the key only when set (not ``""``), and ``PruningHparams.share_dense`` only
when False, so a run without them keeps the key it had before the fields existed.
"""
from __future__ import annotations

import hashlib
import json

from ..storage.source_digest import NUMERIC_LAYERS, code_digest, code_statements, numeric_modules, source_hash
from .hparams import to_dict

__all__ = ["run_key", "identity", "source_hash", "code_digest", "code_statements", "numeric_modules",
           "NUMERIC_LAYERS"]


#: Pruning fields hashed by :func:`run_key` only when they differ from this default.
_KEY_ONLY_IF_SET = {"layer_bases": "", "share_dense": True}


def identity(kind: str, hparams) -> dict:
    """The dict hashed by :func:`run_key` (``rounds`` removed from IMP hyperparameters)."""
    from .._version import __version__  # read at call time

    data = to_dict(hparams)
    if "pruning" in data:
        data["pruning"].pop("rounds", None)
        for name, default in _KEY_ONLY_IF_SET.items():  # fields added later: absent from the key at their default,
            if data["pruning"].get(name) == default:  # so the runs cached before them keep their names
                data["pruning"].pop(name)
    return {"kind": kind, "hparams": data, "version": __version__, "source": source_hash()}


def run_key(kind: str, hparams) -> str:
    """``<kind>_<first 12 hex digits of sha256(canonical JSON of identity(kind, hparams))>``."""
    text = json.dumps(identity(kind, hparams), sort_keys=True, separators=(",", ":"))
    return f"{kind}_{hashlib.sha256(text.encode()).hexdigest()[:12]}"


