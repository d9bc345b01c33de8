#!/usr/bin/env python
"""Build, smoke-test and check the companion book.

Usage (from the repository root, with the project's virtual environment)::

    .venv/bin/python tools/book.py build [--param KEY=VALUE ...] [--chapters 01_canonical,02_bases]
    .venv/bin/python tools/book.py smoke [--chapters ...]
    .venv/bin/python tools/book.py pdf [--smoke]
    .venv/bin/python tools/book.py fetch-mathjax
    .venv/bin/python tools/book.py chapters

Pipeline of ``build`` (``make book``):

1. every chapter listed in ``_toc.yml`` as ``notebooks/NN_name`` whose Jupytext
   source ``notebooks/NN_name.py`` exists is paired with its ``.ipynb``
   (``jupytext --sync``; ``--to ipynb`` when the ``.py`` declares no pairing);
2. each chapter notebook is executed by papermill with its default parameters
   (``--param`` overrides are injected into the chapters that declare them), with
   ``notebooks/`` as working directory, into the staging folder
   ``_build/executed/`` which mirrors the repository (``_config.yml``, a staged
   ``_toc.yml`` listing only files that exist, ``book/``, ``notebooks/``); every
   key that a chapter glues must be shown by its Markdown and every glue reference
   must have a key (``tools/book_glue.py``);
3. MathJax 3 is fetched once into ``_build/mathjax/`` (see ``fetch-mathjax``)
   and the staged book is built by ``jupyter-book build -W -n --keep-going --all``
   into ``_build/html/``;
4. every internal link of the built site is checked (``tools/check_links.py``,
   offline; external links are listed), the built pages are checked in
   headless Chromium (``tools/check_book.py``) when Chromium is installed, and the path of ``_build/html/index.html`` is
   printed.

``pdf`` (``make pdf``) reuses the executed notebooks of ``build`` (it executes
only the chapters whose executed copy is missing or older than their source),
builds the staged book with ``jupyter-book build --builder pdflatex`` into
``_build/latex/book.pdf`` (the Sphinx extension ``tools/book_latex.py`` leaves
out what the HTML hides, cuts long outputs and numbers chapters as the HTML
does), checks the PDF (``pdfinfo``/``pdftotext``: a sensible page count, every
page's title, the HTML's chapter numbers, no hidden code; ``tools/book_pdf.py``), then rebuilds the HTML so
that every page links the PDF (``tools/book_downloads.py``). ``pdf --smoke``
does the same on the ``smoke`` stage (``_build/smoke/_build/latex/book.pdf``),
a quick test of the LaTeX pipeline from the notebooks that ``smoke`` executed
(no training at full scale).

The steps live in modules next to this script, one job each: ``book_toc``
(``_toc.yml``), ``book_execute`` (papermill, nbval), ``book_glue`` (glue keys),
``book_mathjax`` (offline MathJax), ``book_site`` (staging, HTML, checks),
``book_pdf`` (LaTeX, PDF checks); ``book_downloads`` and ``book_latex`` are
Sphinx extensions of the book.

``smoke`` (``make test``) runs the same pipeline with ``-p smoke True`` into
``_build/smoke/`` (and, for the ``paper`` profile, ``-p smoke True -p profile paper``
into ``_build/smoke-paper/``, validated but not built), validates every executed notebook with ``pytest --nbval``
(the notebook is re-executed and its outputs compared with papermill's, after
the substitutions of ``notebooks/nbval_sanitize.cfg``), builds the book into
``_build/smoke/_build/html/`` and always runs the browser check.

Any failure exits non-zero. Chapters listed in ``_toc.yml`` that do not exist
yet are skipped with a notice, so the book builds while chapters are written.

Environment given to the notebook kernels: ``GLTH_RESULTS_DIR`` defaults to
``<repo>/results`` (so papermill and nbval share the engine's results cache
whatever their working directory), ``PYTHONHASHSEED=0`` and ``TQDM_DISABLE=1``
(progress bars are noise in a book and break output comparison) unless already
set.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the book_* modules next to this file

import yaml  # noqa: E402
from book_common import BUILD, REPO, TOC, BookError, log  # noqa: E402
from book_execute import declared_parameters, execute, kernel_environment, nbval, pair, parse_params, stale_chapters  # noqa: E402
from book_glue import chapter_view, glue_problems  # noqa: E402
from book_mathjax import MATHJAX_ENTRY, MATHJAX_STATIC_ROOT, MATHJAX_VERSION, fetch_mathjax  # noqa: E402
from book_pdf import PDF_NAME, build_pdf  # noqa: E402
from book_site import check, check_links, jupyter_book, stage_book  # noqa: E402
from book_toc import chapters, source_of, toc_entries  # noqa: E402


def check_glue(executed: list[Path]) -> None:
    """Every key glued by an executed chapter is shown, and every glue reference has a key."""
    import nbformat

    views = {path.stem: chapter_view(nbformat.read(path, as_version=4), executed=True) for path in executed}
    problems = glue_problems(views)
    if problems:
        raise BookError("glue check: " + "; ".join(problems))
    log(f"glue check: every glued value of {len(views)} chapters is shown")


def pipeline(*, smoke: bool, params: dict, selected: list[str] | None) -> Path:
    started = time.perf_counter()
    kernel_environment()
    toc, notebooks, markdown = chapters(selected)
    stage = BUILD / ("smoke" if smoke else "executed")
    if not selected:  # a partial rerun keeps the other chapters' executed copies
        shutil.rmtree(stage / "notebooks", ignore_errors=True)
    if smoke:
        params = {**params, "smoke": True}
    if notebooks:
        executed = execute(notebooks, stage, params)
        if not selected:
            check_glue(executed)
        if smoke:
            nbval(executed)
            # the paper profile, in smoke form, under nbval too (chapters with profiles only: a tutorial
            # without one would only run again with the same parameters)
            profiled = [n for n in notebooks if "profile" in declared_parameters(pair(n))]
            if params.get("profile", "quick") != "paper" and profiled:
                paper = execute(profiled, BUILD / "smoke-paper", {**params, "profile": "paper"})
                nbval(paper)
    else:
        log("no chapter notebook exists yet: building the Markdown pages only")
    stage_book(stage, toc, markdown)
    html = jupyter_book(stage, stage if smoke else REPO)
    check_links(html)
    check(html, BUILD / "screenshots" / ("smoke" if smoke else "book"), required=smoke)
    index = (html / "index.html").resolve()
    log(f"{'smoke' if smoke else 'build'} finished in {time.perf_counter() - started:.0f} s")
    print(index, flush=True)
    return index


def pdf_pipeline(*, smoke: bool) -> Path:
    started = time.perf_counter()
    kernel_environment()
    toc, notebooks, markdown = chapters(None)
    stage = BUILD / ("smoke" if smoke else "executed")
    stale = stale_chapters(notebooks, stage)
    if stale:
        log(f"executing {', '.join(Path(n).name for n in stale)}: no current executed copy in {stage}")
        execute(stale, stage, {"smoke": True} if smoke else {})
    stage_book(stage, toc, markdown)
    path_output = stage if smoke else REPO
    staged = yaml.safe_load((stage / "_toc.yml").read_text())
    pdf = build_pdf(stage, path_output, staged, toc_entries(staged))
    html = jupyter_book(stage, path_output)  # now with the PDF in every page's download menu
    if not (html / PDF_NAME).is_file():
        raise BookError(f"the HTML rebuild did not pick up {pdf} (tools/book_downloads.py)")
    check_links(html)
    log(f"pdf finished in {time.perf_counter() - started:.0f} s")
    print(pdf.resolve(), flush=True)
    return pdf


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("build", "execute the chapters and build _build/html"),
                       ("smoke", "smoke-execute, nbval-validate, build and browser-check the book")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--param", "-p", action="append", default=[], metavar="KEY=VALUE",
                         help="papermill parameter for the chapters that declare KEY (repeatable)")
        cmd.add_argument("--chapters", default="",
                         help="comma-separated chapter stems to execute (default: all in _toc.yml)")
    cmd = sub.add_parser("pdf", help="the whole book as one PDF (LaTeX), from the executed notebooks of build")
    cmd.add_argument("--smoke", action="store_true", help="from the notebooks of smoke instead (quick test)")
    sub.add_parser("fetch-mathjax", help=f"fetch MathJax {MATHJAX_VERSION} into {MATHJAX_STATIC_ROOT}")
    sub.add_parser("chapters", help="list the chapters of _toc.yml and whether they exist")
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch-mathjax":
            print(fetch_mathjax() / "mathjax" / MATHJAX_ENTRY)
        elif args.command == "chapters":
            toc = yaml.safe_load(TOC.read_text())
            for name in toc_entries(toc):
                source = source_of(name)
                print(f"{name:28s} {source.relative_to(REPO) if source else '(missing)'}")
        elif args.command == "pdf":
            pdf_pipeline(smoke=args.smoke)
        else:
            selected = [s.strip() for s in args.chapters.split(",") if s.strip()] or None
            pipeline(smoke=args.command == "smoke", params=parse_params(args.param), selected=selected)
    except BookError as error:
        print(f"[book] ERROR: {error}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
