"""The source digest of a run's identity: a hash of what the numeric code computes.

A run is named by its hyperparameters, the library version and :func:`source_hash`, the
SHA-256 of the *numeric* code of ``glth_core``: every top-level statement (function, class,
constant) of every module not in :data:`ORCHESTRATION_MODULES`, with docstrings, imports and
``__all__`` removed, sorted. The digest says what the code computes, not where it lives:
moving a function to another module, splitting a module or rewording a docstring keeps every
run key (and the results cache), and a change to what any numeric function does changes it.
This module is itself orchestration: changing how the digest is computed is not a change of a
result.
"""
from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

__all__ = ["ORCHESTRATION_MODULES", "code_statements", "code_digest", "source_hash"]


#: Modules of ``glth_core`` (paths relative to the package) that only orchestrate runs
#: and cannot change a number of a result: :func:`source_hash` leaves them out. Every other
#: module counts, so a new module is part of the run key until it is listed here.
ORCHESTRATION_MODULES = ("__init__.py", "__main__.py", "_version.py", "source_digest.py",
                         "cli.py", "cli_internals.py", "sweep.py", "store.py", "archive.py",
                         # the chapters' support: parameters, run groups, verdicts, tables, figures, labels
                         "chapter.py", "chapter_checks.py", "chapter_runs.py", "chapter_verdicts.py",
                         "chapter_tables.py", "chapter_plots.py", "labels.py",
                         # analysis of finished runs: they read results, never compute a stored one
                         "stats.py", "plots.py", "compaction.py", "truncation.py", "verdict_tables.py",
                         "equal_size.py", "mechanisms.py",
                         # the chapters' analyses, probes (never stored), figures and tutorial helpers
                         "bases_study.py", "structured_study.py", "equivariance.py", "chapter_figures_bases.py",
                         "conv_analysis.py", "conv_inspection.py", "chapter_figures_conv.py",
                         "subspace_analysis.py", "chapter_figures_subspace.py", "example_models.py",
                         "inference_variants.py",
                         # chapter settings: they reach a run only through its hyperparameters, hashed by value
                         "profiles.py",
                         # the data package's re-exports and command line (its other modules count)
                         "data/__init__.py", "data/__main__.py", "data/cli.py")


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


def code_digest(root) -> str:
    """SHA-256 (hex) of the numeric code of the package at ``root``.

    The code is every top-level statement (function, class, constant) of every ``**/*.py`` file not
    in :data:`ORCHESTRATION_MODULES`, without docstrings and imports (:func:`code_statements`), sorted:
    the digest says *what* the code computes, not *where* it lives, so moving a function to another
    module, splitting a module or rewording a docstring keeps every run key, and any change to what a
    function does changes it.
    """
    root = Path(root)
    statements = []
    for path in sorted(root.rglob("*.py")):
        if path.relative_to(root).as_posix() not in ORCHESTRATION_MODULES:
            statements.extend(code_statements(path))
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
    return code_digest(Path(__file__).resolve().parent)
