"""Colab and Binder: the badges and each lesson's install cell are what tools/links.py writes from
the one repository URL in pyproject.toml; the install cell installs only where lstmviz is missing
and turns on Colab's widget manager only in Colab; Binder builds from environment.yml."""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from pathlib import Path

import nbformat
import pytest
import yaml
from IPython.core.inputtransformer2 import TransformerManager

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "lessons").glob("*.ipynb"))


def _tool(path: str):
    spec = importlib.util.spec_from_file_location(Path(path).stem, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


links = _tool("tools/links.py")
prepare = _tool("tools/site/prepare.py")


def test_committed_badges_and_install_cells_are_what_the_script_writes(capsys):
    assert links.main(["--check"]) == 0, capsys.readouterr().out


def test_the_repository_url_is_written_once_and_a_fork_changes_every_link(tmp_path):
    assert links.repository() == ("lstmviz", "lstmviz")
    fork = tmp_path / "pyproject.toml"
    fork.write_text(
        '[project]\nname = "x"\n[project.urls]\nRepository = "https://github.com/me/lv"\n'
    )
    assert links.repository(fork) == ("me", "lv")
    readme = links.readme(
        "# t\n\n<!-- badges:start -->\nold\n<!-- badges:end -->\nrest", "me", "lv"
    )
    assert "old" not in readme and readme.endswith("<!-- badges:end -->\nrest")
    assert (
        "(https://colab.research.google.com/github/me/lv/blob/main/lessons/01_vanilla_rnn.ipynb)"
        in readme
    )
    assert "(https://mybinder.org/v2/gh/me/lv/HEAD?urlpath=lab/tree/lessons)" in readme
    assert '%pip install --quiet "lstmviz @ git+https://github.com/me/lv"' in links.install_cell(
        "me", "lv"
    )
    fork.write_text('[project]\nname = "x"\n[project.urls]\nRepository = "gitlab.com/me/lv"\n')
    with pytest.raises(SystemExit, match="https://github.com/OWNER/NAME"):
        links.repository(fork)


def test_readme_badges_sit_under_the_title():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert lines[0].startswith("# lstmviz")
    start = lines.index(links.START)
    assert start <= 2 and lines[start + 2] == links.END
    assert "colab.research.google.com/github/lstmviz/lstmviz/blob/main/lessons/" in lines[start + 1]


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name[:2])
def test_every_lesson_opens_with_its_badges_then_the_install_cell(path):
    nb = nbformat.read(path, as_version=4)
    badges, install, title = nb.cells[:3]
    rel = f"lessons/{path.name}"
    assert badges.cell_type == "markdown" and links.TAG in badges.metadata["tags"]
    assert f"/blob/main/{rel})" in badges.source and f"urlpath=lab/tree/{rel})" in badges.source
    assert install.cell_type == "code" and links.TAG in install.metadata["tags"]
    assert install.source == links.install_cell("lstmviz", "lstmviz")
    assert title.cell_type == "markdown" and title.source.startswith("# ")
    assert sum(links.TAG in c.metadata.get("tags", []) for c in nb.cells) == 2


class _Shell:
    """Stands for IPython's shell: records the magics the cell runs instead of running them."""

    def __init__(self):
        self.magics: list[tuple[str, str]] = []

    def run_line_magic(self, name: str, line: str) -> None:
        self.magics.append((name, line))


def _run_install_cell() -> _Shell:
    """Execute the committed install cell as IPython would (its %pip turned into a call)."""
    source = nbformat.read(LESSONS[0], as_version=4).cells[1].source
    shell = _Shell()
    code = TransformerManager().transform_cell(source)
    exec(compile(code, "<install cell>", "exec"), {"get_ipython": lambda: shell})
    return shell


@pytest.fixture
def outside_colab(monkeypatch):
    monkeypatch.setitem(sys.modules, "google.colab", None)  # `import google.colab` fails


@pytest.fixture
def in_colab(monkeypatch):
    """A fake google.colab whose output.enable_custom_widget_manager counts its calls."""
    calls = []
    output = types.SimpleNamespace(enable_custom_widget_manager=lambda: calls.append(1))
    google = types.ModuleType("google")
    colab = types.ModuleType("google.colab")
    colab.output = output
    google.colab = colab
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    return calls


def test_install_cell_installs_nothing_where_lstmviz_is_there(outside_colab):
    assert _run_install_cell().magics == []


def test_install_cell_pip_installs_from_the_repository_where_lstmviz_is_missing(
    outside_colab, monkeypatch
):
    monkeypatch.setitem(sys.modules, "lstmviz", None)  # `import lstmviz` raises ImportError
    assert _run_install_cell().magics == [
        ("pip", 'install --quiet "lstmviz @ git+https://github.com/lstmviz/lstmviz"')
    ]


def test_install_cell_turns_on_colabs_widget_manager_only_in_colab(in_colab):
    assert _run_install_cell().magics == []
    assert in_colab == [1]


def test_the_website_leaves_the_launch_cells_out():
    assert prepare.LAUNCH == links.TAG
    nb = json.loads(LESSONS[0].read_text())
    site = prepare.prepare_notebook(nb, "lessons/solutions/01_vanilla_rnn.py", download="x.ipynb")
    assert not any(links.TAG in c.get("metadata", {}).get("tags", []) for c in site["cells"])
    assert "".join(site["cells"][0]["source"]).startswith("# 01")
    assert "colab" not in json.dumps(site["cells"][:3])


def test_binder_builds_environment_yml_which_installs_this_checkout():
    # repo2docker reads only binder/ (or .binder/) when there is one: environment.yml would be
    # ignored, so there is none
    assert not (ROOT / "binder").exists() and not (ROOT / ".binder").exists()
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    names = [d.split(">")[0].split("=")[0] for d in env["dependencies"] if isinstance(d, str)]
    assert "jupyterlab" in names and "ipywidgets" in names
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip  # the lessons then come from lessons/ (lstmviz.core.lessons)
    assert (ROOT / "docs" / "colab-binder.md").is_file()
