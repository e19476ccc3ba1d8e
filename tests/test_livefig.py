"""LiveFigure: a FigureWidget a box replaces when a browser view missed the kernel's messages."""

import time

import numpy as np
import plotly.graph_objects as go

from lstmviz.viz import livefig
from lstmviz.viz.livefig import LiveFigure


def _report(fw: go.FigureWidget, edit_id: int) -> None:
    """What plotly's view sends after it drew: the trace edit it drew (here no trace deltas)."""
    fw._js2py_traceDeltas = {"trace_deltas": [], "trace_edit_id": edit_id}


def test_show_updates_in_place_or_replaces_traces_and_keeps_nan_out_of_json():
    live = LiveFigure()
    live.show(go.Figure(go.Heatmap(z=np.array([[0.5, np.nan]]))))
    fw = live.fw
    assert live.children == (fw,) and len(fw.data) == 1
    assert list(fw.data[0].z[0]) == [0.5, None]  # JSON has no NaN
    live.show(
        go.Figure(go.Heatmap(z=[[1.0, 2.0]]), layout=dict(title="two"))
    )  # same trace type: in place
    assert live.fw is fw and list(fw.data[0].z[0]) == [1.0, 2.0] and fw.layout.title.text == "two"
    live.show(go.Figure([go.Bar(y=[1, 2]), go.Bar(y=[3])]))  # different traces: replaced
    assert [t.type for t in fw.data] == ["bar", "bar"] and list(fw.data[1].y) == [3]


def test_a_view_that_drew_an_old_edit_gets_a_fresh_figurewidget_with_the_current_figure():
    live = LiveFigure(go.Figure(go.Scatter(y=[1, 2, 3]), layout=dict(title="kept")))
    live.stamp()  # what a display does
    first = live.fw
    stamp = first._last_trace_edit_id
    assert stamp >= 1

    _report(first, stamp)  # a view that drew the stamped state: all is well
    assert live.fw is first and live.heals == 0

    _report(first, stamp - 1)  # a view that drew before our messages reached it
    second = live.fw
    assert second is not first and live.heals == 1
    assert live.children == (second,)  # every view of the box now shows the new one
    assert list(second.data[0].y) == [1, 2, 3] and second.layout.title.text == "kept"
    assert second._last_trace_edit_id >= 1 and first.comm is None  # stamped; the lost one closed

    _report(second, second._last_trace_edit_id)
    assert live.fw is second and live.heals == 1


def test_replacement_is_bounded_so_a_browser_that_never_keeps_up_cannot_loop():
    live = LiveFigure(go.Figure(go.Bar(y=[1])))
    live.stamp()
    for _ in range(livefig.HEALS + 3):
        _report(live.fw, 0)
    assert live.heals == livefig.HEALS
    assert list(live.fw.data[0].y) == [1]


def _wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_view_that_drew_the_current_edit_is_probed_and_replaced_if_it_never_echoes(monkeypatch):
    """Voila: a dead model still draws the newest state (built from it), then hears nothing."""
    monkeypatch.setattr(livefig, "ECHO_S", 0.2)
    live = LiveFigure(go.Figure(go.Heatmap(z=[[1.0, 2.0]])))
    live.stamp()
    first = live.fw
    stamp = first._last_trace_edit_id
    _report(first, stamp)  # its first report: up to date, so it gets a no-op edit to echo
    assert first._last_trace_edit_id == stamp + 1 and live.heals == 0
    live.show(go.Figure(go.Heatmap(z=[[3.0, 4.0]])))  # an update the dead model ignores
    assert _wait_for(lambda: first.comm is None)  # no echo within ECHO_S: replaced, closed
    second = live.fw
    assert second is not first and live.heals == 1 and live.children == (second,)
    assert list(second.data[0].z[0]) == [3.0, 4.0]  # with what the kernel drew last


def test_a_view_that_echoes_every_edit_keeps_its_figurewidget(monkeypatch):
    monkeypatch.setattr(livefig, "ECHO_S", 0.2)
    live = LiveFigure(go.Figure(go.Heatmap(z=[[1.0, 2.0]])))
    live.stamp()
    fw = live.fw
    _report(fw, fw._last_trace_edit_id)
    probe = fw._last_trace_edit_id
    _report(fw, probe)  # the probe's echo: no second probe
    assert fw._last_trace_edit_id == probe
    for value in range(5):  # a generation: each edit echoed by the live view
        live.show(go.Figure(go.Heatmap(z=[[float(value), 0.0]])))
        _report(fw, fw._last_trace_edit_id)
        time.sleep(0.1)
    time.sleep(3 * livefig.ECHO_S)
    assert live.fw is fw and live.heals == 0


def test_without_a_browser_view_nothing_is_expected_or_replaced(monkeypatch):
    """nbconvert and nbval run the lessons with no view: updates must not count as lost."""
    monkeypatch.setattr(livefig, "ECHO_S", 0.05)
    live = LiveFigure(go.Figure(go.Bar(y=[1])))
    live.stamp()
    fw = live.fw
    for value in range(3):
        live.show(go.Figure(go.Bar(y=[value])))
    time.sleep(5 * livefig.ECHO_S)
    assert live.fw is fw and live.heals == 0 and live._timer is None
