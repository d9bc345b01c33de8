"""Tests of the published book's parts (issue 16): buttons, install cell, Binder files.

Fast: the checks run on hand-written pages and on the repository's files; the
built book is checked by ``make test`` (tools/book.py smoke).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from bs4 import BeautifulSoup
from tool_modules import load_tool

REPO = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((REPO / "_config.yml").read_text())
REPOSITORY = CONFIG["repository"]["url"]
CHAPTERS = sorted((REPO / "notebooks").glob("0*.py"))


load = load_tool


check = load("check_book")


# ------------------------------------------------------------------ one repository URL


def test_repository_is_set_once_and_copies_agree():
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", REPOSITORY), REPOSITORY
    assert CONFIG["html"]["use_repository_button"] and CONFIG["html"]["use_issues_button"]
    copies = {path: path.read_text() for path in [*CHAPTERS, REPO / "CITATION.cff", REPO / "book" / "cite.md"]}
    for path, text in copies.items():
        found = set(re.findall(r"https://github\.com/[\w.-]+/glth_core", text))
        assert found == {REPOSITORY}, f"{path.name} names {found}; change repository.url in _config.yml and here"


def test_launch_buttons_are_on():
    launch = CONFIG["launch_buttons"]
    assert launch["binderhub_url"].startswith("https://") and launch["colab_url"].startswith("https://")
    assert CONFIG["repository"]["branch"]


# ------------------------------------------------------------------ install cell


def install_cell(py: Path) -> tuple[str, str]:
    """(header, code) of the first cell of a Jupytext percent notebook."""
    body = py.read_text().split("\n# ---\n", 1)[1]
    cells = re.split(r"^(# %%.*)$", body, flags=re.M)
    return cells[1], cells[2]


@pytest.mark.parametrize("py", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_first_cell_installs_glth_core_only_when_missing(py, capsys):
    header, code = install_cell(py)
    assert '"remove-cell"' in header, "the install cell must be hidden from the book"
    assert f"git+{REPOSITORY}@{CONFIG['repository']['branch']}" in code
    calls = []

    class Shell:
        def run_line_magic(self, name, line):
            calls.append((name, line))

    exec(compile(code, str(py), "exec"), {"get_ipython": Shell})  # glth_core importable here
    assert calls == [] and capsys.readouterr().out == ""
    exec(compile(code.replace('find_spec("glth_core")', 'find_spec("glth_core_absent_package")'),
                 str(py), "exec"), {"get_ipython": Shell})
    assert len(calls) == 1 and calls[0][0] == "pip" and calls[0][1].startswith("install ")
    notebook = json.loads(py.with_suffix(".ipynb").read_text())
    assert "".join(notebook["cells"][0]["source"]).strip() == code.strip(), "run jupytext --sync"


def test_binder_installs_the_pins_and_the_repository():
    requirements = (REPO / "binder" / "requirements.txt").read_text()
    assert "-r ../requirements.txt" in requirements.splitlines()
    post_build = REPO / "binder" / "postBuild"
    assert post_build.stat().st_mode & 0o111, "binder/postBuild must be executable"
    assert re.search(r"pip install .*\s\.$", post_build.read_text(), flags=re.M)


# ------------------------------------------------------------------ chapter buttons


SETTINGS = {"repository": {"url": "https://github.com/o/r", "branch": "main"},
            "launch": {"binderhub_url": "https://mybinder.org", "colab_url": "https://colab.research.google.com"}}


def chapter_page(tmp_path: Path, *, binder: str | None = None, colab: str | None = None,
                 drop: str = "") -> tuple[BeautifulSoup, Path]:
    (tmp_path / "repo" / "notebooks").mkdir(parents=True)
    (tmp_path / "repo" / "notebooks" / "02_b.ipynb").write_text("{}")
    html = tmp_path / "html"
    (html / "_sources" / "notebooks").mkdir(parents=True)
    for suffix in (".ipynb", ".md"):
        (html / "_sources" / "notebooks" / f"02_b{suffix}").write_text("x")
    page = html / "notebooks" / "02_b.html"
    page.parent.mkdir()
    binder = binder or "https://mybinder.org/v2/gh/o/r/main?urlpath=lab/tree/notebooks/02_b.ipynb"
    colab = colab or "https://colab.research.google.com/github/o/r/blob/main/notebooks/02_b.ipynb"
    buttons = {
        "repo": '<a class="btn-source-repository-button" href="https://github.com/o/r">repo</a>',
        "issues": '<a class="btn-source-issues-button" href="https://github.com/o/r/issues/new?title=x">i</a>',
        "ipynb": '<a class="btn-download-source-button" href="../_sources/notebooks/02_b.ipynb">.ipynb</a>',
        "md": '<a class="btn-download-myst-button" href="../_sources/notebooks/02_b.md">.md</a>',
        "binder": f'<a data-bs-original-title="Launch on Binder" href="{binder}">Binder</a>',
        "colab": f'<a title="Launch on Colab" href="{colab}">Colab</a>',
    }
    markup = "".join(v for k, v in buttons.items() if k != drop)
    return BeautifulSoup(f"<html><body>{markup}</body></html>", "html.parser"), page


def test_chapter_buttons_pass_on_a_complete_page(tmp_path):
    soup, page = chapter_page(tmp_path)
    assert check.check_chapter_buttons(soup, page, page.parents[1], SETTINGS, repo=tmp_path / "repo") == []


@pytest.mark.parametrize("drop", ["repo", "issues", "ipynb", "md", "binder", "colab"])
def test_chapter_buttons_fail_when_one_is_missing(tmp_path, drop):
    soup, page = chapter_page(tmp_path, drop=drop)
    problems = check.check_chapter_buttons(soup, page, page.parents[1], SETTINGS, repo=tmp_path / "repo")
    assert len(problems) == 1, problems


@pytest.mark.parametrize("binder, colab", [
    ("https://mybinder.org/v2/gh/o/r/master?urlpath=lab/tree/notebooks/02_b.ipynb", None),  # branch
    ("https://mybinder.org/v2/gh/o/r/main?urlpath=lab/tree/notebooks/01_a.ipynb", None),    # other chapter
    (None, "https://colab.research.google.com/github/o/other/blob/main/notebooks/02_b.ipynb"),  # repository
    (None, "http://colab.research.google.com/github/o/r/blob/main/notebooks/02_b.ipynb"),  # not https
])
def test_chapter_buttons_fail_on_malformed_launch_urls(tmp_path, binder, colab):
    soup, page = chapter_page(tmp_path, binder=binder, colab=colab)
    problems = check.check_chapter_buttons(soup, page, page.parents[1], SETTINGS, repo=tmp_path / "repo")
    assert any("malformed" in p for p in problems), problems


def test_chapter_buttons_fail_when_the_download_file_is_missing(tmp_path):
    soup, page = chapter_page(tmp_path)
    (page.parents[1] / "_sources" / "notebooks" / "02_b.md").unlink()
    problems = check.check_chapter_buttons(soup, page, page.parents[1], SETTINGS, repo=tmp_path / "repo")
    assert problems and ".md download" in problems[0]


# ------------------------------------------------------------------ link check


links = load("check_links")


def site(tmp_path: Path, body: str) -> Path:
    html = tmp_path / "html"
    (html / "book").mkdir(parents=True)
    (html / "_static").mkdir()
    (html / "_static" / "style.css").write_text("p {}")
    (html / "_static" / "macros.html").write_text('<link href="{{ pathto(x) }}">')  # a theme template
    (html / "index.html").write_text('<meta http-equiv="Refresh" content="0; url=book/intro.html" />')
    (html / "book" / "intro.html").write_text(
        f'<html><head><link href="../_static/style.css"></head><body><h1 id="top">T</h1>{body}</body></html>')
    (html / "book" / "other.html").write_text('<html><body><section id="part-2">x</section></body></html>')
    return html


def test_link_check_accepts_resolving_links_and_lists_external_ones(tmp_path, monkeypatch):
    monkeypatch.setattr(links.urllib.request, "urlopen", lambda *a, **k: pytest.fail("fetched a link"))
    html = site(tmp_path, '<a href="other.html#part-2">a</a><a href="#top">b</a><a href="../">c</a>'
                          '<a href="https://example.org/x">d</a><a href="mailto:a@b.c">e</a><a href="#">f</a>'
                          '<a href="../search.html?q=x">g</a>')
    (html / "search.html").write_text("<html></html>")
    broken, external = links.check(html)
    assert broken == [] and set(external) == {"https://example.org/x"}


@pytest.mark.parametrize("href, reason", [
    ("missing.html", "no such file"),
    ("other.html#part-3", "no id 'part-3'"),
    ("#nowhere", "no id 'nowhere'"),
    ("../../outside.html", "outside the HTML folder"),
])
def test_link_check_reports_broken_internal_links(tmp_path, href, reason):
    broken, _ = links.check(site(tmp_path, f'<a href="{href}">x</a>'))
    assert len(broken) == 1 and reason in broken[0] and broken[0].startswith("book/intro.html"), broken
    assert links.main([str(tmp_path / "html")]) == 1


# ------------------------------------------------------------------ workflows


WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))


def readme_commands() -> set[str]:
    """Command lines (comments dropped) of the README's ```bash blocks."""
    blocks = re.findall(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)
    return {line.split("#")[0].strip() for block in blocks for line in block.splitlines()} - {""}


def workflow_steps(path: Path) -> list[dict]:
    workflow = yaml.safe_load(path.read_text())
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def test_workflows_exist_with_their_triggers():
    by_name = {p.stem: yaml.safe_load(p.read_text()) for p in WORKFLOWS}
    # PyYAML reads the key `on` as the boolean True
    assert set(by_name) == {"test", "book", "linkcheck"}
    assert "pull_request" in by_name["test"][True]
    assert by_name["book"][True]["push"]["branches"] == ["main"] and by_name["book"][True]["push"]["tags"]
    assert by_name["linkcheck"][True]["schedule"][0]["cron"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
def test_every_run_step_is_a_readme_command(path):
    commands = readme_commands()
    runs = [step["run"].strip() for step in workflow_steps(path) if "run" in step]
    assert runs, f"{path.name} runs nothing"
    for run in runs:
        assert run in commands, f"{path.name}: `{run}` is not a command of the README ({sorted(commands)})"


def test_book_workflow_deploys_with_the_official_pages_actions_and_caches_results():
    uses = [step["uses"].split("@")[0] for step in workflow_steps(REPO / ".github/workflows/book.yml")
            if "uses" in step]
    assert {"actions/configure-pages", "actions/upload-pages-artifact", "actions/deploy-pages",
            "actions/cache"} <= set(uses)
    cache = next(s for s in workflow_steps(REPO / ".github/workflows/book.yml")
                 if s.get("uses", "").startswith("actions/cache"))
    assert {"results", "data"} <= set(cache["with"]["path"].split())


def test_readme_commands_are_make_targets():
    targets = set(re.findall(r"^([\w-]+):", (REPO / "Makefile").read_text(), flags=re.M))
    for command in readme_commands():
        if command.startswith("make "):
            assert command.split()[1] in targets, command


# ------------------------------------------------------------------ citation


CFF = yaml.safe_load((REPO / "CITATION.cff").read_text())
VERSION = re.search(r'__version__ = "([^"]+)"', (REPO / "glth_core" / "_version.py").read_text()).group(1)


def test_citation_cff_has_the_required_keys_of_cff_1_2_0():
    assert CFF["cff-version"] == "1.2.0"
    assert isinstance(CFF["message"], str) and CFF["message"].strip()
    assert isinstance(CFF["title"], str) and CFF["title"].strip()
    assert CFF["type"] in ("software", "dataset")
    for person in CFF["authors"] + [a for ref in CFF.get("references", []) for a in ref["authors"]]:
        assert person.get("name") or person.get("family-names"), person  # an entity or a person
        assert set(person) <= {"name", "family-names", "given-names", "orcid", "email", "affiliation"}, person
    for reference in CFF.get("references", []):
        assert {"type", "title", "authors"} <= set(reference), reference


def test_citation_cff_matches_the_package():
    pyproject = (REPO / "pyproject.toml").read_text()
    assert CFF["version"] == VERSION
    assert f'license = {{text = "{CFF["license"]}"}}' in pyproject
    assert CFF["repository-code"] == REPOSITORY


def bibtex_blocks() -> dict:
    from pybtex.database import parse_string

    blocks = re.findall(r"```bibtex\n(.*?)```", (REPO / "book" / "cite.md").read_text(), flags=re.S)
    entries = {}
    for block in blocks:
        entries.update(parse_string(block, "bibtex").entries)
    return entries


def test_cite_page_gives_the_paper_as_in_the_bibliography_and_the_software_as_in_the_cff():
    from pybtex.database import parse_file

    entries = bibtex_blocks()
    assert set(entries) == {"alabdulmohsin2021generalized", "glth_core"}
    paper = parse_file(str(REPO / "book" / "references.bib")).entries["alabdulmohsin2021generalized"]
    assert dict(entries["alabdulmohsin2021generalized"].fields) == dict(paper.fields)
    assert [str(p) for p in entries["alabdulmohsin2021generalized"].persons["author"]] == \
        [str(p) for p in paper.persons["author"]]
    software = entries["glth_core"].fields
    assert software["version"] == CFF["version"] and software["url"] == CFF["repository-code"]
    assert software["title"] == CFF["title"] and software["license"] == CFF["license"]
    assert "book/cite" in (REPO / "_toc.yml").read_text()


# ------------------------------------------------------------------ PDF


pdf_tools = load("book_pdf")
execution = load("book_execute")


def test_page_title_reads_the_first_heading(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("(label)=\n# Cite this\n\n## Sub\n")
    assert pdf_tools.page_title(page) == "Cite this"
    notebook = tmp_path / "n.ipynb"
    notebook.write_text(json.dumps({"cells": [
        {"cell_type": "code", "source": ["# not a title\n"]},
        {"cell_type": "markdown", "source": ["# Lottery tickets in other bases\n", "\n", "Text"]}]}))
    assert pdf_tools.page_title(notebook) == "Lottery tickets in other bases"
    (tmp_path / "none.md").write_text("no title\n")
    with pytest.raises(pdf_tools.BookError, match="no '# Title'"):
        pdf_tools.page_title(tmp_path / "none.md")


def test_stale_chapters_compares_the_executed_copy_with_its_source(tmp_path, monkeypatch):
    import os

    repo, stage = tmp_path / "repo", tmp_path / "stage"
    for folder in (repo / "notebooks", stage / "notebooks"):
        folder.mkdir(parents=True)
    monkeypatch.setattr(execution, "REPO", repo)
    for name, source_time, executed_time in (("a", 100, 200), ("b", 300, 200), ("c", 100, None)):
        source = repo / "notebooks" / f"{name}.py"
        source.write_text("x")
        os.utime(source, (source_time, source_time))
        if executed_time is not None:
            executed = stage / "notebooks" / f"{name}.ipynb"
            executed.write_text("{}")
            os.utime(executed, (executed_time, executed_time))
    stale = execution.stale_chapters(["notebooks/a", "notebooks/b", "notebooks/c"], stage)
    assert stale == ["notebooks/b", "notebooks/c"]


@pytest.mark.skipif(not all(__import__("shutil").which(t) for t in ("pdfinfo", "pdftotext")),
                    reason="poppler-utils (pdfinfo, pdftotext) is installed by `make test` and `make pdf`")
def test_pdf_check_counts_pages_and_finds_titles(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    pdf = tmp_path / "book.pdf"
    with PdfPages(pdf) as pages:
        for text in ("The canonical lottery ticket", "Lottery tickets in other", "bases, continued", "Cite this"):
            figure = plt.figure()
            figure.text(0.1, 0.5, text)
            pages.savefig(figure)
            plt.close(figure)
    assert pdf_tools.pdf_problems(pdf, ["The canonical lottery ticket", "Cite this"]) == []
    assert pdf_tools.pdf_problems(pdf, ["the CANONICAL lottery   ticket"]) == []  # case and spacing
    missing = pdf_tools.pdf_problems(pdf, ["The canonical lottery ticket", "Random subspaces against tickets"])
    assert missing == ["the title 'Random subspaces against tickets' is not in the PDF's text"]
    too_few = pdf_tools.pdf_problems(pdf, ["Cite this"] * 4)
    assert len(too_few) == 1 and "4 pages for 4 chapters" in too_few[0]
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    assert "pdfinfo cannot read" in pdf_tools.pdf_problems(tmp_path / "broken.pdf", ["x"])[0]
