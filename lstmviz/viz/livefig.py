"""A plotly FigureWidget that survives a slow browser: replaced when a view missed its updates.

Why this exists. anywidget gives each widget's JavaScript 2 s to load; a model whose module took
longer silently drops every later message from the kernel (anywidget 0.11, ``Runtime.ready``).
plotly's FigureWidget module is 5 MB. The first one a page compiles can take over 2 s on a busy
or slow machine (Binder, an old laptop, CI). Later ones are fast because the browser has the
compiled code cached. All a FigureWidget's data reach the browser as messages after its creation,
so that first figure stays an empty plot, whatever the kernel sends.

A view reports back the trace edit it drew (plotly's ``_js2py_traceDeltas`` message). Two checks
use these reports, and either puts a fresh FigureWidget with the current figure in the box's place
(by then the module is cached); interactive updates then go to the new one:

* At display we stamp the figure with a new edit id. A view that answers with an older id missed
  messages: either its model is dead, or it drew before the queued updates arrived (JupyterLab,
  Notebook 7: the figure's model is created while the cell runs, the view draws it later).
* A view that drew the current id can still belong to a dead model: Voila creates every model at
  once from the kernel's current state after the notebook ran, so a model that died waiting for
  the module still draws the newest figure, then ignores every update. So once a view has reported,
  each edit we send must be echoed within ``ECHO_S`` seconds; a view's first report is answered
  with a no-op edit (a probe) for the same reason. No echo: the model is dead.

Tried at most ``HEALS`` times, so a browser that never keeps up cannot loop. Without a browser
view (nbconvert, nbval, a closed tab) nothing is expected and nothing is replaced.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go

HEALS = 3  # fresh FigureWidgets a LiveFigure may put in place of ones the browser lost
ECHO_S = 12.0  # seconds a browser view gets to echo an edit before we call its model dead
# (a busy browser drawing a page of plots took 4.5 s to echo on a 2-core machine at load 8;
# a replacement costs the browser a fresh 5 MB module, so a false alarm makes it busier still)


def _json_safe(trace: dict) -> dict:
    """A trace dict whose float arrays hold None instead of NaN (gaps in a heatmap).

    A FigureWidget sends its data as JSON, which has no NaN: jupyter_client would warn on every
    update ("Out of range float values are not JSON compliant") and fall back to a deprecated path.
    """
    for key, value in trace.items():
        if (
            isinstance(value, np.ndarray)
            and value.dtype.kind == "f"
            and not np.isfinite(value).all()
        ):
            # numpy's stubs omit None, which makes an object array: what JSON's null needs
            trace[key] = np.where(np.isfinite(value), value, None).tolist()  # type: ignore[call-overload]
    return trace


class LiveFigure(W.VBox):
    """A VBox holding one plotly FigureWidget (``.fw``), swapped for a fresh one if a view lost it.

    Use ``show(fig)`` to make it draw a new figure (one batched message when the traces line up), or
    edit ``.fw`` in place. Display it, or put it in other ipywidgets, like any widget. A callback
    given to ``on_click`` stays attached to every trace, through new figures and replacements.
    """

    def __init__(
        self, figure: go.Figure | None = None, *, config: dict | None = None, **kwargs: Any
    ):
        super().__init__(**kwargs)
        self._config = dict(config or {})
        self._lock = threading.RLock()  # generation threads draw while the kernel thread may swap
        self._stamp = 0  # the trace edit id every view displayed from now on must report back
        self.heals = 0  # how many times a lost FigureWidget was replaced
        self._seen = False  # a browser view drew the current FigureWidget: edits must be echoed
        self._echoed = 0  # the newest trace edit id a view of the current FigureWidget echoed
        self._timer: threading.Timer | None = None  # the pending echo check
        self._click: Any = None  # plotly on_click callback(trace, points, state) of every trace
        self.fw = self._new(figure if figure is not None else go.Figure())
        self.children = (self.fw,)

    def _new(self, figure: go.Figure) -> go.FigureWidget:
        fw = go.FigureWidget(figure)
        if self._config:
            fw._config = self._config
        fw.observe(self._on_report, names="_js2py_traceDeltas")
        self._wire(fw)
        return fw

    def on_click(self, callback: Any) -> None:
        """Call ``callback(trace, points, state)`` when a point of any trace is clicked."""
        with self._lock:
            self._click = callback
            self._wire(self.fw)

    def _wire(self, fw: go.FigureWidget) -> None:
        """(lock held) Attach the click callback to every trace of ``fw`` (they may be new)."""
        if self._click is not None:
            for trace in fw.data:
                trace.on_click(self._click)  # replaces, never adds: one call per click

    def show(self, fig: go.Figure) -> None:
        """Make the browser show ``fig``: traces updated in place when they line up, else new."""
        traces = [_json_safe(t.to_plotly_json()) for t in fig.data]
        with self._lock:
            fw = self.fw
            if len(fw.data) == len(fig.data) and all(
                a.type == b.type for a, b in zip(fw.data, fig.data, strict=True)
            ):
                with fw.batch_update():
                    for old, new in zip(fw.data, traces, strict=True):
                        old.update(new, overwrite=True)
                    fw.layout.update(fig.layout.to_plotly_json(), overwrite=True)
                    fw.layout.shapes = fig.layout.shapes
            else:
                with fw.batch_update():
                    fw.data = []
                fw.add_traces(traces)
                fw.layout = fig.layout
            self._wire(fw)
            self._expect_echo()

    def stamp(self) -> None:
        """Before a display: give the browser the current figure and an edit id views must echo."""
        with self._lock:
            fw = self.fw
            # A FigureWidget inside a box is not displayed by itself, so nothing else refreshes the
            # state a new browser view starts from; without this it would start from the figure
            # the widget was created with.
            fw._widget_layout = copy.deepcopy(fw._layout_obj._props)
            fw._widget_data = copy.deepcopy(fw._data)
            fw._last_trace_edit_id += 1
            self._stamp = fw._last_trace_edit_id
            if self.children != (fw,):
                self.children = (fw,)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict | None:
        self.stamp()
        return super()._repr_mimebundle_(**kwargs)

    def _on_report(self, change: dict) -> None:
        """A view drew the figure and says which edit it drew; an old one: it missed messages."""
        msg = change["new"]
        if not msg:
            return
        edit = msg.get("trace_edit_id", self._stamp)
        with self._lock:  # a report from a FigureWidget already replaced is old news
            if change["owner"] is not self.fw:
                return
            if edit < self._stamp:
                lost = self._replace()
            else:
                lost = None
                self._echoed = max(self._echoed, edit)
                if self._timer is None:  # a view's first report, not an echo we wait for: probe
                    self._seen = True
                    self.fw._send_update_msg({}, {})
                    self._expect_echo()
        self._finish(lost)

    def _expect_echo(self) -> None:
        """After an edit (lock held): check in ``ECHO_S`` s that a watching view echoed it."""
        if self._seen and self._timer is None:
            self._timer = threading.Timer(
                ECHO_S, self._check_echo, args=(self.fw, self.fw._last_trace_edit_id)
            )
            self._timer.daemon = True
            self._timer.start()

    def _check_echo(self, fw: go.FigureWidget, edit: int) -> None:
        """The echo check: unanswered means the view's model is dead; answered, watch the next."""
        with self._lock:
            if fw is not self.fw:
                return
            self._timer = None
            if self._echoed < edit:
                lost = self._replace()
            else:
                lost = None
                if fw._last_trace_edit_id > self._echoed:  # later edits not echoed yet
                    self._expect_echo()
        self._finish(lost)

    def _replace(self) -> go.FigureWidget | None:
        """(lock held) Put a fresh FigureWidget in place of the lost one; returns the lost one."""
        if self.heals >= HEALS:
            return None
        self.heals += 1
        lost = self.fw
        self.fw = self._new(go.Figure(lost))
        self._seen, self._echoed = False, 0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return lost

    def _finish(self, lost: go.FigureWidget | None) -> None:
        """After a replacement, outside the lock: show the new FigureWidget, close the lost one."""
        if lost is not None:
            self.stamp()  # shows the new one in every view of this box
            lost.close()
