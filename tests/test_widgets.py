"""The explorers without a browser: what they generate, record and put in their figures."""

import base64
import time

import numpy as np
import plotly.io as pio
import pytest
import torch
from conftest import TINY_TEXT

import lstmviz
from lstmviz.gates import features
from lstmviz.viz import plots, style, widgets

TEXT = TINY_TEXT  # the tiny model's vocabulary is this text's characters


@pytest.fixture
def tiny(tiny_model):
    return tiny_model


def z_of(fw):
    return np.asarray(fw.data[0].z, dtype=np.float64)


def test_live_generation_writes_what_generate_writes_and_shows_its_gates(tiny):
    model, vocab = tiny
    ex = widgets.LiveGeneration(
        model,
        vocab,
        prime="OBERON\n",
        length=150,
        temperature=0.9,
        top_k=5,
        seed=3,
        unit=4,
        layer=0,
        name="f",
        window=40,
    )
    out = ex.run()
    assert out == lstmviz.generate(model, vocab, "OBERON\n", 150, temperature=0.9, top_k=5, seed=3)
    assert ex.text == "OBERON\n" + out
    # the heatmap shows the forget gate of layer 0 over the last 40 characters the model read
    # (all but the newest, which was drawn but not yet fed back), unit 4 on top
    read = ex.text[:-1]
    truth = lstmviz.record(model.lstm, model.embedding(vocab.encode(read)[None]))["f", 0][0].numpy()
    hm = ex.fig_heat.data[0]
    assert hm.y[0] == "unit 4"
    rows = [int(y.split()[1]) for y in hm.y]
    np.testing.assert_allclose(z_of(ex.fig_heat), truth[-40:, rows].T, rtol=2e-3, atol=1e-5)
    assert hm.x[-1] == f"{len(read) - 1}: {plots.shown(read[-1])}"
    # coloured text: the chosen unit, same values
    ct = ex.fig_text.data[0]
    pos = np.asarray(ct.customdata)
    z = np.asarray(ct.z, dtype=np.float64)
    t = len(read) - 1
    r, c = np.argwhere(pos == t)[0]
    assert z[r, c] == pytest.approx(truth[t, 4], rel=2e-3)
    # next-character bars: top-5 sampling leaves 5 characters; the drawn one (the last) is red
    bars = ex.fig_probs.data[0]
    assert len([p for p in bars.x if p > 0]) == 5 and sum(bars.x) == pytest.approx(1.0, abs=1e-3)
    red = [y for y, colour in zip(bars.y, bars.marker.color, strict=True) if colour == "#d62728"]
    assert red == [f"'{plots.shown(ex.text[-1])}'"]


def test_live_generation_controls_redraw_and_stop_ends_a_threaded_run(tiny):
    model, vocab = tiny
    ex = widgets.LiveGeneration(model, vocab, prime="W", length=40, refresh=0.1)
    ex.run()
    before = z_of(ex.fig_heat)
    ex.w_name.value = "o"
    assert "output gate Γ<sub>o</sub> (o)" in ex.fig_heat.layout.title.text
    assert not np.allclose(before, z_of(ex.fig_heat))
    ex.w_layer.value = 0
    assert "layer 0" in ex.fig_heat.layout.title.text
    ex.w_unit.value = 7
    assert ex.fig_heat.data[0].y[0] == "unit 7"
    # a long run in a thread: Stop ends it early, and the buttons come back
    ex.w_length.value = 5000
    ex.text = ""  # the last run's 41 characters must not pass for this run's before it begins
    thread = ex.start()
    while len(ex.text) < 30:
        thread.join(0.01)
    ex.w_stop.click()
    thread.join(20)
    assert not thread.is_alive()
    assert 30 <= len(ex.text) < 1 + 5000
    assert not ex.w_go.disabled and ex.w_stop.disabled


def test_live_generation_pace_limits_characters_per_second_and_stop_cuts_the_wait(tiny):
    model, vocab = tiny
    ex = widgets.LiveGeneration(model, vocab, prime="W", length=5000, pace=40, refresh=0.05)
    assert ex.w_pace.value == 40
    begun = time.monotonic()
    thread = ex.start()
    thread.join(0.5)
    assert thread.is_alive()  # 5000 characters at 40 a second take two minutes
    ex.stop()
    thread.join(10)
    elapsed = time.monotonic() - begun
    assert not thread.is_alive()
    written = len(ex.text) - 1
    # never ahead of the pace (the first character is free), and it did write
    assert 1 <= written <= 40 * elapsed + 1
    # pacing changes when characters come, not which
    text = lstmviz.generate(model, vocab, "W", written, temperature=0.8, seed=ex.seed)
    assert ex.text[1:] == text
    # slower than the refresh interval, every character is drawn as it comes (and once at the end)
    slow = widgets.LiveGeneration(model, vocab, prime="W", length=6, pace=20, refresh=0.02)
    shown = []
    slow.draw = lambda: shown.append(slow.text)
    slow.run()
    assert shown == [slow.text[:k] for k in range(2, 8)] + [slow.text]


class PlantedTrace:
    """A trace-like object whose layer-1 cell has a planted quote unit and a planted span unit."""

    names = tuple("ifgoch")
    num_layers = 2
    batch_first = True

    def __init__(self, text, H=20):
        rng = np.random.default_rng(0)
        self.values = {
            (n, layer): rng.normal(size=(1, len(text), H)) * 0.3
            for n in "ifgoch"
            for layer in (0, 1)
        }
        self.values["c", 1][0, :, 11] += 2 * features.in_quotes(text)
        self.values["c", 1][0, 100:110, 5] += 3.0

    def __getitem__(self, key):
        name, layer = key
        return torch.from_numpy(self.values[name, layer % 2])


def test_cell_explorer_matches_a_span_and_ranks_features(tiny):
    ex = widgets.CellExplorer(PlantedTrace(TEXT), TEXT, window=150, unit=0)
    found = ex.match(100, 110)
    assert found[0].unit == 5 and ex.w_unit.value == 5
    assert ex.fig_heat.data[0].y[0] == "unit 5"  # the found units fill the heatmap, best first
    assert ex.w_found.options[0] == (f"unit 5: score {found[0].score:+.2f}", 5)
    ranked = ex.rank()
    assert ranked[0].unit == 11 and ranked[0].feature == "inside quotes" and ranked[0].score > 0.8
    ex.w_found.value = ranked[1].unit  # picking a found unit shows it
    assert ex.w_unit.value == ranked[1].unit
    # coloured text shows the chosen unit's values; moving the window moves the span along
    ex.w_start.value = 60
    assert ex.w_span.value[0] >= 60 and ex.w_span.value[1] <= 60 + 150
    pos = np.asarray(ex.fig_text.data[0].customdata)
    assert pos[pos >= 0].min() == 60
    shape = ex.fig_heat.layout.shapes[0]  # the span, outlined on the heatmap
    assert shape.x0 == ex.w_span.value[0] - 60 - 0.5


def test_cell_explorer_from_model_refuses_a_mismatched_text(tiny):
    model, vocab = tiny
    ex = widgets.CellExplorer.from_model(model, vocab, TEXT, window=100)
    truth = lstmviz.record(model.lstm, model.embedding(vocab.encode(TEXT)[None]))["c", -1][
        0
    ].numpy()
    rows = [int(y.split()[1]) for y in ex.fig_heat.data[0].y]
    # memory cells are coloured per unit (value / max |value|); the hover data holds the values
    raw = np.asarray(ex.fig_heat.data[0].customdata, dtype=np.float64)
    np.testing.assert_allclose(raw, truth[:100, rows].T, rtol=2e-3, atol=1e-5)
    np.testing.assert_allclose(
        z_of(ex.fig_heat), raw / np.abs(raw).max(axis=1, keepdims=True), rtol=2e-3, atol=1e-5
    )
    trace = lstmviz.record(model.lstm, model.embedding(vocab.encode(TEXT[:50])[None]))
    with pytest.raises(lstmviz.LstmvizError, match="steps but the text has"):
        widgets.CellExplorer(trace, TEXT)


def test_intervention_explorer_compares_untouched_and_clamped(tiny):
    model, vocab = tiny
    ex = widgets.InterventionExplorer(
        model,
        vocab,
        prime="OBERON\n",
        layer=1,
        unit=3,
        value=5.0,
        length=80,
        temperature=0.8,
        seed=1,
    )
    plain, clamped = ex.run()
    assert plain == lstmviz.generate(model, vocab, "OBERON\n", 80, temperature=0.8, seed=1)
    with lstmviz.intervene(model, {("c", 1, 3): 5.0}):
        assert clamped == lstmviz.generate(model, vocab, "OBERON\n", 80, temperature=0.8, seed=1)
    assert plain != clamped
    # both coloured by Δ log p: the clamped model's log-probability of each character minus the
    # untouched model's, given the same text before it
    from lstmviz.gates.interventions import logprob_change

    ids = vocab.encode("OBERON\n" + clamped)
    expect = logprob_change(model, ids, {("c", 1, 3): 5.0}).numpy()[len("OBERON\n") - 1 :]
    with torch.no_grad():
        logp = {}
        for key, ctx in (("plain", None), ("clamped", {("c", 1, 3): 5.0})):
            with lstmviz.intervene(model, ctx) if ctx else torch.no_grad():
                out, _ = model(ids[None, :-1])
            logp[key] = torch.log_softmax(out[0].double(), -1).gather(1, ids[1:, None])[:, 0]
    by_hand = (logp["clamped"] - logp["plain"]).numpy()[len("OBERON\n") - 1 :]
    np.testing.assert_allclose(expect, by_hand, atol=1e-6)
    clamped_z = np.asarray(ex.fig.data[1].z, dtype=float)
    np.testing.assert_allclose(
        np.sort(clamped_z[~np.isnan(clamped_z)]), np.sort(expect), rtol=1e-3, atol=1e-4
    )
    assert np.abs(expect).max() > 0.01  # the clamp did change some probabilities
    assert ex.fig.layout.coloraxis.cmin == -ex.fig.layout.coloraxis.cmax
    assert "they part at character" in ex.w_out.value
    ex.w_name.value = "f"  # a gate can only be clamped within [0, 1]
    assert (ex.w_value.min, ex.w_value.max) == (0.0, 1.0) and ex.w_value.value == 1.0


def test_display_carries_widget_view_and_a_png_snapshot(tiny, monkeypatch):
    model, vocab = tiny
    ex = widgets.InterventionExplorer(model, vocab, length=20)
    monkeypatch.setattr(pio.renderers, "default", "plotly_mimetype")
    bundle = ex._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == ex.widget.model_id
    assert "image/png" not in bundle  # no static image asked for
    if not style.static_images_available():
        pytest.skip("no Chromium for kaleido here")
    monkeypatch.setattr(pio.renderers, "default", "plotly_mimetype+png")
    ex.run()
    png = base64.b64decode(ex._repr_mimebundle_()["image/png"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_explorer_widgets_send_json_without_nan(tiny):
    """FigureWidgets travel as JSON, which has no NaN: the coloured text's gaps must be None."""
    import json

    model, vocab = tiny
    ex = widgets.CellExplorer.from_model(model, vocab, TEXT)
    for fw in (ex.fig_text, ex.fig_heat):
        for trace in fw.data:
            z = trace.z
            if z is None:
                continue
            values = z.tolist() if isinstance(z, np.ndarray) else [list(row) for row in z]
            json.dumps(values, allow_nan=False)  # raises ValueError on NaN
    gaps = [v for row in ex.fig_text.data[0].z for v in row if v is None]
    assert gaps, "the coloured text has no gaps: this test no longer checks anything"


def test_a_figure_the_browser_lost_is_replaced_and_the_explorer_draws_into_the_new_one(tiny):
    """A view reporting an edit older than the display's stamp missed messages (viz.livefig)."""
    model, vocab = tiny
    ex = widgets.LiveGeneration(model, vocab, prime="ab", length=5)
    ex.run()
    lost = ex.fig_heat
    before = lost._last_trace_edit_id
    ex._repr_mimebundle_()
    assert ex.fig_heat._last_trace_edit_id == before + 1
    ex.fig_heat._js2py_traceDeltas = {
        "trace_deltas": [],
        "trace_edit_id": 0,
    }  # the browser lost the heatmap: the explorer now draws into a new one
    healed = ex.fig_heat
    assert healed is not lost and healed.data[0].z is not None
    ex.w_unit.value = 1
    assert ex.fig_heat is healed and healed.data[0].y[0] == "unit 1"


def test_length_slider_offers_round_numbers(tiny):
    model, vocab = tiny
    w = widgets.LiveGeneration(model, vocab, prime="ab", length=5).w_length
    offered = range(w.min, w.max + 1, w.step)  # what dragging the slider can reach
    assert 300 in offered and 301 not in offered and all(v % 10 == 0 for v in offered)
    assert w.value == 5  # a length given in code is kept as it is


def test_live_heatmap_is_as_wide_as_the_row_above_and_labels_every_character(tiny):
    """Notebook 7 and Voila do not widen an unsized plot: sized, its 120 labels fit (font 8)."""
    model, vocab = tiny
    ex = widgets.LiveGeneration(model, vocab, prime="ab", length=200)
    ex.run()
    heat = ex.fig_heat.layout
    assert heat.width == widgets.EXPLORER_WIDTH == widgets.TEXT_WIDTH + widgets.PROBS_WIDTH
    assert len(heat.xaxis.tickvals) == widgets.WINDOW and heat.xaxis.tickfont.size == 8


# ----------------------------------------------------------------------------- why this character?
def test_influence_view_colours_the_text_by_influence_and_toggles_back(tiny):
    """Picking a generated character colours the text before it by exactly lstmviz.influence."""
    model, vocab = tiny
    ex = widgets.LiveGeneration(model, vocab, prime="OBERON\n", length=40, seed=2, unit=3)
    ex.run()
    gate_z, gate_title = z_of(ex.fig_heat), ex.fig_heat.layout.title.text
    j = len("OBERON\n") + 25  # the 26th generated character
    why = ex.show_influence(j)
    assert ex.view == "influence" and ex.w_char.value == j
    truth = lstmviz.influence(model, vocab, ex.text, j - 1)  # explains ex.text[j]
    assert why.target == ex.text[j] == truth.target
    np.testing.assert_allclose(why.scores, truth.scores, rtol=1e-6)
    # the figure: each character before j coloured by log10 of its share of the influence
    trace = ex.fig_why.data[0]
    pos = np.asarray(trace.customdata)
    z = np.asarray(trace.z, dtype=np.float64)
    shares = truth.scores / truth.scores.sum()
    for t in (0, 5, j - 2, j - 1):
        r, c = np.argwhere(pos == t)[0]
        assert 10 ** z[r, c] == pytest.approx(shares[t], rel=1e-3)
        assert f"character {t}), lag {j - 1 - t}<br>" in trace.hovertext[r][c]
    r, c = np.argwhere(pos == j)[0]  # the explained character: boxed, no colour
    assert np.isnan(z[r, c])
    box = ex.fig_why.layout.shapes[0]
    assert (box.x0, box.y0) == (c - 0.5, r - 0.5)
    top = int(np.argmax(truth.scores))
    line = ex.w_why.value
    assert f"the model wrote '{plots.shown(ex.text[j])}' with p = " in line
    assert f"{np.exp(truth.logp):.1%} (its most likely choice" in line
    assert truth.predicted == ex.text[j] or f"'{plots.shown(truth.predicted)}', " in line
    assert f"at lag {j - 1 - top} (character {top})" in line
    assert ex.fig_why in [ch.fw for ch in ex.widget.children if hasattr(ch, "fw")]
    assert ex.figures()[0].data[0].hovertext is not None  # the snapshot shows the influence view
    # back to the gates: the three gate figures, unchanged
    ex.view = "gates"
    shown = [ch for ch in ex.widget.children if ch is ex._heat]
    assert shown and ex._why not in ex.widget.children
    np.testing.assert_array_equal(z_of(ex.fig_heat), gate_z)
    assert ex.fig_heat.layout.title.text == gate_title
    # choosing through the "character" box is the same as show_influence
    ex.w_char.value = j - 3
    assert ex.view == "influence" and ex.why.position == j - 4
    np.testing.assert_allclose(
        ex.why.scores, lstmviz.influence(model, vocab, ex.text, j - 4).scores, rtol=1e-6
    )


def click(fw, r, c):
    """What plotly.js sends the kernel for a click on cell (row r, column c) of a heatmap."""
    fw._js2py_pointsCallback = {
        "event_type": "plotly_click",
        "points": {"trace_indexes": [0], "point_indexes": [[r, c]], "xs": [c], "ys": [r]},
        "device_state": None,
        "selector": None,
    }


def test_influence_view_clicking_a_character_explains_it(tiny):
    """A click on a coloured-text character (as the browser reports it) shows its influence."""
    model, vocab = tiny
    ex = widgets.LiveGeneration(model, vocab, prime="OBERON\n", length=30, seed=4)
    ex.run()
    trace = ex.fig_text.data[0]
    pos = np.asarray(trace.customdata)
    j = len(ex.text) - 5
    r, c = (int(v) for v in np.argwhere(pos == j)[0])
    click(ex.fig_text, r, c)
    assert ex.view == "influence" and ex.w_char.value == j and ex.why.position == j - 1
    assert ex.why.target == ex.text[j]
    # and in the influence figure itself: a click on an earlier generated character explains it
    pos = np.asarray(ex.fig_why.data[0].customdata)
    r, c = (int(v) for v in np.argwhere(pos == j - 2)[0])
    click(ex.fig_why, r, c)
    assert ex.why.position == j - 3 and ex.w_char.value == j - 2
    # a coloured text the browser lost is replaced (viz.livefig): clicks on the new one still work
    ex.view = "gates"
    lost = ex.fig_text
    ex._repr_mimebundle_()
    lost._js2py_traceDeltas = {"trace_deltas": [], "trace_edit_id": 0}
    assert ex.fig_text is not lost
    pos = np.asarray(ex.fig_text.data[0].customdata)
    r, c = (int(v) for v in np.argwhere(pos == j - 1)[0])
    click(ex.fig_text, r, c)
    assert ex.view == "influence" and ex.why.position == j - 2


def test_influence_view_errors_are_one_readable_message(tiny):
    model, vocab = tiny
    ex = widgets.LiveGeneration(model, vocab, prime="OBERON\n", length=20)
    ex.view = "influence"  # nothing generated yet: a message in the widget, no exception
    assert "nothing generated yet: press Generate" in ex.w_why.value
    assert ex.w_why in ex.widget.children and ex._why not in ex.widget.children
    with pytest.raises(lstmviz.LstmvizError, match="nothing generated yet"):
        ex.show_influence()
    ex.run()
    assert ex.w_char.value == len(ex.text) - 1  # the newest character, already explained
    assert ex.why is not None and ex.why.position == len(ex.text) - 2
    for bad in (3, len(ex.text), -1):  # in the prime; past the end; negative
        ex.w_char.value = bad  # typed into the widget: the message, no exception
        assert f"character {bad} is not a generated character" in ex.w_why.value
        assert f"pick one of 7..{len(ex.text) - 1}" in ex.w_why.value
        with pytest.raises(lstmviz.LstmvizError, match=f"character {bad} is not a generated"):
            ex.show_influence(bad)
    with pytest.raises(lstmviz.LstmvizError, match="position must be an integer index"):
        ex.show_influence(12.5)
    with pytest.raises(lstmviz.LstmvizError, match="view must be 'gates' or 'influence'"):
        ex.view = "why"
    ex.show_influence(len(ex.text) - 2)  # a good choice clears the message
    assert "the model wrote" in ex.w_why.value and ex._why in ex.widget.children


def test_influence_waits_while_the_model_writes(tiny):
    """The model is never used by two threads: during generation the view says so and waits."""
    model, vocab = tiny
    ex = widgets.LiveGeneration(model, vocab, prime="W", length=5000, pace=50, refresh=0.05)
    ex.view = "influence"
    thread = ex.start()
    while len(ex.text) < 5:
        thread.join(0.01)
    with pytest.raises(lstmviz.LstmvizError, match="the model is writing"):
        ex.show_influence(2)
    assert "the model is writing" in ex.w_why.value
    ex.stop()
    thread.join(20)
    assert not thread.is_alive()
    # when it stops, the view explains the newest character
    assert ex.why.position == len(ex.text) - 2 and "the model wrote" in ex.w_why.value


def test_cell_explorer_reads_the_trace_once_per_choice(tiny, monkeypatch):
    """Moving unit, window or span redraws from the values read; only a new layer or activation
    goes back to the trace (it used to be read again on every redraw)."""
    model, vocab = tiny
    trace = lstmviz.record_text(model, vocab, TEXT)
    reads = []

    def counted(*args, **kwargs):
        reads.append(args[1:])
        return lstmviz.gates.analysis.activations(*args, **kwargs)

    monkeypatch.setattr(widgets.base, "activations", counted)
    monkeypatch.setattr(widgets.cells, "activations", counted)
    ex = widgets.CellExplorer(trace, TEXT, name="c", layer=-1, unit=3, window=60)
    assert reads == [("c", -1)]  # read once, to check it fits the text, and kept
    for attr, value in (("w_unit", 5), ("w_start", 40), ("w_span", (70, 80)), ("w_unit", 9)):
        getattr(ex, attr).value = value
    ex.match()
    ex.rank()
    assert reads == [("c", -1)]
    ex.w_name.value = "f"
    ex.w_unit.value = 2
    ex.w_layer.value = 0
    assert reads == [("c", -1), ("f", 1), ("f", 0)]
    np.testing.assert_array_equal(ex.values(), lstmviz.gates.analysis.activations(trace, "f", 0))


def test_generate_draws_a_fresh_seed_each_press_unless_one_is_fixed(tiny):
    """Default: each press writes new text and shows its seed; that seed writes it again."""
    model, vocab = tiny
    ex = widgets.LiveGeneration(model, vocab, prime="W", length=60, temperature=1.0)
    assert not ex.w_fixed.value and ex.seed is None
    first = ex.run()
    seed = ex.seed
    assert ex.w_seed.value == seed and not ex.w_fixed.value  # shown, and still not fixed
    second = ex.run()
    assert ex.seed != seed and first != second
    # the seed shown is the one used: generate() with it writes the same text
    assert first == lstmviz.generate(model, vocab, "W", 60, temperature=1.0, seed=seed)
    again = widgets.LiveGeneration(model, vocab, prime="W", length=60, temperature=1.0, seed=seed)
    assert again.w_fixed.value
    assert again.run() == first and again.run() == first and again.seed == seed
    # typing a seed in the box fixes it: the next presses repeat that text
    ex.w_seed.value = seed
    assert ex.w_fixed.value
    assert ex.run() == first and ex.run() == first
    ex.w_fixed.value = False  # untick: fresh again
    assert ex.run() != first
    assert repr(ex) == "<lstmviz LiveGeneration: layer=1, name='c', unit=0>"
