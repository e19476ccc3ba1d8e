"""What every explorer shares: its display (the widget, plus a static PNG), sizes, small helpers.

``Explorer`` is the base class: ``.widget`` is the ipywidgets tree the notebook shows, and its
display also carries a PNG of ``figures()`` for viewers that cannot run widgets (GitHub, nbviewer,
nbconvert). ``with self._silenced():`` sets widgets from code without their observers redrawing:
an explorer moves several sliders at once and redraws once, after.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go

from ...core.names import LABELS, NAMES
from ...gates.analysis import activations, top_units
from .. import plots
from ..livefig import LiveFigure
from ..style import static_png

# ----------------------------------------------------------------------------- settings
HEAT_UNITS = 16  # heatmap rows in the explorers
TEXT_WIDTH = 640  # px, the live coloured text (beside the next-character bars)
PROBS_WIDTH = 290  # px, the next-character bars
# px, the explorers' wide plots (text and bars side by side are as wide): Notebook 7 and Voila do
# not widen an unsized plot beyond plotly's 700 px, too narrow for 120 character labels
EXPLORER_WIDTH = TEXT_WIDTH + PROBS_WIDTH
SNAPSHOT_WIDTH = 900  # px, the static PNG
#: The activation dropdowns' choices: (label, name) for i f g o c h.
NAME_OPTIONS = [(LABELS[n], n) for n in NAMES]


# ----------------------------------------------------------------------------- helpers
def unit_rows(values: np.ndarray, unit: int, k: int = HEAT_UNITS) -> list[int]:
    """The chosen unit first, then the most variable others: (T, H) -> k unit indices."""
    rest = [int(u) for u in top_units(values, min(k, values.shape[1]) + 1) if u != unit]
    return [unit] + rest[: k - 1]


def layer_options(num_layers: int) -> list[tuple[str, int]]:
    """The layer dropdown's choices: ("layer 0", 0), ..."""
    return [(f"layer {n}", n) for n in range(num_layers)]


def clicked(trace: Any, points: Any) -> int | None:
    """The text position of a clicked coloured-text cell (its customdata), None if none."""
    if not points.point_inds or trace.customdata is None:
        return None
    where = points.point_inds[0]  # a heatmap cell reports [row, column]
    r, c = (int(v) for v in where) if np.ndim(where) else (int(points.ys[0]), int(points.xs[0]))
    pos = int(np.asarray(trace.customdata)[r, c])
    return pos if pos >= 0 else None  # -1: an empty cell after a line's end


def shown_figure(attr: str, what: str) -> property:
    """The FigureWidget a ``LiveFigure`` attribute shows now (maybe one replacing a lost one)."""
    return property(
        lambda self: getattr(self, attr).fw, doc=f"The {what} FigureWidget, as shown now."
    )


class Chosen:
    """The activation an explorer shows, (T, H): read from its trace once per choice of trace,
    activation and layer, then reused by every redraw (a new unit, a moved window)."""

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._values: np.ndarray | None = None

    def __call__(self, trace: Any, name: str, layer: int) -> np.ndarray:
        """``activations(trace, name, layer)``, computed again only when one of them changed."""
        key = self._key
        if key is None or key[0] is not trace or key[1:] != (name, layer):
            self.keep(trace, name, layer, activations(trace, name, layer))
        assert self._values is not None  # kept just now, or with the key
        return self._values

    def keep(self, trace: Any, name: str, layer: int, values: np.ndarray) -> None:
        """Remember ``values`` as ``activations(trace, name, layer)`` (read by the caller)."""
        self._key, self._values = (trace, name, layer), values


def placeholder(text: str) -> go.Figure:
    """An empty white figure whose title says what to press: ``text``."""
    return go.Figure(
        layout=dict(height=200, template="plotly_white", title=dict(text=text, x=0.01))
    )


class Explorer:
    """Base: ``.widget`` is the ipywidgets tree; display shows it, plus a PNG for static viewers."""

    widget: W.Widget
    _quiet = False  # True inside ``_silenced()``: observers leave the redraw to the caller

    def figures(self) -> list[go.Figure]:
        """The explorer's current figures, top to bottom."""
        raise NotImplementedError

    @contextlib.contextmanager
    def _silenced(self) -> Iterator[None]:
        """Set widgets in the block without their observers redrawing (the caller draws once)."""
        self._quiet = True
        try:
            yield
        finally:
            self._quiet = False

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{k[2:]}={w.value!r}"
            for k, w in vars(self).items()
            if k in ("w_layer", "w_name", "w_unit") and hasattr(w, "value")
        )
        return f"<lstmviz {type(self).__name__}: {shown}>"

    def snapshot(self) -> go.Figure:
        """All current figures stacked into one static figure (what the PNG shows)."""
        return plots.stack([go.Figure(f) for f in self.figures()])

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None, **kwargs: Any) -> dict:
        # the figures sit inside boxes, so their own display hook never runs: stamp them here
        for live in vars(self).values():
            if isinstance(live, LiveFigure):
                live.stamp()
        data = self.widget._repr_mimebundle_(**kwargs)
        data["text/plain"] = repr(self)  # short and stable (nbval compares it), not the widget tree
        png = static_png(self.snapshot(), SNAPSHOT_WIDTH)
        if png:
            data["image/png"] = png
        return data
