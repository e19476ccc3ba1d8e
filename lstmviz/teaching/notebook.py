"""Lesson set-up: seeds, and plotly renderers that are interactive live and static on GitHub.

Used by every lesson: ``lstmviz.teaching.notebook.setup()`` is its first code cell after the
install cell (tools/links.py); ``result_file`` and ``solutions`` read its files through the package.
"""

from __future__ import annotations

import html
import importlib.util
import os
import random
import sys
import time
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import TypeVar

import numpy as np
import plotly.io as pio
import torch

from ..core.errors import LstmvizError
from ..core.lessons import lessons_dir
from ..viz.style import static_images_available

T = TypeVar("T")

#: Results the lessons read but cannot compute in their time budget (made by tools/results/).
RESULTS_DIR = Path(__file__).resolve().parents[1] / "data" / "results"

#: plotly's own choices for a plain Jupyter kernel (JupyterLab, Notebook 7, Voila, nbconvert,
#: nbval), and ours; any other choice (Colab, VS Code, Kaggle, a user's) is kept as it is.
JUPYTER_RENDERERS = ("plotly_mimetype", "plotly_mimetype+notebook", "plotly_mimetype+png")


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and torch so a lesson prints the same numbers on every run."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def setup(seed: int = 0) -> str:
    """Seed everything and choose plotly's renderer (``choose_renderer``); returns the renderer."""
    seed_everything(seed)
    renderer = choose_renderer()
    pio.renderers.default = renderer
    if "+png" in renderer:
        png = pio.renderers["png"]
        png.width, png.height, png.scale = 900, 450, 1
        _start_kaleido()
    torch.set_printoptions(precision=4, sci_mode=False)
    np.set_printoptions(precision=4, suppress=True)
    return renderer


def choose_renderer() -> str:
    """The plotly renderer for this front-end: interactive where it works, a PNG beside it.

    In a plain Jupyter kernel (JupyterLab, Notebook 7, Voila, nbconvert) figures use plotly's own
    mimetype (hover, zoom), plus a PNG when kaleido has a browser: GitHub, nbviewer and nbconvert
    drop the plotly mimetype and show the PNG. Colab and VS Code get plotly's own choice (its
    ``colab`` and ``vscode`` renderers), as does anything else plotly recognised, a
    ``PLOTLY_RENDERER`` setting, or a renderer the user chose before ``setup()``.
    """
    current = str(pio.renderers.default)
    if (
        os.environ.get("PLOTLY_RENDERER")
        or _in_colab()
        or "VSCODE_PID" in os.environ
        or current not in JUPYTER_RENDERERS
    ):
        return current
    return "plotly_mimetype+png" if static_images_available() else "plotly_mimetype"


def _in_colab() -> bool:
    """True in Google Colab (its ``google.colab`` package is there)."""
    if "google.colab" in sys.modules:
        return True
    try:
        return importlib.util.find_spec("google.colab") is not None
    except (ImportError, ValueError):  # no "google" package at all, or a half-made module
        return False


def _start_kaleido() -> None:
    """Keep one kaleido browser running, so each static PNG takes ~0.3 s instead of ~4 s."""
    import kaleido  # here, not at the top: only lessons with a browser start it (slow to import)

    # plotly passes its own options on every call, which a running server ignores, with a warning
    warnings.filterwarnings("ignore", message="The kopts argument is ignored")
    try:
        kaleido.start_sync_server(silence_warnings=True)
    except Exception as error:  # a missing or broken browser: PNGs then start one each time
        warnings.warn(
            f"kaleido could not start a browser ({error}); static PNGs will be slow", stacklevel=3
        )


def progress(items: Iterable[T], desc: str, total: int | None = None) -> Iterator[T]:
    """Yield ``items`` while one line under the cell says how far a long loop is.

    For cells that run longer than ~20 s. The line is a display that is updated in place (at most
    twice a second) and emptied at the end, so the saved notebook keeps nothing of it (GitHub and
    nbval see an empty output). Outside IPython it yields ``items`` unchanged and shows nothing.
    """
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # plain Python: nothing to show
        yield from items
        return
    if get_ipython() is None:
        yield from items
        return
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    start = shown = time.monotonic()
    handle = display(_progress_line(desc, 0, total, 0.0), raw=True, display_id=True)
    try:
        for done, item in enumerate(items, 1):
            yield item
            now = time.monotonic()
            if now - shown >= 0.5:
                handle.update(_progress_line(desc, done, total, now - start), raw=True)
                shown = now
    finally:
        handle.update({"text/plain": ""}, raw=True)


def _progress_line(desc: str, done: int, total: int | None, seconds: float) -> dict[str, str]:
    """The progress display as mimetypes: an HTML <progress> bar and a plain-text line."""
    of = f"{done}/{total}" if total else f"{done}"
    text = f"{desc}: {of} ({seconds:.0f} s)"
    bar = f'<progress value="{done}" max="{total}"></progress> ' if total else ""
    return {"text/plain": text, "text/html": f"<div>{bar}{html.escape(text)}</div>"}


def result_file(name: str) -> Path:
    """A precomputed result shipped with the package (``lstmviz/data/results/NAME``), by name.

    Lessons read these through the package, never relative to the folder they run in, so a
    lesson copied anywhere (``lstmviz lessons``, Colab) finds them.
    """
    path = RESULTS_DIR / name
    if not path.is_file():
        have = ", ".join(sorted(p.name for p in RESULTS_DIR.glob("*"))) or "none"
        raise FileNotFoundError(f"no shipped result named {name!r} in {RESULTS_DIR}; have: {have}")
    return path


def solutions(lesson: str) -> ModuleType:
    """The worked solutions of ``lesson`` (e.g. ``"07_how_far_back"``): ``solutions/LESSON.py``.

    Read from the lessons that ship with the package (``core.lessons.lessons_dir``), never from
    the folder the notebook runs in, so a lesson opened in Colab or copied anywhere finds them.
    Loaded once per kernel.
    """
    name = f"lstmviz_solutions_{lesson}"
    if name in sys.modules:
        return sys.modules[name]
    path = lessons_dir() / "solutions" / f"{lesson}.py"
    if not path.is_file():
        have = ", ".join(sorted(p.stem for p in path.parent.glob("[0-9]*.py"))) or "none"
        raise LstmvizError(f"no worked solutions named {lesson!r} in {path.parent}; have: {have}")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None  # a .py file always has a loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
