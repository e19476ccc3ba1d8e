"""Diagrams drawn by code (schematics, no data): an RNN unrolled in time, and one LSTM step in Ng's
notation with PyTorch's letters beside each symbol.

The memory cell's path c⟨t−1⟩ → ×Γ_f → +Γ_u∗ĉ → c⟨t⟩ (the "conveyor belt", Hochreiter &
Schmidhuber's constant error carousel) is drawn thick and coloured: on it there is no weight
matrix and no squashing, only a multiplication by Γ_f and an addition. Everything else, the
gates computed from [a⟨t−1⟩, x⟨t⟩] and the output a⟨t⟩ = Γ_o ∗ tanh(c⟨t⟩), is drawn in grey.

Used by lessons 01 (``unrolled_figure``) and 03 (``lstm_cell_figure``, the LSTM cell).
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from ..core.errors import LstmvizError
from ..core.names import LONG, SYMBOLS
from . import style
from .style import subscripts

# ----------------------------------------------------------------------------- settings
BELT = "#EF553B"  # the memory cell's path
WIRE = "#555555"  # every other connection
GATE_FILL = {"i": "#dbe9f6", "f": "#f6dada", "g": "#e6dcf3", "o": "#dcf0dc"}  # one per gate
BELT_Y, WIRE_Y, GATE_Y = 5.0, 1.0, 2.6  # heights of the cell path, the [a, x] wire, the gates
# x positions: where each gate sits, and the operations on the belt
X = {"f": 3.0, "i": 4.7, "g": 6.3, "o": 7.7, "plus": 5.5, "out": 8.9}


def _arrow(
    fig: go.Figure, x0: float, y0: float, x1: float, y1: float, color: str, width=2.0, size=1.2
):
    style.arrow(fig, x0, y0, x1, y1, color, width=width, size=size)


def _line(fig: go.Figure, pts: list[tuple[float, float]], color: str, width: float = 2.0):
    for (x0, y0), (x1, y1) in zip(pts[:-1], pts[1:], strict=True):
        fig.add_shape(type="line", x0=x0, y0=y0, x1=x1, y1=y1, line=dict(color=color, width=width))


def _op(fig: go.Figure, x: float, y: float, sign: str, color: str) -> None:
    """A pointwise operation (× or +) on a wire: a small circle around its sign."""
    _labelled(
        fig,
        "circle",
        x,
        y,
        f"<b>{sign}</b>",
        w=0.27,
        h=0.27,
        fill="white",
        color=color,
        width=2,
        size=18,
    )


def _box(fig: go.Figure, x: float, y: float, text: str, fill: str, w: float = 0.62) -> None:
    """A gate: a box ``2w`` wide filled with ``fill``, its function and symbol inside."""
    _labelled(fig, "rect", x, y, text, w=w, h=0.42, fill=fill)


def _labelled(
    fig: go.Figure,
    kind: str,
    x: float,
    y: float,
    text: str,
    *,
    w: float,
    h: float,
    fill: str,
    color: str = WIRE,
    width: float = 1.5,
    size: int = 13,
    below: bool = False,
) -> None:
    """A ``kind`` shape ("rect" or "circle") ``2w`` by ``2h`` centred on (x, y), ``text`` in it."""
    fig.add_shape(
        type=kind,
        x0=x - w,
        x1=x + w,
        y0=y - h,
        y1=y + h,
        line=dict(color=color, width=width),
        fillcolor=fill,
        layer="below" if below else None,
    )
    fig.add_annotation(x=x, y=y, text=text, showarrow=False, font=dict(size=size))


def lstm_cell_figure(
    title: str = "One LSTM step (Ng's notation, PyTorch's letters in brackets)",
) -> go.Figure:
    """The LSTM cell as a labelled diagram with the memory-cell path highlighted (no data)."""
    fig = go.Figure()
    fig.add_shape(  # the cell
        type="rect",
        x0=1.3,
        x1=9.6,
        y0=0.25,
        y1=5.75,
        line=dict(color="#bbbbbb", width=1),
        fillcolor="#fafafa",
        layer="below",
    )
    # the conveyor belt: c⟨t−1⟩ → ×Γ_f → + → c⟨t⟩
    _line(fig, [(0.6, BELT_Y), (X["f"] - 0.27, BELT_Y)], BELT, 5)
    _line(fig, [(X["f"] + 0.27, BELT_Y), (X["plus"] - 0.27, BELT_Y)], BELT, 5)
    _arrow(fig, X["plus"] + 0.27, BELT_Y, 10.3, BELT_Y, BELT, 5, size=0.5)
    _op(fig, X["f"], BELT_Y, "×", BELT)
    _op(fig, X["plus"], BELT_Y, "+", BELT)
    for x, end, anchor in ((0.55, "c⟨t−1⟩", "right"), (10.35, "c⟨t⟩", "left")):  # its two ends
        fig.add_annotation(
            x=x, y=BELT_Y, text=end, xanchor=anchor, showarrow=False, font=dict(size=15, color=BELT)
        )
    fig.add_annotation(
        x=(X["f"] + X["plus"]) / 2 + 0.9,
        y=BELT_Y + 0.45,
        showarrow=False,
        text="memory cell c: only × Γ_f and +, no weight matrix, no tanh",
        font=dict(size=12, color=BELT),
    )
    # the input wire [a⟨t−1⟩, x⟨t⟩] feeding the four gates
    _line(fig, [(0.6, WIRE_Y), (X["o"], WIRE_Y)], WIRE)
    fig.add_annotation(
        x=0.55, y=WIRE_Y, text="a⟨t−1⟩ (h)", xanchor="right", showarrow=False, font=dict(size=14)
    )
    _arrow(fig, 2.0, -0.35, 2.0, WIRE_Y, WIRE)
    fig.add_annotation(x=2.0, y=-0.5, text="x⟨t⟩", showarrow=False, font=dict(size=14))
    fig.add_annotation(
        x=2.45,
        y=WIRE_Y - 0.3,
        text="[a⟨t−1⟩, x⟨t⟩]",
        showarrow=False,
        xanchor="left",
        font=dict(size=11, color=WIRE),
    )
    for name, fn in (("f", "σ"), ("i", "σ"), ("g", "tanh"), ("o", "σ")):
        _arrow(fig, X[name], WIRE_Y, X[name], GATE_Y - 0.42, WIRE)
        symbol = "ĉ⟨t⟩" if name == "g" else SYMBOLS[name]
        _box(fig, X[name], GATE_Y, f"{fn}<br><b>{symbol}</b> ({name})", GATE_FILL[name])
        fig.add_annotation(
            x=X[name],
            y=GATE_Y - 0.62,
            text=LONG[name],
            showarrow=False,
            font=dict(size=11, color=WIRE),
            yanchor="top",
            xanchor="left",
            xshift=4,
        )
    # Γ_f multiplies the old cell; Γ_u ∗ ĉ is added to it
    _arrow(fig, X["f"], GATE_Y + 0.42, X["f"], BELT_Y - 0.27, WIRE)
    y_mul = 3.9
    _op(fig, X["plus"], y_mul, "×", WIRE)
    _arrow(fig, X["i"], GATE_Y + 0.42, X["plus"] - 0.22, y_mul - 0.17, WIRE)
    _arrow(fig, X["g"], GATE_Y + 0.42, X["plus"] + 0.22, y_mul - 0.17, WIRE)
    _arrow(fig, X["plus"], y_mul + 0.27, X["plus"], BELT_Y - 0.27, WIRE)
    # the output: a⟨t⟩ = Γ_o ∗ tanh(c⟨t⟩), read off the belt
    _arrow(fig, X["out"], BELT_Y, X["out"], 4.0 + 0.3, WIRE)
    _labelled(fig, "circle", X["out"], 4.0, "tanh", w=0.45, h=0.3, fill="white")
    _op(fig, X["out"], GATE_Y, "×", WIRE)
    _arrow(fig, X["out"], 3.7, X["out"], GATE_Y + 0.27, WIRE)
    _arrow(fig, X["o"] + 0.62, GATE_Y, X["out"] - 0.27, GATE_Y, WIRE)
    _line(fig, [(X["out"], GATE_Y - 0.27), (X["out"], WIRE_Y)], WIRE)
    _arrow(fig, X["out"], WIRE_Y, 10.3, WIRE_Y, WIRE)
    fig.add_annotation(
        x=10.35, y=WIRE_Y, text="a⟨t⟩ (h)", xanchor="left", showarrow=False, font=dict(size=15)
    )
    # the two equations the picture draws
    fig.add_annotation(
        x=5.45,
        y=6.25,
        showarrow=False,
        font=dict(size=13, color=BELT),
        text="c⟨t⟩ = Γ_u ∗ ĉ⟨t⟩ + Γ_f ∗ c⟨t−1⟩",
    )
    fig.add_annotation(
        x=X["out"] + 0.05,
        y=WIRE_Y - 0.55,
        showarrow=False,
        font=dict(size=13),
        text="a⟨t⟩ = Γ_o ∗ tanh(c⟨t⟩)",
    )
    fig.update_xaxes(visible=False, range=[-0.9, 11.6])
    fig.update_yaxes(visible=False, range=[-0.8, 6.6], scaleanchor="x", scaleratio=1)
    fig.update_layout(
        title=title,
        template="plotly_white",
        height=520,
        showlegend=False,
        margin=dict(l=10, r=10, t=50, b=10),
    )
    return subscripts(fig)


def unrolled_figure(
    inputs: Sequence[str],
    outputs: Sequence[str] | None = None,
    highlight: tuple[int, int] | None = None,
    title: str = "A recurrent network, unrolled in time: the same weights at every step",
) -> go.Figure:
    """Diagram of an RNN unrolled over len(inputs) steps: x⟨t⟩ → a⟨t⟩ → ŷ⟨t⟩, a⟨t−1⟩ → a⟨t⟩.

    ``outputs`` labels the ŷ boxes (default ŷ⟨t⟩); ``highlight=(s, t)`` colours the path that
    carries information from step s to step t through the hidden states (lesson 01). Time steps
    are written as Ng's superscript a<sup><t></sup>: the angle brackets ⟨ ⟩ look like ( ) at PNG
    size.
    """
    T = len(inputs)
    outputs = list(outputs) if outputs is not None else [_at("ŷ", t + 1) for t in range(T)]
    if len(outputs) != T:
        raise LstmvizError(f"got {T} inputs but {len(outputs)} outputs; give one output per step")
    fig = go.Figure()
    dx, hot, cold = 1.6, "#EF553B", "#636EFA"
    on_path = (lambda t: highlight[0] <= t <= highlight[1]) if highlight else (lambda t: False)

    def box(x: float, y: float, text: str, color: str, fill: str) -> None:
        _labelled(
            fig,
            "rect",
            x,
            y,
            text,
            w=0.48,
            h=0.3,
            fill=fill,
            color=color,
            width=2,
            size=16,
            below=True,
        )

    box(-dx, 1, _at("a", 0) + "=0", "gray", "#f4f4f4")
    for t in range(T):
        x = t * dx
        color = hot if on_path(t) else cold
        box(x, 0, inputs[t], "gray", "#f4f4f4")
        box(x, 1, _at("a", t + 1), color, "#fde7e3" if on_path(t) else "#e8ebfe")
        box(x, 2, outputs[t], "gray", "#f4f4f4")
        _weight(fig, x, 0.3, x, 0.7, "W<sub>ax</sub>", "gray")
        _weight(fig, x, 1.3, x, 1.7, "W<sub>ya</sub>", "gray")
        link_hot = on_path(t) and on_path(t - 1)
        _weight(fig, x - dx + 0.48, 1, x - 0.48, 1, "W<sub>aa</sub>", hot if link_hot else cold)
    for y, (row, name) in enumerate((("input", "x"), ("hidden", "a"), ("output", "ŷ"))):
        fig.add_annotation(
            x=-dx - 0.75,
            y=y,
            text=f"{row} {_at(name, 't')}",
            showarrow=False,
            xanchor="right",
            font=dict(size=14),
        )
    fig.update_xaxes(visible=False, range=[-dx - 2.4, (T - 1) * dx + 0.8])
    fig.update_yaxes(visible=False, range=[-0.5, 2.5])
    fig.update_layout(
        title=title,
        template="plotly_white",
        height=330,
        margin=dict(l=10, r=10, t=50, b=10),
        showlegend=False,
    )
    return fig


def _at(name: str, t: int | str) -> str:
    """Ng's a<t> as a superscript, "<" and ">" escaped: ``_at("a", 1)`` -> a<sup>&lt;1&gt;</sup>."""
    return f"{name}<sup>&lt;{t}&gt;</sup>"


def _weight(fig: go.Figure, x0: float, y0: float, x1: float, y1: float, label: str, color: str):
    """An arrow from (x0, y0) to (x1, y1) labelled with the weight matrix it applies."""
    style.arrow(fig, x0, y0, x1, y1, color, head=3)
    fig.add_annotation(
        x=(x0 + x1) / 2,
        y=(y0 + y1) / 2,
        text=label,
        showarrow=False,
        font=dict(size=13, color=color),
        xshift=18 if x0 == x1 else 0,
        yshift=0 if x0 == x1 else 12,
    )
