"""The chapters' notebooks: paired with their Jupytext source, executed by papermill, validated by nbval."""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import yaml
from book_common import BIN, REPO, BookError, log, run

SANITIZE = REPO / "notebooks" / "nbval_sanitize.cfg"


def pair(name: str) -> Path:
    """Make ``<name>.ipynb`` current from its Jupytext ``.py`` (if any); return the .ipynb."""
    py, ipynb = REPO / f"{name}.py", REPO / f"{name}.ipynb"
    if py.is_file():
        header = py.read_text().split("\n# ---\n", 1)[0] if py.read_text().startswith("# ---") else ""
        if "formats:" in header:
            run([BIN / "jupytext", "--sync", py], what=f"jupytext --sync {py.name}")
        else:
            run([BIN / "jupytext", "--to", "ipynb", "--output", ipynb, py],
                what=f"jupytext {py.name} -> {ipynb.name}")
    if not ipynb.is_file():
        raise BookError(f"{ipynb} does not exist and there is no {py.name} to make it from")
    notebook = json.loads(ipynb.read_text())
    if notebook.get("metadata", {}).get("kernelspec", {}).get("name") != "python3":
        raise BookError(
            f"{ipynb.relative_to(REPO)} has no 'python3' kernelspec, which papermill and nbval "
            f"need; fix it once with: .venv/bin/jupytext --set-kernel python3 {name}.py && "
            f".venv/bin/jupytext --sync {name}.py"
        )
    return ipynb


def declared_parameters(ipynb: Path) -> dict:
    """Parameters of the ``parameters``-tagged cell (papermill's view); error if there is none."""
    notebook = json.loads(ipynb.read_text())
    tagged = [c for c in notebook["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        raise BookError(
            f"{ipynb.relative_to(REPO)} must have exactly one cell tagged 'parameters' "
            f"(found {len(tagged)}); in the .py write the cell header as "
            '`# %% tags=["parameters"]`'
        )
    import papermill

    return papermill.inspect_notebook(str(ipynb))


def parse_params(pairs: list[str]) -> dict:
    """``["seeds=5", "dataset=mnist"]`` -> ``{"seeds": 5, "dataset": "mnist"}`` (YAML-typed)."""
    params = {}
    for item in pairs:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise BookError(f"--param {item!r}: expected KEY=VALUE with KEY a Python name, e.g. --param seeds=5")
        params[key] = yaml.safe_load(value) if value else ""
    return params


def execute(names: list[str], stage: Path, params: dict) -> list[Path]:
    """Execute each chapter with papermill into ``stage/notebooks/``; return the outputs."""
    import papermill

    sources = {name: pair(name) for name in names}
    declared = {name: declared_parameters(path) for name, path in sources.items()}
    for key in params:
        if not any(key in d for d in declared.values()):
            raise BookError(
                f"parameter {key!r} is declared by no chapter "
                f"({', '.join(Path(n).name for n in names)}); check its spelling"
            )
    outputs = []
    for name, source in sources.items():
        given = {k: v for k, v in params.items() if k in declared[name]}
        target = stage / f"{name}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        log(f"papermill {source.relative_to(REPO)} -> {target.relative_to(REPO)} parameters={given}")
        started = time.perf_counter()
        try:
            papermill.execute_notebook(
                str(source), str(target), parameters=given, cwd=str(source.parent),
                kernel_name="python3", progress_bar=True, log_output=False,
            )
        except papermill.PapermillExecutionError as error:
            raise BookError(
                f"{source.relative_to(REPO)} failed in cell {error.exec_count}: {error.ename}: "
                f"{error.evalue} (executed copy with the traceback: {target})"
            ) from None
        log(f"{Path(name).name} executed in {time.perf_counter() - started:.1f} s")
        outputs.append(target)
    return outputs


def nbval(notebooks: list[Path]) -> None:
    """Re-execute ``notebooks`` under pytest --nbval and compare with their stored outputs."""
    if not SANITIZE.is_file():
        raise BookError(f"{SANITIZE} is missing (nbval's sanitize rules)")
    run([sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env",
         "--nbval-sanitize-with", SANITIZE, "-p", "no:cacheprovider", "-q",
         *notebooks], what="nbval")


def kernel_environment() -> None:
    """Environment inherited by the notebook kernels (see the module docstring)."""
    import tqdm  # noqa: F401  (read TQDM_* now, so papermill's own progress bar stays on)

    os.environ.setdefault("GLTH_RESULTS_DIR", str(REPO / "results"))
    os.environ.setdefault("PYTHONHASHSEED", "0")
    os.environ.setdefault("TQDM_DISABLE", "1")
    # The kernelspec runs `python`: make it this environment's interpreter.
    os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"



def stale_chapters(names: list[str], stage: Path) -> list[str]:
    """Chapters whose executed copy in ``stage`` is missing or older than their source."""
    def newest_source(name):
        return max(p.stat().st_mtime for p in (REPO / f"{name}.py", REPO / f"{name}.ipynb") if p.is_file())

    return [n for n in names
            if not (stage / f"{n}.ipynb").is_file() or (stage / f"{n}.ipynb").stat().st_mtime < newest_source(n)]

