"""The gate sandbox: set Γ_u, Γ_f, Γ_o, ĉ⟨t⟩ and c⟨t−1⟩ by hand and watch c⟨t⟩ and a⟨t⟩.

One LSTM step, with the gates as free knobs instead of learnt functions of the input:

    c⟨t⟩ = Γ_u ∗ ĉ⟨t⟩ + Γ_f ∗ c⟨t−1⟩        (write some of the candidate, keep some of the old cell)
    a⟨t⟩ = Γ_o ∗ tanh(c⟨t⟩)                 (show some of the squashed cell)

The figure draws the sigmoid every gate comes out of (each gate at its pre-activation
σ⁻¹(Γ)), the cell update as bars (kept + written = new cell), and the tanh that squashes the
cell before the output gate scales it. ``GateSandbox`` adds sliders (ipywidgets) in a live
kernel and carries a PNG of its figure for GitHub and nbconvert.

Used by lesson 03 (the gate sandbox).
"""

from __future__ import annotations

import math
from contextlib import nullcontext

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..core.errors import LstmvizError
from ..core.names import GATES, LONG, SYMBOLS
from ..core.names import RANGES as NAME_RANGES
from ..viz.livefig import LiveFigure
from ..viz.style import COLORS, static_png

#: Each knob and the activation it sets (PyTorch's letter); the old cell is c⟨t−1⟩.
KNOBS = {"gamma_u": "i", "gamma_f": "f", "gamma_o": "o", "c_hat": "g", "c_prev": "c"}
#: The old cell is unbounded; its slider stops at ±3 (tanh(3) ≈ 0.995: nothing new beyond).
C_PREV_RANGE = (-3.0, 3.0)
#: slider ranges: gates are sigmoids, the candidate a tanh (``lstmviz.core.names.RANGES``)
RANGES = {k: C_PREV_RANGE if n == "c" else NAME_RANGES[n] for k, n in KNOBS.items()}
LABELS = {
    **{
        k: f"{SYMBOLS[n].replace('_', '')} ({LONG[n]}, {n})" for k, n in KNOBS.items() if n in GATES
    },
    "c_hat": f"ĉ⟨t⟩ ({LONG['g']}, g)",
    "c_prev": "c⟨t−1⟩ (old cell)",
}
DEFAULTS = {"gamma_u": 0.5, "gamma_f": 0.9, "gamma_o": 0.8, "c_hat": 0.6, "c_prev": 1.0}


def cell_update(
    gamma_u: float, gamma_f: float, gamma_o: float, c_hat: float, c_prev: float
) -> tuple[float, float]:
    """One LSTM cell update from given gates (scalars or arrays): returns (c⟨t⟩, a⟨t⟩)."""
    c = gamma_u * c_hat + gamma_f * c_prev
    a = gamma_o * np.tanh(c)
    return c, a


def _check(values: dict[str, float]) -> None:
    for name, value in values.items():
        lo, hi = RANGES[name]
        if not lo <= value <= hi:
            raise LstmvizError(f"{name}={value} is outside its range [{lo}, {hi}]")


def _logit(p: float) -> float:
    p = min(max(p, 1e-3), 1 - 1e-3)  # σ⁻¹(0) and σ⁻¹(1) are ±∞: draw them at the axis edge
    return math.log(p / (1 - p))


def sandbox_figure(
    gamma_u: float = DEFAULTS["gamma_u"],
    gamma_f: float = DEFAULTS["gamma_f"],
    gamma_o: float = DEFAULTS["gamma_o"],
    c_hat: float = DEFAULTS["c_hat"],
    c_prev: float = DEFAULTS["c_prev"],
) -> go.Figure:
    """Three panels: gates on the sigmoid; kept + written = c⟨t⟩ as bars; c⟨t⟩, a⟨t⟩ on the tanh."""
    fig = make_subplots(
        rows=1,
        cols=3,
        horizontal_spacing=0.09,
        subplot_titles=(
            "gates Γ = σ(z)",
            "memory cell: kept + written = new",
            "output a⟨t⟩ = Γ<sub>o</sub>·tanh(c⟨t⟩)",
        ),
    )
    z = np.linspace(-6, 6, 121)
    fig.add_scatter(
        x=z.round(2).tolist(),
        y=(1 / (1 + np.exp(-z))).round(4).tolist(),
        mode="lines",
        line=dict(color="lightgray", width=3),
        name="σ(z)",
        row=1,
        col=1,
    )
    for name, color in (("gamma_u", COLORS[0]), ("gamma_f", COLORS[1]), ("gamma_o", COLORS[2])):
        fig.add_scatter(
            x=[0],
            y=[0],
            mode="markers",
            marker=dict(size=13, color=color),
            name=LABELS[name],
            row=1,
            col=1,
        )
    fig.add_bar(
        x=["c⟨t−1⟩", "kept<br>Γ<sub>f</sub>·c⟨t−1⟩", "written<br>Γ<sub>u</sub>·ĉ⟨t⟩", "new c⟨t⟩"],
        y=[0, 0, 0, 0],
        marker=dict(color=["lightgray", COLORS[1], COLORS[0], COLORS[3]]),
        text=["", "", "", ""],
        textposition="outside",
        showlegend=False,
        row=1,
        col=2,
    )
    cs = np.linspace(-4, 4, 161)
    fig.add_scatter(
        x=cs.round(2).tolist(),
        y=np.tanh(cs).round(4).tolist(),
        mode="lines",
        line=dict(color="lightgray", width=3),
        name="tanh(c)",
        row=1,
        col=3,
    )
    fig.add_scatter(
        x=[0, 0],
        y=[0, 0],
        mode="lines+markers",
        name="tanh(c⟨t⟩) ●, a⟨t⟩ ◆",
        line=dict(color=COLORS[3], dash="dot"),
        marker=dict(size=[11, 13], color=[COLORS[3], COLORS[2]], symbol=["circle", "diamond"]),
        row=1,
        col=3,
    )
    fig.update_xaxes(title_text="pre-activation z", range=[-6.3, 6.3], row=1, col=1)
    fig.update_yaxes(title_text="gate value", range=[-0.05, 1.05], row=1, col=1)
    fig.update_yaxes(title_text="cell value", range=[-4.5, 4.5], row=1, col=2)
    fig.update_xaxes(title_text="c⟨t⟩", range=[-4.2, 4.2], row=1, col=3)
    fig.update_yaxes(title_text="value", range=[-1.1, 1.1], row=1, col=3)
    fig.update_layout(
        template="plotly_white",
        height=430,
        width=1000,
        bargap=0.35,
        legend=dict(orientation="h", y=-0.22, x=0.5, xanchor="center"),
        margin=dict(l=60, r=20, t=120, b=90),
    )
    update_sandbox_figure(
        fig, gamma_u=gamma_u, gamma_f=gamma_f, gamma_o=gamma_o, c_hat=c_hat, c_prev=c_prev
    )
    return fig


def update_sandbox_figure(fig: go.Figure, **values: float) -> None:
    """Move the markers and bars of a ``sandbox_figure`` to new gate / cell values (in place)."""
    _check(values)
    v = {**DEFAULTS, **values}
    c, a = cell_update(v["gamma_u"], v["gamma_f"], v["gamma_o"], v["c_hat"], v["c_prev"])
    kept, written = v["gamma_f"] * v["c_prev"], v["gamma_u"] * v["c_hat"]
    bars = [v["c_prev"], kept, written, c]
    with fig.batch_update() if isinstance(fig, go.FigureWidget) else nullcontext():
        for k, name in enumerate(("gamma_u", "gamma_f", "gamma_o"), start=1):
            fig.data[k].x, fig.data[k].y = [round(_logit(v[name]), 4)], [round(v[name], 4)]
        fig.data[4].y = [round(b, 4) for b in bars]
        fig.data[4].text = [f"{b:+.2f}" for b in bars]
        fig.data[6].x, fig.data[6].y = [round(c, 4)] * 2, [round(math.tanh(c), 4), round(a, 4)]
        fig.layout.title = dict(
            text=(
                "c⟨t⟩ = Γ<sub>u</sub>·ĉ⟨t⟩ + Γ<sub>f</sub>·c⟨t−1⟩ = "
                f"{v['gamma_u']:.2f}·({v['c_hat']:+.2f}) + "
                f"{v['gamma_f']:.2f}·({v['c_prev']:+.2f}) = <b>{c:+.3f}</b>"
                "<br>a⟨t⟩ = Γ<sub>o</sub>·tanh(c⟨t⟩) = "
                f"{v['gamma_o']:.2f}·({math.tanh(c):+.3f}) = <b>{a:+.3f}</b>"
            ),
            x=0.5,
            xanchor="center",
            y=0.93,
            yanchor="top",
            font=dict(size=15),
        )


class GateSandbox:
    """Sliders for Γ_u, Γ_f, Γ_o, ĉ⟨t⟩, c⟨t−1⟩ over a live ``sandbox_figure``; widget + PNG."""

    def __init__(self, **values: float):
        _check(values)
        self.values = {**DEFAULTS, **values}
        self.live = LiveFigure(sandbox_figure(**self.values))  # replaced if the browser lost it
        self.sliders = {
            name: widgets.FloatSlider(
                value=self.values[name],
                min=lo,
                max=hi,
                step=0.01,
                description=LABELS[name],
                continuous_update=True,
                readout_format=".2f",
                style={"description_width": "150px"},
                layout=widgets.Layout(width="420px"),
            )
            for name, (lo, hi) in RANGES.items()
        }
        for slider in self.sliders.values():
            slider.observe(self._on_change, names="value")
        column = widgets.VBox(list(self.sliders.values()))
        self.widget = widgets.VBox([column, self.live])

    def _on_change(self, _change: dict) -> None:
        self.set(**{name: s.value for name, s in self.sliders.items()})

    def set(self, **values: float) -> None:
        """Set some of gamma_u, gamma_f, gamma_o, c_hat, c_prev; sliders and figure follow."""
        unknown = sorted(set(values) - set(RANGES))
        if unknown:
            raise LstmvizError(f"unknown sandbox value(s) {unknown}; use {sorted(RANGES)}")
        _check(values)
        self.values.update(values)
        for name, value in values.items():
            if self.sliders[name].value != value:
                self.sliders[name].value = value  # re-enters set() once, harmlessly
        update_sandbox_figure(self.figure, **self.values)

    @property
    def figure(self) -> go.FigureWidget:
        """The FigureWidget shown now."""
        return self.live.fw

    @property
    def c(self) -> float:
        """c⟨t⟩ for the current slider values."""
        return cell_update(*(self.values[k] for k in RANGES))[0]

    @property
    def a(self) -> float:
        """a⟨t⟩ for the current slider values."""
        return cell_update(*(self.values[k] for k in RANGES))[1]

    def __repr__(self) -> str:
        v = self.values
        return (
            f"GateSandbox(Γ_u={v['gamma_u']:.2f}, Γ_f={v['gamma_f']:.2f}, Γ_o={v['gamma_o']:.2f}, "
            f"ĉ={v['c_hat']:+.2f}, c_prev={v['c_prev']:+.2f} -> c={self.c:+.3f}, a={self.a:+.3f})"
        )

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        """The live widget for JupyterLab, plus a PNG of the figure for GitHub and nbconvert."""
        self.live.stamp()  # inside a box, its own display hook never runs
        bundle = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude) or {})
        bundle["text/plain"] = repr(self)
        png = static_png(go.Figure(self.figure), width=1000, height=430)
        if png:
            bundle["image/png"] = png
        return bundle
