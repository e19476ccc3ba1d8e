"""Explore a recorded text: ``CellExplorer``, the explorer of lesson 05.

Pick a layer, an activation (Γ_u, Γ_f, ĉ, Γ_o, c, a) and a unit, and see it over a window of the
text: the text coloured by that unit, and a heatmap of it with the most variable units. Find units
two ways: select a span and ask for the units that are on inside it and off around it, or rank
every unit by its correlation with character features (quotes, brackets, line position, ...).

The chosen activation is read from the trace once per choice of layer and activation; moving the
unit, the window or the span redraws from it.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go

from ...core.errors import LstmvizError
from ...core.names import LABELS, canonical
from ...gates import features as feats
from ...gates.analysis import activations, top_units
from ...gates.record_call import record_text
from .. import plots
from ..livefig import LiveFigure
from .base import (
    EXPLORER_WIDTH,
    HEAT_UNITS,
    NAME_OPTIONS,
    Chosen,
    Explorer,
    layer_options,
    shown_figure,
    unit_rows,
)


class CellExplorer(Explorer):
    """Pick layer, activation and unit over a recorded text; find units by span or by feature."""

    fig_text, fig_heat = shown_figure("_text", "coloured text"), shown_figure("_heat", "heatmap")

    def __init__(
        self,
        trace: Any,
        text: str,
        *,
        layer: int = -1,
        name: str = "c",
        unit: int | None = None,
        start: int = 0,
        window: int = 400,
    ):
        self.trace, self.text = trace, text
        values = activations(trace, name, layer)  # (T, H): checked against the text first
        if values.shape[0] != len(text):
            raise LstmvizError(
                f"the trace has {values.shape[0]} steps but the text has {len(text)} characters; "
                "record the trace on this text (CellExplorer.from_model does it for you)"
            )
        L, H = trace.num_layers, values.shape[1]
        self.window = min(window, len(text))
        self.found: list[feats.Match] = []
        self._features: dict[str, np.ndarray] | None = None
        style = {"description_width": "70px"}
        self.w_layer = W.Dropdown(
            options=layer_options(L), value=layer % L, description="layer", style=style
        )
        self.w_name = W.Dropdown(
            options=NAME_OPTIONS, value=canonical(name), description="show", style=style
        )
        unit = int(top_units(values, 1)[0]) if unit is None else unit
        self.w_unit = W.IntSlider(
            value=unit, min=0, max=H - 1, description="unit", style=style, continuous_update=False
        )
        self.w_start = W.IntSlider(
            value=start,
            min=0,
            max=max(0, len(text) - self.window),
            description="from",
            style=style,
            continuous_update=False,
        )
        mid = start + self.window // 2
        self.w_span = W.IntRangeSlider(
            value=(mid, min(mid + 10, start + self.window)),
            min=start,
            max=start + self.window,
            description="span",
            style=style,
            continuous_update=False,
            layout=W.Layout(width="420px"),
        )
        self.w_match = W.Button(
            description="Units on in span",
            icon="search",
            tooltip="units that are on inside the span and off around it",
        )
        self.w_rank = W.Button(
            description="Rank by features",
            icon="sort-amount-desc",
            tooltip="units most correlated with quotes, brackets, line position, ...",
        )
        self.w_found = W.Select(
            options=[], rows=6, description="found", style=style, layout=W.Layout(width="420px")
        )
        self.w_span_text = W.HTML()
        self._text, self._heat = LiveFigure(), LiveFigure()
        # the activation shown, read from the trace once per choice: this one is read already
        self._chosen = Chosen()
        self._chosen.keep(trace, self.w_name.value, self.w_layer.value, values)

        for w in (self.w_unit, self.w_span):
            w.observe(self._changed, names="value")
        for w in (self.w_layer, self.w_name):  # found units belong to the old choice: forget them
            w.observe(self._new_values, names="value")
        self.w_start.observe(self._on_start, names="value")
        self.w_match.on_click(lambda _: self.match())
        self.w_rank.on_click(lambda _: self.rank())
        self.w_found.observe(self._on_found, names="value")

        self.widget = W.VBox(
            [
                W.HBox(
                    [
                        W.VBox([self.w_layer, self.w_name, self.w_unit, self.w_start]),
                        W.VBox(
                            [
                                self.w_span,
                                self.w_span_text,
                                W.HBox([self.w_match, self.w_rank]),
                                self.w_found,
                            ]
                        ),
                    ]
                ),
                self._text,
                self._heat,
            ]
        )
        self.widget.add_class("lstmviz-cells")
        self.draw()

    @classmethod
    def from_model(cls, model: Any, vocab: Any, text: str, **kwargs: Any) -> CellExplorer:
        """Record ``model`` (a CharLSTM) reading ``text`` in one fused pass, then explore it."""
        return cls(record_text(model, vocab, text), text, **kwargs)

    def values(self) -> np.ndarray:
        """The chosen activation over the whole text: (T, H), read once per layer and activation."""
        return self._chosen(self.trace, self.w_name.value, self.w_layer.value)

    def match(self, start: int | None = None, stop: int | None = None) -> list[feats.Match]:
        """Units on inside the span (default: the span slider), off around it; fills 'found'."""
        a, b = self.w_span.value if start is None or stop is None else (start, stop)
        self.found = feats.match_span(self.values(), a, b, top=HEAT_UNITS)
        self._show_found([f"unit {m.unit}: score {m.score:+.2f}" for m in self.found])
        return self.found

    def rank(self) -> list[feats.Match]:
        """Units most correlated with the built-in character features; fills the 'found' list."""
        if self._features is None:  # the text does not change: compute its features once
            self._features = feats.features(self.text)
        self.found = feats.rank_units(
            self.values(), self.text, top=HEAT_UNITS, feats=self._features
        )
        self._show_found([f"unit {m.unit}: {m.feature} r = {m.score:+.2f}" for m in self.found])
        return self.found

    def _show_found(self, labels: Sequence[str]) -> None:
        """List the found units (none selected) and show the best one: one redraw."""
        with self._silenced():
            self.w_found.options = [
                (lab, m.unit) for lab, m in zip(labels, self.found, strict=True)
            ]
            self.w_found.value = None
            if self.found:
                self.w_unit.value = self.found[0].unit
        self.draw()

    def _new_values(self, _change: Any) -> None:
        """Another layer or activation: the units found belong to the old one, so forget them."""
        self.found = []
        with self._silenced():
            self.w_found.options = []
        self.draw()

    def _changed(self, _change: Any) -> None:
        if not self._quiet:
            self.draw()

    def _on_found(self, change: Any) -> None:
        """A found unit picked in the list: show it."""
        if not self._quiet and change["new"] is not None:
            self.w_unit.value = change["new"]

    def _on_start(self, change: Any) -> None:
        """Moving the window moves the span with it (same width, in the middle)."""
        a = change["new"]
        lo, hi = self.w_span.value
        width = max(1, min(hi - lo, self.window))
        with self._silenced():
            # widen the slider's range first, so the new span is valid whatever the old range
            self.w_span.min, self.w_span.max = 0, len(self.text)
            mid = a + (self.window - width) // 2
            self.w_span.value = (mid, mid + width)
            self.w_span.min, self.w_span.max = a, a + self.window
        self.draw()

    def figures(self) -> list[go.Figure]:
        name, layer, unit = self.w_name.value, self.w_layer.value, int(self.w_unit.value)
        a, b = self.w_start.value, self.w_start.value + self.window
        values = self.values()
        rows = [m.unit for m in self.found] if self.found else unit_rows(values[a:b], unit)
        if unit not in rows:
            rows = [unit] + rows[:-1]
        ctext = plots.coloured_text(
            values,
            self.text,
            name=name,
            layer=None,
            units=[unit],
            start=a,
            stop=b,
            title=f"unit {unit} of {LABELS[name]}, layer {layer}",
        )
        ctext.update_layout(width=EXPLORER_WIDTH)
        heat = plots.heatmap(
            values,
            self.text,
            name=name,
            layer=None,
            units=rows,
            start=a,
            stop=b,
            max_cols=self.window,
            width=EXPLORER_WIDTH,
            per_unit=name == "c",  # cells differ in range a lot
            title=f"{LABELS[name]}, layer {layer}: "
            + ("found units" if self.found else f"unit {unit} and the most variable"),
        )
        s0, s1 = self.w_span.value
        heat.add_vrect(
            x0=s0 - a - 0.5,
            x1=s1 - a - 0.5,
            line=dict(color="black", width=1.5),
            fillcolor="rgba(0,0,0,0)",
        )
        return [ctext, heat]

    def draw(self) -> None:
        """Redraw the coloured text and heatmap from the controls."""
        s0, s1 = self.w_span.value
        self.w_span_text.value = (
            f"<code style='font-size:13px'>{html.escape(repr(self.text[s0:s1]))}</code>"
            f" ({s1 - s0} characters)"
        )
        ctext, heat = self.figures()
        self._text.show(ctext)
        self._heat.show(heat)
