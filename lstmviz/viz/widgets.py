"""Interactive explorers (ipywidgets 8 + plotly FigureWidget) for JupyterLab.

* ``LiveGeneration``       -- the model writes; text, gate/cell heatmap, coloured text and the top-k
  next-character probabilities update as it goes. Generation runs in a thread, so Stop works.
  Its "why this character?" view colours the text behind a chosen character by its influence.
* ``CellExplorer``         -- pick layer, gate and unit; select a span and find the units that
  are on inside it and off around it; rank units by correlation with character features.
* ``InterventionExplorer`` -- clamp one memory cell to a value; the two continuations side by side,
  each character coloured by how much the clamp changed its log-probability.

Each explorer displays as its widget in a live kernel. Its display also carries a static PNG of its
current figures (when the lesson renderer includes PNG, see ``lstmviz.notebook.setup``), which
GitHub, nbviewer and nbconvert show: they cannot run widgets.

    ex = lstmviz.widgets.LiveGeneration(model, vocab, prime="ROMEO\\n")
    ex.run()   # generate now, blocking (a lesson does this so its saved output has text in it)
    ex         # display; "Generate" in the widget runs again in a thread, "Stop" stops it
    ex.show_influence(len(ex.text) - 1)   # why the last character? (the influence view)
    ex.view = "gates"                       # back to the gates
"""

from __future__ import annotations

import contextlib
import html
import operator
import threading
import time
from collections.abc import Sequence
from typing import Any

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go
import torch

from ..core.errors import LstmvizError
from ..core.names import LABELS, NAMES, RANGES, SYMBOLS, canonical
from ..core.sampling import stream
from ..gates import features as feats
from ..gates.analysis import activations, top_units
from ..gates.attribution import Influence, influence
from ..gates.interventions import intervene, logprob_change
from ..gates.record_call import record_text
from ..gates.recorder import GateRecorder
from . import plots
from .livefig import LiveFigure
from .style import FONT, round_sig, static_png

# ----------------------------------------------------------------------------- settings
REFRESH = 0.25  # seconds between redraws while generating: the browser keeps up
WINDOW = 120  # characters in the live heatmap (each one labelled)
TEXT_WINDOW = 480  # characters in the live coloured text
TEXT_WRAP, TEXT_WIDTH = 56, 640  # its line length (characters) and width (px), beside the bars
LENGTH_MAX = 5000  # characters, the top of the length slider
PACE_MAX = 200  # characters a second, the top of the chars/s slider (0 on it: no limit)
HEAT_UNITS = 16  # heatmap rows in the explorers
PROBS_K = 10  # bars in the next-character chart
PROBS_WIDTH = 290  # px, that chart
# px, the explorers' wide plots (text and bars side by side are as wide): Notebook 7 and Voila do
# not widen an unsized plot beyond plotly's 700 px, too narrow for 120 character labels
EXPLORER_WIDTH = TEXT_WIDTH + PROBS_WIDTH
SNAPSHOT_WIDTH = 900  # px, the static PNG
# characters before the chosen one that the influence view scores and shows (the model still reads
# all of the text before them); 500 take about 0.4 s on the 2x512 model on one CPU core
INFLUENCE_CONTEXT = 500
INFLUENCE_WRAP = 80  # its line length: the influence view has the full width
VIEWS = [("gates", "gates"), ("why this character?", "influence")]  # (label, value) of the toggle

NAME_OPTIONS = [(LABELS[n], n) for n in NAMES]
#: The clamp slider stops at ±CELL_SLIDER for the memory cell, which is unbounded.
CELL_SLIDER = 20.0


# ----------------------------------------------------------------------------- helpers
def _unit_rows(values: np.ndarray, unit: int, k: int = HEAT_UNITS) -> list[int]:
    """The chosen unit first, then the most variable others: (T, H) -> k unit indices."""
    rest = [int(u) for u in top_units(values, min(k, values.shape[1]) + 1) if u != unit]
    return [unit] + rest[: k - 1]


def _layer_options(num_layers: int) -> list[tuple[str, int]]:
    return [(f"layer {n}", n) for n in range(num_layers)]


def _clicked(trace: Any, points: Any) -> int | None:
    """The text position of a clicked coloured-text cell (its customdata), None if none."""
    if not points.point_inds or trace.customdata is None:
        return None
    where = points.point_inds[0]  # a heatmap cell reports [row, column]
    r, c = (int(v) for v in where) if np.ndim(where) else (int(points.ys[0]), int(points.xs[0]))
    pos = int(np.asarray(trace.customdata)[r, c])
    return pos if pos >= 0 else None  # -1: an empty cell after a line's end


def _shown(attr: str, what: str) -> property:
    """The FigureWidget a ``LiveFigure`` attribute shows now (maybe one replacing a lost one)."""
    return property(
        lambda self: getattr(self, attr).fw, doc=f"The {what} FigureWidget, as shown now."
    )


class Explorer:
    """Base: ``.widget`` is the ipywidgets tree; display shows it, plus a PNG for static viewers."""

    widget: W.Widget

    def figures(self) -> list[go.Figure]:
        """The explorer's current figures, top to bottom."""
        raise NotImplementedError

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


# ----------------------------------------------------------------------------- live generation
class LiveGeneration(Explorer):
    """Watch the LSTM write: text, heatmap, coloured text and next-character probabilities, live.

    ``pace`` (the *chars/s* slider) caps it at that many characters a second, slow enough to
    follow the gates character by character; 0 writes as fast as the model can.

    **Why this character?** The toggle switches between the *gates* view (text, coloured text,
    next-character bars, heatmap) and the *influence* view: pick a generated character -- click it
    in the coloured text, or type its index (in ``.text``, prime included) in *character* -- and
    the text before it (the last ``INFLUENCE_CONTEXT`` characters) is coloured by each character's
    share of the influence on that prediction: ``lstmviz.influence``, the gradient norm of
    log p(chosen character) with respect to each earlier character's input embedding. One line
    names the character, its probability, the model's top choice and the most influential earlier
    character with its lag. In code: ``show_influence(position)`` (returns the ``Influence``, also
    kept in ``.why``) and ``view = "gates" | "influence"``. The model is never used by two threads
    at once: while it writes, the influence view waits (it is computed when generation ends).
    """

    fig_text, fig_probs, fig_heat, fig_why = (
        _shown("_text", "coloured text"),
        _shown("_probs", "next-character bars"),
        _shown("_heat", "heatmap"),
        _shown("_why", "influence view"),
    )

    def __init__(
        self,
        model: Any,
        vocab: Any,
        *,
        prime: str = "\n",
        length: int = 300,
        temperature: float = 0.8,
        top_k: int | None = None,
        seed: int = 0,
        layer: int = -1,
        name: str = "c",
        unit: int = 0,
        window: int = WINDOW,
        refresh: float = REFRESH,
        pace: int = 0,
    ):
        self.model, self.vocab = model, vocab
        self.window, self.refresh = window, refresh
        L, H = model.num_layers, model.hidden_size
        style = {"description_width": "90px"}
        self.w_prime = W.Textarea(
            value=prime, description="prime", rows=2, style=style, layout=W.Layout(width="330px")
        )
        self.w_temperature = W.FloatSlider(
            value=temperature, min=0.0, max=2.0, step=0.05, description="temperature", style=style
        )
        self.w_top_k = W.IntSlider(
            value=top_k or 0, min=0, max=len(vocab), description="top-k (0: all)", style=style
        )
        # from 0 in steps of 10: every value a round number (from 1 it offered 301, not 300)
        self.w_length = W.IntSlider(
            value=length, min=0, max=LENGTH_MAX, step=10, description="length", style=style
        )
        # 0: as fast as the model can; at up to 1/refresh characters a second every one is drawn
        self.w_pace = W.IntSlider(
            value=pace,
            min=0,
            max=PACE_MAX,
            step=5,
            description="chars/s",
            tooltip="characters per second; 0: as fast as the model can",
            style=style,
        )
        self.w_seed = W.IntText(
            value=seed, description="seed", style=style, layout=W.Layout(width="200px")
        )
        self.w_layer = W.Dropdown(
            options=_layer_options(L), value=layer % L, description="layer", style=style
        )
        self.w_name = W.Dropdown(
            options=NAME_OPTIONS, value=canonical(name), description="show", style=style
        )
        self.w_unit = W.IntSlider(value=unit, min=0, max=H - 1, description="unit", style=style)
        self.w_go = W.Button(description="Generate", button_style="success", icon="play")
        self.w_stop = W.Button(
            description="Stop", button_style="danger", icon="stop", disabled=True
        )
        self.w_status = W.Label(value="")
        self.w_text = W.HTML()
        self.w_view = W.ToggleButtons(
            options=VIEWS,
            value="gates",
            tooltips=["the gates as the model writes", "what made the model write a character"],
            style={**style, "button_width": "150px"},
            layout=W.Layout(flex="0 0 auto"),  # one row of buttons, never squeezed into a column
        )
        # IntText, not bounded: a position outside the generated text gets a message, not a clamp
        self.w_char = W.IntText(
            value=len(prime),
            description="character",
            tooltip="index in the text (prime included) of the generated character to explain",
            style=style,
            layout=W.Layout(width="200px"),
        )
        self.w_why = W.HTML()
        self._heat = LiveFigure()
        # nothing to zoom in these; the mode bar would hide their titles
        self._text, self._probs, self._why = (
            LiveFigure(config={"displayModeBar": False}) for _ in range(3)
        )
        self._text.on_click(self._on_click)  # click a character: why did the model write it?
        self._why.on_click(self._on_click)

        self.text = ""  # prime + generated so far
        self.trace = None  # the recorder's trace (last `window`-ish steps)
        self.probs: torch.Tensor | None = None
        self._rows: list[int] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # held while the model is in use (generation, influence): never two threads at once
        self._model_lock = threading.Lock()
        self._generating = False  # run() is writing (set and read under _model_lock)
        self._prime_len = len(prime)  # characters of .text that are the prime, not generated
        self.why: Influence | None = None  # the last influence computed, for ``_why_key``
        self._why_key = ""  # the text it explains: text[:chosen + 1]
        self._quiet = False  # True while we set w_char ourselves: no redraw

        self.w_go.on_click(lambda _: self.start())
        self.w_stop.on_click(lambda _: self.stop())
        for w in (self.w_layer, self.w_name):
            w.observe(self._on_view, names="value")
        self.w_unit.observe(self._on_unit, names="value")
        self.w_view.observe(self._on_toggle, names="value")
        self.w_char.observe(self._on_char, names="value")

        controls = W.HBox(
            [
                W.VBox([self.w_prime, self.w_seed, W.HBox([self.w_go, self.w_stop])]),
                W.VBox([self.w_temperature, self.w_top_k, self.w_length, self.w_pace]),
                W.VBox([self.w_layer, self.w_name, self.w_unit]),
            ]
        )
        hint = W.HTML(
            "<span style='color:#666'>click a character in the coloured text, or type its "
            "index: which earlier characters made the model write it?</span>"
        )
        self._top = [controls, W.HBox([self.w_view, self.w_char, hint]), self.w_status, self.w_text]
        self._gates = [W.HBox([self._text, self._probs]), self._heat]
        self.widget = W.VBox(self._top + self._gates)
        self.widget.add_class("lstmviz-live")
        self.draw()

    # --- generation -----------------------------------------------------------------------
    def run(self) -> str:
        """Generate with the current settings, blocking; returns the generated text (no prime)."""
        self._stop.clear()
        prime, n = self.w_prime.value or "\n", int(self.w_length.value)
        top_k = int(self.w_top_k.value) or None
        with self._model_lock:  # waits for an influence computation in progress
            if self._generating:
                raise LstmvizError("the model is already writing; press Stop or wait for it")
            self._generating = True
        with self._lock:
            self.text, self.trace, self.probs, self._rows = prime, None, None, None
            self._prime_len = len(prime)
        self._set_running(True)
        pace = int(self.w_pace.value)
        every_char = pace > 0 and 1 / pace >= self.refresh
        out: list[str] = []
        last = 0.0
        begun = time.monotonic()
        try:
            # max_steps: the recorder keeps a ring buffer; memory stays flat however long we write
            with GateRecorder(self.model, max_steps=max(self.window, TEXT_WINDOW) + 1) as rec:
                chars = stream(
                    self.model,
                    self.vocab,
                    prime,
                    n,
                    top_k=top_k,
                    temperature=float(self.w_temperature.value),
                    seed=int(self.w_seed.value),
                    with_probs=True,
                )
                try:
                    for ch, probs in chars:
                        out.append(ch)
                        with self._lock:
                            self.text += ch
                            self.probs = probs
                        if self._stop.is_set():
                            break
                        now = time.monotonic()
                        # throttle: the browser draws <= ~4x/s; a slow pace draws every character
                        if every_char or now - last >= self.refresh:
                            self.trace = rec.trace
                            self.draw()
                            last = time.monotonic()
                        if (
                            pace > 0
                        ):  # wait for the next character's turn; Stop ends the wait at once
                            if self._stop.wait(
                                max(0.0, begun + len(out) / pace - time.monotonic())
                            ):
                                break
                finally:
                    chars.close()
                self.trace = rec.trace
        finally:
            with self._model_lock:
                self._generating = False
            self._set_running(False)
        if out:  # the influence view explains the newest character unless told otherwise
            self._quiet = True
            self.w_char.value = len(self.text) - 1
            self._quiet = False
            if self.why is None:  # warm-up: the first call pays one-time costs; this one is kept
                with contextlib.suppress(LstmvizError):  # the view shows the message if asked
                    self._explain(len(self.text) - 1)
        self.draw()
        return "".join(out)

    def start(self) -> threading.Thread:
        """Generate in a background thread (the Generate button); the kernel stays responsive."""
        if self._thread is not None and self._thread.is_alive():
            return self._thread

        def work() -> None:
            try:
                self.run()
            except Exception as err:  # show it in the widget: a thread's traceback would be lost
                self.w_status.value = f"error: {err}"

        self._thread = threading.Thread(target=work, name="lstmviz-generate", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self) -> None:
        """Ask a running generation to stop after the current character."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> None:
        """Block until a generation started with ``start()`` has finished."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _set_running(self, running: bool) -> None:
        self.w_go.disabled, self.w_stop.disabled = running, not running
        self.w_status.value = "generating..." if running else ""

    # --- drawing ---------------------------------------------------------------------------
    def _on_view(self, _change: Any) -> None:
        self._rows = None
        self.draw()

    def _on_unit(self, _change: Any) -> None:
        self._rows = None
        self.draw()

    # --- why this character? ----------------------------------------------------------------
    @property
    def view(self) -> str:
        """The view shown: "gates" or "influence" (settable, like the toggle)."""
        return self.w_view.value

    @view.setter
    def view(self, value: str) -> None:
        if value not in dict(VIEWS).values():
            raise LstmvizError(f"view must be 'gates' or 'influence', got {value!r}")
        self.w_view.value = value

    def show_influence(self, position: int | None = None) -> Influence:
        """Explain generated character ``position`` of ``.text`` (default: the chosen one).

        Switches to the influence view and returns the ``Influence`` (scores (position,), NaN
        before its ``start``); a position that is not a generated character raises LstmvizError,
        with the same message shown in the widget.
        """
        if position is not None:
            try:
                j = operator.index(position)
            except TypeError:
                raise LstmvizError(
                    f"position must be an integer index into .text, got {position!r}"
                ) from None
            self._quiet = True
            try:
                self.w_char.value = j
            finally:
                self._quiet = False
        self._quiet = True
        try:
            self.w_view.value = "influence"
        finally:
            self._quiet = False
        return self._draw_influence()

    def _explain(self, j: int) -> Influence:
        """``influence`` of the text before character j on it (cached); one clear error if not."""
        with self._lock:
            text, first = self.text, self._prime_len
        if len(text) <= first:
            raise LstmvizError(
                "nothing generated yet: press Generate (or call .run()), then pick a character"
            )
        if not first <= j < len(text):
            raise LstmvizError(
                f"character {j} is not a generated character: the text has {len(text)} "
                f"characters, the first {first} of them the prime; pick one of {first}.."
                f"{len(text) - 1}"
            )
        with self._model_lock:
            if self._generating:
                raise LstmvizError(
                    "the model is writing: the influence view is computed when it stops "
                    "(press Stop, or wait), then pick a character"
                )
            key = text[: j + 1]
            if key != self._why_key:
                self.why = influence(
                    self.model, self.vocab, key, j - 1, max_context=INFLUENCE_CONTEXT
                )
                self._why_key = key
            return self.why

    def _draw_influence(self) -> Influence:
        """Show the influence of the text on the chosen character, or why it cannot be shown."""
        try:
            why = self._explain(int(self.w_char.value))
        except LstmvizError as err:
            self.w_why.value = f"<b style='color:#b2182b'>{html.escape(str(err), quote=False)}</b>"
            self._set_children(self._top + [self.w_why])
            raise
        self.w_why.value = f"<b>{html.escape(plots.influence_summary(why), quote=False)}</b>"
        self._why.show(self._influence_figure(why))
        self._set_children(self._top + [self.w_why, self._why])
        return why

    def _influence_figure(self, why: Influence) -> go.Figure:
        return plots.influence_text(why, wrap=INFLUENCE_WRAP, width=EXPLORER_WIDTH)

    def _set_children(self, children: list[W.Widget]) -> None:
        """Show these widgets; a figure shown again is stamped, so a new view draws it as it is."""
        if list(self.widget.children) == children:
            return
        for child in children:
            if isinstance(child, LiveFigure) and child not in self.widget.children:
                child.stamp()
        self.widget.children = children

    def _show_view(self) -> None:
        if self.w_view.value == "gates":
            self._set_children(self._top + self._gates)

    def _on_toggle(self, _change: Any) -> None:
        if not self._quiet:
            self._show_view()
            self._try_influence()

    def _on_char(self, _change: Any) -> None:
        if not self._quiet:
            self._show_influence_quietly()

    def _on_click(self, trace: Any, points: Any, _state: Any) -> None:
        pos = _clicked(trace, points)
        if pos is not None:
            self._quiet = True
            self.w_char.value = pos
            self._quiet = False
            self._show_influence_quietly()

    def _show_influence_quietly(self) -> None:
        """``show_influence()`` for the widget's own events: an error is shown, not raised."""
        with contextlib.suppress(LstmvizError):
            self.show_influence()

    def _try_influence(self) -> None:
        if self.w_view.value == "influence":
            with contextlib.suppress(LstmvizError):
                self._draw_influence()

    def _window(self) -> tuple[np.ndarray | None, str, int]:
        """(values (T, H) of the chosen activation, the characters they read, where those start)."""
        with self._lock:
            text, trace = self.text, self.trace
        if trace is None:
            return None, "", 0
        values = activations(trace, self.w_name.value, self.w_layer.value)
        # the newest character has been drawn but not yet read by the model
        consumed = len(text) - 1 if len(text) > len(self.w_prime.value or "\n") else len(text)
        T = min(values.shape[0], consumed)
        return values[-T:], text[consumed - T : consumed], consumed - T

    def figures(self) -> list[go.Figure]:
        """The figures of the view shown: the influence figure, or the three gate figures."""
        if self.w_view.value == "influence" and self.why is not None and self._why_current():
            return [self._influence_figure(self.why)]
        return self._gate_figures()

    def _why_current(self) -> bool:
        with self._lock:
            text = self.text
        return text.startswith(self._why_key) and len(self._why_key) == int(self.w_char.value) + 1

    def _gate_figures(self) -> list[go.Figure]:
        values, text, first = self._window()
        name, layer, unit = self.w_name.value, self.w_layer.value, int(self.w_unit.value)
        where = f"{LABELS[name]}, layer {layer}"
        if values is None or not text:
            empty = go.Figure(
                layout=dict(
                    height=200,
                    template="plotly_white",
                    title=dict(
                        text="Press Generate: the model writes one character at a time", x=0.01
                    ),
                )
            )
            return [empty, self._probs_figure(), empty]
        n = min(len(text), TEXT_WINDOW)
        end = first + len(text)  # labels count positions in the whole text
        ctext = plots.coloured_text(
            values[-n:],
            text[-n:],
            name=name,
            units=[unit],
            wrap=TEXT_WRAP,
            offset=end - n,
            title=f"unit {unit} of {where}: last {n} characters",
        )
        ctext.update_layout(width=TEXT_WIDTH, margin=dict(t=40, r=10))
        m = min(len(text), self.window)
        if self._rows is None:
            self._rows = _unit_rows(values, unit)
        heat = plots.heatmap(
            values[-m:],
            text[-m:],
            name=name,
            units=self._rows,
            offset=end - m,
            per_unit=name == "c",  # cells differ in range a lot: one scale hides the small ones
            title=f"{where}: the last {m} characters (unit {unit} on top)"
            + (", each row scaled by its max |c|" if name == "c" else ""),
            width=EXPLORER_WIDTH,
        )
        return [ctext, self._probs_figure(), heat]

    def _probs_figure(self) -> go.Figure:
        with self._lock:
            probs, text = self.probs, self.text
        fig = go.Figure(
            layout=dict(
                template="plotly_white",
                height=300,
                width=PROBS_WIDTH,
                margin=dict(l=50, r=10, t=40, b=40),
                showlegend=False,
            )
        )
        if probs is None:
            fig.update_layout(title=dict(text="next-character probabilities", x=0.02, font_size=13))
            return fig
        k = min(PROBS_K, probs.numel())
        p, idx = torch.topk(probs, k)
        chars = [plots.shown(self.vocab.chars[i]) for i in idx.tolist()]
        drawn = plots.shown(text[-1]) if text else ""
        fig.add_trace(
            go.Bar(
                x=round_sig(p.numpy()),
                y=[f"'{c}'" for c in chars],
                orientation="h",
                marker_color=["#d62728" if c == drawn else "#7f7f7f" for c in chars],
                hovertemplate="%{y}: %{x:.1%}<extra></extra>",
            )
        )
        fig.update_yaxes(autorange="reversed", type="category", tickfont=dict(family=FONT, size=13))
        fig.update_xaxes(range=[0, 1], tickformat=".0%", title_text="probability")
        fig.update_layout(
            title=dict(text=f"next character: drew '{drawn}' (red)", x=0.02, font_size=13)
        )
        return fig

    def draw(self) -> None:
        """Redraw every figure and the text from the current state (both views)."""
        ctext, probs, heat = self._gate_figures()
        with self._lock:
            text = self.text
        prime = self.w_prime.value or "\n"
        shown = (
            f"<span style='color:#888'>{html.escape(text[: len(prime)])}</span>"
            f"<b>{html.escape(text[len(prime) :])}</b>"
        )
        self.w_text.value = (
            "<pre style='white-space:pre-wrap;max-height:160px;overflow:auto;font-size:13px;"
            f"margin:4px 0'>{shown}</pre>"
        )
        self._text.show(ctext)
        self._probs.show(probs)
        self._heat.show(heat)
        self._try_influence()


# ----------------------------------------------------------------------------- cell explorer
class CellExplorer(Explorer):
    """Pick layer, activation and unit over a recorded text; find units by span or by feature."""

    fig_text, fig_heat = _shown("_text", "coloured text"), _shown("_heat", "heatmap")

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
        values = activations(trace, name, layer)
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
            options=_layer_options(L), value=layer % L, description="layer", style=style
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

        self._quiet = False  # True while we move sliders ourselves: one redraw, not five
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
        """The chosen activation over the whole text: (T, H)."""
        return activations(self.trace, self.w_name.value, self.w_layer.value)

    def match(self, start: int | None = None, stop: int | None = None) -> list[feats.Match]:
        """Units on inside the span (default: the span slider), off around it; fills 'found'."""
        a, b = self.w_span.value if start is None else (start, stop)
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
        self.w_found.unobserve(self._on_found, names="value")
        self.w_found.options = [(lab, m.unit) for lab, m in zip(labels, self.found, strict=True)]
        self.w_found.value = None
        self.w_found.observe(self._on_found, names="value")
        if self.found:
            self._quiet = True
            self.w_unit.value = self.found[0].unit
            self._quiet = False
        self.draw()

    def _new_values(self, _change: Any) -> None:
        self.found = []
        self.w_found.unobserve(self._on_found, names="value")
        self.w_found.options = []
        self.w_found.observe(self._on_found, names="value")
        self.draw()

    def _changed(self, _change: Any) -> None:
        if not self._quiet:
            self.draw()

    def _on_found(self, change: Any) -> None:
        if change["new"] is not None:
            self.w_unit.value = change["new"]

    def _on_start(self, change: Any) -> None:
        """Moving the window moves the span with it (same width, in the middle)."""
        a = change["new"]
        lo, hi = self.w_span.value
        width = max(1, min(hi - lo, self.window))
        self._quiet = True
        try:
            self.w_span.min, self.w_span.max = (
                0,
                len(self.text),
            )  # widen first so the new value is valid
            mid = a + (self.window - width) // 2
            self.w_span.value = (mid, mid + width)
            self.w_span.min, self.w_span.max = a, a + self.window
        finally:
            self._quiet = False
        self.draw()

    def figures(self) -> list[go.Figure]:
        name, layer, unit = self.w_name.value, self.w_layer.value, int(self.w_unit.value)
        a, b = self.w_start.value, self.w_start.value + self.window
        values = self.values()
        rows = [m.unit for m in self.found] if self.found else _unit_rows(values[a:b], unit)
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


# ----------------------------------------------------------------------------- interventions
class InterventionExplorer(Explorer):
    """Clamp one memory cell (or gate unit) to a value; compare with the untouched continuation."""

    fig = _shown("_fig", "comparison")

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
            options=_layer_options(L), value=layer % L, description="layer", style=style
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
        clamps = {(name, layer, unit): float(self.w_value.value)}
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
            return [
                go.Figure(
                    layout=dict(
                        height=200,
                        template="plotly_white",
                        title=dict(
                            text=f"Press Compare: {label} clamped to "
                            f"{self.w_value.value:+.2f} vs. untouched",
                            x=0.01,
                        ),
                    )
                )
            ]
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
