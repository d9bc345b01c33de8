"""The package's layers: imports run one way, no module over 400 lines, the core imports light.

The layer order is the one documented in ``glth_core/__init__.py``; every import of every
module (function-level ones included) is read from its syntax tree, relative imports resolved.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import glth_core

PACKAGE = Path(glth_core.__file__).resolve().parent

#: folder (or top-level module) -> rank; a module may import its own folder and lower ranks only
LAYERS = {"_version": 0, "storage": 0, "core": 1, "data": 2, "engine": 3, "runs": 4, "analysis": 5,
          "book": 6, "cli": 6, "__init__": 7, "__main__": 7}
#: same-rank folders that must not import each other
SEPARATE = {frozenset({"book", "cli"}), frozenset({"_version", "storage"})}
MAX_LINES = 400
#: data tables, not code: exempt from the line limit
DATA_TABLES = {"data/checksums.py"}


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(root: Path, module: str) -> bool:
    path = root.joinpath(*module.split(".")[1:])
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported_modules(root: Path, path: Path) -> set[str]:
    """Every module of the package at ``root`` that ``path`` imports (absolute names)."""
    package_name = root.name
    name = module_name(root, path)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module
            for alias in node.names:  # ``from pkg import module`` imports the module, else a name of pkg
                full = f"{prefix}.{alias.name}"
                found.add(full if is_module(root, full) else prefix)
    return {m for m in found if m == package_name or m.startswith(package_name + ".")}


def layer_of(root: Path, module: str) -> str | None:
    parts = module.split(".")[1:]
    if not parts:
        return "__init__"
    return parts[0] if parts[0] in LAYERS else None


def back_edges(root: Path) -> list[str]:
    """Every import of a module of ``root`` that runs against the layer order."""
    problems = []
    for path in sorted(root.rglob("*.py")):
        source = path.relative_to(root)
        here = "__init__" if source.as_posix() == "__init__.py" else source.parts[0].removesuffix(".py")
        if here not in LAYERS:
            problems.append(f"{source}: in no layer (add its folder to LAYERS)")
            continue
        for target in imported_modules(root, path):
            there = layer_of(root, target)
            if there is None and (root / Path(*target.split(".")[1:])).with_suffix(".py").exists():
                problems.append(f"{source}: imports {target}, which is in no layer")
            if there is None or there == here:
                continue
            if LAYERS[there] > LAYERS[here] or frozenset({here, there}) in SEPARATE:
                problems.append(f"{source} ({here}) imports {target} ({there})")
    return problems


def test_imports_run_one_way():
    assert back_edges(PACKAGE) == []


def test_a_back_edge_fails(tmp_path):
    fake = tmp_path / "glth_core"
    for folder in ("core", "analysis"):
        (fake / folder).mkdir(parents=True)
        (fake / folder / "__init__.py").write_text("")
    (fake / "__init__.py").write_text("from .core import bases\n")
    (fake / "analysis" / "stats.py").write_text("from ..core.bases import basis\n")  # forward: fine
    (fake / "core" / "bases.py").write_text("def basis():\n    from ..analysis import stats\n    return stats\n")
    assert back_edges(fake) == ["core/bases.py (core) imports glth_core.analysis.stats (analysis)"]
    (fake / "core" / "bases.py").write_text("from .. import basis\n")  # a public name, through the package
    assert back_edges(fake) == ["core/bases.py (core) imports glth_core (__init__)"]
    (fake / "core" / "bases.py").write_text("import glth_core.analysis.stats\n")  # absolute, top level
    assert back_edges(fake) == ["core/bases.py (core) imports glth_core.analysis.stats (analysis)"]
    (fake / "core" / "bases.py").write_text("")
    (fake / "stray.py").write_text("")
    assert back_edges(fake) == ["stray.py: in no layer (add its folder to LAYERS)"]


def long_modules(root: Path) -> dict[str, int]:
    lengths = {p.relative_to(root).as_posix(): len(p.read_text(encoding="utf-8").splitlines())
               for p in root.rglob("*.py")}
    return {m: n for m, n in lengths.items() if n > MAX_LINES and m not in DATA_TABLES}


def test_no_module_over_400_lines(tmp_path):
    assert long_modules(PACKAGE) == {}
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "big.py").write_text("x = 1\n" * (MAX_LINES + 1))
    assert long_modules(tmp_path) == {"core/big.py": MAX_LINES + 1}


@pytest.mark.parametrize("module, absent", [
    ("glth_core.core", ["glth_core.analysis", "glth_core.engine", "pandas"]),
    ("glth_core.core.bases", ["glth_core.analysis", "glth_core.engine", "glth_core.runs", "pandas"]),
    ("glth_core.data", ["glth_core.engine", "glth_core.core", "glth_core.analysis"]),
    ("glth_core.engine.hparams", ["glth_core.analysis", "glth_core.runs", "glth_core.book"]),
])
def test_importing_a_layer_imports_no_higher_layer(module, absent):
    code = (f"import sys, {module}, glth_core; glth_core.__version__; "
            f"print(' '.join(m for m in {absent!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=PACKAGE.parent)
    assert out.stdout.split() == []


def test_the_public_api_is_importable_from_the_package():
    for name in glth_core.__all__:
        assert getattr(glth_core, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        glth_core.no_such_name
