"""The source digest of a run's identity: a hash of what the numeric code computes.

A run is named by its hyperparameters, the library version and :func:`source_hash`
(:mod:`glth_core.engine.run_identity`), the SHA-256 of the numeric code of ``glth_core``:
every top-level statement (function, class, constant) of every module in the numeric layers
(:data:`NUMERIC_LAYERS`), with docstrings, imports and ``__all__`` removed, sorted. The digest
says what the code computes, not where it lives: moving a function to another numeric module,
splitting a module or rewording a docstring keeps every run key (and the results cache), and a
change to what any numeric function does changes it. This module lives in ``storage/``, outside
the numeric layers: how the digest is computed names stored runs, it computes no number of one.
"""
from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

__all__ = ["NUMERIC_LAYERS", "numeric_modules", "code_statements", "code_digest", "source_hash"]


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


def _is_import_only(node: ast.stmt) -> bool:
    """An import, ``__all__ = ...``, or an ``if`` (``TYPE_CHECKING``) holding only imports."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return True
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return all(isinstance(t, ast.Name) and t.id == "__all__" for t in targets)
    if isinstance(node, ast.If) and not node.orelse:
        return all(isinstance(n, (ast.Import, ast.ImportFrom)) for n in node.body)
    return False


def _without_imports(tree: ast.AST) -> ast.AST:
    """``tree`` without its import statements (at any depth), ``__all__`` and import-only ``if`` blocks."""
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            body = getattr(node, field, None)
            if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
                kept = [n for n in body if not _is_import_only(n)]
                setattr(node, field, kept or [ast.Pass()])
    return tree


def code_statements(path) -> list[str]:
    """The numeric content of the module at ``path``: ``ast.dump`` of each top-level statement,
    docstrings, imports and ``__all__`` removed (what :func:`code_digest` hashes)."""
    tree = ast.parse(Path(path).read_text(encoding="utf-8"), filename=str(path))
    tree = _without_imports(_without_docstrings(tree))
    return [ast.dump(node) for node in tree.body if not isinstance(node, ast.Pass)]


def numeric_modules(root) -> list[Path]:
    """The modules of the package at ``root`` whose code :func:`code_digest` hashes: every ``*.py``
    under the folders of :data:`NUMERIC_LAYERS`, their ``__init__.py``, ``__main__.py`` and ``cli.py``
    left out."""
    root = Path(root)
    return sorted(p for layer in NUMERIC_LAYERS for p in (root / layer).rglob("*.py") if p.name not in _NOT_NUMERIC)


def code_digest(root) -> str:
    """SHA-256 (hex) of the numeric code of the package at ``root``.

    The code is every top-level statement (function, class, constant) of every module of
    :func:`numeric_modules`, without docstrings and imports (:func:`code_statements`), sorted: the
    digest says *what* the code computes, not *where* it lives, so moving a function to another
    module of the numeric layers, splitting a module or rewording a docstring keeps every run key,
    and any change to what a function does changes it.
    """
    statements = [s for path in numeric_modules(root) for s in code_statements(path)]
    digest = hashlib.sha256()
    for statement in sorted(statements):
        digest.update(statement.encode())
        digest.update(b"\0")
    return digest.hexdigest()


@functools.lru_cache(maxsize=1)
def source_hash() -> str:
    """:func:`code_digest` of the imported ``glth_core`` package.

    Computed once per process: it describes the code this process imported.
    """
    return code_digest(Path(__file__).resolve().parent.parent)  # the glth_core folder
