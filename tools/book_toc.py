"""The book's table of contents: ``_toc.yml`` read, staged (missing files dropped) and mapped to sources."""
from __future__ import annotations

from pathlib import Path

import yaml
from book_common import REPO, TOC, BookError, log


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

