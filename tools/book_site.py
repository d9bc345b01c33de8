"""The staged book and its HTML: config, pages and MathJax copied, ``jupyter-book build -W``, checks."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import yaml
from book_common import BIN, CONFIG, REPO, BookError, log, run, sphinx_environment
from book_mathjax import fetch_mathjax
from book_toc import strip_missing

SPHINX_EXTENSIONS = ("book_downloads.py", "book_latex.py", "book_api.py")


def stage_book(stage: Path, toc: dict, markdown: list[str]) -> None:
    """Copy config, book/ and MathJax into ``stage`` and write the staged toc there."""
    stage.mkdir(parents=True, exist_ok=True)
    shutil.copy2(CONFIG, stage / "_config.yml")
    shutil.rmtree(stage / "book", ignore_errors=True)
    shutil.copytree(REPO / "book", stage / "book")
    (stage / "tools").mkdir(exist_ok=True)  # the book's Sphinx extensions (_config.yml local_extensions)
    for extension in SPHINX_EXTENSIONS:
        shutil.copy2(REPO / "tools" / extension, stage / "tools" / extension)
    for name in markdown:
        if not (stage / f"{name}.md").exists():
            (stage / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / f"{name}.md", stage / f"{name}.md")
    mathjax = fetch_mathjax()
    static = stage / "_build" / "mathjax"
    if static.resolve() != mathjax.resolve():
        shutil.rmtree(static, ignore_errors=True)
        shutil.copytree(mathjax, static)

    def exists(name):
        return any((stage / f"{name}{s}").is_file() for s in (".md", ".ipynb"))

    staged = strip_missing(toc, exists)
    header = "# Staged by tools/book.py from _toc.yml: only files that exist.\n"
    (stage / "_toc.yml").write_text(header + yaml.safe_dump(staged, sort_keys=False))


def jupyter_book(stage: Path, path_output: Path) -> Path:
    """``jupyter-book build`` the staged book (warnings are errors); return the HTML folder."""
    html = path_output / "_build" / "html"
    shutil.rmtree(html, ignore_errors=True)
    run([BIN / "jupyter-book", "build", stage, "--path-output", path_output,
         "-W", "-n", "--keep-going", "--all", "--builder", "html"], what="jupyter-book build",
        env=sphinx_environment())
    if not (html / "index.html").is_file():
        raise BookError(f"jupyter-book reported success but {html / 'index.html'} does not exist")
    return html


def check_links(html: Path) -> None:
    """Run tools/check_links.py on ``html``: every internal link must resolve (external ones are listed)."""
    run([sys.executable, REPO / "tools" / "check_links.py", html], what="link check")


def check(html: Path, screenshots: Path, required: bool) -> None:
    """Run tools/check_book.py on ``html`` (skipped with a notice if Chromium is absent and not required)."""
    checker = REPO / "tools" / "check_book.py"
    if not required and not any(shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome")):
        log("Chromium not found: skipping the browser check (`make test` runs it)")
        return
    run([sys.executable, checker, html, "--screenshots", screenshots], what="browser check")

