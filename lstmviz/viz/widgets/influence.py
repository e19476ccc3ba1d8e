"""The "why this character?" view: the text before one generated character, coloured by influence.

``InfluenceView`` is the part of ``LiveGeneration`` that explains a prediction: pick a generated
character (its index in the explorer's text, prime included, in *character*) and the last
``INFLUENCE_CONTEXT`` characters before it are coloured by their share of the influence on it
(``lstmviz.influence``: the gradient norm of log p(chosen character) with respect to each earlier
character's input embedding), with one line naming the character, its probability, the model's top
choice and the most influential earlier character. It owns its widgets and the last result, which
it reuses while the text it explains is unchanged.

The model is never used by two threads at once: ``explain`` takes the explorer's model lock and
refuses while the explorer is writing (the view is computed when generation ends).
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from typing import Any

import ipywidgets as W
import plotly.graph_objects as go

from ...core.errors import LstmvizError
from ...core.vocab import Vocab
from ...gates.attribution import Influence, influence
from .. import plots
from ..livefig import LiveFigure
from .base import EXPLORER_WIDTH

# ----------------------------------------------------------------------------- settings
# characters before the chosen one that the view scores and shows (the model still reads all of
# the text before them); 500 take about 0.4 s on the 2x512 model on one CPU core
INFLUENCE_CONTEXT = 500
INFLUENCE_WRAP = 80  # its line length: the influence view has the full width


class InfluenceView:
    """Which earlier characters made the model write one generated character (see the module).

    ``read()`` -> (the explorer's text, how many of its first characters are the prime);
    ``writing()`` -> whether the model is generating (asked under ``model_lock``);
    ``place(widgets)`` shows the view's widgets below the explorer's controls. ``w_char``
    chooses the character, ``w_why`` says what is shown (or why nothing can be), ``figure``
    shows it; ``why`` is the last ``Influence`` computed and ``key`` the text it explains,
    ``text[:chosen + 1]``.
    """

    def __init__(
        self,
        model: Any,  # a CharLSTM-like model (lstmviz.influence checks it)
        vocab: Vocab,
        *,
        read: Callable[[], tuple[str, int]],
        writing: Callable[[], bool],
        model_lock: threading.Lock,
        place: Callable[[list[W.Widget]], None],
        first: int,
        style: dict,
    ):
        self.model, self.vocab = model, vocab
        self._read, self._writing, self._model_lock, self._place = read, writing, model_lock, place
        # IntText, not bounded: a position outside the generated text gets a message, not a clamp
        self.w_char = W.IntText(
            value=first,
            description="character",
            tooltip="index in the text (prime included) of the generated character to explain",
            style=style,
            layout=W.Layout(width="200px"),
        )
        self.w_why = W.HTML()
        self.figure = LiveFigure(config={"displayModeBar": False})  # nothing to zoom; no mode bar
        self.why: Influence | None = None
        self.key = ""

    def explain(self, j: int) -> Influence:
        """``influence`` of the text before character j on it (cached); one clear error if not."""
        text, first = self._read()
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
            if self._writing():
                raise LstmvizError(
                    "the model is writing: the influence view is computed when it stops "
                    "(press Stop, or wait), then pick a character"
                )
            key, why = text[: j + 1], self.why
            if key != self.key or why is None:
                why = influence(self.model, self.vocab, key, j - 1, max_context=INFLUENCE_CONTEXT)
                self.why, self.key = why, key
            return why

    def draw(self) -> Influence:
        """Show the influence on the chosen character, or why it cannot be shown (and raise)."""
        try:
            why = self.explain(int(self.w_char.value))
        except LstmvizError as err:
            self.w_why.value = f"<b style='color:#b2182b'>{html.escape(str(err), quote=False)}</b>"
            self._place([self.w_why])
            raise
        self.w_why.value = f"<b>{html.escape(plots.influence_summary(why), quote=False)}</b>"
        self.figure.show(self.figure_of(why))
        self._place([self.w_why, self.figure])
        return why

    def figure_of(self, why: Influence) -> go.Figure:
        """The text before ``why``'s character, coloured by share of influence, full width."""
        return plots.influence_text(why, wrap=INFLUENCE_WRAP, width=EXPLORER_WIDTH)

    def current(self) -> bool:
        """Whether ``why`` explains the chosen character of the text as it is now."""
        text, _ = self._read()
        return text.startswith(self.key) and len(self.key) == int(self.w_char.value) + 1
