"""Shared figure helpers, defined once: rounding, colour ranges, how characters and Ng's
symbols are drawn, colours, fonts, the bits/char axis, static PNGs.

Every figure module (``plots``, ``curves``, ``widgets``, the lessons' sandbox) takes these from
here, so a figure looks and rounds the same wherever it is drawn. Names of the gates (labels,
symbols, ranges) are not style: they come from ``lstmviz.core.names``.
"""

from __future__ import annotations

import base64
import math
import os
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

from ..core.names import GATES, RANGES
from ..core.numbers import LN2  # noqa: F401 -- nats per bit, style.LN2 to the figures

# ----------------------------------------------------------------------------- settings
SIG_DIGITS = 4  # significant digits kept in figure data: small, stable notebook JSON
FONT = "DejaVu Sans Mono, Menlo, Consolas, monospace"  # characters of the text, in every figure
TICK_PX = {11: 8.0, 8: 5.5}  # px a one-character tick label needs at that font size (glyph + gap)
SHOW = {"\n": "⏎", " ": "␣", "\t": "⇥", "\r": "␍"}  # how invisible characters are drawn
#: One colour per run or line, in order (plotly's default qualitative palette).
COLORS = ("#636EFA", "#EF553B", "#00CC96", "#AB63FA", "#FFA15A", "#19D3F3", "#FF6692", "#B6E880")
#: One colour per activation, where several share an axis (e.g. the saturation panels).
NAME_COLORS = {
    "i": "#1f77b4",
    "f": "#d62728",
    "g": "#9467bd",
    "o": "#2ca02c",
    "c": "#7f7f7f",
    "h": "#ff7f0e",
}
# Sequential (gates) and diverging (g, c, h; blue < 0 < red) scales. The "soft" versions stop short
# of dark colours so black characters stay readable on top of them in coloured text.
GATE_SCALE = [[0.0, "#f7fcf5"], [0.5, "#74c476"], [1.0, "#00441b"]]
GATE_SCALE_SOFT = [[0.0, "#ffffff"], [1.0, "#5cb85c"]]
DIVERGING_SCALE = [
    [0.0, "#2166ac"],
    [0.25, "#67a9cf"],
    [0.5, "#f7f7f7"],
    [0.75, "#ef8a62"],
    [1.0, "#b2182b"],
]
DIVERGING_SCALE_SOFT = [[0.0, "#5b9bd5"], [0.5, "#ffffff"], [1.0, "#e8735a"]]
# Influence (a share, >= 0): white to orange, soft for the same reason; not a gate's green, so the
# influence view never reads as a gate value
INFLUENCE_SCALE_SOFT = [[0.0, "#ffffff"], [0.5, "#fdd0a2"], [1.0, "#f16913"]]


# ----------------------------------------------------------------------------- numbers
def round_sig(values: Any, digits: int = SIG_DIGITS, *, as_list: bool = False) -> Any:
    """``values`` rounded to ``digits`` significant digits: (...) -> float32 array (N,) or list.

    ``as_list=False``: a float32 NumPy array of the same shape, NaN and ±inf kept (plotly stores
    it as compact binary). ``as_list=True``: a flat list of Python floats with None for NaN and
    ±inf (plotly draws a gap), for line data that stays readable JSON.
    """
    a = np.asarray(values, dtype=np.float64)
    nonzero = np.isfinite(a) & (a != 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.floor(np.log10(np.abs(np.where(nonzero, a, 1.0))))
        e = digits - 1 - mag  # decimals to keep; negative: round to tens, hundreds, ...
        p = 10.0 ** np.abs(e)  # exact for the exponents that occur, so 0.1235 stays 0.1235
        out = np.where(e >= 0, np.round(a * p) / p, np.round(a / p) * p)
    if as_list:
        return [float(v) if math.isfinite(v) else None for v in out.ravel().tolist()]
    return out.astype(np.float32)


def value_range(name: str, values: np.ndarray) -> tuple[float, float]:
    """Colour range for ``name``: (0, 1) for gates, (-1, 1) for ĉ and a, ±max|c| for the cell."""
    lo, hi = RANGES[name]
    if math.isfinite(lo) and math.isfinite(hi):
        return lo, hi
    m = float(np.nanmax(np.abs(values))) if values.size else 1.0
    m = float(round_sig(max(m, 1e-6), 2))
    return -m, m


# ----------------------------------------------------------------------------- characters
def shown(ch: str) -> str:
    """A character as drawn in a label: spaces and newlines made visible."""
    return SHOW.get(ch, ch)


def character_ticks(labels: Sequence[str], ticks: Sequence[str], room: float) -> dict:
    """x-axis settings that label columns with their characters without overlap in ``room`` px.

    Every character at font 11 when each column has the room, else at font 8, else every k-th
    (hover still names each one): labels (N,), ticks (N,) -> ``update_xaxes`` keywords.
    """
    px = room / max(len(labels), 1)  # per column
    size = 11 if px >= TICK_PX[11] else 8
    every = max(1, math.ceil(TICK_PX[size] / px))
    return dict(
        tickmode="array",
        tickvals=list(labels[::every]),
        ticktext=list(ticks[::every]),
        tickangle=0,
        tickfont=dict(family=FONT, size=size),
    )


# ----------------------------------------------------------------------------- Ng's symbols
_SUB = re.compile(r"Γ_([ufo])")


def subscripts(fig: go.Figure) -> go.Figure:
    """Draw Γ_f as Γ with a real subscript f (plotly's <sub>) in titles, hovers and names."""

    def fix(text: Any) -> Any:
        return _SUB.sub(r"Γ<sub>\1</sub>", text) if isinstance(text, str) else text

    fig.layout.title.text = fix(fig.layout.title.text)
    for ann in fig.layout.annotations:
        ann.text = fix(ann.text)
    for tr in fig.data:
        for key in ("name", "hovertemplate"):
            if key in tr and tr[key] is not None:
                tr[key] = fix(tr[key])
        if "colorbar" in tr and tr.colorbar.title.text:
            tr.colorbar.title.text = fix(tr.colorbar.title.text)
    if fig.layout.coloraxis.colorbar.title.text:
        fig.layout.coloraxis.colorbar.title.text = fix(fig.layout.coloraxis.colorbar.title.text)
    for ax in fig.select_xaxes():
        ax.title.text = fix(ax.title.text)
    for ax in fig.select_yaxes():
        ax.title.text = fix(ax.title.text)
    return fig


# ----------------------------------------------------------------------------- colours
def arrow(
    fig: go.Figure,
    x0: float,
    y0: float,
    x1: float,
    y1: float,
    color: str,
    *,
    width: float = 2.0,
    head: int = 2,
    size: float | None = None,
) -> go.Figure:
    """An arrow from (x0, y0) to (x1, y1) in data coordinates (the diagrams and unrolled RNN)."""
    fig.add_annotation(
        x=x1,
        y=y1,
        ax=x0,
        ay=y0,
        xref="x",
        yref="y",
        axref="x",
        ayref="y",
        text="",
        showarrow=True,
        arrowhead=head,
        arrowsize=size,
        arrowwidth=width,
        arrowcolor=color,
    )
    return fig


def colorscale(name: str, soft: bool = False) -> list:
    """The colour scale for activation ``name``: sequential 0..1 for gates, diverging otherwise."""
    if name in GATES:
        return GATE_SCALE_SOFT if soft else GATE_SCALE
    return DIVERGING_SCALE_SOFT if soft else DIVERGING_SCALE


# ----------------------------------------------------------------------------- bits/char axis
def bits_axis(title: str = "bits/char", **extra: Any) -> dict:
    """Layout of a right-hand y axis (``yaxis2``) reading the left axis's nats/char as bits/char."""
    return dict(title=title, overlaying="y", side="right", showgrid=False, tickmode="auto", **extra)


def bits(nats: Sequence[float] | np.ndarray) -> list[float | None]:
    """Losses in nats/char -> bits/char, rounded for a figure: (N,) -> list (None: not finite)."""
    return round_sig(np.asarray(nats, dtype=np.float64) / LN2, as_list=True)


def add_bits_twin(
    fig: go.Figure,
    x: Sequence[float],
    nats: Sequence[float] | np.ndarray,
    name: str | None = None,
) -> None:
    """Add an invisible twin of a nats/char line in bits/char on ``yaxis2`` (see ``bits_axis``).

    The twin autoscales exactly like the left axis's line (values differ by the constant ln 2),
    so the right axis's ticks read off bits/char.
    """
    fig.add_scatter(
        x=list(x),
        y=bits(nats),
        yaxis="y2",
        mode="lines",
        line=dict(width=0),
        opacity=0,
        showlegend=False,
        hoverinfo="skip",
        **({} if name is None else {"name": name}),
    )


# ----------------------------------------------------------------------------- static PNG
def find_browser() -> str | None:
    """The Chromium-family browser kaleido will draw static PNGs with, or None if there is none.

    ``BROWSER_PATH`` when it names a file (kaleido's own override); else the search of kaleido's
    own dependency choreographer, so we agree with kaleido: Chrome, Chromium, Edge, Brave on PATH,
    their standard install folders on Windows, macOS and Linux, the Windows registry, and a
    browser fetched with ``kaleido.get_chrome()``.
    """
    path = os.environ.get("BROWSER_PATH")
    if path:
        return path if os.path.exists(path) else None
    from choreographer.browsers import Chromium  # here: only lessons that draw PNGs need it

    return Chromium.find_browser(skip_local=False)


def static_images_available() -> bool:
    """True when kaleido can find a Chromium-family browser to render figures to PNG."""
    return find_browser() is not None


def static_png(fig: go.Figure, width: int, height: int | None = None) -> str | None:
    """Base64 PNG of ``fig`` when the renderer asks for static images, else None.

    The one rule for every widget's static snapshot: a PNG is drawn when plotly's default
    renderer includes ``png``, which ``lstmviz.teaching.notebook.setup`` chooses only where
    ``static_images_available()``. A failing browser leaves the live widget working (None).
    """
    if "png" not in str(pio.renderers.default):
        return None
    try:
        png = fig.to_image(format="png", width=width, height=height, scale=1)
    except Exception:  # no browser for kaleido after all: the live widget still works
        return None
    return base64.b64encode(png).decode("ascii")
