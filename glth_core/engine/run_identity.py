r"""The identity of a run: its key, and the digest of the code that computes numbers.

Run identity (:func:`run_key`): a run is named ``<kind>_<hash>`` where
``hash`` is the first 12 hex digits of the SHA-256 of the canonical JSON
(sorted keys, no spaces) of ``{"kind", "hparams", "version", "source"}``:
its hyperparameters, ``glth_core.__version__`` and :func:`source_hash`, a
SHA-256 of the code that computes numbers: the abstract syntax tree
(``ast.dump``, docstrings removed; comments and layout never reach it) of every
``.py`` file in the numeric layers of the package, the folders of
:data:`NUMERIC_LAYERS` (``core/``, ``data/``, ``engine/``; their path relative to
the package is hashed with them), except their command lines (``cli.py``,
``__main__.py``) and their packages' re-export files (``__init__.py``). The other
layers (``storage/``, ``runs/``, ``analysis/``, ``book/``, ``cli/``) cannot change a
stored number: they write, orchestrate or read finished runs; ``_version.py`` is
hashed on its own (the version). So a changed hyperparameter, library version or
line of numeric code gives a new run, while editing a docstring, a comment, the
command line, the sweep, the result store, the analysis or the book helpers keeps
every cached result. A module belongs to the layer of its folder: one added to
``core/``, ``data/`` or ``engine/`` counts.
``PruningHparams.rounds`` is excluded from the key: it is the extent
of a run, not its identity, so asking for more rounds continues a finished run
and asking for fewer returns a prefix of it. ``PruningHparams.layer_bases``
enters the key only when set (not ``""``), so a run without it keeps the key it
had before the field existed.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import json
from pathlib import Path

from .hparams import to_dict

__all__ = ["run_key", "identity", "source_hash", "code_digest", "NUMERIC_LAYERS"]


#: The folders of ``glth_core`` whose code computes stored numbers: :func:`code_digest` hashes them.
NUMERIC_LAYERS = ("core", "data", "engine")
#: File names left out in those folders: command lines and re-export files.
_NOT_NUMERIC = ("__init__.py", "__main__.py", "cli.py")


def _without_docstrings(tree: ast.AST) -> ast.AST:
    """``tree`` with the docstring of the module and of every class and function removed (in place)."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:]
    return tree


def code_digest(root) -> str:
    """SHA-256 (hex) of the numeric code of the package at ``root``: the relative path and the
    docstring-free ``ast.dump`` of every ``*.py`` file under the folders of :data:`NUMERIC_LAYERS`
    (their ``__init__.py``, ``__main__.py`` and ``cli.py`` left out)."""
    root = Path(root)
    digest = hashlib.sha256()
    paths = sorted(p for layer in NUMERIC_LAYERS for p in (root / layer).rglob("*.py") if p.name not in _NOT_NUMERIC)
    for path in paths:
        relative = path.relative_to(root).as_posix()
        tree = _without_docstrings(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        digest.update(relative.encode())
        digest.update(b"\0")
        digest.update(ast.dump(tree).encode())
        digest.update(b"\0")
    return digest.hexdigest()


@functools.lru_cache(maxsize=1)
def source_hash() -> str:
    """:func:`code_digest` of the imported ``glth_core`` package.

    Computed once per process: it describes the code this process imported.
    """
    return code_digest(Path(__file__).resolve().parent.parent)


#: Pruning fields hashed by :func:`run_key` only when they differ from this default.
_KEY_ONLY_IF_SET = {"layer_bases": ""}


def identity(kind: str, hparams) -> dict:
    """The dict hashed by :func:`run_key` (``rounds`` removed from IMP hyperparameters)."""
    from .. import _version

    data = to_dict(hparams)
    if "pruning" in data:
        data["pruning"].pop("rounds", None)
        for name, default in _KEY_ONLY_IF_SET.items():  # fields added later: absent from the key at their default,
            if data["pruning"].get(name) == default:  # so the runs cached before them keep their names
                data["pruning"].pop(name)
    return {"kind": kind, "hparams": data, "version": _version.__version__, "source": source_hash()}


def run_key(kind: str, hparams) -> str:
    """``<kind>_<first 12 hex digits of sha256(canonical JSON of identity(kind, hparams))>``."""
    text = json.dumps(identity(kind, hparams), sort_keys=True, separators=(",", ":"))
    return f"{kind}_{hashlib.sha256(text.encode()).hexdigest()[:12]}"


