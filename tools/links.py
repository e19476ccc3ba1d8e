"""Colab and Binder links, built from the repository URL written once in pyproject.toml.

    python tools/links.py          # rewrite README's badges and every lesson's first two cells
    python tools/links.py --check  # change nothing; exit 1 and name what differs

A fork changes ``[project.urls] Repository`` in pyproject.toml and runs this. It writes

- README.md: the badges between ``<!-- badges:start -->`` and ``<!-- badges:end -->``;
- every notebook in lessons/: two cells on top, the same in every lesson but for its name: a
  markdown cell with "Open in Colab" and Binder badges for that lesson, and the install cell
  (``INSTALL_CELL``), which installs lstmviz only where it is missing and turns on Colab's widget
  manager only in Colab. Both carry the tag ``lstmviz-launch`` (the website leaves them out).

New cells are inserted with no outputs; a cell already there keeps its outputs and execution
count (only its source is set), so running this never changes what a lesson showed.
tests/test_links.py checks that the committed files equal what this writes.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
#: The branch Colab opens the notebooks from (Binder uses the default branch, HEAD).
BRANCH = "main"
TAG = "lstmviz-launch"
BADGES_ID, INSTALL_ID = "lstmviz-badges", "lstmviz-install"
START, END = "<!-- badges:start -->", "<!-- badges:end -->"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
BINDER_BADGE = "https://mybinder.org/badge_logo.svg"

#: The first code cell of every lesson. Self-contained: where lstmviz is missing it cannot import
#: anything of ours. ``{spec}`` is pip's requirement for this repository.
INSTALL_CELL = """\
# Colab, Binder or any fresh Jupyter: install lstmviz only where it is missing (a minute), and in
# Colab turn on the widget manager that the live explorers need. Elsewhere this does nothing.
try:
    import lstmviz
except ImportError:
    %pip install --quiet "{spec}"
try:
    from google.colab import output as colab_output
except ImportError:
    colab_output = None  # not Colab
if colab_output is not None:
    colab_output.enable_custom_widget_manager()"""


def repository(pyproject: Path = ROOT / "pyproject.toml") -> tuple[str, str]:
    """(owner, name) of the GitHub repository in pyproject.toml's ``[project.urls] Repository``."""
    urls = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"].get("urls", {})
    url = urls.get("Repository", "")
    found = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?", url)
    if not found:
        sys.exit(
            f"error: [project.urls] Repository in {pyproject} is {url!r}; Colab and Binder need "
            "https://github.com/OWNER/NAME"
        )
    return found.group(1), found.group(2)


def colab_url(owner: str, name: str, path: str) -> str:
    """Colab's address of notebook ``path`` (relative to the repository root) on ``BRANCH``."""
    return f"https://colab.research.google.com/github/{owner}/{name}/blob/{BRANCH}/{path}"


def binder_url(owner: str, name: str, path: str) -> str:
    """Binder's address that builds the repository and opens ``path`` in JupyterLab."""
    return f"https://mybinder.org/v2/gh/{owner}/{name}/HEAD?urlpath=lab/tree/{path}"


def badges(owner: str, name: str, notebook: str, folder: str) -> str:
    """Markdown: "Open in Colab" for ``notebook``, Binder opening ``folder`` (or the notebook)."""
    return (
        f"[![Open In Colab]({COLAB_BADGE})]({colab_url(owner, name, notebook)}) "
        f"[![Binder]({BINDER_BADGE})]({binder_url(owner, name, folder)})"
    )


def install_cell(owner: str, name: str) -> str:
    """The install cell's source for the repository ``owner/name``."""
    return INSTALL_CELL.format(spec=f"lstmviz @ git+https://github.com/{owner}/{name}")


def readme(text: str, owner: str, name: str) -> str:
    """README ``text`` with the badges between the markers: lesson 01 in Colab, all in Binder."""
    first = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.ipynb"))[0].name
    block = badges(owner, name, f"lessons/{first}", "lessons")
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        sys.exit(f"error: README.md has no {START} ... {END} markers; put them under the title")
    return pattern.sub(lambda _: f"{START}\n{block}\n{END}", text, count=1)


def _cell(kind: str, cell_id: str, source: str) -> nbformat.NotebookNode:
    make = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
    cell = make(source, id=cell_id)
    cell.metadata["tags"] = [TAG]
    return cell


def lesson(nb: nbformat.NotebookNode, owner: str, name: str, path: str) -> nbformat.NotebookNode:
    """Notebook ``nb`` (at ``path`` in the repository) with its two launch cells set on top."""
    want = [
        _cell("markdown", BADGES_ID, badges(owner, name, path, path)),
        _cell("code", INSTALL_ID, install_cell(owner, name)),
    ]
    have = {c.get("id"): c for c in nb.cells if TAG in c.get("metadata", {}).get("tags", [])}
    rest = [c for c in nb.cells if c.get("id") not in have]
    for i, cell in enumerate(want):
        old = have.get(cell.id)
        if old is not None and old.cell_type == cell.cell_type:
            old.source = cell.source  # keep its outputs, execution count and metadata
            want[i] = old
    nb.cells = want + rest
    return nb


def main(argv: list[str] | None = None) -> int:
    """Rewrite (or with --check, compare) README's badges and every lesson's launch cells."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 on a diff")
    args = parser.parse_args(argv)
    owner, name = repository()
    differ = []
    targets = {ROOT / "README.md": lambda text: readme(text, owner, name)}
    for path in sorted((ROOT / "lessons").glob("*.ipynb")):
        rel = path.relative_to(ROOT).as_posix()
        targets[path] = lambda text, rel=rel: (
            nbformat.writes(lesson(nbformat.reads(text, as_version=4), owner, name, rel)) + "\n"
        )  # nbformat.write's own ending, which the committed lessons have
    for path, make in targets.items():
        text = path.read_text(encoding="utf-8")
        new = make(text)
        if new != text:
            differ.append(path.relative_to(ROOT).as_posix())
            if not args.check:
                path.write_text(new, encoding="utf-8")
    verb = "differ from what tools/links.py writes" if args.check else "rewritten"
    print(f"{', '.join(differ)}: {verb}" if differ else "links up to date")
    return 1 if differ and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
