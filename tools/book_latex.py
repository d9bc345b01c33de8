"""Sphinx extension of the companion book: the PDF shows what the HTML shows, numbered as the HTML is.

For the LaTeX builder only (``make pdf``), on the assembled document:

- code cells that the HTML hides behind a toggle (MyST-NB tags ``hide-input``,
  ``hide-output``, ``hide-cell``) lose the hidden part, as cells tagged
  ``remove-*`` already do: paper has no toggle;
- text outputs longer than :data:`OUTPUT_LINES` lines are cut there, with a
  last line that says how many lines the HTML book shows in addition (MyST-NB's
  scroll box, ``max-height: 24em``, shows about as many);
- chapters are numbered as in the HTML: only the documents of the parts that
  ``_toc.yml`` marks ``numbered: true`` get numbers (1, 2, ... in reading
  order); the root page's sections, the other parts and their sections are
  unnumbered chapters. Without this, LaTeX numbers every section of the root
  page and every page as a chapter.

Loaded through ``sphinx: local_extensions`` in ``_config.yml``; tools/book.py
copies this file into the staged book.
"""
from __future__ import annotations

from pathlib import Path

import yaml
from docutils import nodes
from sphinx import addnodes

OUTPUT_LINES = 20
# MyST-NB's hide_mode of a code cell -> the parts of the cell it hides.
HIDDEN_PARTS = {
    "all": ("cell_code_source", "cell_code_output"),
    "input+output": ("cell_code_source", "cell_code_output"),
    "input": ("cell_code_source",),
    "output": ("cell_code_output",),
}
SECTION_DEPTH = 2  # numbered chapters number their sections and subsections (1.2.3), as the HTML does


def numbered_documents(toc: dict) -> list[str]:
    """Documents (with their nested sections) of the parts marked ``numbered: true``, in reading order."""
    found: list[str] = []

    def walk(items):
        for item in items or []:
            if "file" in item:
                found.append(item["file"])
            walk(item.get("sections"))

    for part in toc.get("parts") or []:
        if part.get("numbered"):
            walk(part.get("chapters"))
    return found


def remove_hidden_parts(doctree: nodes.Node) -> None:
    """Drop the parts of code cells that the HTML hides behind a toggle."""
    for cell in list(doctree.findall(nodes.container)):
        hidden = HIDDEN_PARTS.get(cell.get("hide_mode"), ())
        if cell.get("nb_element") != "cell_code" or not hidden:
            continue
        for part in [c for c in cell.children if c.get("nb_element") in hidden]:
            cell.remove(part)
        if not cell.children:
            cell.parent.remove(cell)


def cut_long_outputs(doctree: nodes.Node, lines: int = OUTPUT_LINES) -> None:
    """Cut every text output of a code cell to ``lines`` lines, saying how many are left out."""
    for output in doctree.findall(nodes.container):
        if output.get("nb_element") != "cell_code_output":
            continue
        for block in list(output.findall(nodes.literal_block)):
            text = block.astext().splitlines()
            if len(text) > lines:
                kept = "\n".join(text[:lines - 1])
                note = f"[... {len(text) - lines + 1} more lines: the HTML book shows this output in full]"
                block.replace_self(nodes.literal_block(kept + "\n" + note, kept + "\n" + note,
                                                       classes=block["classes"], language="none"))


def number_as_the_html(doctree: nodes.Node, numbered: set[str]) -> None:
    """Set LaTeX's ``secnumdepth`` at the start of each top-level document: numbers only for ``numbered``."""
    def secnumdepth(depth: int) -> nodes.raw:
        return nodes.raw("", f"\\setcounter{{secnumdepth}}{{{depth}}}\n", format="latex")

    doctree.insert(0, secnumdepth(-1))  # the root page's sections
    for start in doctree.findall(addnodes.start_of_file):
        if any(isinstance(a, addnodes.start_of_file) for a in _ancestors(start)):
            continue  # a nested document inherits its chapter's setting
        start.insert(0, secnumdepth(SECTION_DEPTH if start["docname"] in numbered else -1))


def _ancestors(node: nodes.Node):
    node = node.parent
    while node is not None:
        yield node
        node = node.parent


def print_as_the_html(app, doctree: nodes.Node, docname: str) -> None:
    """doctree-resolved: the three changes above, for the LaTeX builder's assembled document."""
    if app.builder.name != "latex" or not any(True for _ in doctree.findall(addnodes.start_of_file)):
        return
    toc = yaml.safe_load((Path(app.srcdir) / "_toc.yml").read_text())
    remove_hidden_parts(doctree)
    cut_long_outputs(doctree)
    number_as_the_html(doctree, set(numbered_documents(toc)))


def setup(app):
    app.connect("doctree-resolved", print_as_the_html)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
