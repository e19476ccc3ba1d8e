"""The gate sandbox shows the values the LSTM equations give."""

import base64
import math

import plotly.io as pio
import pytest
import torch

from lstmviz.core.errors import LstmvizError
from lstmviz.teaching import sandbox, scratch
from lstmviz.viz import style


def test_cell_update_is_the_lstm_equation():
    c, a = sandbox.cell_update(0.3, 0.8, 0.6, -0.5, 2.0)
    assert c == pytest.approx(0.3 * -0.5 + 0.8 * 2.0)
    assert a == pytest.approx(0.6 * math.tanh(c))


def test_cell_update_agrees_with_scratch_cell():
    # choose weights so the gates come out as given numbers: zero weights, biases = pre-activations
    cell = scratch.LSTMCell(1, 1).double()
    g = dict(gamma_u=0.3, gamma_f=0.9, gamma_o=0.7, c_hat=-0.4, c_prev=1.5)
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    with torch.no_grad():
        for W in (cell.W_u, cell.W_f, cell.W_c, cell.W_o):
            W.zero_()
        cell.b_u.fill_(logit(g["gamma_u"]))
        cell.b_f.fill_(logit(g["gamma_f"]))
        cell.b_o.fill_(logit(g["gamma_o"]))
        cell.b_c.fill_(math.atanh(g["c_hat"]))
    zero = torch.zeros(1, 1, dtype=torch.float64)
    a, c = cell(zero, (zero, torch.full((1, 1), g["c_prev"], dtype=torch.float64)))
    c_ref, a_ref = sandbox.cell_update(**g)
    assert c.item() == pytest.approx(c_ref) and a.item() == pytest.approx(a_ref)


def test_figure_shows_the_values():
    v = dict(gamma_u=0.25, gamma_f=0.5, gamma_o=1.0, c_hat=0.8, c_prev=-2.0)
    fig = sandbox.sandbox_figure(**v)
    c, a = sandbox.cell_update(**v)
    assert list(fig.data[4].y) == [-2.0, -1.0, 0.2, round(c, 4)]  # old, kept, written, new
    assert list(fig.data[1].y) == [0.25] and fig.data[1].x[0] == pytest.approx(
        math.log(0.25 / 0.75), abs=1e-4
    )
    assert list(fig.data[6].x) == [round(c, 4)] * 2
    assert list(fig.data[6].y) == [round(math.tanh(c), 4), round(a, 4)]
    assert "-0.800" in fig.layout.title.text  # c⟨t⟩ printed


def test_widget_follows_sliders_and_set():
    box = sandbox.GateSandbox()
    box.sliders["gamma_f"].value = 0.1  # as a student dragging the slider
    c, a = sandbox.cell_update(**{**sandbox.DEFAULTS, "gamma_f": 0.1})
    assert box.c == pytest.approx(c) and box.a == pytest.approx(a)
    assert box.figure.data[4].y[3] == pytest.approx(c, abs=1e-4)
    box.set(c_prev=-3.0)
    assert box.sliders["c_prev"].value == -3.0
    assert box.figure.data[4].y[0] == -3.0
    with pytest.raises(LstmvizError, match="outside"):
        box.set(gamma_u=1.5)
    with pytest.raises(LstmvizError, match="unknown"):
        box.set(gamma_x=0.5)


def test_mimebundle_has_widget_and_static_image(monkeypatch):
    box = sandbox.GateSandbox(gamma_u=0.9)
    monkeypatch.setattr(pio.renderers, "default", "plotly_mimetype")
    bundle = box._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/plain"].startswith("GateSandbox(Γ_u=0.90")
    assert "image/png" not in bundle  # no static image asked for (the one rule: viz.style)
    if not style.static_images_available():
        pytest.skip("no Chromium for kaleido here")
    monkeypatch.setattr(pio.renderers, "default", "plotly_mimetype+png")
    png = base64.b64decode(box._repr_mimebundle_()["image/png"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
