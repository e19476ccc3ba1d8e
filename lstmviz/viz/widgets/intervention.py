"""Clamp one unit and compare: ``InterventionExplorer``, the explorer of lesson 06.

Clamp one memory cell (or gate unit) of one layer to a value while the model writes, and read the
two continuations side by side, from the same seed: every difference comes from the clamp. Each
character is coloured by Δ log p, what the clamp did to the model's choice of it.
"""

from __future__ import annotations

import contextlib
import html
from typing import Any

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go

from ...core.names import RANGES, SYMBOLS, canonical
from ...core.sampling import stream
from ...gates.interventions import intervene, logprob_change
from .. import plots
from ..livefig import LiveFigure
from .base import NAME_OPTIONS, Explorer, layer_options, placeholder, shown_figure

# ----------------------------------------------------------------------------- settings
#: The clamp slider stops at ±CELL_SLIDER for the memory cell, which is unbounded.
CELL_SLIDER = 20.0


class InterventionExplorer(Explorer):
    """Clamp one memory cell (or gate unit) to a value; compare with the untouched continuation."""

    fig = shown_figure("_fig", "comparison")

    def __init__(
        self,
        model: Any,
        vocab: Any,
        *,
        prime: str = "\n",
        layer: int = -1,
        unit: int = 0,
        value: float = 3.0,
        name: str = "c",
        length: int = 200,
        temperature: float = 0.8,
        seed: int = 0,
    ):
        self.model, self.vocab = model, vocab
        L, H = model.num_layers, model.hidden_size
        style = {"description_width": "80px"}
        self.w_prime = W.Textarea(value=prime, description="prime", rows=2, style=style)
        self.w_layer = W.Dropdown(
            options=layer_options(L), value=layer % L, description="layer", style=style
        )
        self.w_name = W.Dropdown(
            options=NAME_OPTIONS, value=canonical(name), description="clamp", style=style
        )
        self.w_unit = W.IntSlider(value=unit, min=0, max=H - 1, description="unit", style=style)
        self.w_value = W.FloatSlider(
            value=value, min=-20.0, max=20.0, step=0.05, description="to value", style=style
        )
        self.w_length = W.IntSlider(
            value=length, min=10, max=1000, step=10, description="length", style=style
        )
        self.w_temperature = W.FloatSlider(
            value=temperature, min=0.0, max=2.0, step=0.05, description="temperature", style=style
        )
        self.w_seed = W.IntText(
            value=seed, description="seed", style=style, layout=W.Layout(width="200px")
        )
        self.w_run = W.Button(description="Compare", button_style="success", icon="play")
        self.w_out = W.HTML()
        self._fig = LiveFigure()
        self.results: dict[str, tuple[str, np.ndarray]] = {}
        self.w_run.on_click(lambda _: self.run())
        self.w_name.observe(self._on_name, names="value")
        self._on_name({"new": self.w_name.value})
        self.widget = W.VBox(
            [
                W.HBox(
                    [
                        W.VBox([self.w_prime, self.w_seed, self.w_run]),
                        W.VBox([self.w_layer, self.w_name, self.w_unit, self.w_value]),
                        W.VBox([self.w_length, self.w_temperature]),
                    ]
                ),
                self.w_out,
                self._fig,
            ]
        )
        self.widget.add_class("lstmviz-intervene")
        self.draw()

    def _on_name(self, change: Any) -> None:
        """Gates live in [0, 1], ĉ and a in [-1, 1]; a memory cell can go far beyond."""
        lo, hi = (float(v) for v in np.clip(RANGES[change["new"]], -CELL_SLIDER, CELL_SLIDER))
        self.w_value.min, self.w_value.max = min(lo, self.w_value.min), max(hi, self.w_value.max)
        self.w_value.value = float(np.clip(self.w_value.value, lo, hi))
        self.w_value.min, self.w_value.max = lo, hi

    def _generate(self, clamp: bool) -> tuple[str, np.ndarray]:
        """One continuation (with or without the clamp) and, per character, Δ log p (T,).

        Δ log p = log p(character | text before it) with the clamp minus without it: what the
        clamp did to the model's choice of that character (positive: made it more likely).
        """
        name, layer, unit = self.w_name.value, self.w_layer.value, int(self.w_unit.value)
        clamps: dict[tuple[str, int, int | None], float] = {
            (name, layer, unit): float(self.w_value.value)
        }
        prime, n = self.w_prime.value or "\n", int(self.w_length.value)
        # same seed for both runs: every difference comes from the clamp
        with intervene(self.model, clamps) if clamp else contextlib.nullcontext():
            out = "".join(
                stream(
                    self.model,
                    self.vocab,
                    prime,
                    n,
                    temperature=float(self.w_temperature.value),
                    seed=int(self.w_seed.value),
                )
            )
        ids = self.vocab.encode(prime + out)
        delta = logprob_change(self.model, ids, clamps).float().numpy()
        return out, delta[len(prime) - 1 :]  # one per generated character

    def run(self) -> tuple[str, str]:
        """Generate both continuations (untouched, clamped); returns them."""
        self.results = {"as trained": self._generate(False), "clamped": self._generate(True)}
        self.draw()
        return self.results["as trained"][0], self.results["clamped"][0]

    def figures(self) -> list[go.Figure]:
        name, layer, unit = self.w_name.value, self.w_layer.value, int(self.w_unit.value)
        label = f"{SYMBOLS[name]} unit {unit} of layer {layer}"
        if not self.results:
            value = f"{self.w_value.value:+.2f}"
            return [placeholder(f"Press Compare: {label} clamped to {value} vs. untouched")]
        figs = []
        for title, (text, values) in self.results.items():
            n = min(len(text), len(values))
            fig = plots.coloured_text(
                values[:n, None],
                text[:n],
                name="c",  # a diverging scale centred at 0: red more likely, blue less
                layer=None,
                units=[0],
                wrap=80,
                title=f"{title}: each character coloured by Δ log p, what clamping {label} "
                f"to {self.w_value.value:+.2f} did to its probability",
            )
            fig.update_layout(width=None, annotations=[], coloraxis_colorbar_title_text="Δ log p")
            fig.update_traces(
                hovertemplate="step %{customdata}: '%{text}'<br>Δ log p = %{z:+.3f} nats"
                "<extra></extra>"
            )
            figs.append(fig)
        # one colour range for both, so the same colour means the same change
        m = max(max(abs(f.layout.coloraxis.cmin), abs(f.layout.coloraxis.cmax)) for f in figs)
        for f in figs:
            f.update_layout(coloraxis=dict(cmin=-m, cmax=m))
        return figs

    def draw(self) -> None:
        """Show the two continuations as text (differences marked) and as coloured text."""
        if self.results:
            (a, _), (b, _) = self.results["as trained"], self.results["clamped"]
            first = next(
                (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
                min(len(a), len(b)),
            )
            cols = []
            for title, text in (("as trained", a), ("clamped", b)):
                body = (
                    html.escape(text[:first])
                    + f"<span style='background:#ffe08a'>{html.escape(text[first:])}</span>"
                )
                cols.append(
                    f"<div style='flex:1;min-width:0'><b>{title}</b>"
                    f"<pre style='white-space:pre-wrap;font-size:13px'>{body}</pre></div>"
                )
            self.w_out.value = (
                f"<div style='display:flex;gap:16px'>{''.join(cols)}</div>"
                f"<div>they part at character {first} (highlighted from there)</div>"
            )
        figs = self.figures()
        fig = plots.stack(figs, gap=10) if len(figs) > 1 else figs[0]
        self._fig.show(fig)
