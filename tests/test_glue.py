"""Every glue key of a chapter is shown by its Markdown, and every glue reference has a key (tools/book_glue.py)."""
from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import pytest
from tool_modules import load_tool

REPO = Path(__file__).resolve().parents[1]
glue = load_tool("book_glue")

HEADER = "# %% [markdown]\n# # A fixture chapter\n\n"
FIXTURE = HEADER + '''# %%
from myst_nb import glue

glue("shown", 1.5, display=False)
glue("dead", "never shown", display=False)
for c in ("reinit", "random_mask"):
    glue(f"vs_{c}", c, display=False)
for key, value in {"loop_a": 1, "loop_b": 2}.items():
    glue(key, value, display=False)

# %% [markdown]
# Shown: {glue:text}`shown:.2f`, {glue}`vs_reinit`, {glue:md}`loop_a:inline`,
# {glue:}`loop_b` and a dangling {glue:text}`missing`.
#
# ```{glue:figure} vs_random_mask
# A figure.
# ```
'''


def views(tmp_path: Path, texts: dict[str, str]) -> dict:
    chapters = {}
    for name, text in texts.items():
        path = tmp_path / f"{name}.py"
        path.write_text(text)
        chapters[name] = glue.chapter_view(jupytext.read(path), executed=False)
    return chapters


def test_fixture_with_a_dead_key_and_a_dangling_reference_fails(tmp_path):
    problems = glue.glue_problems(views(tmp_path, {"01_fixture": FIXTURE}))
    assert len(problems) == 2, problems
    assert "01_fixture: glue reference 'missing' has no key" in problems[0]
    assert "glue key 'dead' is used by no Markdown cell" in problems[1]


def test_fixture_passes_once_the_dead_key_is_shown_and_the_reference_glued(tmp_path):
    fixed = FIXTURE.replace("a dangling {glue:text}`missing`", "{glue:text}`dead`")
    assert glue.glue_problems(views(tmp_path, {"01_fixture": fixed})) == []


def test_an_f_string_key_without_any_reference_is_dead(tmp_path):
    text = FIXTURE.replace("{glue}`vs_reinit`", "").replace("{glue:figure} vs_random_mask", "{figure} x.png")
    problems = glue.glue_problems(views(tmp_path, {"01_fixture": text}))
    assert any("glue key 'vs_{...}' is used by no Markdown cell" in p for p in problems), problems


def test_a_colon_fenced_directive_and_a_reference_to_another_chapter_count(tmp_path):
    summary = HEADER + "# %% [markdown]\n# From chapter 01: {glue:text}`01_fixture.ipynb::dead`.\n#\n" \
        "# :::{glue:figure} 01_fixture.ipynb::missing\n# :::\n"
    fixed = FIXTURE.replace("a dangling {glue:text}`missing`", "nothing else")
    problems = glue.glue_problems(views(tmp_path, {"01_fixture": fixed, "06_summary": summary}))
    assert problems == ["06_summary: glue reference '01_fixture.ipynb::missing' has no key: "
                        "no cell of 01_fixture glues 'missing'"]


def test_an_empty_reference_and_an_unknown_chapter_are_reported(tmp_path):
    text = HEADER + "# %% [markdown]\n# {glue:text}`other.ipynb::x`\n#\n# ```{glue:figure}\n# ```\n"
    problems = glue.glue_problems(views(tmp_path, {"01_fixture": text}))
    assert problems == ["01_fixture: glue reference 'other.ipynb::x' names a chapter that is not in the book",
                        "01_fixture: a glue reference without a key"]


def test_a_computed_key_is_refused_with_a_clear_error(tmp_path):
    text = HEADER + '# %%\nfrom myst_nb import glue\nglue("c_" + name, 1)\n'
    with pytest.raises(ValueError, match="neither a string, an f-string nor a loop variable"):
        views(tmp_path, {"01_fixture": text})


def test_executed_keys_are_read_from_the_glue_outputs():
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("glue(...)", outputs=[nbformat.v4.new_output(
            "display_data", data={"application/papermill.record/text/plain": "1"},
            metadata={"scrapbook": {"name": "c1_x", "mime_prefix": "application/papermill.record/"}})]),
        nbformat.v4.new_markdown_cell("{glue:text}`c1_x` and {glue:text}`c1_y`"),
    ])
    keys, refs = glue.chapter_view(notebook, executed=True)
    assert keys == ["c1_x"] and refs == ["c1_x", "c1_y"]
    assert glue.glue_problems({"01_x": (keys, refs)}) == [
        "01_x: glue reference 'c1_y' has no key: no cell of 01_x glues 'c1_y'"]


def test_the_book_s_chapters_have_no_dead_key_and_no_dangling_reference():
    chapters = {path.stem: glue.chapter_view(jupytext.read(path), executed=False)
                for path in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.py"))}
    assert len(chapters) >= 6
    assert all(keys and refs for keys, refs in chapters.values()), "every chapter glues and shows values"
    assert glue.glue_problems(chapters) == []
