#!/usr/bin/env python
"""Open built book pages in headless Chromium and fail on visible breakage.

Usage::

    .venv/bin/python tools/check_book.py _build/html [--pages index.html book/method.html]
                                         [--screenshots _build/screenshots] [--all-pages]

By default the checked pages are ``index.html``, ``book/method.html`` (the
mathematics), ``book/api.html`` (the API reference) and every notebook chapter
(``notebooks/*.html``). Each page is loaded with JavaScript running (MathJax
typesets) and its rendered DOM dumped with ``chromium --dump-dom``; a
1280x2000 screenshot is saved for a human to look at. A page fails if

- it shows a build or run error: a Python traceback, a docutils system
  message (``ERROR/3`` boxes), an unresolved reference (``.problematic``), an
  ``error`` admonition, a papermill error cell or an error output of a cell;
- math was not typeset: a ``.math`` element without an ``mjx-container``
  inside, or ``\\(``, ``\\[`` or ``$$`` left in the visible text, or the page
  loads MathJax from the network rather than from the book;
- an image is missing: every ``<img>`` must point to an existing, non-empty
  PNG/JPEG/GIF/SVG/WebP file inside the HTML folder (or be a valid data URI);
- the screenshot is blank;
- a chapter page (``notebooks/*.html``) lacks one of the buttons made from
  ``_config.yml``: the repository and issues buttons (to ``repository.url``),
  the download menu with the chapter as ``.ipynb`` and ``.md`` (existing
  files), and the Binder and Colab launch buttons, whose URLs must open this
  chapter's notebook (a file of the repository) on ``repository.branch``.

Exit status 0 when every page passes, 1 otherwise (each problem is printed),
2 when Chromium is missing and cannot be installed.
"""
from __future__ import annotations

import argparse
import base64
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import yaml
from bs4 import BeautifulSoup

REPO = Path(__file__).resolve().parents[1]

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--virtual-time-budget=10000", "--window-size=1280,2000",
)
IMAGE_MAGIC = {
    "PNG": (b"\x89PNG\r\n\x1a\n",),
    "JPEG": (b"\xff\xd8\xff",),
    "GIF": (b"GIF87a", b"GIF89a"),
    "WebP": (b"RIFF",),
}
RAW_TEX = re.compile(r"\\\(|\\\[|\$\$|\\[A-Za-z]{2,}")
ERROR_SELECTORS = {
    ".system-message": "a docutils/Sphinx error message",
    ".problematic": "an unresolved reference or role",
    ".admonition.error": "an 'error' admonition",
    "#papermill-error-cell": "a papermill error cell (the notebook failed)",
    ".output.traceback": "a cell output with a traceback",
    ".output.error": "a cell error output",
}
NOT_VISIBLE_TEXT = ("script", "style", "noscript", "template", "mjx-container", "mjx-assistive-mml",
                    "pre", "code", "textarea", "math")


def find_chromium() -> str:
    """Path of a Chromium binary; install Debian's ``chromium`` when running as root."""
    override = os.environ.get("CHROMIUM")
    if override:
        return override
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        print("[check] Chromium not found; installing Debian's `chromium` (root)", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=False, env=env)
        for name in BROWSERS:
            found = shutil.which(name)
            if found:
                return found
    print("[check] ERROR: headless Chromium is needed to check the built book. Install it with\n"
          "    sudo apt-get install -y chromium        (Debian/Ubuntu)\n"
          "or point the CHROMIUM environment variable at a Chromium or Chrome binary.",
          file=sys.stderr)
    sys.exit(2)


def chromium(browser: str, page: Path, *extra: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        return subprocess.run(
            [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()],
            capture_output=True, text=True, timeout=180,
        )


def render(browser: str, page: Path, shot: Path) -> tuple[str, list[str]]:
    """(DOM of ``page`` after its scripts ran, problems with its screenshot saved to ``shot``)."""
    shot.parent.mkdir(parents=True, exist_ok=True)
    shot.unlink(missing_ok=True)
    result = chromium(browser, page, "--dump-dom", f"--screenshot={shot.resolve()}")
    if result.returncode != 0 or "<html" not in result.stdout:
        raise RuntimeError(f"chromium could not render {page}: {result.stderr[-2000:]}")
    if not shot.is_file() or shot.stat().st_size == 0:
        return result.stdout, [f"no screenshot could be taken: {result.stderr[-500:]}"]
    from PIL import Image, ImageStat

    with Image.open(shot) as image:
        spread = ImageStat.Stat(image.convert("L")).stddev[0]
    return result.stdout, [] if spread > 2.0 else [f"the screenshot {shot} is blank (pixel std {spread:.2f})"]


def visible_text(soup: BeautifulSoup) -> str:
    body = soup.body or soup
    for tag in body.find_all(NOT_VISIBLE_TEXT):
        tag.decompose()
    return body.get_text(" ")


def check_math(soup: BeautifulSoup, html_root: Path, page: Path) -> list[str]:
    problems = []
    for script in soup.find_all("script", src=True):
        if "mathjax" in script["src"].lower() and urlparse(script["src"]).scheme in ("http", "https"):
            problems.append(f"MathJax is loaded from the network ({script['src']}), not from the book")
    math = soup.select(".math")
    untypeset = [m for m in math if m.find("mjx-container") is None]
    if untypeset:
        sample = untypeset[0].get_text(" ", strip=True)[:80]
        problems.append(f"{len(untypeset)} of {len(math)} math elements were not typeset by MathJax "
                        f"(first: {sample!r})")
    raw = RAW_TEX.findall(visible_text(BeautifulSoup(str(soup), "html.parser")))
    if raw:
        problems.append(f"raw TeX delimiters left in the visible text: {sorted(set(raw))}")
    return problems


def check_errors(soup: BeautifulSoup) -> list[str]:
    problems = []
    for selector, meaning in ERROR_SELECTORS.items():
        found = soup.select(selector)
        if found:
            text = found[0].get_text(" ", strip=True)[:200]
            problems.append(f"{meaning}: {len(found)} x {selector}, first: {text!r}")
    text = (soup.body or soup).get_text(" ")
    for marker in ("Traceback (most recent call last)", "Exception encountered at"):
        if marker in text:
            problems.append(f"the page shows {marker!r}")
    return problems


def image_format(data: bytes) -> str | None:
    for name, magics in IMAGE_MAGIC.items():
        if data.startswith(magics):
            return name
    head = data[:2048].lstrip().lower()
    if head.startswith((b"<svg", b"<?xml")) and b"<svg" in data[:4096].lower():
        return "SVG"
    return None


def check_images(soup: BeautifulSoup, page: Path, html_root: Path) -> list[str]:
    problems = []
    for img in soup.find_all("img"):
        src = img.get("src", "")
        if not src:
            problems.append(f"<img> without src: {str(img)[:120]}")
            continue
        parsed = urlparse(src)
        if parsed.scheme == "data":
            header, _, payload = src.partition(",")
            try:
                data = base64.b64decode(payload) if header.endswith(";base64") else unquote(payload).encode()
            except ValueError:
                data = b""
            if not data:
                problems.append(f"empty or undecodable data-URI image: {src[:60]}...")
            continue
        if parsed.scheme in ("http", "https"):
            problems.append(f"image loaded from the network (the book must work offline): {src}")
            continue
        if parsed.scheme == "file":
            path = Path(unquote(parsed.path))
        else:
            path = (page.parent / unquote(parsed.path)).resolve()
        if not path.is_file() or path.stat().st_size == 0:
            problems.append(f"missing or empty image file {src} (resolved to {path})")
        elif image_format(path.read_bytes()) is None:
            problems.append(f"image {src} is not a PNG/JPEG/GIF/SVG/WebP file")
        elif html_root.resolve() not in path.parents:
            problems.append(f"image {src} lies outside the HTML folder")
    return problems


def redirect_target(page: Path) -> Path | None:
    """Where a ``<meta http-equiv="Refresh">`` page (Jupyter Book's index.html) points, if it is one."""
    match = re.search(r'http-equiv="Refresh"\s+content="\d+;\s*url=([^"]+)"', page.read_text(), re.I)
    return (page.parent / unquote(match.group(1))).resolve() if match else None


def default_pages(html_root: Path) -> list[Path]:
    pages = [html_root / "index.html"]
    root_page = redirect_target(pages[0])
    if root_page is not None:
        pages.append(root_page)
    for page in ("method.html", "api.html"):  # the mathematics; the API reference (autodoc)
        if (html_root / "book" / page).is_file():
            pages.append(html_root / "book" / page)
    return pages + chapter_pages(html_root)


def chapter_pages(html_root: Path) -> list[Path]:
    folder = html_root / "notebooks"
    return sorted(folder.glob("*.html")) if folder.is_dir() else []


def book_settings(config: Path) -> dict:
    """``repository`` and ``launch_buttons`` of the book's ``_config.yml``."""
    settings = yaml.safe_load(config.read_text())
    return {"repository": settings.get("repository") or {}, "launch": settings.get("launch_buttons") or {}}


def links(soup: BeautifulSoup, selector: str) -> list[str]:
    return [a["href"] for a in soup.select(selector) if a.get("href")]


def check_chapter_buttons(soup: BeautifulSoup, page: Path, html_root: Path, settings: dict,
                          repo: Path = REPO) -> list[str]:
    """Repository, issues, download and launch buttons of a chapter page (see the module docstring)."""
    problems = []
    repository = settings["repository"].get("url", "").rstrip("/")
    branch = settings["repository"].get("branch", "")
    notebook = page.relative_to(html_root).with_suffix(".ipynb").as_posix()
    if not repository or not branch:
        return [f"_config.yml sets no repository url/branch (got {repository!r}, {branch!r})"]
    if repository not in links(soup, "a.btn-source-repository-button"):
        problems.append(f"no repository button linking {repository}")
    if not any(h.startswith(f"{repository}/issues/new") for h in links(soup, "a.btn-source-issues-button")):
        problems.append(f"no issues button linking {repository}/issues/new")
    downloads = links(soup, "a.btn-download-source-button") + links(soup, "a.btn-download-myst-button")
    for suffix in (".ipynb", ".md"):
        wanted = f"_sources/{Path(notebook).with_suffix(suffix).as_posix()}"
        found = [h for h in downloads if h.endswith(wanted)]
        if not found:
            problems.append(f"no {suffix} download button (a link ending in {wanted})")
        elif not (page.parent / unquote(found[0])).resolve().is_file():
            problems.append(f"the {suffix} download {found[0]} is not a file of the built book")
    if not (repo / notebook).is_file():
        problems.append(f"the launch buttons would open {notebook}, which is not a file of the repository")
    owner_name = urlparse(repository).path.strip("/")
    hubs = {"Binder": settings["launch"].get("binderhub_url", ""), "Colab": settings["launch"].get("colab_url", "")}
    for hub, base in hubs.items():
        # Bootstrap's tooltip script moves `title` to `data-bs-original-title` in the rendered page.
        urls = [a["href"] for a in soup.find_all("a", href=True)
                if f"Launch on {hub}" in (a.get("title"), a.get("data-bs-original-title"))]
        if not base or not urls:
            problems.append(f"no {hub} launch button (launch_buttons in _config.yml: {base!r})")
            continue
        url, base = urlparse(urls[0]), urlparse(base)
        if hub == "Binder":
            path_ok = url.path == f"/v2/gh/{owner_name}/{branch}"
            target = parse_qs(url.query).get("urlpath", [""])[0]
            target_ok = target.endswith(f"tree/{notebook}")
        else:
            path_ok = url.path == f"/github/{owner_name}/blob/{branch}/{notebook}"
            target_ok = True
        if (url.scheme, url.netloc) != ("https", base.netloc) or not path_ok or not target_ok:
            problems.append(f"malformed {hub} launch URL {urls[0]} (repository {repository}, "
                            f"branch {branch}, notebook {notebook})")
    return problems


def check_page(browser: str, page: Path, html_root: Path, screenshots: Path,
               settings: dict | None = None) -> list[str]:
    """Problems of ``page``; chapter pages' buttons are checked against ``settings`` (book_settings) if given."""
    name = page.relative_to(html_root).with_suffix("").as_posix().replace("/", "__")
    dom, problems = render(browser, page, screenshots / f"{name}.png")
    soup = BeautifulSoup(dom, "html.parser")
    if settings is not None and page in chapter_pages(html_root):
        problems = problems + check_chapter_buttons(soup, page, html_root, settings)
    return check_errors(soup) + check_math(soup, html_root, page) + check_images(soup, page, html_root) + problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html", type=Path, nargs="?", default=Path("_build/html"),
                        help="the built HTML folder (default: _build/html)")
    parser.add_argument("--pages", nargs="*", default=None,
                        help="pages to check, relative to the HTML folder (default: index, method, first chapter)")
    parser.add_argument("--all-pages", action="store_true", help="check every page of the book")
    parser.add_argument("--screenshots", type=Path, default=Path("_build/screenshots"),
                        help="folder for the screenshots (default: _build/screenshots)")
    parser.add_argument("--config", type=Path, default=REPO / "_config.yml",
                        help="the book's _config.yml, for the expected buttons (default: the repository's)")
    args = parser.parse_args(argv)
    html_root = args.html.resolve()
    if not (html_root / "index.html").is_file():
        print(f"[check] ERROR: {html_root / 'index.html'} does not exist; build the book first",
              file=sys.stderr)
        return 1
    if args.all_pages:
        pages = sorted(p for p in html_root.rglob("*.html")
                       if not p.relative_to(html_root).parts[0].startswith(("_", ".")))
        pages = [p for p in pages if p.name not in ("genindex.html", "search.html")]
    elif args.pages:
        pages = [html_root / p for p in args.pages]
    else:
        pages = default_pages(html_root)
    pages = list(dict.fromkeys(p.resolve() for p in pages))
    missing = [p for p in pages if not p.is_file()]
    if missing:
        print(f"[check] ERROR: pages not found: {', '.join(map(str, missing))}", file=sys.stderr)
        return 1
    browser = find_chromium()
    settings = book_settings(args.config)
    failed = 0
    for page in pages:
        problems = check_page(browser, page, html_root, args.screenshots, settings)
        label = page.relative_to(html_root)
        if problems:
            failed += 1
            print(f"[check] FAIL {label}", flush=True)
            for problem in problems:
                print(f"    - {problem}", flush=True)
        else:
            print(f"[check] ok   {label}", flush=True)
    print(f"[check] screenshots in {args.screenshots.resolve()}", flush=True)
    if failed:
        print(f"[check] {failed} of {len(pages)} pages failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
