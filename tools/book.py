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
   ``_toc.yml`` listing only files that exist, ``book/``, ``notebooks/``);
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
``_build/latex/book.pdf``, checks the PDF (``pdfinfo``/``pdftotext``: a
sensible page count and every page's title in it), then rebuilds the HTML so
that every page links the PDF (``tools/book_downloads.py``). ``pdf --smoke``
does the same on the ``smoke`` stage (``_build/smoke/_build/latex/book.pdf``),
a quick test of the LaTeX pipeline.

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
import base64
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import unicodedata
import urllib.request
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "_build"
TOC = REPO / "_toc.yml"
CONFIG = REPO / "_config.yml"
SANITIZE = REPO / "notebooks" / "nbval_sanitize.cfg"
BIN = Path(sys.executable).parent

MATHJAX_VERSION = "3.2.2"
MATHJAX_URL = f"https://registry.npmjs.org/mathjax/-/mathjax-{MATHJAX_VERSION}.tgz"
MATHJAX_SHA512 = (
    "Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw=="
)
# _config.yml: html_static_path ["_build/mathjax"], mathjax_path "mathjax/tex-chtml-full.js".
MATHJAX_STATIC_ROOT = BUILD / "mathjax"
MATHJAX_ENTRY = "tex-chtml-full.js"
# Parts of the npm package's es5/ folder that the CHTML bundle loads at run time.
MATHJAX_KEEP = (MATHJAX_ENTRY, "output/chtml/", "ui/", "a11y/", "adaptors/")


class BookError(RuntimeError):
    """A step of the book pipeline failed; the message says which and how to fix it."""


def log(message: str) -> None:
    print(f"[book] {message}", flush=True)


def run(cmd: list, *, cwd: Path = REPO, what: str) -> None:
    """Run ``cmd``, streaming its output; raise BookError naming ``what`` on failure."""
    log(f"{what}: {' '.join(str(c) for c in cmd)}")
    result = subprocess.run([str(c) for c in cmd], cwd=str(cwd))
    if result.returncode != 0:
        raise BookError(f"{what} failed (exit code {result.returncode}); see the output above")


# --------------------------------------------------------------------------- toc


def toc_entries(toc: dict) -> list[str]:
    """All document names (``root`` first) of a jb-book ``_toc.yml``, in reading order."""
    names = [toc["root"]]

    def walk(items):
        for item in items or []:
            if "file" in item:
                names.append(item["file"])
            walk(item.get("sections"))

    for part in toc.get("parts") or []:
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return names


def strip_missing(toc: dict, exists) -> dict:
    """Copy of ``toc`` without entries (and emptied parts) whose file ``exists(name)`` denies."""
    if not exists(toc["root"]):
        raise BookError(f"the book's root page {toc['root']!r} (from _toc.yml) does not exist")

    def keep(items):
        kept = []
        for item in items or []:
            if "file" in item and not exists(item["file"]):
                log(f"skipping {item['file']}: listed in _toc.yml but not written yet")
                continue
            item = dict(item)
            if "sections" in item:
                item["sections"] = keep(item["sections"])
                if not item["sections"]:
                    del item["sections"]
            kept.append(item)
        return kept

    staged = {k: v for k, v in toc.items() if k not in ("parts", "chapters")}
    if "parts" in toc:
        staged["parts"] = []
        for part in toc["parts"]:
            part = dict(part)
            part["chapters"] = keep(part.get("chapters"))
            if part["chapters"]:
                staged["parts"].append(part)
    if "chapters" in toc:
        staged["chapters"] = keep(toc["chapters"])
    return staged


def source_of(name: str) -> Path | None:
    """The repository file behind toc entry ``name`` (``.py`` pair preferred), or None."""
    for suffix in (".py", ".ipynb", ".md"):
        path = REPO / f"{name}{suffix}"
        if path.is_file():
            return path
    return None


def chapters(selected: list[str] | None = None) -> tuple[dict, list[str], list[str]]:
    """(toc, notebook chapters that exist, documents that are Markdown) from ``_toc.yml``.

    Notebook chapters are toc entries under ``notebooks/`` backed by a ``.py`` or
    ``.ipynb``; ``selected`` (stems such as ``02_bases``) restricts them.
    """
    toc = yaml.safe_load(TOC.read_text())
    notebooks, markdown = [], []
    for name in toc_entries(toc):
        source = source_of(name)
        if source is None:
            continue
        if source.suffix == ".md":
            markdown.append(name)
        else:
            notebooks.append(name)
    if selected:
        unknown = sorted(set(selected) - {Path(n).name for n in notebooks})
        if unknown:
            raise BookError(
                f"--chapters {','.join(unknown)}: no such chapter notebook in _toc.yml; "
                f"choose from {', '.join(Path(n).name for n in notebooks) or '(none yet)'}"
            )
        notebooks = [n for n in notebooks if Path(n).name in selected]
    return toc, notebooks, markdown


# --------------------------------------------------------------------------- notebooks


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


# --------------------------------------------------------------------------- MathJax


def _download_mathjax(target: Path) -> None:
    tarball = os.environ.get("GLTH_MATHJAX_TARBALL")
    if tarball:
        data = Path(tarball).read_bytes()
        origin = tarball
    else:
        origin = MATHJAX_URL
        try:
            with urllib.request.urlopen(MATHJAX_URL, timeout=60) as response:
                data = response.read()
        except OSError as error:
            log(f"download of {MATHJAX_URL} failed ({error}); trying `npm pack`")
            npm = shutil.which("npm")
            if npm is None:
                raise BookError(
                    f"cannot fetch MathJax {MATHJAX_VERSION}: {MATHJAX_URL} is unreachable and npm "
                    f"is not installed. On a machine with access run `npm pack mathjax@{MATHJAX_VERSION}` "
                    "and set GLTH_MATHJAX_TARBALL to the .tgz it writes"
                ) from None
            with tempfile.TemporaryDirectory() as tmp:
                run([npm, "pack", f"mathjax@{MATHJAX_VERSION}", "--silent"], cwd=Path(tmp),
                    what="npm pack mathjax")
                data = next(Path(tmp).glob("mathjax-*.tgz")).read_bytes()
            origin = "npm pack"
    digest = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if digest != MATHJAX_SHA512:
        raise BookError(f"MathJax tarball from {origin} fails its SHA-512 check (got {digest})")
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        for member in archive.getmembers():
            if not member.isfile() or not member.name.startswith("package/"):
                continue
            relative = member.name[len("package/"):]
            if relative in ("LICENSE", "package.json"):
                dest = relative
            elif relative.startswith("es5/") and relative[4:].startswith(MATHJAX_KEEP):
                dest = relative[4:]
            else:
                continue
            out = target / dest
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(archive.extractfile(member).read())
    log(f"MathJax {MATHJAX_VERSION} from {origin} unpacked")


def fetch_mathjax() -> Path:
    """Ensure ``_build/mathjax/mathjax/`` holds MathJax (verified tarball); return the static root."""
    folder = MATHJAX_STATIC_ROOT / "mathjax"
    stamp = folder / ".version"
    if stamp.is_file() and stamp.read_text() == MATHJAX_VERSION and (folder / MATHJAX_ENTRY).is_file():
        return MATHJAX_STATIC_ROOT
    MATHJAX_STATIC_ROOT.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=".mathjax-", dir=MATHJAX_STATIC_ROOT))
    try:
        _download_mathjax(partial)
        (partial / ".version").write_text(MATHJAX_VERSION)
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return MATHJAX_STATIC_ROOT


# --------------------------------------------------------------------------- book


def stage_book(stage: Path, toc: dict, markdown: list[str]) -> None:
    """Copy config, book/ and MathJax into ``stage`` and write the staged toc there."""
    stage.mkdir(parents=True, exist_ok=True)
    shutil.copy2(CONFIG, stage / "_config.yml")
    shutil.rmtree(stage / "book", ignore_errors=True)
    shutil.copytree(REPO / "book", stage / "book")
    (stage / "tools").mkdir(exist_ok=True)  # the book's Sphinx extension (_config.yml local_extensions)
    shutil.copy2(REPO / "tools" / "book_downloads.py", stage / "tools" / "book_downloads.py")
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
         "-W", "-n", "--keep-going", "--all", "--builder", "html"], what="jupyter-book build")
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


def kernel_environment() -> None:
    """Environment inherited by the notebook kernels (see the module docstring)."""
    import tqdm  # noqa: F401  (read TQDM_* now, so papermill's own progress bar stays on)

    os.environ.setdefault("GLTH_RESULTS_DIR", str(REPO / "results"))
    os.environ.setdefault("PYTHONHASHSEED", "0")
    os.environ.setdefault("TQDM_DISABLE", "1")
    # The kernelspec runs `python`: make it this environment's interpreter.
    os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"


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
        if smoke:
            nbval(executed)
            if params.get("profile", "quick") != "paper":  # the paper profile, in smoke form, under nbval too
                paper = execute(notebooks, BUILD / "smoke-paper", {**params, "profile": "paper"})
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


# --------------------------------------------------------------------------- PDF

PDF_NAME = "book.pdf"  # _config.yml: latex_documents targetname book.tex
PDF_MAX_PAGES = 1000


def stale_chapters(names: list[str], stage: Path) -> list[str]:
    """Chapters whose executed copy in ``stage`` is missing or older than their source."""
    def newest_source(name):
        return max(p.stat().st_mtime for p in (REPO / f"{name}.py", REPO / f"{name}.ipynb") if p.is_file())

    return [n for n in names
            if not (stage / f"{n}.ipynb").is_file() or (stage / f"{n}.ipynb").stat().st_mtime < newest_source(n)]


def page_title(path: Path) -> str:
    """The first ``# Title`` of a staged Markdown page or notebook."""
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text())["cells"]
        text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    else:
        text = path.read_text()
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    raise BookError(f"{path} has no '# Title' line")


def pdf_problems(pdf: Path, titles: list[str]) -> list[str]:
    """Why ``pdf`` is not the whole book: page count, and the ``titles`` missing from its text."""
    info = subprocess.run(["pdfinfo", pdf], capture_output=True, text=True)
    pages = re.search(r"^Pages:\s+(\d+)", info.stdout, flags=re.M)
    if info.returncode != 0 or pages is None:
        return [f"pdfinfo cannot read {pdf}: {info.stderr.strip()}"]
    problems = []
    if not len(titles) < int(pages.group(1)) <= PDF_MAX_PAGES:
        problems.append(f"{pages.group(1)} pages for {len(titles)} chapters and pages "
                        f"(expected more than {len(titles)}, at most {PDF_MAX_PAGES})")
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", pdf, "-"], capture_output=True, text=True).stdout

    def normal(value):  # ligatures, line breaks, hyphenation and case do not matter
        value = unicodedata.normalize("NFKC", value).replace("-\n", "")
        return " ".join(re.sub(r"[^\w]+", " ", value).split()).casefold()

    body = normal(text)
    problems += [f"the title {t!r} is not in the PDF's text" for t in titles if normal(t) not in body]
    return problems


def build_pdf(stage: Path, path_output: Path, names: list[str]) -> Path:
    """``jupyter-book build --builder pdflatex`` the staged book; check and return the PDF."""
    for tool in ("latexmk", "pdflatex", "pdfinfo", "pdftotext"):
        if shutil.which(tool) is None:
            raise BookError(f"{tool} is not installed: `make pdf` installs TeX and poppler-utils from "
                            "Debian (as root or with sudo), see the Makefile's TEX_PACKAGES")
    latex = path_output / "_build" / "latex"
    shutil.rmtree(latex, ignore_errors=True)
    run([BIN / "jupyter-book", "build", stage, "--path-output", path_output,
         "-n", "--keep-going", "--all", "--builder", "pdflatex"], what="jupyter-book build --builder pdflatex")
    pdf = latex / PDF_NAME
    if not pdf.is_file():
        raise BookError(f"the LaTeX build reported success but {pdf} does not exist; see {latex}/book.log")
    titles = [page_title(next(stage.glob(f"{name}.*"))) for name in names]
    problems = pdf_problems(pdf, titles)
    if problems:
        raise BookError(f"{pdf} is not the whole book: " + "; ".join(problems))
    log(f"{pdf} checked: every title of {len(titles)} chapters and pages is in it")
    return pdf


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
    pdf = build_pdf(stage, path_output, toc_entries(staged))
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
