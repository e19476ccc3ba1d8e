"""The README fits two screens and every link in it resolves; the library tour (docs/library.md)
runs as written (docs that drift from the code mislead students)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
LIBRARY = ROOT / "docs" / "library.md"


def test_library_python_example_runs(capsys):
    blocks = re.findall(r"```python\n(.*?)```", LIBRARY.read_text(), flags=re.S)
    assert blocks, "docs/library.md has no python example"
    namespace: dict = {}
    exec(compile(blocks[0], "docs/library.md", "exec"), namespace)  # noqa: S102 - our own page
    trace, rec = namespace["trace"], namespace["rec"]
    T = len("To be, or not to be")
    assert tuple(trace["forget", 1].shape) == (1, T, 512)
    assert rec.trace["c", -1].shape[-1] == 512
    assert len(capsys.readouterr().out) >= 300 + 200  # the two generated texts were printed


def test_readme_fits_two_screens_and_lists_every_lesson_once():
    text = README.read_text()
    assert len(text.splitlines()) <= 110
    table = text.split("## The lessons", 1)[1].split("\n\n", 2)[1]  # the table after the heading
    linked = re.findall(r"\]\((lessons/[^)]+\.ipynb)\)", table)
    lessons = sorted(f"lessons/{p.name}" for p in (ROOT / "lessons").glob("[0-9]*.ipynb"))
    assert linked == lessons and len(lessons) == 7
    assert "![" in text and "(docs/live-explorer.png)" in text
    # the badges script (tools/links.py) writes between these, right under the title
    lines = text.splitlines()
    assert lines.index("<!-- badges:start -->") == 2 < lines.index("<!-- badges:end -->") <= 4


def test_every_local_link_in_the_readme_and_docs_resolves():
    pages = [README, *sorted((ROOT / "docs").glob("*.md"))]
    assert len(pages) >= 9
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" in target:
                continue
            assert (page.parent / target).exists(), f"{page.name}: {target}"
