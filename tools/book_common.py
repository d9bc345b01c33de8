"""What every step of the book pipeline shares: the repository's paths, the error, logging, running."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "_build"
TOC = REPO / "_toc.yml"
CONFIG = REPO / "_config.yml"
BIN = Path(sys.executable).parent


class BookError(RuntimeError):
    """A step of the book pipeline failed; the message says which and how to fix it."""


def log(message: str) -> None:
    print(f"[book] {message}", flush=True)


def run(cmd: list, *, cwd: Path = REPO, what: str, env: dict | None = None) -> None:
    """Run ``cmd``, streaming its output; raise BookError naming ``what`` on failure.

    ``env`` adds to (or overrides) the current environment.
    """
    log(f"{what}: {' '.join(str(c) for c in cmd)}")
    result = subprocess.run([str(c) for c in cmd], cwd=str(cwd), env={**os.environ, **(env or {})})
    if result.returncode != 0:
        raise BookError(f"{what} failed (exit code {result.returncode}); see the output above")


def sphinx_environment() -> dict:
    """Environment of ``jupyter-book build``: the API page's autodoc imports this checkout's glth_core."""
    return {"PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
