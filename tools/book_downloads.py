"""Sphinx extension of the companion book: more entries in each page's download menu.

sphinx-book-theme's download menu offers the page's source (for a chapter, the
executed ``.ipynb`` copied to ``_sources/``) and the browser's print-to-PDF.
This extension adds

- ``.md`` on every notebook chapter: the chapter as a MyST Markdown notebook
  (``jupytext`` format ``md:myst``, inputs only), written to
  ``_sources/<page>.md`` next to the ``.ipynb``;
- ``book .pdf`` on every page, when ``make pdf`` has built the whole book:
  ``<build>/latex/book.pdf`` (``<build>`` is the folder holding ``html/``) is
  copied to ``<html>/book.pdf``. A PDF older than a source of the build is
  stale and left out, with a notice (``make pdf`` rebuilds the HTML after the
  PDF, so the link appears then).

Loaded through ``sphinx: local_extensions`` in ``_config.yml``; tools/book.py
copies this file into the staged book.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.util import logging

LOGGER = logging.getLogger(__name__)
PDF_NAME = "book.pdf"
DOWNLOAD_GROUP = "download-buttons"  # sphinx-book-theme's label of the download menu
RUN_METADATA = ("papermill", "execution")


def book_pdf(outdir: Path, srcdir: Path) -> Path | None:
    """The whole book's PDF next to the HTML build, if it exists and no source is newer."""
    pdf = outdir.parent / "latex" / PDF_NAME
    if not pdf.is_file():
        return None
    sources = [p for pattern in ("**/*.ipynb", "**/*.md") for p in srcdir.glob(pattern)
               if "_build" not in p.relative_to(srcdir).parts]
    newest = max((p.stat().st_mtime for p in sources), default=0.0)
    if pdf.stat().st_mtime < newest:
        LOGGER.info(f"book_downloads: {pdf} is older than the book's sources; "
                    "not linked (`make pdf` rebuilds it and links it)")
        return None
    return pdf


def copy_pdf(app) -> None:
    """builder-inited: copy a current book PDF into the HTML output."""
    if app.builder.format != "html":
        app.config.book_pdf_available = False
        return
    pdf = book_pdf(Path(app.outdir), Path(app.srcdir))
    app.config.book_pdf_available = pdf is not None
    if pdf is not None:
        Path(app.outdir).mkdir(parents=True, exist_ok=True)
        shutil.copy2(pdf, Path(app.outdir) / PDF_NAME)


def add_downloads(app, pagename, templatename, context, doctree) -> None:
    """html-page-context (after sphinx-book-theme's): extend the page's download menu."""
    groups = [b for b in context.get("header_buttons", []) if b.get("label") == DOWNLOAD_GROUP]
    if not groups:
        return
    buttons = groups[0]["buttons"]
    pathto = context["pathto"]
    source = Path(app.env.doc2path(pagename))
    if source.suffix == ".ipynb":
        import jupytext

        target = Path(app.outdir) / "_sources" / f"{pagename}.md"
        target.parent.mkdir(parents=True, exist_ok=True)
        notebook = jupytext.read(source)
        for metadata in [notebook.metadata] + [cell.metadata for cell in notebook.cells]:
            for key in RUN_METADATA:  # papermill's execution records: noise in a source file
                metadata.pop(key, None)
        notebook.metadata.get("jupytext", {}).pop("formats", None)
        jupytext.write(notebook, target, fmt="md:myst")
        buttons.insert(1, {
            "type": "link", "url": f"{pathto('_sources', 1)}/{pagename}.md", "text": ".md",
            "tooltip": "Download the chapter as a MyST Markdown notebook", "icon": "fab fa-markdown",
            "label": "download-myst-button",
        })
    if app.config.book_pdf_available:
        buttons.append({
            "type": "link", "url": pathto(PDF_NAME, 1), "text": "book .pdf",
            "tooltip": "Download the whole book as a PDF", "icon": "fas fa-book",
            "label": "download-book-pdf-button",
        })


def setup(app):
    app.add_config_value("book_pdf_available", False, "html")
    app.connect("builder-inited", copy_pdf)
    app.connect("html-page-context", add_downloads, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
