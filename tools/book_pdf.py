"""The whole book as one PDF (``make pdf``): the LaTeX build of the staged book and the checks of its text.

The LaTeX itself is shaped by the Sphinx extension ``tools/book_latex.py``
(hidden cells left out, long outputs cut, chapters numbered as in the HTML);
this module builds it and checks the result through ``pdfinfo``/``pdftotext``:
a sensible page count, every page's title, the HTML's chapter numbers, and no
line of code that the HTML hides.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

from book_common import BIN, BookError, log, run, sphinx_environment
from book_latex import numbered_documents

PDF_NAME = "book.pdf"  # _config.yml: latex_documents targetname book.tex
PDF_MAX_PAGES = 1000
# Cells whose code the HTML does not show (MyST-NB tags; remove_* is MyST-NB's older spelling).
HIDDEN_INPUT_TAGS = {"hide-input", "hide-cell", "remove-input", "remove-cell", "remove_input", "remove_cell"}
PROBE_WORDS = 6  # a hidden line is looked for by its first words; shorter lines are too common to tell
NUMBER_WORDS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
                "fifteen sixteen seventeen eighteen nineteen twenty").split()


def normal(value: str) -> str:
    """Text as compared here: ligatures, line breaks, hyphenation, punctuation and case do not matter."""
    value = unicodedata.normalize("NFKC", value).replace("-\n", "")
    return " ".join(re.sub(r"[^\w]+", " ", value).split()).casefold()


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


def hidden_code_probes(notebooks: list[Path]) -> list[str]:
    """The first words of each line of code that the HTML hides, except lines that the book also shows."""
    hidden, shown = [], []
    for path in notebooks:
        for cell in json.loads(path.read_text())["cells"]:
            source = "".join(cell["source"])
            tags = set(cell.get("metadata", {}).get("tags", []))
            if cell["cell_type"] == "code" and tags & HIDDEN_INPUT_TAGS:
                hidden += [normal(line) for line in source.splitlines() if not line.lstrip().startswith("#")]
            else:
                shown.append(normal(source))
            for output in cell.get("outputs", []):  # glued values included
                values = [output.get("text", "")] + list(output.get("data", {}).values())
                shown += [normal("".join(v)) for v in values if isinstance(v, (str, list))]
    everything_shown = " | ".join(shown)
    probes = [" ".join(line.split()[:PROBE_WORDS]) for line in hidden if len(line.split()) >= PROBE_WORDS]
    return [p for p in dict.fromkeys(probes) if p not in everything_shown]


def chapter_numbers(text: str) -> list[tuple[str, str]]:
    """(number, normalised text that follows) of each chapter heading and running head of a PDF's text.

    pdftotext gives a numbered chapter's heading as the lines ``CHAPTER``, ``TWO``,
    ``TITLE`` and its running heads as the line ``Chapter 2. Title``.
    """
    found = []
    for match in re.finditer(r"^\f?CHAPTER[ \t]*\n\s*([A-Z]+)[ \t]*\n", text, flags=re.M):  # \f: a new page
        word = match.group(1).casefold()
        number = str(NUMBER_WORDS.index(word)) if word in NUMBER_WORDS else word
        found.append((number, normal(text[match.end():match.end() + 400])))
    for match in re.finditer(r"^\f?Chapter (\d+)\. (.*)$", text, flags=re.M):
        found.append((match.group(1), normal(match.group(2))))
    return found


def text_problems(text: str, titles: list[str], numbered: list[str], hidden: list[str]) -> list[str]:
    """Why the PDF's ``text`` (pdftotext) is not the book as the HTML shows it.

    Args:
        text: the PDF's text.
        titles: every page's title, in reading order.
        numbered: the titles of the chapters that the HTML numbers 1, 2, ..., in that order.
        hidden: probes of hidden code (:func:`hidden_code_probes`).

    Returns:
        One sentence per problem: a missing title, a chapter heading or running head with
        another number than the HTML's (or a number for an unnumbered page), hidden code shown.
    """
    body = normal(text)
    problems = [f"the title {t!r} is not in the PDF's text" for t in titles if normal(t) not in body]
    expected = {normal(t): str(i) for i, t in enumerate(numbered, 1)}
    found = chapter_numbers(text)
    for title in dict.fromkeys(normal(t) for t in titles):
        numbers = sorted({number for number, after in found if after.startswith(title)})
        for number in numbers:
            if number != expected.get(title):
                want = f"chapter {expected[title]}" if title in expected else "no number"
                problems.append(f"{title!r} is chapter {number} in the PDF but {want} in the HTML")
        if title in expected and expected[title] not in numbers:
            problems.append(f"no heading 'Chapter {expected[title]}' for {title!r} in the PDF")
    problems += [f"hidden code is printed: {p!r}" for p in hidden if p in body]
    return problems


def pdf_problems(pdf: Path, titles: list[str], numbered: list[str] = (), hidden: list[str] = ()) -> list[str]:
    """Why ``pdf`` is not the whole book: page count, then :func:`text_problems` of its text."""
    info = subprocess.run(["pdfinfo", pdf], capture_output=True, text=True)
    pages = re.search(r"^Pages:\s+(\d+)", info.stdout, flags=re.M)
    if info.returncode != 0 or pages is None:
        return [f"pdfinfo cannot read {pdf}: {info.stderr.strip()}"]
    problems = []
    if not len(titles) < int(pages.group(1)) <= PDF_MAX_PAGES:
        problems.append(f"{pages.group(1)} pages for {len(titles)} chapters and pages "
                        f"(expected more than {len(titles)}, at most {PDF_MAX_PAGES})")
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", pdf, "-"], capture_output=True, text=True).stdout
    return problems + text_problems(text, titles, list(numbered), list(hidden))


def build_pdf(stage: Path, path_output: Path, toc: dict, names: list[str]) -> Path:
    """``jupyter-book build --builder pdflatex`` the staged book; check and return the PDF.

    ``toc`` is the staged table of contents and ``names`` its documents in reading order.
    """
    for tool in ("latexmk", "xelatex", "pdfinfo", "pdftotext"):
        if shutil.which(tool) is None:
            raise BookError(f"{tool} is not installed: `make pdf` installs TeX and poppler-utils from "
                            "Debian (as root or with sudo), see the Makefile's TEX_PACKAGES")
    latex = path_output / "_build" / "latex"
    shutil.rmtree(latex, ignore_errors=True)
    run([BIN / "jupyter-book", "build", stage, "--path-output", path_output,
         "-n", "--keep-going", "--all", "--builder", "pdflatex"], what="jupyter-book build --builder pdflatex",
        env=sphinx_environment())
    pdf = latex / PDF_NAME
    if not pdf.is_file():
        raise BookError(f"the LaTeX build reported success but {pdf} does not exist; see {latex}/book.log")
    sources = {name: next(stage.glob(f"{name}.*")) for name in names}
    titles = [page_title(path) for path in sources.values()]
    numbered = [page_title(sources[name]) for name in numbered_documents(toc) if name in sources]
    notebooks = [path for path in sources.values() if path.suffix == ".ipynb"]
    problems = pdf_problems(pdf, titles, numbered, hidden_code_probes(notebooks))
    if problems:
        raise BookError(f"{pdf} is not the book as the HTML shows it: " + "; ".join(problems))
    pages = re.search(r"Pages:\s+(\d+)", subprocess.run(["pdfinfo", pdf], capture_output=True, text=True).stdout)
    log(f"{pdf} checked: {pages.group(1)} pages, every title of {len(titles)} chapters and pages, "
        f"chapters numbered 1-{len(numbered)} as in the HTML, no hidden code")
    return pdf
