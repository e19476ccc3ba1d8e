"""The public API: ``lstmviz.__all__`` resolves, and everything a lesson uses is public."""

from __future__ import annotations

import ast
import importlib
import json
from pathlib import Path
from types import ModuleType

import pytest

import lstmviz

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "lessons").glob("*.ipynb")) + [ROOT / "tests/browser/explorers.ipynb"]


def test_every_name_in_all_is_importable():
    for package in (lstmviz, lstmviz.core, lstmviz.gates):
        for name in package.__all__:
            assert getattr(package, name) is not None, f"{package.__name__}.{name}"
    namespace: dict = {}
    exec("from lstmviz import *", namespace)
    assert set(lstmviz.__all__) <= set(namespace)
    # the lazy layers load on first use; an unknown name is a clear AttributeError
    assert isinstance(lstmviz.viz.plots, ModuleType) and isinstance(lstmviz.teaching, ModuleType)
    with pytest.raises(AttributeError, match="livefig"):
        lstmviz.livefig  # noqa: B018


def test_every_gates_name_is_exported_at_the_top():
    assert set(lstmviz.gates.__all__) <= set(lstmviz.__all__)


def _cells(path: Path) -> list[str]:
    """A notebook's code cells, with IPython magics and shell lines made `pass`."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            lines = "".join(cell["source"]).splitlines()
            # a magic becomes `pass` (not a blank line: it may be the only line of a block)
            out.append(
                "\n".join(
                    ln[: len(ln) - len(ln.lstrip())] + "pass"
                    if ln.lstrip().startswith(("%", "!"))
                    else ln
                    for ln in lines
                )
            )
    return out


def _lesson_names(path: Path) -> set[str]:
    """Every dotted lstmviz name a notebook imports or reads, e.g. ``lstmviz.viz.plots.heatmap``."""
    names: set[str] = set()
    aliases = {"lstmviz": "lstmviz"}
    for source in _cells(path):
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lstmviz"):
                for a in node.names:
                    names.add(f"{node.module}.{a.name}")
                    aliases[a.asname or a.name] = f"{node.module}.{a.name}"
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("lstmviz"):
                        names.add(a.name)
                        aliases[a.asname or a.name.split(".")[0]] = (
                            a.name if a.asname else a.name.split(".")[0]
                        )
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                parts = []
                base = node
                while isinstance(base, ast.Attribute):
                    parts.append(base.attr)
                    base = base.value
                if isinstance(base, ast.Name) and base.id in aliases:
                    names.add(".".join([aliases[base.id], *reversed(parts)]))
    return names


def _resolve(dotted: str) -> None:
    """Import ``dotted`` part by part; stop at the first object that is not a module."""
    parts = dotted.split(".")
    obj: object = importlib.import_module(parts[0])
    for k, part in enumerate(parts[1:], start=1):
        if not isinstance(obj, ModuleType):
            return  # an attribute of a class or object: not the package's API surface
        assert not part.startswith("_"), f"{dotted}: a lesson uses the private name {part!r}"
        prefix = ".".join(parts[: k + 1])
        if hasattr(obj, part):
            obj = getattr(obj, part)
        else:
            obj = importlib.import_module(prefix)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_lstmviz_name_a_lesson_uses_is_public_and_exists(path):
    names = _lesson_names(path)
    assert names, f"{path.name} uses no lstmviz name at all"
    for dotted in sorted(names):
        _resolve(dotted)
