"""Shared figure helpers: one round_sig with two output forms, the bits/char twin, static PNGs."""

import math

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

from lstmviz.viz import style


def test_round_sig_keeps_four_significant_digits():
    got = style.round_sig([123456.0, 0.000123456, -1.23456, 0.0, np.nan])
    assert got.dtype == np.float32
    np.testing.assert_allclose(got[:4], [123500.0, 0.0001235, -1.235, 0.0], rtol=1e-6)
    assert np.isnan(got[4])


def test_round_sig_as_list_has_none_for_missing_values():
    assert style.round_sig([123456.0, 0.000123456, -2.5, 0.0, float("nan")], as_list=True) == [
        123500.0,
        0.0001235,
        -2.5,
        0.0,
        None,
    ]


def test_round_sig_rounds_large_and_small_numbers_exactly_and_keeps_shape():
    got = style.round_sig(np.array([[987654321.0, -0.0098765], [1.23449, math.inf]]), 3)
    assert got.shape == (2, 2) and got.dtype == np.float32
    np.testing.assert_array_equal(got[0], np.float32([988000000.0, -0.00988]))
    assert got[1, 0] == np.float32(1.23) and np.isinf(got[1, 1])
    assert style.round_sig([987654321.0, -0.0098765, math.inf], 3, as_list=True) == [
        988000000.0,
        -0.00988,
        None,
    ]


def test_bits_twin_reads_nats_as_bits_on_the_right_axis():
    fig = go.Figure()
    fig.add_scatter(x=[1, 2, 3], y=[math.log(2), 2 * math.log(2), float("nan")])
    style.add_bits_twin(fig, [1, 2, 3], [math.log(2), 2 * math.log(2), float("nan")])
    fig.update_layout(yaxis2=style.bits_axis())
    twin = fig.data[1]
    assert twin.yaxis == "y2" and list(twin.y) == [1.0, 2.0, None] and twin.showlegend is False
    assert fig.layout.yaxis2.overlaying == "y" and fig.layout.yaxis2.side == "right"


def test_static_png_only_when_the_renderer_asks_for_it(monkeypatch):
    fig = go.Figure(go.Bar(x=[1, 2], y=[3, 4]))
    monkeypatch.setattr(pio.renderers, "default", "plotly_mimetype")
    assert style.static_png(fig, 300) is None
