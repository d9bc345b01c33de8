"""Every ``glue`` key of a chapter is shown, and every glue reference has a key.

MyST-NB's ``glue(key, value)`` stores a value in a code cell's output; the
Markdown shows it through a role (``{glue}`key```, ``{glue:text}`key:.2f```,
``{glue:md}`` ...) or a directive (```` ```{glue:figure} key ````, also with a
``:::`` fence). A key that no Markdown uses is dead code; a reference to a key
that no cell glues is a build error that Sphinx reports only as a warning
without the chapter's name. A reference ``other.ipynb::key`` reads the key of
the chapter ``other``.

Two views of a chapter's keys:

- :func:`source_keys` reads them from the code without running it (``glue`` calls, and the
  keys of ``Test(key, ...)`` declarations, whose sentences ``Chapter.verdicts`` glues): a literal
  string is the key, an f-string is a pattern (each ``{...}`` any text), a
  variable bound by a ``for`` loop over a literal (tuple, list or dict, also
  ``{...}.items()``) stands for each of its values;
- :func:`executed_keys` reads them from the outputs of an executed notebook
  (exact, whatever computed them).
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROLE = re.compile(r"\{glue(?::\w*)?\}`([^`]+)`")
DIRECTIVE = re.compile(r"^[ \t]*(?:`{3,}|:{3,})\{glue(?::\w*)?\}[ \t]*(\S*)", flags=re.M)
DOC_SEPARATOR = "::"


def _is_glue_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call) or not node.args:
        return False
    func = node.func
    return (isinstance(func, ast.Name) and func.id == "glue") or (
        isinstance(func, ast.Attribute) and func.attr == "glue")


def _keyword(node: ast.Call, name: str):
    return next((k.value for k in node.keywords if k.arg == name), None)


def _test_key(node: ast.AST) -> ast.expr | None:
    """The key of a ``Test(key, ...)`` call (``glth_core.book.chapter.Test``), which ``Chapter.verdicts`` glues
    (none with ``glue=False``); for ``family(..., key=..., glue=True)``, the key of its members, ``key_<i>``."""
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
    glue = _keyword(node, "glue")
    glue = glue.value if isinstance(glue, ast.Constant) else None
    if name == "Test" and glue is not False:
        return node.args[0] if node.args else _keyword(node, "key")
    if name == "family" and glue is True and isinstance(_keyword(node, "key"), ast.Constant):
        return ast.JoinedStr([ast.Constant(_keyword(node, "key").value + "_"), ast.FormattedValue(ast.Name("i"), -1)])
    return None


def _loop_values(name: str, loops: list[ast.For]) -> list[str] | None:
    """The string values that the innermost loop binding ``name`` gives it, if its iterable is a literal."""
    for loop in reversed(loops):
        iterable = loop.iter
        if (isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Attribute)
                and iterable.func.attr in ("items", "keys") and isinstance(iterable.func.value, ast.Dict)):
            iterable = iterable.func.value
        targets = loop.target.elts if isinstance(loop.target, ast.Tuple) else [loop.target]
        position = next((i for i, t in enumerate(targets) if isinstance(t, ast.Name) and t.id == name), None)
        if position is None:
            continue
        try:
            items = ast.literal_eval(iterable)
        except ValueError:
            return None
        items = list(items.items()) if isinstance(items, dict) else list(items)
        values = [item[position] if isinstance(loop.target, ast.Tuple) else item for item in items]
        return values if all(isinstance(v, str) for v in values) else None
    return None


def _key_patterns(node: ast.expr, loops: list[ast.For]) -> list[str]:
    """Regular expressions for the keys that the expression ``node`` may take."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [re.escape(node.value)]
    if isinstance(node, ast.JoinedStr):
        return ["".join(re.escape(part.value) if isinstance(part, ast.Constant) else ".+"
                        for part in node.values)]
    if isinstance(node, ast.Name):
        values = _loop_values(node.id, loops)
        if values is not None:
            return [re.escape(v) for v in values]
    raise ValueError(f"glue key {ast.unparse(node)!r} is neither a string, an f-string nor a loop "
                     "variable over a literal; write the key so that it can be read from the code")


def source_keys(code: str) -> list[str]:
    """Patterns (regular expressions) of the keys that the Python ``code`` glues, in order.

    Raises:
        ValueError: a key is computed in a way that cannot be read from the code.
    """
    patterns: list[str] = []

    def visit(node: ast.AST, loops: list[ast.For]) -> None:
        if _is_glue_call(node):
            patterns.extend(_key_patterns(node.args[0], loops))
        elif _test_key(node) is not None:
            patterns.extend(_key_patterns(_test_key(node), loops))
        inner = loops + [node] if isinstance(node, ast.For) else loops
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(ast.parse(code), [])
    return patterns


def executed_keys(notebook) -> list[str]:
    """Patterns of the keys glued in the outputs of an executed notebook (``nbformat`` or dict)."""
    keys = []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []) if cell["cell_type"] == "code" else []:
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if name is not None:
                keys.append(re.escape(name))
    return keys


def references(markdown: str) -> list[str]:
    """Every glue reference of a Markdown text: ``key`` or ``doc::key``, format specs removed."""
    found = []
    for target in ROLE.findall(markdown) + DIRECTIVE.findall(markdown):
        doc, separator, key = target.rpartition(DOC_SEPARATOR)
        key = key.split(":", 1)[0].strip()  # {glue:text}`key:.2f`, {glue:md}`key:inline`
        found.append(f"{doc}{separator}{key}")
    return found


def chapter_view(notebook, *, executed: bool) -> tuple[list[str], list[str]]:
    """(key patterns, references) of a notebook (``nbformat``), from its code or its outputs."""
    markdown = "\n".join(c["source"] for c in notebook["cells"] if c["cell_type"] == "markdown")
    if executed:
        return executed_keys(notebook), references(markdown)
    code = "\n".join(c["source"] for c in notebook["cells"] if c["cell_type"] == "code")
    # Jupytext keeps magics as comments; IPython-only lines would not parse.
    code = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!")))
    return source_keys(code), references(markdown)


def glue_problems(chapters: dict[str, tuple[list[str], list[str]]]) -> list[str]:
    """Dead keys and dangling references of a book.

    Args:
        chapters: chapter name (a file stem, e.g. ``05_conv``) -> (key patterns, references),
            as :func:`chapter_view` returns them.

    Returns:
        One sentence per problem (empty when every key is shown and every reference resolves).
    """
    used: dict[str, list[str]] = {name: [] for name in chapters}
    problems = []
    for name, (_, refs) in chapters.items():
        for ref in refs:
            doc, _, key = ref.rpartition(DOC_SEPARATOR)
            owner = Path(doc).stem if doc else name
            if not key:
                problems.append(f"{name}: a glue reference without a key")
            elif owner not in chapters:
                problems.append(f"{name}: glue reference {ref!r} names a chapter that is not in the book")
            elif not any(re.fullmatch(p, key) for p in chapters[owner][0]):
                problems.append(f"{name}: glue reference {ref!r} has no key: no cell of {owner} glues {key!r}")
            else:
                used[owner].append(key)
    for name, (patterns, _) in chapters.items():
        for pattern in dict.fromkeys(patterns):
            if not any(re.fullmatch(pattern, key) for key in used[name]):
                shown = pattern.replace(".+", "{...}").replace("\\", "")
                problems.append(f"{name}: glue key {shown!r} is used by no Markdown cell (dead key): "
                                "show it or stop gluing it")
    return problems
