"""The PDF shows what the HTML shows, numbered as the HTML is (tools/book_latex.py, tools/book_pdf.py).

No TeX needed: a three-page book (the repository's _config.yml and its Sphinx
extensions) goes through Sphinx's LaTeX builder, which writes the ``.tex`` that
``make pdf`` compiles; the PDF text check runs on text as ``pdftotext`` gives it.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from tool_modules import load_tool

REPO = Path(__file__).resolve().parents[1]
latex = load_tool("book_latex")
pdf_tools = load_tool("book_pdf")

HIDDEN_CODE = "secret_hidden_input = compute_the_settings_table(chapter, profile, smoke=smoke, seeds=seeds)"
PROBE = "secret_hidden_input compute_the_settings_table chapter profile smoke smoke"
TOGGLED_CELL = "secret_hidden_cell = 1"
SHOWN_CODE = "visible_code_line = train_the_network(seeds, rounds)"
TOC = {"format": "jb-book", "root": "intro", "parts": [
    {"caption": "Background", "chapters": [{"file": "method"}]},
    {"caption": "Experiments", "numbered": True, "chapters": [{"file": "one"}, {"file": "two"}]},
    {"caption": "Back matter", "chapters": [{"file": "back"}]},
]}


def notebook(title: str, long_output_lines: int = 0) -> nbformat.NotebookNode:
    def code(source, tags=(), text="out\n"):
        cell = nbformat.v4.new_code_cell(source, metadata={"tags": list(tags)})
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
        return cell

    long_text = "".join(f"output line {i}\n" for i in range(long_output_lines))
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell(f"# {title}\n\nProse of {title}.\n\n## A section\n\nMore prose."),
        code(HIDDEN_CODE, ["hide-input"], "the settings table\n"),
        code(TOGGLED_CELL, ["hide-cell"]),
        code("removed_input = 2", ["remove-input"]),
        code(SHOWN_CODE, [], long_text or "shown\n"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


@pytest.fixture(scope="module")
def tex(tmp_path_factory) -> str:
    """book.tex of a small book: intro with sections, a page, two numbered chapters, a back-matter page."""
    book = tmp_path_factory.mktemp("book")
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    config.pop("bibtex_bibfiles", None)
    config["sphinx"]["config"].pop("html_static_path", None)
    (book / "_config.yml").write_text(yaml.safe_dump(config))
    (book / "_toc.yml").write_text(yaml.safe_dump(TOC))
    (book / "tools").mkdir()
    for extension in ("book_downloads.py", "book_latex.py", "book_api.py"):
        shutil.copy2(REPO / "tools" / extension, book / "tools" / extension)
    (book / "intro.md").write_text("# The book\n\n## Why\n\nText.\n\n## How\n\nText.\n")
    (book / "method.md").write_text("# The method\n\nText.\n")
    (book / "back.md").write_text("# Cite this\n\nText.\n")
    nbformat.write(notebook("The first experiment"), book / "one.ipynb")
    nbformat.write(notebook("The second experiment", long_output_lines=30), book / "two.ipynb")
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    result = subprocess.run([jupyter_book, "build", book, "--builder", "latex", "--all"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return (book / "_build" / "latex" / "book.tex").read_text()


def test_latex_leaves_out_the_code_that_the_html_hides(tex):
    assert "visible\\PYGZus{}code\\PYGZus{}line" in tex, "the LaTeX lost a visible cell: the test would prove nothing"
    hidden_lines = ("secret\\PYGZus{}hidden\\PYGZus{}input", "secret\\PYGZus{}hidden\\PYGZus{}cell",
                    "removed\\PYGZus{}input")
    for hidden in hidden_lines:
        assert hidden not in tex
    assert "the settings table" in tex, "hide-input hides the code, not its output"


def test_latex_cuts_long_outputs_and_says_so(tex):
    assert f"output line {latex.OUTPUT_LINES - 2}" in tex
    assert f"output line {latex.OUTPUT_LINES - 1}" not in tex and "output line 29" not in tex
    assert f"[... {30 - latex.OUTPUT_LINES + 1} more lines: the HTML book shows this output in full]" in tex


def test_latex_numbers_only_the_chapters_that_the_html_numbers(tex):
    body = tex[tex.index("\\begin{document}"):]
    order = [body.index(s) for s in ("\\chapter{Why}", "\\chapter{The method}", "\\chapter{The first experiment}",
                                      "\\chapter{The second experiment}", "\\chapter{Cite this}")]
    assert order == sorted(order)
    settings = [(body.rfind("\\setcounter{secnumdepth}", 0, position), position) for position in order]
    depths = [body[start:end].split("}{", 1)[1].split("}", 1)[0] for start, end in settings]
    assert depths == ["-1", "-1", str(latex.SECTION_DEPTH), str(latex.SECTION_DEPTH), "-1"]
    assert "\\setcounter{chapter}" not in body, "unnumbered chapters must not advance the chapter counter"


def test_numbered_documents_reads_the_numbered_parts():
    assert latex.numbered_documents(TOC) == ["one", "two"]
    assert latex.numbered_documents(yaml.safe_load((REPO / "_toc.yml").read_text()))[0] == "notebooks/01_canonical"


PDF_TEXT = """Contents
1 The first experiment 3
CHAPTER
ONE
THE FIRST EXPERIMENT
Prose.
Chapter 1. The first experiment
\fCHAPTER
TWO
THE SECOND EXPERIMENT
visible_code_line = train_the_network(seeds, rounds)
THE METHOD
Cite this
"""


def test_text_check_passes_on_the_book_as_the_html_shows_it():
    titles = ["The method", "The first experiment", "The second experiment", "Cite this"]
    assert pdf_tools.text_problems(PDF_TEXT, titles, titles[1:3], [PROBE]) == []


def test_text_check_fails_on_shifted_chapter_numbers_and_hidden_code():
    shifted = PDF_TEXT.replace("ONE\nTHE FIRST", "EIGHT\nTHE FIRST").replace("Chapter 1.", "Chapter 8.")
    shifted = shifted.replace("THE METHOD", "CHAPTER\nSEVEN\nTHE METHOD") + "\n" + HIDDEN_CODE
    titles = ["The method", "The first experiment", "The second experiment", "Cite this"]
    problems = pdf_tools.text_problems(shifted, titles, titles[1:3], [PROBE])
    assert problems == [
        "'the method' is chapter 7 in the PDF but no number in the HTML",
        "'the first experiment' is chapter 8 in the PDF but chapter 1 in the HTML",
        "no heading 'Chapter 1' for 'the first experiment' in the PDF",
        f"hidden code is printed: {PROBE!r}",
    ]


def test_hidden_code_probes_are_the_hidden_lines_that_the_book_does_not_show_elsewhere(tmp_path):
    nbformat.write(notebook("Chapter"), tmp_path / "a.ipynb")
    assert pdf_tools.hidden_code_probes([tmp_path / "a.ipynb"]) == [PROBE]  # short lines are no probes
    shown_too = notebook("Chapter")
    shown_too.cells.append(nbformat.v4.new_code_cell(HIDDEN_CODE))
    nbformat.write(shown_too, tmp_path / "b.ipynb")
    assert pdf_tools.hidden_code_probes([tmp_path / "b.ipynb"]) == []
