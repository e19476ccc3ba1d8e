"""Watch the model write: ``LiveGeneration``, the explorer of lessons 05 and 07.

Generation runs in a thread (so Stop works) while a ``GateRecorder`` keeps the last steps of every
gate; at most every ``REFRESH`` seconds the explorer redraws the text, the coloured text of one
unit, the next-character probabilities and a heatmap of the chosen activation. Its second view,
"why this character?", is ``InfluenceView``.

Threads: ``_lock`` guards what the generation thread writes (text, probabilities) against the
kernel thread that draws; ``_model_lock`` keeps the model to one user at a time (generating, or
explaining a character).
"""

from __future__ import annotations

import contextlib
import html
import operator
import secrets
import threading
import time
from typing import Any

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go
import torch

from ...core.errors import LstmvizError
from ...core.names import LABELS, canonical
from ...core.sampling import stream
from ...gates.attribution import Influence
from ...gates.recorder import GateRecorder
from ...gates.trace import Trace
from .. import plots
from ..livefig import LiveFigure
from ..style import FONT, round_sig, shown
from .base import (
    EXPLORER_WIDTH,
    NAME_OPTIONS,
    PROBS_WIDTH,
    TEXT_WIDTH,
    Chosen,
    Explorer,
    clicked,
    layer_options,
    placeholder,
    shown_figure,
    unit_rows,
)
from .influence import InfluenceView

# ----------------------------------------------------------------------------- settings
REFRESH = 0.25  # seconds between redraws while generating: the browser keeps up
WINDOW = 120  # characters in the live heatmap (each one labelled)
TEXT_WINDOW = 480  # characters in the live coloured text
TEXT_WRAP = 56  # its line length in characters (TEXT_WIDTH px wide, beside the bars)
LENGTH_MAX = 5000  # characters, the top of the length slider
PACE_MAX = 200  # characters a second, the top of the chars/s slider (0 on it: no limit)
PROBS_K = 10  # bars in the next-character chart
SEED_FRESH = 10**6  # a fresh seed is below this: six digits at most, easy to copy and type
VIEWS = [("gates", "gates"), ("why this character?", "influence")]  # (label, value) of the toggle


class LiveGeneration(Explorer):
    """Watch the LSTM write: text, heatmap, coloured text and next-character probabilities, live.

    ``seed``: None (the default) draws a fresh seed on every press of Generate, so each press
    writes new text, and shows it in *seed* (``.seed`` after ``run()``); tick *fixed* (or type a
    seed, or pass ``seed=int``) and every press writes the same text again.

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
        shown_figure("_text", "coloured text"),
        shown_figure("_probs", "next-character bars"),
        shown_figure("_heat", "heatmap"),
        shown_figure("_why", "influence view"),
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
        seed: int | None = None,
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
            value=seed or 0,
            description="seed",
            tooltip="the seed of the text shown; type one to write that text again",
            style=style,
            layout=W.Layout(width="200px"),
        )
        self.w_fixed = W.Checkbox(
            value=seed is not None,
            description="fixed",
            tooltip="ticked: every press writes the same text; unticked: a fresh seed each press",
            indent=False,
            layout=W.Layout(width="120px"),
        )
        self.w_layer = W.Dropdown(
            options=layer_options(L), value=layer % L, description="layer", style=style
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
        self._heat = LiveFigure()
        # nothing to zoom in these; the mode bar would hide their titles
        self._text, self._probs = (LiveFigure(config={"displayModeBar": False}) for _ in range(2))

        self.seed: int | None = None  # the seed of the text shown (None before the first run)
        self.text = ""  # prime + generated so far
        self.trace: Trace | None = None  # the recorder's trace (last `window`-ish steps)
        self.probs: torch.Tensor | None = None
        self._rows: list[int] | None = None
        self._chosen = Chosen()  # the activation shown, read from the trace once per choice
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # held while the model is in use (generation, influence): never two threads at once
        self._model_lock = threading.Lock()
        self._generating = False  # run() is writing (set and read under _model_lock)
        self._prime_len = len(prime)  # characters of .text that are the prime, not generated
        self.influence_view = InfluenceView(
            model,
            vocab,
            read=self._read,
            writing=lambda: self._generating,
            model_lock=self._model_lock,
            place=lambda widgets: self._set_children(self._top + widgets),
            first=len(prime),
            style=style,
        )
        self.w_char, self.w_why = self.influence_view.w_char, self.influence_view.w_why
        self._why = self.influence_view.figure
        self._text.on_click(self._on_click)  # click a character: why did the model write it?
        self._why.on_click(self._on_click)

        self.w_go.on_click(lambda _: self.start())
        self.w_stop.on_click(lambda _: self.stop())
        for w in (self.w_layer, self.w_name, self.w_unit):  # other rows for the heatmap
            w.observe(self._on_choice, names="value")
        self.w_view.observe(self._on_toggle, names="value")
        self.w_seed.observe(self._on_seed, names="value")
        self.w_char.observe(self._on_char, names="value")

        controls = W.HBox(
            [
                W.VBox(
                    [
                        self.w_prime,
                        W.HBox([self.w_seed, self.w_fixed]),
                        W.HBox([self.w_go, self.w_stop]),
                    ]
                ),
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

    @property
    def why(self) -> Influence | None:
        """The last ``Influence`` the influence view computed (None before the first)."""
        return self.influence_view.why

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
        seed = self._next_seed()
        with self._lock:
            self.text, self.trace, self.probs, self._rows = prime, None, None, None
            self._prime_len = len(prime)
            self.seed = seed
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
                    seed=seed,
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
                        if pace > 0:
                            # wait for the next character's turn; Stop ends the wait at once
                            turn = begun + len(out) / pace
                            if self._stop.wait(max(0.0, turn - time.monotonic())):
                                break
                finally:
                    chars.close()
                self.trace = rec.trace
        finally:
            with self._model_lock:
                self._generating = False
            self._set_running(False)
        if out:  # the influence view explains the newest character unless told otherwise
            with self._silenced():
                self.w_char.value = len(self.text) - 1
            if self.why is None:  # warm-up: the first call pays one-time costs; this one is kept
                with contextlib.suppress(LstmvizError):  # the view shows the message if asked
                    self.influence_view.explain(len(self.text) - 1)
        self.draw()
        return "".join(out)

    def _next_seed(self) -> int:
        """The seed of this run: the one shown when *fixed* is ticked, else a fresh one, shown."""
        if not self.w_fixed.value:
            with self._silenced():  # our own change: it must not tick *fixed*
                self.w_seed.value = secrets.randbelow(SEED_FRESH)
        return int(self.w_seed.value)

    def _on_seed(self, _change: Any) -> None:
        """The reader typed a seed: they want that text, so the next presses keep it."""
        if not self._quiet:
            self.w_fixed.value = True

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

    def _read(self) -> tuple[str, int]:
        """(the text so far, how many of its first characters are the prime), read whole."""
        with self._lock:
            return self.text, self._prime_len

    # --- the two views ----------------------------------------------------------------------
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
        with self._silenced():
            if position is not None:
                try:
                    self.w_char.value = operator.index(position)
                except TypeError:
                    raise LstmvizError(
                        f"position must be an integer index into .text, got {position!r}"
                    ) from None
            self.w_view.value = "influence"
        return self.influence_view.draw()

    def _set_children(self, children: list[W.Widget]) -> None:
        """Show these widgets; a figure shown again is stamped, so a new view draws it as it is."""
        if list(self.widget.children) == children:
            return
        for child in children:
            if isinstance(child, LiveFigure) and child not in self.widget.children:
                child.stamp()
        self.widget.children = children

    def _on_choice(self, _change: Any) -> None:
        """Another layer, activation or unit: the heatmap picks its rows again."""
        self._rows = None
        self.draw()

    def _on_toggle(self, _change: Any) -> None:
        if self._quiet:
            return
        if self.w_view.value == "gates":
            self._set_children(self._top + self._gates)
        self._try_influence()

    def _on_char(self, _change: Any) -> None:
        if not self._quiet:
            self._show_influence_quietly()

    def _on_click(self, trace: Any, points: Any, _state: Any) -> None:
        pos = clicked(trace, points)
        if pos is not None:
            with self._silenced():
                self.w_char.value = pos
            self._show_influence_quietly()

    def _show_influence_quietly(self) -> None:
        """``show_influence()`` for the widget's own events: an error is shown, not raised."""
        with contextlib.suppress(LstmvizError):
            self.show_influence()

    def _try_influence(self) -> None:
        if self.w_view.value == "influence":
            with contextlib.suppress(LstmvizError):
                self.influence_view.draw()

    # --- the gates view ---------------------------------------------------------------------
    def _window(self) -> tuple[np.ndarray | None, str, int]:
        """(values (T, H) of the chosen activation, the characters they read, where those start)."""
        with self._lock:
            text, trace = self.text, self.trace
        if trace is None:
            return None, "", 0
        values = self._chosen(trace, self.w_name.value, self.w_layer.value)
        # the newest character has been drawn but not yet read by the model
        consumed = len(text) - 1 if len(text) > len(self.w_prime.value or "\n") else len(text)
        T = min(values.shape[0], consumed)
        return values[-T:], text[consumed - T : consumed], consumed - T

    def figures(self) -> list[go.Figure]:
        """The figures of the view shown: the influence figure, or the three gate figures."""
        why = self.why
        if self.w_view.value == "influence" and why is not None and self.influence_view.current():
            return [self.influence_view.figure_of(why)]
        return self._gate_figures()

    def _gate_figures(self) -> list[go.Figure]:
        values, text, first = self._window()
        name, layer, unit = self.w_name.value, self.w_layer.value, int(self.w_unit.value)
        where = f"{LABELS[name]}, layer {layer}"
        if values is None or not text:
            empty = placeholder("Press Generate: the model writes one character at a time")
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
            self._rows = unit_rows(values, unit)
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
        """The ``PROBS_K`` likeliest next characters as bars, the one drawn in red."""
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
        chars = [shown(self.vocab.chars[i]) for i in idx.tolist()]
        drawn = shown(text[-1]) if text else ""
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
        text, _ = self._read()
        prime = self.w_prime.value or "\n"
        shown_text = (
            f"<span style='color:#888'>{html.escape(text[: len(prime)])}</span>"
            f"<b>{html.escape(text[len(prime) :])}</b>"
        )
        self.w_text.value = (
            "<pre style='white-space:pre-wrap;max-height:160px;overflow:auto;font-size:13px;"
            f"margin:4px 0'>{shown_text}</pre>"
        )
        self._text.show(ctext)
        self._probs.show(probs)
        self._heat.show(heat)
        self._try_influence()
