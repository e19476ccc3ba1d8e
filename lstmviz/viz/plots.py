"""Plotly figures of an LSTM's gates and memory cells over a text.

Every function takes the activations either as a recorded ``Trace`` (with ``name`` and ``layer``)
or as a plain (T, H) array / tensor -- one row per character of ``text``, one column per unit --
and returns a ``plotly.graph_objects.Figure``:

* ``heatmap``       -- units x characters, any of ``i f g o c h``; the most variable units by
  default.
* ``coloured_text`` -- the text, each character's background coloured by one unit (Karpathy 2015).
* ``influence_text`` -- the text behind one prediction, each character coloured by its share of
  the influence on it (``lstmviz.influence``); ``influence_summary`` says it in one line.
* ``saturation``    -- per unit, the fraction of steps a gate is < 0.1 vs > 0.9 (Karpathy et al.
  2015, fig. 3).
* ``cell_ledger``   -- per step, what one memory cell kept (Γ_f⊙c⟨t−1⟩) and wrote (Γ_u⊙ĉ⟨t⟩), and
  its forget gate, titled with its half-life n½ = ln ½ / mean ln Γ_f (``analysis.half_life``).
* ``measured``      -- a measurement (mean ± SE over seeds) against a setting, e.g. a clamp's dose.
* ``stack``         -- several figures as one (a static snapshot of an explorer).

Data going into a figure is rounded to ``style.SIG_DIGITS`` significant digits and stored as
float32, so a notebook's saved figure JSON is small and the same on every run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..core.errors import LstmvizError
from ..core.names import GATES, LABELS, SYMBOLS, canonical
from ..gates import analysis
from ..gates.attribution import Influence
from .style import (  # noqa: F401 -- shown, subscripts, TICK_PX: importable from here as before
    COLORS,
    FONT,
    INFLUENCE_SCALE_SOFT,
    NAME_COLORS,
    SHOW,
    TICK_PX,
    character_ticks,
    colorscale,
    round_sig,
    shown,
    subscripts,
    value_range,
)

# ----------------------------------------------------------------------------- settings
MAX_COLS = 1000  # heatmap columns at most; longer windows are averaged into bins of characters
MAX_TICK_CHARS = 150  # up to this many columns, characters are the tick labels (else positions)
AUTOSIZE_PX = 700  # width to plan ticks for in a figure without one: plotly's default, which an
# explorer's plot gets in Notebook 7 and Voila (narrower than JupyterLab's)
COLORBAR_PX = 70  # a heatmap's colour bar with its labels
MAX_TEXT_CHARS = 3000  # coloured_text shows at most this many characters
WRAP = 80  # coloured_text line width in characters
TOP_K = 24  # units shown by default in a heatmap
# influence_text's colour scale spans this many powers of ten below the largest share: influence
# decays about exponentially with distance, so a linear scale would colour only the last few
INFLUENCE_DECADES = 3


# ----------------------------------------------------------------------------- helpers
def _layer_label(source: Any, layer: int | None) -> str:
    if layer is None:
        return ""
    if analysis.is_trace(source) and layer < 0:
        layer += source.num_layers
    return f"layer {layer}" if layer >= 0 else ""  # a bare array's "-1" would say nothing


def _check_text(values: np.ndarray, text: str) -> None:
    if values.shape[0] != len(text):
        raise LstmvizError(
            f"the activations have {values.shape[0]} time steps but the text has {len(text)} "
            "characters; pass the text the trace was recorded on"
        )


def _window(T: int, start: int, stop: int | None) -> tuple[int, int]:
    stop = T if stop is None else stop
    start, stop = (start + T if start < 0 else start), (stop + T if stop < 0 else stop)
    start, stop = max(0, start), min(T, stop)
    if start >= stop:
        raise LstmvizError(f"the window [{start}, {stop}) is empty; the text has {T} characters")
    return start, stop


def _units(values: np.ndarray, units: Sequence[int] | int | None, k: int, by: str) -> np.ndarray:
    H = values.shape[1]
    if units is None:
        return analysis.top_units(values, min(k, H), by)
    chosen = np.atleast_1d(np.asarray(units, dtype=np.int64))
    if chosen.size == 0 or chosen.min() < -H or chosen.max() >= H:
        raise LstmvizError(f"units must be indices in 0..{H - 1}, got {chosen.tolist()}")
    return chosen % H


def _columns(
    text: str, start: int, stop: int, max_cols: int, offset: int = 0
) -> tuple[list[str], list[str], int]:
    """Column labels (unique, for hover), tick characters, and characters per column.

    Labels count positions from ``offset`` (where ``text`` starts in a longer text).
    """
    n = stop - start
    per = max(1, math.ceil(n / max_cols))
    labels, ticks = [], []
    for a in range(start, stop, per):
        b = min(a + per, stop)
        if per == 1:
            labels.append(f"{a + offset}: {shown(text[a])}")
            ticks.append(shown(text[a]))
        else:
            snippet = "".join(shown(c) for c in text[a:b])
            labels.append(f"{a + offset}–{b - 1 + offset}: {snippet}")
            ticks.append(str(a + offset))
    return labels, ticks, per


def _bin(values: np.ndarray, per: int) -> np.ndarray:
    """Average consecutive groups of ``per`` rows: (T, H) -> (ceil(T / per), H)."""
    if per == 1:
        return values
    T, H = values.shape
    pad = (-T) % per
    padded = np.concatenate([values, np.full((pad, H), np.nan, values.dtype)]) if pad else values
    return np.nanmean(padded.reshape(-1, per, H), axis=1)


# ----------------------------------------------------------------------------- heatmap
def heatmap(
    source: Any,
    text: str,
    *,
    name: str = "c",
    layer: int | None = -1,
    units: Sequence[int] | int | None = None,
    top_k: int = TOP_K,
    by: str = "variance",
    start: int = 0,
    stop: int | None = None,
    max_cols: int = MAX_COLS,
    offset: int = 0,
    per_unit: bool = False,
    title: str | None = None,
    width: int | None = None,
) -> go.Figure:
    """Units x characters heatmap of ``name`` (i f g o c h): source (T, H) or Trace, text -> Figure.

    Rows are ``units`` (default: the ``top_k`` most variable in the window, most variable on top);
    columns are the characters of ``text[start:stop]``, averaged into bins when there are more
    than ``max_cols``. Hover shows position, character, unit and value; positions are counted
    from ``offset`` (where ``text`` starts in a longer text, e.g. the last 100 of 5,000 characters).
    ``per_unit=True`` colours each row by value / max |value| of that unit (the hover still gives
    the value), so a memory cell that moves between ±1 shows next to one that reaches ±20.
    ``width`` (px; default: as wide as the page) also decides how many characters fit as labels.
    """
    name = canonical(name)
    values = analysis.activations(source, name, layer)
    _check_text(values, text)
    start, stop = _window(len(text), start, stop)
    window = values[start:stop]
    chosen = _units(window, units, top_k, by)
    labels, ticks, per = _columns(text, start, stop, max_cols, offset)
    z = round_sig(_bin(window[:, chosen], per).T)  # (units, columns)
    rows = [f"unit {u}" for u in chosen]
    where = _layer_label(source, layer)
    sym = SYMBOLS[name]
    if per_unit:
        peak = np.nanmax(np.abs(z), axis=1, keepdims=True)
        colour = round_sig(np.divide(z, peak, out=np.zeros_like(z), where=peak > 0))
        extra = dict(
            customdata=z,
            zmin=-1.0 if name not in GATES else 0.0,
            zmax=1.0,
            colorbar=dict(title=dict(text=f"{sym} / max|{sym}|", side="right"), thickness=14),
            hovertemplate=f"%{{y}}<br>step %{{x}}<br>{sym} = %{{customdata:.3f}}<extra></extra>",
        )
    else:
        colour = z
        zmin, zmax = value_range(name, z)
        extra = dict(
            zmin=zmin,
            zmax=zmax,
            colorbar=dict(title=dict(text=sym, side="right"), thickness=14),
            hovertemplate=f"%{{y}}<br>step %{{x}}<br>{sym} = %{{z:.3f}}<extra></extra>",
        )
    fig = go.Figure(
        go.Heatmap(
            z=colour, x=labels, y=rows, colorscale=colorscale(name), hoverongaps=False, **extra
        )
    )
    binned = f" (mean of {per} characters per column)" if per > 1 else ""
    binned += " (each unit scaled to its largest |value|)" if per_unit else ""
    fig.update_layout(
        title=dict(text=title or f"{LABELS[name]}{', ' + where if where else ''}{binned}", x=0.01),
        height=int(np.clip(110 + 16 * len(rows), 260, 900)),
        width=width,
        margin=dict(l=80, r=20, t=50, b=60),
        template="plotly_white",
    )
    fig.update_yaxes(autorange="reversed", type="category", tickfont=dict(size=10))
    fig.update_xaxes(type="category", title_text="character" if per == 1 else "position in text")
    if len(labels) <= MAX_TICK_CHARS:
        room = (width or AUTOSIZE_PX) - 80 - 20 - COLORBAR_PX  # the margins set above
        fig.update_xaxes(**character_ticks(labels, ticks, room))
    else:
        every = math.ceil(len(labels) / 12)
        fig.update_xaxes(
            tickmode="array",
            tickvals=labels[::every],
            ticktext=[lab.split(":")[0].split("–")[0] for lab in labels[::every]],
            tickangle=0,
        )
    return subscripts(fig)


# ----------------------------------------------------------------------------- coloured text
def _grid(text: str, wrap: int) -> tuple[np.ndarray, np.ndarray]:
    """Lay characters out in lines: (row, column) of each character; a newline ends its row."""
    rows = np.empty(len(text), np.int64)
    cols = np.empty(len(text), np.int64)
    r = c = 0
    for t, ch in enumerate(text):
        if c >= wrap:
            r, c = r + 1, 0
        rows[t], cols[t] = r, c
        if ch == "\n":
            r, c = r + 1, 0
        else:
            c += 1
    return rows, cols


def coloured_text(
    source: Any,
    text: str,
    *,
    name: str = "c",
    layer: int | None = -1,
    units: Sequence[int] | int | None = None,
    start: int = 0,
    stop: int | None = None,
    wrap: int = WRAP,
    max_chars: int = MAX_TEXT_CHARS,
    offset: int = 0,
    title: str | None = None,
) -> go.Figure:
    """The text, each character's background coloured by a unit: source (T, H) or Trace -> Figure.

    One block of text per unit in ``units`` (default: the most variable unit), stacked. A diverging
    scale centred at 0 (blue < 0 < red) for ĉ, c and a; a sequential one from 0 to 1 for gates.
    Newlines are drawn as ⏎ and end the line; lines wrap at ``wrap`` characters.
    """
    name = canonical(name)
    values = analysis.activations(source, name, layer)
    _check_text(values, text)
    start, stop = _window(len(text), start, stop)
    stop = min(stop, start + max_chars)
    window = values[start:stop]
    chosen = _units(window, units, 1, "variance")
    chunk = text[start:stop]
    rows, cols = _grid(chunk, wrap)
    n_rows, n_cols = int(rows.max()) + 1, max(int(cols.max()) + 1, 1)
    chars = np.full((n_rows, n_cols), "", dtype=object)
    chars[rows, cols] = [shown(ch) if ch in "\n\t\r" else ch for ch in chunk]
    pos = np.full((n_rows, n_cols), -1, dtype=np.int32)
    pos[rows, cols] = np.arange(start + offset, stop + offset, dtype=np.int32)
    zmin, zmax = value_range(name, window[:, chosen])
    where = _layer_label(source, layer)
    fig = make_subplots(
        rows=len(chosen),
        cols=1,
        vertical_spacing=min(0.3 / max(len(chosen), 1), 60 / (n_rows * 20 * len(chosen) + 60)),
        subplot_titles=[f"unit {u}" for u in chosen] if len(chosen) > 1 else None,
    )
    for k, u in enumerate(chosen):
        z = np.full((n_rows, n_cols), np.nan, dtype=np.float32)
        z[rows, cols] = round_sig(window[:, u])
        fig.add_trace(
            go.Heatmap(
                z=z,
                text=chars,
                customdata=pos,
                texttemplate="%{text}",
                textfont=dict(family=FONT, size=13, color="black"),
                coloraxis="coloraxis",
                xgap=0,
                ygap=2,
                hoverongaps=False,
                hovertemplate=f"step %{{customdata}}: '%{{text}}'<br>unit {u}: "
                f"{SYMBOLS[name]} = %{{z:.3f}}<extra></extra>",
            ),
            row=k + 1,
            col=1,
        )
    fig.update_xaxes(visible=False, range=[-0.5, max(n_cols, 1) - 0.5], constrain="domain")
    fig.update_yaxes(visible=False, autorange="reversed")
    fig.update_layout(
        coloraxis=dict(
            colorscale=colorscale(name, soft=True),
            cmin=zmin,
            cmax=zmax,
            colorbar=dict(
                title=dict(text=SYMBOLS[name], side="right"),
                thickness=14,
                len=min(1.0, 250 / (n_rows * 20 * len(chosen) + 80)),
                y=1,
                yanchor="top",
            ),
        ),
        title=dict(
            text=title
            or (
                f"{LABELS[name]}{', ' + where if where else ''}"
                f"{f', unit {chosen[0]}' if len(chosen) == 1 else ''}: "
                "each character coloured by the value after reading it"
            ),
            x=0.01,
            font=dict(size=14),
        ),
        height=int(80 + len(chosen) * (n_rows * 20 + 30)),
        width=int(140 + n_cols * 10.5) if n_cols < wrap else None,
        margin=dict(l=20, r=20, t=60, b=10),
        template="plotly_white",
        plot_bgcolor="white",
    )
    return subscripts(fig)


# ----------------------------------------------------------------------------- influence
def influence_shares(why: Influence) -> np.ndarray:
    """Each scored character's share of the influence: scores[start:] / their sum -> (n,)."""
    scores = np.asarray(why.scores[why.start :], dtype=np.float64)
    total = scores.sum()
    return scores / total if total > 0 else np.zeros_like(scores)


def _influence_lines(why: Influence) -> tuple[str, str]:
    """Two sentences on an ``Influence``: the character explained; the most influential one."""
    shares = influence_shares(why)
    top = why.start + int(np.argmax(shares))
    choice = (
        "its most likely choice too"
        if why.predicted == why.target
        else f"its most likely choice: '{shown(why.predicted)}', {math.exp(why.predicted_logp):.1%}"
    )
    return (
        f"the model wrote '{shown(why.target)}' with p = {math.exp(why.logp):.1%} ({choice})",
        f"most influential earlier character: '{shown(why.text[top])}' at lag "
        f"{why.position - top} (character {top}), {shares[top - why.start]:.1%} of the influence",
    )


def influence_summary(why: Influence) -> str:
    """One line on an ``Influence``: the character explained, its probability, the top influence."""
    return "; ".join(_influence_lines(why))


def influence_text(
    why: Influence, *, wrap: int = WRAP, width: int | None = None, title: str | None = None
) -> go.Figure:
    """The text behind one prediction, coloured by each character's share of influence -> Figure.

    ``why`` comes from ``lstmviz.influence``. Characters ``why.start .. why.position`` are coloured
    by log10(share), share = score / sum of scores, over ``INFLUENCE_DECADES`` powers of ten below
    the largest (white: less; the colour bar reads in %). The explained character, ``why.target``,
    follows them in a black box. Hover: the character, its index, its lag k = position - index
    (0: the last character read), its share and its gradient norm.
    """
    start, p = why.start, why.position
    chunk = why.text[start:] + why.target
    shares = influence_shares(why)
    scores = why.scores[start:]
    tiny = 10.0 ** (-INFLUENCE_DECADES - 6)  # log10(0) is -inf: a zero share sits far below
    values = np.append(np.log10(np.maximum(shares, tiny)), np.nan)[:, None]  # target: no score
    fig = coloured_text(values, chunk, name="f", layer=None, units=[0], wrap=wrap, offset=start)
    trace = fig.data[0]
    pos = np.asarray(trace.customdata)
    hover = np.full(pos.shape, "", dtype=object)
    for r, c in zip(*np.nonzero(pos >= 0), strict=True):
        t = int(pos[r, c])
        if t <= p:  # the boxed character is NaN: a gap, without hover
            hover[r, c] = (
                f"'{shown(chunk[t - start])}' (character {t}), lag {p - t}<br>"
                f"share {shares[t - start]:.2%}, |∂ log p / ∂ embedding| = {scores[t - start]:.3g}"
            )
    trace.update(hovertext=hover, hovertemplate="%{hovertext}<extra></extra>")
    r, c = (int(v[0]) for v in np.nonzero(pos == p + 1))
    fig.add_shape(
        type="rect",
        x0=c - 0.5,
        x1=c + 0.5,
        y0=r - 0.5,
        y1=r + 0.5,
        line=dict(color="black", width=2),
    )
    hi = math.log10(max(float(shares.max()), tiny))
    ticks = [k for k in range(math.floor(hi - INFLUENCE_DECADES), 1) if k >= hi - INFLUENCE_DECADES]
    fig.update_layout(
        coloraxis=dict(
            colorscale=INFLUENCE_SCALE_SOFT,
            cmin=hi - INFLUENCE_DECADES,
            cmax=hi,
            colorbar=dict(
                title=dict(text="share of the<br>influence<br>(log scale)", side="top"),
                tickvals=ticks,
                ticktext=[f"{100 * 10.0**k:g}%" for k in ticks],
            ),
        ),
        title=dict(
            text=title
            or (
                f"why '{shown(why.target)}' (boxed, character {p + 1})? The {p + 1 - start} "
                "characters before it, coloured by their share of |∂ log p / ∂ embedding|"
                "<br><span style='font-size:12px'>" + "<br>".join(_influence_lines(why)) + "</span>"
            ),
        ),
        margin=dict(t=95),
        height=max(fig.layout.height + 35, 280),  # room for the colour bar under its title
        width=width or fig.layout.width,
    )
    return fig


# ----------------------------------------------------------------------------- saturation
def saturation(
    source: Any,
    *,
    names: str | Sequence[str] = GATES,
    layers: Sequence[int] | None = None,
    low: float = 0.1,
    high: float = 0.9,
    title: str | None = None,
) -> go.Figure:
    """Gate saturation: each unit's fraction of steps < ``low`` (y) vs > ``high`` (x) -> Figure.

    One panel per gate and layer. ``source`` is a Trace or a mapping {(name, layer): (T, H)
    array}. Units near the top-left are
    almost always closed, near the bottom-right almost always open, on the anti-diagonal they
    switch hard between the two (Karpathy, Johnson & Fei-Fei 2015, figure 3).
    """
    names = [canonical(n) for n in names]
    if analysis.is_trace(source):
        layers = list(range(source.num_layers)) if layers is None else list(layers)
    elif isinstance(source, Mapping):
        layers = sorted({k[1] for k in source}) if layers is None else list(layers)
    else:
        raise LstmvizError("saturation needs a Trace or a dict {(name, layer): (T, H) array}")
    fig = make_subplots(
        rows=len(layers),
        cols=len(names),
        shared_xaxes=True,
        shared_yaxes=True,
        subplot_titles=[
            f"{LABELS[n]}, {_layer_label(source, layer)}" for layer in layers for n in names
        ],
        horizontal_spacing=0.06,
        vertical_spacing=0.12,
    )
    for r, layer in enumerate(layers):
        for k, n in enumerate(names):
            values = (
                analysis.activations(source, n, layer)
                if analysis.is_trace(source)
                else analysis.activations(source[(n, layer)])
            )
            left, right = analysis.saturation_fractions(values, low, high)
            fig.add_trace(
                go.Scatter(
                    x=round_sig(right),
                    y=round_sig(left),
                    mode="markers",
                    marker=dict(size=5, color=NAME_COLORS[n], opacity=0.6),
                    name=LABELS[n],
                    customdata=np.arange(values.shape[1]),
                    showlegend=False,
                    hovertemplate=f"unit %{{customdata}}<br>{SYMBOLS[n]} > {high}: "
                    "%{x:.0%} of steps"
                    f"<br>{SYMBOLS[n]} < {low}: %{{y:.0%}} of steps<extra></extra>",
                ),
                row=r + 1,
                col=k + 1,
            )
            # units on this line are always saturated, one way or the other
            fig.add_trace(
                go.Scatter(
                    x=[0, 1],
                    y=[1, 0],
                    mode="lines",
                    hoverinfo="skip",
                    showlegend=False,
                    line=dict(color="#bbbbbb", dash="dot", width=1),
                ),
                row=r + 1,
                col=k + 1,
            )
    fig.update_xaxes(range=[-0.03, 1.03], tickformat=".0%", dtick=0.25)
    fig.update_yaxes(range=[-0.03, 1.03], tickformat=".0%", dtick=0.25)
    for k in range(len(names)):
        fig.update_xaxes(
            title_text=f"fraction of steps > {high} (open)", row=len(layers), col=k + 1
        )
    for r in range(len(layers)):
        fig.update_yaxes(title_text=f"fraction < {low} (closed)", row=r + 1, col=1)
    fig.update_layout(
        title=dict(text=title or "Gate saturation: one dot per unit", x=0.01),
        height=int(130 + 300 * len(layers)),
        width=int(120 + 300 * len(names)),
        margin=dict(l=70, r=20, t=80, b=60),
        template="plotly_white",
    )
    fig.update_annotations(font_size=12)
    return subscripts(fig)


# ----------------------------------------------------------------------------- cell ledger
def cell_ledger(
    source: Any,
    text: str,
    *,
    layer: int = -1,
    unit: int = 0,
    start: int = 0,
    stop: int | None = None,
    c0: float = 0.0,
    max_chars: int = 400,
    title: str | None = None,
) -> go.Figure:
    """What one memory cell kept and wrote at each step, and its forget gate -> Figure.

    ``source`` is a Trace or a mapping {"f": (T, H), "i": ..., "g": ..., "c": ...}. Top: bars of
    kept Γ_f⊙c⟨t−1⟩ and written Γ_u⊙ĉ⟨t⟩ (they add up to c⟨t⟩, the line). Bottom: Γ_f⟨t⟩ and its
    geometric mean; the title gives the window's half-life n½ = ln ½ / mean ln Γ_f
    (``analysis.half_life`` of the same steps). ``c0`` is c before the first character (0 for a
    fresh state); start the window well after a zero state, or c⟨t⟩ shows the state warming up.
    """
    get = (
        (lambda n: analysis.activations(source, n, layer))
        if analysis.is_trace(source)
        else (lambda n: analysis.activations(source[n]))
    )
    f, i, g, c = (get(n) for n in "figc")
    _check_text(c, text)
    H = c.shape[1]
    if not -H <= unit < H:
        raise LstmvizError(f"unit must be in 0..{H - 1}, got {unit}")
    f, i, g, c = (a[:, unit].astype(np.float64) for a in (f, i, g, c))
    c_prev = np.concatenate([[c0], c[:-1]])
    kept, written = f * c_prev, i * g
    start, stop = _window(len(text), start, stop)
    stop = min(stop, start + max_chars)
    sl = slice(start, stop)
    n_half = analysis.half_life(f[sl])
    geo_mean = 0.5 ** (1 / n_half) if math.isfinite(n_half) else 1.0
    labels, ticks, _ = _columns(text, start, stop, max_cols=stop - start)
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        row_heights=[0.65, 0.35],
        vertical_spacing=0.08,
        subplot_titles=["", f"forget gate Γ_f⟨t⟩ (dashed: its geometric mean {geo_mean:.4f})"],
    )
    hover = "%{x}<br>%{fullData.name} = %{y:.3f}<extra></extra>"
    for y, name, colour in (
        (kept, "kept Γ_f⊙c⟨t−1⟩", "#6baed6"),
        (written, "written Γ_u⊙ĉ⟨t⟩", "#fd8d3c"),
    ):
        fig.add_trace(
            go.Bar(
                x=labels, y=round_sig(y[sl]), name=name, marker_color=colour, hovertemplate=hover
            ),
            row=1,
            col=1,
        )
    fig.add_trace(
        go.Scatter(
            x=labels,
            y=round_sig(c[sl]),
            name="c⟨t⟩",
            mode="lines+markers",
            line=dict(color="black", width=1.5),
            marker=dict(size=4),
            hovertemplate=hover,
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=labels,
            y=round_sig(f[sl]),
            name="Γ_f⟨t⟩",
            mode="lines",
            line=dict(color="#d62728", shape="hv"),
            hovertemplate=hover,
        ),
        row=2,
        col=1,
    )
    fig.add_hline(y=geo_mean, line=dict(color="#d62728", dash="dash", width=1), row=2, col=1)
    where = _layer_label(source, layer)
    fig.update_layout(
        barmode="relative",
        title=dict(
            text=title
            or f"Cell ledger: unit {unit % H}{', ' + where if where else ''}, "
            f"steps {start}–{stop - 1}: half-life n½ = {n_half:.3g} steps",
            x=0.01,
        ),
        height=520,
        margin=dict(l=60, r=20, t=80, b=50),
        template="plotly_white",
        legend=dict(orientation="h", y=1.02, yanchor="bottom", x=1, xanchor="right"),
        bargap=0.1,
    )
    fig.update_yaxes(title_text="c⟨t⟩ = kept + written", row=1, col=1)
    fig.update_yaxes(title_text="Γ_f", tickformat=".3~f", row=2, col=1)
    fig.update_xaxes(type="category")
    if len(labels) <= MAX_TICK_CHARS:
        room = (fig.layout.width or AUTOSIZE_PX) - 60 - 20  # the margins set above
        fig.update_xaxes(**character_ticks(labels, ticks, room), row=2, col=1)
    fig.update_xaxes(showticklabels=False, row=1, col=1)
    fig.update_annotations(font_size=12)
    return subscripts(fig)


# ----------------------------------------------------------------------------- measured
def measured(
    x: Sequence[float],
    series: Mapping[str, tuple[Sequence[float], Sequence[float] | None]],
    *,
    baseline: tuple[float, float] | None = None,
    baseline_label: str = "untouched",
    x_title: str = "",
    y_title: str = "",
    title: str = "",
    log_x: bool = False,
) -> go.Figure:
    """A measurement against a setting: {label: (means (N,), SEs (N,) or None)} -> Figure.

    One line per series with ± 1 SE bars; ``baseline`` (mean, SE) is a dashed line with a ± 1 SE
    band (e.g. the untouched model in a dose-response curve).
    """
    fig = go.Figure()
    if baseline is not None:
        m, se = baseline
        fig.add_hrect(y0=m - se, y1=m + se, fillcolor="#bbbbbb", opacity=0.3, line_width=0)
        fig.add_hline(
            y=m,
            line=dict(color="#555555", dash="dash"),
            annotation_text=baseline_label,
            annotation_position="top left",
        )
    for k, (label, (means, ses)) in enumerate(series.items()):
        if len(means) != len(x) or (ses is not None and len(ses) != len(x)):
            raise LstmvizError(f"series {label!r} needs one value per x ({len(x)})")
        fig.add_trace(
            go.Scatter(
                x=list(x),
                y=round_sig(np.asarray(means, dtype=float)),
                error_y=None if ses is None else dict(array=round_sig(np.asarray(ses, float))),
                name=label,
                mode="lines+markers",
                line=dict(color=COLORS[k % len(COLORS)]),
            )
        )
    fig.update_layout(
        title=dict(text=title, x=0.01),
        # a log axis labels only the measured x values (plotly's own minor labels crowd it)
        xaxis=dict(title=x_title, type="log", tickvals=list(x)) if log_x else dict(title=x_title),
        yaxis=dict(title=y_title),
        height=420,
        width=800,
        margin=dict(l=70, r=20, t=60, b=50),
        template="plotly_white",
        legend=dict(x=1, xanchor="right", y=0.5, yanchor="middle"),
    )
    return subscripts(fig)


# ----------------------------------------------------------------------------- stack
_AXIS_KEYS = ("anchor", "matches", "overlaying", "scaleanchor")


def stack(figs: Sequence[go.Figure], gap: int = 30, width: int | None = None) -> go.Figure:
    """Several figures one above the other as one (e.g. an explorer's static PNG snapshot)."""
    figs = [f for f in figs if f is not None]
    heights = [int(f.layout.height or 450) for f in figs]
    total = sum(heights) + gap * (len(figs) - 1)
    # left margin: room for the heatmaps' "unit 123" labels, which sit left of the plot area
    out: dict[str, Any] = {
        "data": [],
        "layout": {
            "height": total,
            "margin": dict(l=70, r=10, t=0, b=0),
            "template": figs[0].layout.template if figs else None,
            "width": width or max([int(f.layout.width or 900) for f in figs] + [0]),
            "annotations": [],
            "shapes": [],
        },
    }
    n_x = n_y = n_c = n_leg = 0
    top = total
    for fig, h in zip(figs, heights, strict=True):
        # the layout as a dict whose arrays stay NumPy arrays (fig.to_plotly_json encodes them)
        lay = fig.layout.to_plotly_json()
        lay.pop("template", None)
        for key in ("barmode", "bargap", "plot_bgcolor"):  # figure-wide settings (last one wins)
            if key in lay:
                out["layout"][key] = lay[key]
        m = {"t": 100, "b": 80, "l": 80, "r": 80} | (lay.get("margin") or {})
        # this figure's plot area in paper units
        lo, hi = (top - h + m["b"]) / total, (top - m["t"]) / total
        top -= h + gap

        def y_of(v: float, lo: float = lo, hi: float = hi) -> float:
            return lo + (hi - lo) * v

        ren: dict[str, str] = {}
        for key in sorted(k for k in lay if k.startswith(("xaxis", "yaxis"))):
            letter = key[0]
            if letter == "x":
                n_x += 1
                ren[key] = f"xaxis{n_x if n_x > 1 else ''}"
                ren["x" + key[5:]] = f"x{n_x if n_x > 1 else ''}"
            else:
                n_y += 1
                ren[key] = f"yaxis{n_y if n_y > 1 else ''}"
                ren["y" + key[5:]] = f"y{n_y if n_y > 1 else ''}"
        for key in ("x", "y"):  # a figure without explicit axes still has x / y
            if key not in ren:
                if key == "x":
                    n_x += 1
                    ren["x"], ren["xaxis"] = (
                        f"x{n_x if n_x > 1 else ''}",
                        f"xaxis{n_x if n_x > 1 else ''}",
                    )
                else:
                    n_y += 1
                    ren["y"], ren["yaxis"] = (
                        f"y{n_y if n_y > 1 else ''}",
                        f"yaxis{n_y if n_y > 1 else ''}",
                    )
        cren: dict[str, str] = {}
        for key in sorted(k for k in lay if k.startswith("coloraxis")):
            n_c += 1
            cren[key] = f"coloraxis{n_c if n_c > 1 else ''}"
        n_leg += 1
        legend = f"legend{n_leg if n_leg > 1 else ''}"
        for key in list(ren):
            if key.startswith(("xaxis", "yaxis")):
                ax = dict(lay.get(key) or {})
                ax.setdefault("anchor", "y" if key.startswith("xaxis") else "x")  # plotly's default
                for k in _AXIS_KEYS:
                    if ax.get(k) in ren:
                        ax[k] = ren[ax[k]]
                if key.startswith("yaxis"):
                    d0, d1 = ax.get("domain", [0, 1])
                    ax["domain"] = [y_of(d0), y_of(d1)]
                elif fig.layout.width and fig.layout.width < out["layout"]["width"]:
                    # a narrow figure (coloured text) keeps its width instead of being stretched
                    k = fig.layout.width / out["layout"]["width"]
                    d0, d1 = ax.get("domain", [0, 1])
                    ax["domain"] = [d0 * k, d1 * k]
                out["layout"][ren[key]] = ax
        for key, new in cren.items():
            ca = dict(lay[key])
            cb = dict(ca.get("colorbar") or {})
            y, ln = cb.get("y", 0.5), cb.get("len", 1.0)
            cb["y"], cb["len"] = y_of(y), ln * (hi - lo)
            ca["colorbar"] = cb
            out["layout"][new] = ca
        for trace in fig.data:
            tr = trace.to_plotly_json()
            tr["xaxis"] = ren[tr.get("xaxis", "x")]
            tr["yaxis"] = ren[tr.get("yaxis", "y")]
            if "coloraxis" in tr:
                tr["coloraxis"] = cren[tr["coloraxis"]]
            elif "colorbar" in tr or tr.get("type") == "heatmap":
                cb = dict(tr.get("colorbar") or {})
                y, ln = cb.get("y", 0.5), cb.get("len", 1.0)
                cb["y"], cb["len"] = y_of(y), ln * (hi - lo)
                tr["colorbar"] = cb
            tr["legend"] = legend
            if lay.get("showlegend") is False:
                tr["showlegend"] = False
            out["data"].append(tr)
        leg = dict(lay.get("legend") or {})
        leg["y"] = y_of(leg.get("y", 1.0))
        out["layout"][legend] = leg
        for ann in lay.get("annotations", []):
            ann = dict(ann)
            for ref in ("xref", "yref"):
                r = ann.get(ref, "paper")
                base = r.split(" ")[0]
                if base in ren:
                    ann[ref] = r.replace(base, ren[base], 1)
            if ann.get("yref", "paper") == "paper":
                ann["y"] = y_of(ann.get("y", 0))
            out["layout"]["annotations"].append(ann)
        for shape in lay.get("shapes", []):
            shape = dict(shape)
            for ref in ("xref", "yref"):
                r = shape.get(ref, "x" if ref == "xref" else "y")
                base = r.split(" ")[0]
                if base in ren:
                    shape[ref] = r.replace(base, ren[base], 1)
            if shape.get("yref") == "paper":
                shape["y0"], shape["y1"] = y_of(shape.get("y0", 0)), y_of(shape.get("y1", 1))
            out["layout"]["shapes"].append(shape)
        t = lay.get("title") or {}
        if t.get("text"):
            out["layout"]["annotations"].append(
                dict(
                    text=t["text"],
                    xref="paper",
                    yref="paper",
                    x=0,
                    xanchor="left",
                    y=(top + gap + h - 12) / total,
                    yanchor="top",
                    showarrow=False,
                    font=dict(size=(t.get("font") or {}).get("size", 16)),
                )
            )
    return go.Figure(out)


# ----------------------------------------------------------------------------- fitted colours
def fit_colours(fig: go.Figure, values: Any, *, q: float = 0.01) -> tuple[float, float]:
    """Centre a ``coloured_text`` figure's diverging colours on the median of ``values``.

    For a cell whose values never come near 0 (say 4 to 24), the default scale (white at 0, ±max)
    paints everything one colour. Here white is the median of ``values`` (any shape; NaN
    ignored) and the scale reaches the farther of their ``q`` and ``1 - q`` quantiles on both
    sides (values beyond take the end colours). Changes ``fig`` in place; returns (cmin, cmax).
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0 or not 0 <= q < 0.5:
        raise LstmvizError(f"need finite values and 0 <= q < 0.5; got {v.size} values, q={q}")
    lo, mid, hi = np.quantile(v, [q, 0.5, 1 - q])
    half = float(round_sig(max(mid - lo, hi - mid, 1e-6), 2))
    mid = float(round_sig(mid, 3))
    fig.update_layout(coloraxis=dict(cmin=mid - half, cmax=mid + half))
    return mid - half, mid + half


def top_k_bars(
    probs: Any,
    chars: Sequence[str],
    k: int,
    first: int = 20,
    title: str = "Top-k sampling at one step",
) -> go.Figure:
    """The ``first`` likeliest next characters and the rest as one bar; top-k kept in colour.

    ``probs`` (V,): the softmax over all V characters (temperature 1); ``chars`` (V,): the
    vocabulary. Blue bars: the ``k`` characters top-k keeps; grey: characters it cuts; the last
    bar, "rest", sums every character after the ``first``. Orange diamonds: the kept characters'
    probabilities after top-k renormalises them to sum to 1.
    """
    p = np.asarray(probs.detach().cpu() if hasattr(probs, "detach") else probs, dtype=np.float64)
    if p.ndim != 1 or len(p) != len(chars) or not 1 <= k <= first < len(p):
        raise LstmvizError(
            f"top_k_bars needs probs (V,) and V chars with 1 <= k <= first < V; got probs "
            f"{p.shape}, {len(chars)} chars, k={k}, first={first}"
        )
    order = np.argsort(-p, kind="stable")
    labels = [f"'{shown(chars[i])}'" for i in order[:first]] + ["rest"]
    heights = [*p[order[:first]], p[order[first:]].sum()]
    colors = ["#1f77b4"] * k + ["#c7c7c7"] * (first - k) + ["#9e9e9e"]
    fig = go.Figure()
    fig.add_bar(
        x=labels,
        y=round_sig(heights, as_list=True),
        marker=dict(color=colors, pattern=dict(shape=[""] * first + ["/"])),
        name=f"probability (blue: kept by top-{k}, grey: cut)",
        hovertemplate="%{x}: p = %{y:.3f}<extra></extra>",
    )
    kept = p[order[:k]]
    fig.add_scatter(
        x=labels[:k],
        y=round_sig(kept / kept.sum(), as_list=True),
        mode="markers",
        name=f"top-{k}, renormalised to sum to 1",
        marker=dict(symbol="diamond", size=12, color="#ff7f0e"),
        hovertemplate="%{x}: %{y:.3f} after top-k<extra></extra>",
    )
    fig.add_annotation(  # what the last bar is, above it
        x="rest",
        y=heights[-1],
        text=f"the other {len(p) - first}<br>together",
        showarrow=False,
        yanchor="bottom",
        xanchor="right",
        font=dict(size=11, color="#555555"),
    )
    top = max(heights[0], heights[-1], float((kept / kept.sum()).max()))
    fig.update_layout(
        title=title,
        template="plotly_white",
        height=420,
        xaxis=dict(
            title=f"the {first} likeliest next characters, most likely first; then the rest "
            "together",
            type="category",
            tickangle=0,
            tickfont=dict(family=FONT, size=12),
        ),
        yaxis=dict(title="probability", range=[0, 1.15 * top]),
        legend=dict(x=0.3, xanchor="left", y=0.99),  # clear of the diamonds and the last bar
        margin=dict(l=70, r=30, t=60, b=80),
        bargap=0.25,
    )
    return fig


def temperature_lines(
    taus: Any,
    probs: Any,
    ids: Sequence[int],
    chars: Sequence[str],
    title: str = "The same step at every temperature: p(character) vs τ",
) -> go.Figure:
    """p(character) vs temperature τ, both on log axes: one line per character in ``ids``.

    ``taus`` (N,): the temperatures; ``probs`` (N, V): softmax(z / τ) at each; ``ids``: the
    characters drawn as lines (e.g. the top k); every other character together as one dotted line;
    a dashed line at the uniform 1/V.
    """
    t = np.asarray(taus, dtype=np.float64)
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape != (len(t), len(chars)):
        raise LstmvizError(
            f"temperature_lines needs probs (N, V) for N taus and V chars; got {p.shape}, "
            f"{len(t)} taus, {len(chars)} chars"
        )
    x = round_sig(t, as_list=True)
    fig = go.Figure()
    for j, i in enumerate(ids):
        fig.add_scatter(
            x=x,
            y=round_sig(p[:, i], as_list=True),
            name=f"'{shown(chars[i])}'",
            mode="lines",
            line=dict(color=COLORS[j % len(COLORS)], width=2.5),
        )
    rest = 1 - p[:, list(ids)].sum(1)
    fig.add_scatter(
        x=x,
        y=round_sig(rest, as_list=True),
        name=f"the other {len(chars) - len(ids)} together",
        mode="lines",
        line=dict(color="gray", dash="dot", width=2.5),
    )
    uniform = 1 / len(chars)
    fig.add_hline(y=uniform, line=dict(dash="dash", color="gray"))
    fig.add_annotation(  # on a log axis, y is given in log10 units
        x=1,
        xref="x domain",
        xanchor="right",
        y=math.log10(uniform),
        yanchor="top",
        text=f"uniform: 1/{len(chars)} each",
        showarrow=False,
        font=dict(color="gray"),
    )
    fig.add_vline(x=1, line=dict(dash="dash", color="lightgray"))
    fig.update_layout(
        title=title,
        template="plotly_white",
        height=420,
        xaxis=dict(title="temperature τ (log scale)", type="log"),
        yaxis=dict(
            title="probability (log scale)", type="log", range=[-4, 0.05], exponentformat="power"
        ),
        legend=dict(x=1.02, xanchor="left", y=1),
    )
    return fig
