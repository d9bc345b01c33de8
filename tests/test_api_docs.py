"""The API reference (book/api.md) covers the public API, whose docstrings have torch-style sections.

The page itself is built by Sphinx autodoc in ``make test`` (tools/book.py smoke,
``-W``: a broken docstring fails the build); here, without building, the page's
directives are matched with ``glth_core.__all__`` and the analysis modules, and
each public function's docstring with its signature and body.
"""
from __future__ import annotations

import ast
import importlib
import inspect
import re
import textwrap
from pathlib import Path

import pytest

import glth_core

REPO = Path(__file__).resolve().parents[1]
API_PAGE = REPO / "book" / "api.md"
ANALYSIS_MODULES = ("glth_core.analysis.intervals", "glth_core.analysis.compression", "glth_core.analysis.verdicts",
                    "glth_core.analysis.plots", "glth_core.analysis.truncation")
EXTRA = ("glth_core.core.export.multiply_adds",)


def documented(page: str) -> set[str]:
    """Qualified names that the page's autodoc directives document (``py:module`` sets the module)."""
    names, module = set(), None
    for kind, target in re.findall(r"^\.\. (py:module|auto\w+):: (\S+)", page, flags=re.M):
        if kind == "py:module":
            module = target
        elif kind == "automodule":
            names.add(target + ".*")
        else:
            names.add(target if "." in target else f"{module}.{target}")
    return names


def resolve(name: str):
    module, _, attribute = name.rpartition(".")
    return getattr(importlib.import_module(module), attribute)


def public_functions() -> dict[str, object]:
    """The functions whose contracts the page must show: ``__all__``'s, the analysis modules', ``EXTRA``."""
    found = {f"glth_core.{n}": getattr(glth_core, n) for n in glth_core.__all__
             if inspect.isfunction(getattr(glth_core, n))}
    for module_name in ANALYSIS_MODULES:
        module = importlib.import_module(module_name)
        found.update({f"{module_name}.{n}": f for n, f in vars(module).items()
                      if inspect.isfunction(f) and not n.startswith("_") and f.__module__ == module_name})
    found.update({name: resolve(name) for name in EXTRA})
    return found


def section_problems(function) -> list[str]:
    """Missing ``Args:``/``Returns:``/``Raises:`` sections of ``function``'s docstring."""
    doc = inspect.getdoc(function) or ""
    signature = inspect.signature(function)
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    raises = any(isinstance(node, ast.Raise) for node in ast.walk(tree.body[0]))
    returns = signature.return_annotation not in (None, "None") and any(
        isinstance(node, ast.Return) and node.value is not None for node in ast.walk(tree.body[0]))
    needed = {"Args:": bool(signature.parameters), "Returns:": returns, "Raises:": raises}
    problems = [section for section, need in needed.items() if need and f"\n{section}\n" not in f"\n{doc}\n"]
    if signature.parameters and "Args:" not in problems:
        args_block = doc.split("\nArgs:\n", 1)[1].split("\n\n", 1)[0]
        listed = set(re.findall(r"^    \**(\w+)", args_block, flags=re.M))
        missing = [p for p in signature.parameters if p not in listed]
        problems += [f"argument {p!r} not in Args:" for p in missing]
    return problems


def test_the_page_documents_every_public_name_and_the_analysis_modules():
    names = documented(API_PAGE.read_text())
    objects = {id(resolve(n)) for n in names if not n.endswith(".*")}
    missing = [n for n in glth_core.__all__ if n != "__version__" and id(getattr(glth_core, n)) not in objects]
    assert missing == [], f"book/api.md lacks {missing}"
    assert {f"{m}.*" for m in ANALYSIS_MODULES} <= names
    assert set(EXTRA) <= names


def test_the_page_is_in_the_table_of_contents():
    assert "- file: book/api" in (REPO / "_toc.yml").read_text()


@pytest.mark.parametrize("name", sorted(public_functions()))
def test_public_function_has_torch_style_sections(name):
    assert section_problems(public_functions()[name]) == []


def test_the_section_check_fails_on_a_docstring_without_sections():
    def undocumented(model, fraction):
        """Prune ``model``."""
        if fraction < 0:
            raise ValueError("negative")
        return model

    def half_documented(model, fraction):
        """Prune ``model``.

        Args:
            model: the model.

        Returns:
            The model.
        """
        return model

    assert section_problems(undocumented) == ["Args:", "Returns:", "Raises:"]
    assert section_problems(half_documented) == ["argument 'fraction' not in Args:"]
