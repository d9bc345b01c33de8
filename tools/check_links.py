#!/usr/bin/env python
"""Check the links of a built HTML book: every internal link must resolve.

Usage::

    .venv/bin/python tools/check_links.py [_build/html] [--external]

Every ``href``/``src`` of ``<a>``, ``<link>``, ``<img>``, ``<script>``,
``<source>`` and ``<iframe>`` on every page (``_static/`` and other ``_``-folders hold no pages) is classified:

- internal (a relative path, or ``#fragment``): the file must exist inside the
  HTML folder (a folder means its ``index.html``) and a fragment must name an
  ``id`` (or ``<a name>``) of the target page; query strings are ignored;
- external (``http://``, ``https://``, ``//host``): listed, one per line, with
  the number of pages using it; fetched only with ``--external`` (``make
  linkcheck``), where a URL that fails or answers an HTTP error is broken;
- ``mailto:``, ``javascript:``, ``data:`` and a bare ``#`` are skipped.

Exit status 0 when no link is broken, 1 otherwise (each broken link is printed
with the page it is on).
"""
from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

from bs4 import BeautifulSoup

LINK_ATTRIBUTES = {"a": "href", "link": "href", "img": "src", "script": "src", "source": "src", "iframe": "src"}
SKIPPED_SCHEMES = ("mailto", "javascript", "data", "tel")
USER_AGENT = "glth_core-book-linkcheck/1 (+make linkcheck)"


@lru_cache(maxsize=None)
def parse(page: Path) -> BeautifulSoup:
    return BeautifulSoup(page.read_text(errors="replace"), "html.parser")


@lru_cache(maxsize=None)
def anchors(page: Path) -> frozenset[str]:
    """Fragment targets of ``page``: every ``id`` and every ``<a name>``."""
    soup = parse(page)
    return frozenset([t["id"] for t in soup.find_all(id=True)] + [a["name"] for a in soup.find_all("a", attrs={"name": True})])


def page_links(page: Path):
    """(tag, url) of every link on ``page``."""
    for tag, attribute in LINK_ATTRIBUTES.items():
        for element in parse(page).find_all(tag, attrs={attribute: True}):
            yield tag, element[attribute].strip()


def internal_problem(url: str, page: Path, html_root: Path) -> str | None:
    """Why the internal link ``url`` on ``page`` is broken, or None if it resolves."""
    parts = urlsplit(url)
    target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
    if target.is_dir():
        target = target / "index.html"
    if html_root not in target.parents:
        return f"points outside the HTML folder ({target})"
    if not target.is_file():
        return f"no such file {target.relative_to(html_root)}"
    fragment = unquote(parts.fragment)
    if fragment and target.suffix == ".html" and fragment not in anchors(target):
        return f"no id {fragment!r} in {target.relative_to(html_root)}"
    return None


def fetch_problem(url: str) -> str | None:
    """Why the external ``url`` is broken (HEAD, then GET if HEAD is refused), or None."""
    for method in ("HEAD", "GET"):
        request = urllib.request.Request(url, method=method, headers={"User-Agent": USER_AGENT})
        try:
            with urllib.request.urlopen(request, timeout=30):
                return None
        except urllib.error.HTTPError as error:
            if method == "HEAD" and error.code in (403, 405, 429, 501):
                continue
            return f"HTTP {error.code}"
        except (OSError, ValueError) as error:
            return f"{type(error).__name__}: {error}"
    return None


def book_pages(html_root: Path) -> list[Path]:
    """The pages of the book: every ``.html`` except theme templates in ``_static/`` and the like."""
    return sorted(p for p in html_root.rglob("*.html")
                  if not p.relative_to(html_root).parts[0].startswith(("_", ".")))


def check(html_root: Path, fetch_external: bool = False) -> tuple[list[str], dict[str, set[str]]]:
    """(broken links as messages, external URL -> pages using it) of the book in ``html_root``."""
    html_root = html_root.resolve()
    broken, external = [], defaultdict(set)
    for page in book_pages(html_root):
        label = page.relative_to(html_root).as_posix()
        for tag, url in page_links(page):
            parts = urlsplit(url)
            if parts.scheme in SKIPPED_SCHEMES or url in ("", "#"):
                continue
            if parts.scheme in ("http", "https") or url.startswith("//"):
                external[url].add(label)
            elif parts.scheme:
                broken.append(f"{label}: <{tag}> {url}: unknown scheme {parts.scheme!r}")
            else:
                problem = internal_problem(url, page, html_root)
                if problem:
                    broken.append(f"{label}: <{tag}> {url}: {problem}")
    if fetch_external:
        with ThreadPoolExecutor(max_workers=8) as pool:
            for url, problem in zip(external, pool.map(fetch_problem, external)):
                if problem:
                    broken.append(f"{sorted(external[url])[0]}: external {url}: {problem}")
    return broken, external


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html", type=Path, nargs="?", default=Path("_build/html"),
                        help="the built HTML folder (default: _build/html)")
    parser.add_argument("--external", action="store_true", help="also fetch every external link (network)")
    args = parser.parse_args(argv)
    if not (args.html / "index.html").is_file():
        print(f"[links] ERROR: {args.html / 'index.html'} does not exist; build the book first", file=sys.stderr)
        return 1
    broken, external = check(args.html, fetch_external=args.external)
    print(f"[links] {len(book_pages(args.html.resolve()))} pages; {len(external)} external links "
          f"({'fetched' if args.external else 'listed, not fetched'}):", flush=True)
    for url in sorted(external):
        print(f"    {url}  ({len(external[url])} pages)")
    for problem in broken:
        print(f"[links] BROKEN {problem}", flush=True)
    if broken:
        print(f"[links] {len(broken)} broken links", file=sys.stderr)
        return 1
    print("[links] every internal link resolves", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
