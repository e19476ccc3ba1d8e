"""Figure data: the right values in the right cells, labels, colour scales, and the half-life."""

import math

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from lstmviz.core.errors import LstmvizError
from lstmviz.gates import analysis
from lstmviz.viz import plots

TEXT = "To be, or not\nto be: that is"


def acts(T, H, seed=0, gate=False):
    a = np.random.default_rng(seed).normal(size=(T, H))
    return 1 / (1 + np.exp(-a)) if gate else a


def test_heatmap_cells_hold_trace_values_for_chosen_units():
    a = acts(len(TEXT), 30)
    fig = plots.heatmap(a, TEXT, name="c", units=[4, 0, 29])
    hm = fig.data[0]
    z = np.asarray(hm.z)
    assert z.shape == (3, len(TEXT))
    for row, u in enumerate([4, 0, 29]):
        np.testing.assert_allclose(z[row], a[:, u], rtol=1e-3)
    assert list(hm.y) == ["unit 4", "unit 0", "unit 29"]
    # one column per character; hover label names position and character, tick shows the character
    assert hm.x[3] == "3: b" and hm.x[5] == "5: ," and hm.x[13] == "13: ⏎" and hm.x[2] == "2: ␣"
    assert fig.layout.xaxis.ticktext[13] == "⏎"
    assert "%{x}" in hm.hovertemplate and "%{z" in hm.hovertemplate and "%{y}" in hm.hovertemplate
    # the cell is diverging and symmetric around 0
    assert hm.zmin == -hm.zmax and hm.zmax >= np.abs(a[:, [4, 0, 29]]).max() * 0.99
    assert hm.colorscale[0][1] != hm.colorscale[-1][1]


def test_heatmap_default_units_are_the_most_variable_most_variable_first():
    a = acts(len(TEXT), 20) * 0.1
    a[:, 7] *= 50
    a[:, 3] *= 20
    fig = plots.heatmap(a, TEXT, name="h", top_k=2)
    assert list(fig.data[0].y) == ["unit 7", "unit 3"]


def test_heatmap_gate_scale_is_zero_to_one_and_names_use_ng_notation():
    a = acts(len(TEXT), 8, gate=True)
    fig = plots.heatmap(a, TEXT, name="forget", units=[1])
    assert (fig.data[0].zmin, fig.data[0].zmax) == (0.0, 1.0)
    assert "forget gate Γ<sub>f</sub> (f)" in fig.layout.title.text
    assert "Γ<sub>f</sub>" in fig.data[0].hovertemplate


def test_heatmap_per_unit_scales_rows_and_hovers_true_values():
    a = acts(len(TEXT), 4)
    a[:, 1] *= 20
    hm = plots.heatmap(a, TEXT, name="c", units=[1, 2], per_unit=True).data[0]
    z, raw = np.asarray(hm.z), np.asarray(hm.customdata)
    for row, u in enumerate([1, 2]):
        np.testing.assert_allclose(raw[row], a[:, u], rtol=1e-3)
        np.testing.assert_allclose(z[row], a[:, u] / np.abs(a[:, u]).max(), rtol=1e-3, atol=1e-6)
    assert (hm.zmin, hm.zmax) == (-1.0, 1.0) and "%{customdata" in hm.hovertemplate


def test_heatmap_window_and_bins():
    text = "abcdefghij" * 300  # 3000 characters
    a = acts(len(text), 4)
    win = plots.heatmap(a, text, units=[2], start=100, stop=130)
    np.testing.assert_allclose(np.asarray(win.data[0].z)[0], a[100:130, 2], rtol=1e-3)
    assert win.data[0].x[0] == "100: a"
    binned = plots.heatmap(a, text, units=[2], max_cols=500)
    z = np.asarray(binned.data[0].z)[0]
    assert z.shape == (500,)  # 6 characters per column
    np.testing.assert_allclose(z[10], a[60:66, 2].mean(), rtol=1e-3)
    assert binned.data[0].x[10].startswith("60–65: ")
    assert "mean of 6 characters" in binned.layout.title.text


def test_heatmap_rejects_mismatch_and_bad_names():
    with pytest.raises(LstmvizError, match="time steps but the text has"):
        plots.heatmap(acts(5, 3), TEXT)
    with pytest.raises(LstmvizError, match="unknown name"):
        plots.heatmap(acts(len(TEXT), 3), TEXT, name="x")
    with pytest.raises(LstmvizError, match="units must be"):
        plots.heatmap(acts(len(TEXT), 3), TEXT, units=[3])


def test_heatmap_scales_to_all_512_units_and_long_text_within_payload():
    text = ("All the world's a stage,\n" * 400)[:10_000]
    a = acts(len(text), 512).astype(np.float32)
    fig = plots.heatmap(a, text, name="c", units=range(512), start=0, stop=1000)
    assert np.asarray(fig.data[0].z).shape == (512, 1000)
    assert len(fig.to_json()) < 5_000_000


def test_coloured_text_places_each_character_and_value_on_its_grid_cell():
    a = acts(len(TEXT), 5)
    fig = plots.coloured_text(a, TEXT, name="c", units=[3, 1], wrap=8)
    assert len(fig.data) == 2
    hm = fig.data[0]
    chars, z, pos = np.asarray(hm.text), np.asarray(hm.z), np.asarray(hm.customdata)
    # "To be, or not\n" wraps after 8 characters; the newline ends row 1 and is drawn as ⏎
    assert "".join(chars[0]) == "To be, o" and "".join(chars[1]).startswith("r not⏎")
    assert chars[2][0] == "t"
    for t in range(len(TEXT)):
        r, c = np.argwhere(pos == t)[0]
        assert z[r, c] == pytest.approx(a[t, 3], rel=1e-3)
        expected = "⏎" if TEXT[t] == "\n" else TEXT[t]
        assert chars[r, c] == expected
    assert np.isnan(z[1, 7])  # after the newline the rest of the row is empty
    np.testing.assert_allclose(np.asarray(fig.data[1].z)[0, :8], a[:8, 1], rtol=1e-3)
    ca = fig.layout.coloraxis
    assert ca.cmin == -ca.cmax  # diverging, centred at 0
    gate = plots.coloured_text(acts(len(TEXT), 5, gate=True), TEXT, name="i", units=0)
    assert (gate.layout.coloraxis.cmin, gate.layout.coloraxis.cmax) == (0.0, 1.0)


def test_saturation_fractions_per_unit():
    T = 200
    v = np.full((T, 3), 0.5)
    v[:50, 0] = 0.05  # unit 0: 25 % closed
    v[:150, 1] = 0.95  # unit 1: 75 % open
    v[:20, 2], v[20:120, 2] = 0.0, 1.0  # unit 2: 10 % closed, 50 % open
    fig = plots.saturation(
        {("f", 0): v, ("i", 0): 1 - v, ("o", 0): v, ("f", 1): v, ("i", 1): v, ("o", 1): v}
    )
    scatters = [tr for tr in fig.data if tr.mode == "markers"]
    assert len(scatters) == 6  # 3 gates x 2 layers
    forget = scatters[1]  # order: i, f, o for layer 0
    np.testing.assert_allclose(forget.x, [0.0, 0.75, 0.5])
    np.testing.assert_allclose(forget.y, [0.25, 0.0, 0.1])
    update = scatters[0]  # 1 - v swaps closed and open
    np.testing.assert_allclose(update.x, [0.25, 0.0, 0.1])
    assert "forget gate Γ<sub>f</sub> (f), layer 1" in [a.text for a in fig.layout.annotations]


def test_half_life_is_where_a_gate_at_the_geometric_mean_halves_a_memory():
    assert analysis.half_life(np.full(10, 0.5 ** (1 / 20))) == pytest.approx(20.0)
    f = np.random.default_rng(4).uniform(0.6, 1.0, size=300)
    n = analysis.half_life(f)
    # a gate held at the geometric mean of f keeps exactly half after n steps
    assert np.exp(np.log(f).mean()) ** n == pytest.approx(0.5)
    # ... which is the product of the real gates over any n steps only on average: check on all
    assert np.prod(f) == pytest.approx(0.5 ** (len(f) / n))
    assert math.isinf(analysis.half_life(np.ones(5)))


def test_cell_ledger_kept_plus_written_is_c_and_titles_the_windows_half_life():
    T, H = len(TEXT), 4
    rng = np.random.default_rng(5)
    f, i = rng.uniform(0.5, 1.0, size=(T, H)), rng.uniform(size=(T, H))
    g = np.tanh(rng.normal(size=(T, H)))
    c = np.zeros((T, H))
    for t in range(T):  # the cell update in Ng's notation: c = Γ_f * c_prev + Γ_u * ĉ
        c[t] = f[t] * (c[t - 1] if t else 0.0) + i[t] * g[t]
    fig = plots.cell_ledger({"f": f, "i": i, "g": g, "c": c}, TEXT, unit=2, start=5, stop=25)
    kept, written, cell, forget = fig.data
    np.testing.assert_allclose(
        np.asarray(kept.y) + np.asarray(written.y), c[5:25, 2], rtol=1e-3, atol=1e-4
    )
    np.testing.assert_allclose(kept.y, f[5:25, 2] * c[4:24, 2], rtol=1e-3)
    np.testing.assert_allclose(cell.y, c[5:25, 2], rtol=1e-3)
    np.testing.assert_allclose(forget.y, f[5:25, 2], rtol=1e-3)
    n_half = analysis.half_life(f[5:25, 2])
    assert f"half-life n½ = {n_half:.3g} steps" in fig.layout.title.text
    assert "unit 2" in fig.layout.title.text and fig.layout.barmode == "relative"
    # the dashed line is the geometric mean of the gate over the window
    assert fig.layout.shapes[0].y0 == pytest.approx(np.exp(np.log(f[5:25, 2]).mean()))


def test_stack_keeps_every_trace_on_its_own_axes_in_its_own_band():
    a = acts(len(TEXT), 6)
    figs = [plots.heatmap(a, TEXT, units=[0, 1]), plots.coloured_text(a, TEXT, units=[0, 2])]
    out = plots.stack(figs)
    assert isinstance(out, go.Figure)
    assert len(out.data) == 3
    assert out.layout.height == sum(f.layout.height for f in figs) + 30
    axes = {(tr.xaxis, tr.yaxis) for tr in out.data}
    assert len(axes) == 3
    np.testing.assert_allclose(np.asarray(out.data[1].z), np.asarray(figs[1].data[0].z))
    top = out.layout[out.data[0].yaxis.replace("y", "yaxis")].domain
    bottom = out.layout[out.data[2].yaxis.replace("y", "yaxis")].domain
    assert bottom[1] < top[0]  # the first figure sits above the second


@pytest.mark.parametrize("n", [40, 80, 120, 150])
@pytest.mark.parametrize("width", [None, 700, 930, 1400])
def test_heatmap_character_labels_never_overlap_and_are_as_dense_as_the_width_allows(n, width):
    """Notebook 7 and Voila give an unsized plot plotly's 700 px: 150 labels at 8 px overlapped."""
    text = ("OBERON\nDo you amend it then; it lies in you:\n" * 4)[:n]
    fig = plots.heatmap(acts(n, 10), text, layer=None, width=width)
    ax, margin = fig.layout.xaxis, fig.layout.margin
    assert fig.layout.width == width
    room = (width or plots.AUTOSIZE_PX) - margin.l - margin.r - plots.COLORBAR_PX
    columns = list(fig.data[0].x)
    shown = [columns.index(v) for v in ax.tickvals]
    every = shown[1] - shown[0]
    assert all(b - a == every for a, b in zip(shown, shown[1:], strict=False))
    assert list(ax.ticktext) == [plots.shown(text[i]) for i in shown]  # characters, not positions
    gap = every * room / n  # px from one label to the next
    assert gap >= plots.TICK_PX[ax.tickfont.size]  # no overlap
    if every > 1:  # and one more label per gap would overlap
        assert (every - 1) * room / n < plots.TICK_PX[ax.tickfont.size]
    if ax.tickfont.size == 8:  # the big font only where it fits
        assert room / n < plots.TICK_PX[11]


def test_heatmap_labels_at_the_widths_students_see():
    text = ("OBERON\nDo you amend it then; it lies in you:\n" * 4)[:120]
    a = acts(120, 10)
    wide = plots.heatmap(a, text, layer=None, width=1400).layout.xaxis  # JupyterLab, full width
    assert len(wide.tickvals) == 120 and wide.tickfont.size == 11
    live = plots.heatmap(a, text, layer=None, width=930).layout.xaxis  # the live explorer's
    assert len(live.tickvals) == 120 and live.tickfont.size == 8
    narrow = plots.heatmap(a, text, layer=None).layout.xaxis  # unsized: planned for 700 px
    assert len(narrow.tickvals) == 60 and narrow.tickfont.size == 8


def test_measured_draws_means_with_error_bars_and_a_baseline_band():
    fig = plots.measured(
        [0.0, 0.5, 1.0],
        {"one": ([0.2, 0.3, 0.4], [0.01, 0.02, 0.03]), "plain": ([1.0, 2.0, 3.0], None)},
        baseline=(0.25, 0.05),
        log_x=False,
    )
    one, plain = fig.data
    np.testing.assert_allclose(one.y, [0.2, 0.3, 0.4], rtol=1e-6)
    np.testing.assert_allclose(one.error_y.array, [0.01, 0.02, 0.03], rtol=1e-6)
    assert plain.error_y.array is None
    band = fig.layout.shapes[0]
    assert (band.y0, band.y1) == pytest.approx((0.2, 0.3))
    with pytest.raises(LstmvizError, match="one value per x"):
        plots.measured([0, 1], {"bad": ([1.0], None)})


def test_fit_colours_centres_the_scale_on_the_median():
    from lstmviz.viz import plots

    values = np.concatenate([np.linspace(10.0, 20.0, 101), [np.nan]])
    text = "x" * (len(values) - 1)
    fig = plots.coloured_text(values[:-1, None], text, name="c", layer=None, units=[0])
    assert fig.layout.coloraxis.cmin == -20.0  # the default: white at 0, ± max
    lo, hi = plots.fit_colours(fig, values, q=0.1)
    assert (lo, hi) == pytest.approx((11.0, 19.0))  # median 15, 10th/90th percentiles 11 and 19
    assert (fig.layout.coloraxis.cmin, fig.layout.coloraxis.cmax) == (lo, hi)
    skewed = np.array([0.0, 9.0, 10.0, 11.0, 30.0])
    assert plots.fit_colours(fig, skewed, q=0.0) == pytest.approx((-10.0, 30.0))  # the far side
    with pytest.raises(LstmvizError, match="finite"):
        plots.fit_colours(fig, [np.nan])


def test_top_k_bars_shows_the_first_characters_and_the_rest_as_one_bar():
    chars = list("abcdefghij")
    p = np.array([0.05, 0.3, 0.02, 0.2, 0.1, 0.08, 0.07, 0.06, 0.04, 0.08])
    fig = plots.top_k_bars(p, chars, k=2, first=4, title="t")
    bars, kept = fig.data
    # most likely first: b, d, e, then f and j tie at 0.08 (the earlier one first)
    assert list(bars.x) == ["'b'", "'d'", "'e'", "'f'", "rest"]
    assert list(bars.y)[:4] == [0.3, 0.2, 0.1, 0.08]
    assert bars.y[-1] == pytest.approx(1 - 0.68)  # every character after the first four, summed
    assert fig.layout.annotations[0].text == "the other 6<br>together"
    assert list(bars.marker.color[:3]) == ["#1f77b4", "#1f77b4", "#c7c7c7"]  # top-2 kept in blue
    assert list(kept.x) == ["'b'", "'d'"] and list(kept.y) == [0.6, 0.4]  # renormalised
    assert plots.top_k_bars(torch.tensor(p), chars, 2, 4).data[0].y == bars.y
    labels = plots.top_k_bars(np.full(3, 1 / 3), [" ", "\n", "x"], 1, 2).data[0].x
    assert list(labels) == ["'␣'", "'⏎'", "rest"]  # invisible characters made visible
    with pytest.raises(LstmvizError, match="1 <= k <= first < V"):
        plots.top_k_bars(p, chars, k=5, first=4)


def test_temperature_lines_one_line_per_character_and_the_rest():
    taus = np.array([0.1, 1.0, 10.0])
    probs = np.array([[0.9, 0.08, 0.02], [0.5, 0.3, 0.2], [0.35, 0.33, 0.32]])
    fig = plots.temperature_lines(taus, probs, [0, 1], ["a", " ", "c"])
    a, space, rest = fig.data
    assert (a.name, space.name, rest.name) == ("'a'", "'␣'", "the other 1 together")
    assert list(a.x) == [0.1, 1.0, 10.0] and list(space.y) == [0.08, 0.3, 0.33]
    assert list(rest.y) == pytest.approx([0.02, 0.2, 0.32])
    assert fig.layout.xaxis.type == fig.layout.yaxis.type == "log"
    assert fig.layout.annotations[0].y == pytest.approx(math.log10(1 / 3))  # log10 units
    with pytest.raises(LstmvizError, match="probs \\(N, V\\)"):
        plots.temperature_lines(taus, probs[:2], [0], ["a", "b", "c"])
