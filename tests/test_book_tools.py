"""Tests of the book tooling (tools/book.py, tools/check_book.py, book/, _config.yml).

Fast: no notebook is executed and no book is built here (``make test`` does
that through ``tools/book.py smoke``). One test opens a hand-written page in
headless Chromium to prove that the checker fails on untypeset math in a real
browser.
"""
from __future__ import annotations

import base64
import re
import struct
import zlib
from pathlib import Path

import pytest
import yaml
from bs4 import BeautifulSoup
from tool_modules import load_tool

REPO = Path(__file__).resolve().parents[1]


load = load_tool


book = load("book")
toc = load("book_toc")
execution = load("book_execute")
mathjax = load("book_mathjax")
check = load("check_book")


def tiny_png(width: int = 2, height: int = 2) -> bytes:
    """A valid RGB PNG written by hand (independent of PIL)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


# ------------------------------------------------------------------ toc and parameters

TOC = {
    "format": "jb-book",
    "root": "book/intro",
    "parts": [
        {"caption": "Background", "chapters": [{"file": "book/method"}]},
        {"caption": "Experiments", "chapters": [{"file": "notebooks/01_a"}, {"file": "notebooks/02_b"}]},
        {"caption": "Empty", "chapters": [{"file": "notebooks/99_missing"}]},
    ],
}


def test_toc_entries_are_in_reading_order():
    assert toc.toc_entries(TOC) == ["book/intro", "book/method", "notebooks/01_a", "notebooks/02_b",
                                     "notebooks/99_missing"]


def test_strip_missing_drops_missing_files_and_empty_parts():
    present = {"book/intro", "book/method", "notebooks/02_b"}
    staged = toc.strip_missing(TOC, present.__contains__)
    assert [p["caption"] for p in staged["parts"]] == ["Background", "Experiments"]
    assert staged["parts"][1]["chapters"] == [{"file": "notebooks/02_b"}]
    assert TOC["parts"][1]["chapters"][0] == {"file": "notebooks/01_a"}, "input toc must not be modified"


def test_strip_missing_refuses_a_missing_root():
    with pytest.raises(toc.BookError, match="root page"):
        toc.strip_missing(TOC, lambda name: False)


def test_repository_toc_starts_with_intro_and_ends_with_references():
    names = toc.toc_entries(yaml.safe_load((REPO / "_toc.yml").read_text()))
    assert names[0] == "book/intro" and names[1] == "book/method" and names[-1] == "book/references"
    assert all((REPO / f"{n}.md").is_file() for n in names if n.startswith("book/"))


def test_parse_params_types_values_like_yaml():
    assert execution.parse_params(["seeds=5", "smoke=True", "dataset=mnist", "lr=1.2e-3", "bases=[dct, canonical]"]) == {
        "seeds": 5, "smoke": True, "dataset": "mnist", "lr": 1.2e-3, "bases": ["dct", "canonical"]}


@pytest.mark.parametrize("bad", ["seeds", "=5", "2x=1", "a-b=1"])
def test_parse_params_rejects_malformed_items(bad):
    with pytest.raises(execution.BookError, match="KEY=VALUE"):
        execution.parse_params([bad])


def test_config_points_mathjax_at_the_fetched_file():
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    sphinx = config["sphinx"]["config"]
    assert config["execute"]["execute_notebooks"] == "off"
    assert config["only_build_toc_files"] is True
    static_root = REPO / sphinx["html_static_path"][0]
    assert static_root == mathjax.MATHJAX_STATIC_ROOT
    assert sphinx["mathjax_path"] == f"mathjax/{mathjax.MATHJAX_ENTRY}"
    assert not (REPO / "_static").exists(), "a top-level _static/ makes Jupyter Book load every MathJax file"


# ------------------------------------------------------------------ bibliography


def test_every_citation_in_the_book_is_in_references_bib():
    from pybtex.database import parse_file

    entries = parse_file(str(REPO / "book" / "references.bib")).entries
    cited = set()
    for page in list((REPO / "book").glob("*.md")) + list((REPO / "notebooks").glob("*.py")):
        for keys in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", page.read_text()):
            cited.update(k.strip() for k in keys.split(","))
    assert cited, "the book cites nothing"
    assert cited <= set(entries), f"unknown citation keys: {sorted(cited - set(entries))}"
    for key, entry in entries.items():
        assert entry.persons.get("author") and entry.fields.get("title") and entry.fields.get("year"), key


# ------------------------------------------------------------------ nbval sanitisation


def test_sanitize_rules_mask_timings_and_addresses_but_not_results():
    from nbval.plugin import get_sanitize_patterns

    rules = get_sanitize_patterns((REPO / "notebooks" / "nbval_sanitize.cfg").read_text())
    assert len(rules) >= 3

    def sanitize(text):
        for regex, replace in rules:
            text = re.sub(regex, replace, text)  # as nbval does
        return text

    assert sanitize("took 12.3 s") == sanitize("took 0.8 s")
    assert sanitize("<Net object at 0x7f3a2b1c0d90>") == sanitize("<Net object at 0x7f00aa11bb22>")
    assert sanitize("epoch 3: 12ms") == sanitize("epoch 3: 7ms")
    # results and counts must still be compared
    assert sanitize("accuracy 97.31%, 5 seeds, 3 models") == "accuracy 97.31%, 5 seeds, 3 models"
    assert sanitize("accuracy 97.31") != sanitize("accuracy 97.32")
    # glued figures (base64 PNG under application/papermill.record/image/png) are not compared
    png_a = base64.b64encode(tiny_png(2, 2)).decode()
    png_b = base64.b64encode(tiny_png(3, 5)).decode()
    assert png_a != png_b and sanitize(png_a) == sanitize(png_b)


# ------------------------------------------------------------------ page checks (parsed DOM)


def soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(f"<html><body>{html}</body></html>", "html.parser")


def test_check_math_accepts_typeset_math():
    page = soup('<p>Let <span class="math">\\(x\\)</span></p>'.replace("\\(x\\)", "<mjx-container>x</mjx-container>"))
    assert check.check_math(page, Path("."), Path("p.html")) == []


@pytest.mark.parametrize("html", [
    '<p>Let <span class="math notranslate">\\(x\\)</span></p>',
    '<div class="math">\\[x\\]</div>',
    "<p>raw $$x^2$$ in prose</p>",
    "<p>the basis \\alpha is raw</p>",
])
def test_check_math_flags_untypeset_math(html):
    assert check.check_math(soup(html), Path("."), Path("p.html"))


def test_check_math_ignores_tex_in_code_and_flags_remote_mathjax():
    assert check.check_math(soup("<pre>$$x$$ \\alpha</pre><code>\\(y\\)</code>"), Path("."), Path("p.html")) == []
    remote = soup('<script src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"></script>')
    assert check.check_math(remote, Path("."), Path("p.html"))


@pytest.mark.parametrize("html", [
    '<div class="system-message"><p>ERROR/3 Unknown directive</p></div>',
    '<span class="problematic">{ref}`nowhere`</span>',
    "<pre>Traceback (most recent call last):\n  File x</pre>",
    '<div class="admonition error"><p>Error</p></div>',
    '<span id="papermill-error-cell">An Exception was encountered</span>',
])
def test_check_errors_flags_build_and_run_errors(html):
    assert check.check_errors(soup(html))


def test_check_errors_accepts_a_clean_page():
    assert check.check_errors(soup("<h1>Error bars</h1><p>The error in the estimate is small.</p>")) == []


def test_check_images(tmp_path):
    (tmp_path / "_images").mkdir()
    (tmp_path / "_images" / "good.png").write_bytes(tiny_png())
    (tmp_path / "_images" / "empty.png").write_bytes(b"")
    (tmp_path / "_images" / "text.png").write_text("not an image")
    (tmp_path / "_images" / "fig.svg").write_text('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>')
    page = tmp_path / "chapter.html"
    ok = soup('<img src="_images/good.png"><img src="_images/fig.svg"><img src="data:image/png;base64,iVBORw0KGgo=">')
    assert check.check_images(ok, page, tmp_path) == []
    for src in ("_images/missing.png", "_images/empty.png", "_images/text.png", "https://example.org/a.png",
                "data:image/png;base64,"):
        assert check.check_images(soup(f'<img src="{src}">'), page, tmp_path), src


def test_redirect_target(tmp_path):
    index = tmp_path / "index.html"
    index.write_text('<meta http-equiv="Refresh" content="0; url=book/intro.html" />')
    assert check.redirect_target(index) == (tmp_path / "book" / "intro.html").resolve()
    index.write_text("<html><body>home</body></html>")
    assert check.redirect_target(index) is None


# ------------------------------------------------------------------ real browser


def test_browser_check_fails_on_raw_math_and_passes_plain_page(tmp_path):
    """Chromium renders a page without MathJax: the raw TeX must be reported."""
    browser = check.find_chromium()
    (tmp_path / "img.png").write_bytes(tiny_png(40, 40))
    bad = tmp_path / "bad.html"
    bad.write_text('<html><body><h1>Bad</h1><p><span class="math">\\(W = Q C\\)</span></p>'
                   '<img src="img.png"><img src="gone.png"></body></html>')
    problems = check.check_page(browser, bad, tmp_path, tmp_path / "shots")
    assert any("not typeset" in p for p in problems), problems
    assert any("gone.png" in p for p in problems), problems
    assert (tmp_path / "shots" / "bad.png").stat().st_size > 0
    good = tmp_path / "good.html"
    good.write_text('<html><body><h1>Good</h1><p>Accuracy 97%.</p><img src="img.png"></body></html>')
    assert check.check_page(browser, good, tmp_path, tmp_path / "shots") == []


def test_every_tool_module_is_under_400_lines():
    lengths = {p.name: len(p.read_text().splitlines()) for p in (REPO / "tools").glob("*.py")}
    assert len(lengths) >= 10 and "book.py" in lengths
    assert {name: n for name, n in lengths.items() if n > 400} == {}


def test_book_cli_lists_the_chapters(capsys):
    assert book.main(["chapters"]) == 0
    listed = capsys.readouterr().out
    assert "notebooks/01_canonical" in listed and "book/api" in listed
