"""Figures hold exactly the data they were fed (rounded to 4 significant digits)."""

import math

import numpy as np
import plotly.graph_objects as go
import pytest

from lstmviz.core.errors import LstmvizError
from lstmviz.viz import curves, style


def test_training_curves_from_train_callback_entries():
    c = curves.TrainingCurves(live=True)
    assert isinstance(c.widget.fw, go.FigureWidget)
    c({"kind": "train", "step": 10, "train_loss": 3.0, "val_loss": None})
    c({"kind": "train", "step": 20, "train_loss": 2.5, "val_loss": None})
    c({"kind": "val", "step": 20, "train_loss": 2.5, "val_loss": 2.7})
    for fig in (c.widget.fw, c.figure()):
        train, val, train_bits, val_bits = fig.data
        assert list(train.x) == [10, 20] and list(train.y) == [3.0, 2.5]
        assert list(val.x) == [20] and list(val.y) == [2.7]
        assert list(train_bits.y) == pytest.approx([3.0 / math.log(2), 2.5 / math.log(2)], rel=1e-3)
        assert list(val_bits.y) == pytest.approx([2.7 / math.log(2)], rel=1e-3)
        assert train_bits.yaxis == "y2" and fig.layout.yaxis2.title.text == "loss (bits/char)"
    with pytest.raises(LstmvizError, match="step"):
        c({"train_loss": 1.0})


def test_static_training_curves_have_no_widget():
    c = curves.TrainingCurves()
    c.update(1, train_loss=1.23456)
    assert c.widget is None and list(c.figure().data[0].y) == [1.235]


def test_lag_figure_log_axis_and_overlay():
    lags = np.arange(5)
    fig = curves.lag_figure({"RNN": (lags, 0.5**lags), "zeros": (lags, [1, 0, 0, 0, 0])})
    assert fig.layout.yaxis.type == "log"
    assert list(fig.data[0].y) == [1.0, 0.5, 0.25, 0.125, 0.0625]
    assert list(fig.data[1].y) == [1.0, None, None, None, None]  # a log axis cannot show 0
    fig = curves.lag_figure({"LSTM": (lags, np.ones(5))}, fig=fig, dash="dash")
    assert [d.name for d in fig.data] == ["RNN", "zeros", "LSTM"] and fig.data[
        2
    ].line.dash == "dash"


def test_accuracy_and_history_figures():
    fig = curves.accuracy_figure({"RNN": ([5, 10], [1.0, 0.26])}, chance=0.25)
    assert list(fig.data[0].x) == [5, 10] and list(fig.data[0].y) == [1.0, 0.26]
    assert fig.layout.shapes[0].y0 == 0.25
    fig = curves.history_figure({"a": {"loss": [2.0, 1.0], "grad_norm": [10.0, 3.0]}})
    assert list(fig.data[0].y) == [2.0, 1.0] and list(fig.data[1].y) == [10.0, 3.0]
    assert fig.layout.yaxis2.type == "log"


def test_training_curves_as_the_train_callback():
    import lstmviz

    c = curves.TrainingCurves(live=True)
    text = "To be, or not to be, that is the question.\n" * 40
    result = lstmviz.train(
        text=text,
        callback=c,
        progress=False,
        hidden_size=8,
        num_layers=1,
        embedding_dim=4,
        dropout=0.0,
        seq_len=8,
        batch_size=2,
        steps=6,
        log_every=2,
        eval_every=3,
        val_chars=200,
        save_every=0,
    )
    train = [e for e in result.history if e["kind"] == "train"]
    val = [e for e in result.history if e["kind"] == "val"]
    assert list(c.widget.fw.data[0].x) == [e["step"] for e in train] == [2, 4, 6]
    assert list(c.widget.fw.data[0].y) == style.round_sig(
        [e["train_loss"] for e in train], as_list=True
    )
    assert list(c.widget.fw.data[1].x) == [3, 6]
    assert list(c.widget.fw.data[1].y) == style.round_sig(
        [e["val_loss"] for e in val], as_list=True
    )


def test_smooth_is_a_running_mean():
    np.testing.assert_allclose(curves.smooth([1, 2, 3, 4, 5], 2), [1, 1.5, 2.5, 3.5, 4.5])
    np.testing.assert_allclose(curves.smooth([4.0, 0.0, 2.0], 10), [4, 2, 2])


def test_reference_lines_are_drawn_and_kept_in_view():
    refs = {"unigram": 3.29, "trigram": 2.0}
    c = curves.TrainingCurves(references=refs, live=True)
    c.update(10, train_loss=2.5, val_loss=2.4)
    for fig in (c.widget.fw, c.figure()):
        assert sorted(s.y0 for s in fig.layout.shapes) == [2.0, 3.29]
        assert {a.text for a in fig.layout.annotations} == {"unigram 3.29", "trigram 2.00"}
        lo, hi = fig.layout.yaxis.range
        assert lo < 2.0 and hi > 3.29  # the lines are inside the plotted range
    runs = [type("Run", (), {"label": "a", "train_loss": [3.0, 2.0]})()]
    fig = curves.loss_figure(runs, window=1, references={"bigram": 2.47})
    assert [s.y0 for s in fig.layout.shapes] == [2.47]


def test_accuracy_bars_error_bars_and_references():
    fig = curves.accuracy_bars({"A": [1.0, 0.5, 0.75], "B": [0.25, 0.25]}, chance=0.25)
    bars = [t for t in fig.data if t.type == "bar"]
    assert [b.x[0] for b in bars] == ["A", "B"]
    assert bars[0].y[0] == pytest.approx(0.75) and bars[0].error_y.array[0] == pytest.approx(
        0.25 / math.sqrt(3), rel=1e-3
    )
    dots = [t for t in fig.data if t.type == "scatter"]
    assert list(dots[0].y) == [1.0, 0.5, 0.75]
    # accuracy_figure: a third element draws ± SE error bars
    fig = curves.accuracy_figure({"run": ([5, 10], [1.0, 0.5], [0.0, 0.1])}, chance=0.25)
    assert list(fig.data[0].error_y.array) == [0.0, 0.1]
    fig = curves.history_figure(
        {"r": {"loss": [1.5, 1.0], "grad_norm": [2.0, 1.0]}},
        references={"loss": (math.log(4), "chance (ln 4)")},
        thresholds={"grad_norm": 1.0},
    )
    texts = [a.text for a in fig.layout.annotations]
    assert "chance (ln 4)" in texts and "threshold 1" in texts
    fig = curves.lag_figure({"a": ([0, 1], [1.0, 0.5])}, colors=["#123456"])
    assert fig.data[0].line.color == "#123456"


def test_lstm_cell_diagram_labels_and_highlighted_cell_path():
    from lstmviz.viz import diagrams

    fig = diagrams.lstm_cell_figure()
    texts = " ".join(a.text for a in fig.layout.annotations)
    for label in (
        "Γ<sub>f</sub>",
        "Γ<sub>u</sub>",
        "Γ<sub>o</sub>",
        "ĉ⟨t⟩",
        "(i)",
        "(f)",
        "(g)",
        "(o)",
        "c⟨t−1⟩",
        "c⟨t⟩",
        "a⟨t⟩ (h)",
        "x⟨t⟩",
    ):
        assert label in texts, label
    belt = [s for s in fig.layout.shapes if s.type == "line" and s.line.color == diagrams.BELT]
    assert belt and all(s.y0 == s.y1 == diagrams.BELT_Y for s in belt)  # the c-path, drawn thick
    assert all(s.line.width > 2 for s in belt)


def test_live_plain_text_has_no_point_count():
    """On GitHub the live cell shows text/plain: it must not read as an empty result."""
    c = curves.TrainingCurves(live=True)
    text = c._repr_mimebundle_()["text/plain"]
    assert "0 train" not in text and "points" not in text and "static copy" in text


def test_span_figure_lines_bands_and_references():
    lags, mean, se = [0, 1, 2], [0.5, 0.3, 0.2], [0.01, 0.4, 0.02]
    fig = curves.span_figure({"LSTM": (lags, mean, se)}, {"RNN (lesson 02)": ([0, 1], [0.9, 0.0])})
    band, line, ref = fig.data
    assert list(line.x) == lags and list(line.y) == mean and line.name == "LSTM"
    # the band: upper edge forwards, lower edge backwards; mean - se <= 0 is a gap on a log axis
    assert list(band.y) == [0.51, 0.7, 0.22, 0.18, None, 0.49] and band.fill == "toself"
    assert list(ref.y) == [0.9, None] and fig.layout.yaxis.type == "log"


def test_group_bars_one_bar_per_series_and_group():
    series = {"LSTM": ([1.0, 2.0], [0.1, 0.2]), "5-gram": ([3, 4], [0, 0])}
    fig = curves.group_bars(["a", "b"], series)
    assert [t.name for t in fig.data] == ["LSTM", "5-gram"]
    assert list(fig.data[0].x) == ["a", "b"] and list(fig.data[1].y) == [3, 4]
    assert list(fig.data[0].error_y.array) == [0.1, 0.2] and fig.layout.barmode == "group"
    no_se = curves.group_bars(["a", "b"], {"5-gram": ([3, 4], None)})
    assert no_se.data[0].error_y.array is None and no_se.data[0].error_y.type is None
    assert no_se.layout.xaxis.title.text == "kind of character"


def test_lag_panels_one_panel_per_run_shared_log_axes():
    lags = np.arange(4)
    panels = {
        f"b = {b}": {"cell": (lags, b**lags), "act": (lags, [1.0, 0.0, 0.1, 0.01])}
        for b in (0.5, 2.0)
    }
    fig = curves.lag_panels(panels, title="t")
    assert [a.text for a in fig.layout.annotations] == ["b = 0.5", "b = 2.0"]  # panel titles
    assert [(d.name, d.xaxis) for d in fig.data] == [
        ("cell", "x"),
        ("act", "x"),
        ("cell", "x2"),
        ("act", "x2"),
    ]
    assert list(fig.data[2].y) == [1.0, 2.0, 4.0, 8.0]
    assert list(fig.data[1].y) == [1.0, None, 0.1, 0.01]  # a log axis cannot show 0
    assert [d.showlegend for d in fig.data] == [True, True, False, False]  # one legend
    assert fig.data[0].line.color == fig.data[2].line.color != fig.data[1].line.color
    assert fig.data[1].line.dash == fig.data[3].line.dash == "dash"
    assert fig.layout.yaxis.type == fig.layout.yaxis2.type == "log"
    assert fig.layout.yaxis2.matches == "y"  # shared: the same scale in every panel
    with pytest.raises(LstmvizError, match="at least one panel"):
        curves.lag_panels({})


def test_loss_and_gain_bars_two_panels_gain_with_its_se():
    losses = {"LSTM": [1.0, 2.0], "5-gram": [1.5, 2.5]}
    fig = curves.loss_and_gain_bars(["a", "b"], losses, {"5-gram - LSTM": ([0.5, 0.5], [0.1, 0.3])})
    lstm, five, gain = fig.data
    assert [lstm.yaxis, five.yaxis, gain.yaxis] == ["y", "y", "y2"]  # losses on top, gain below
    assert list(five.y) == [1.5, 2.5] and list(gain.x) == ["a", "b"]
    assert list(gain.y) == [0.5, 0.5] and list(gain.error_y.array) == [0.1, 0.3]
    assert gain.name == "5-gram - LSTM (± 1 SE)" and fig.layout.yaxis2.title.text.startswith("gain")
    assert [s.y0 for s in fig.layout.shapes] == [0]  # zero marked on the gain panel
    with pytest.raises(LstmvizError, match="one per group"):
        curves.loss_and_gain_bars(["a", "b"], {}, {"g": ([1.0, 2.0], [0.1])})


def test_unrolled_figure_writes_time_steps_as_superscripts():
    # ⟨ ⟩ read as ( ) at PNG size (lesson 01's "a⟨1)"); Ng's a<t> as a superscript does not
    fig = curves.unrolled_figure(["I", "am"], highlight=(0, 1))
    texts = [a.text for a in fig.layout.annotations]
    assert "a<sup>&lt;1&gt;</sup>" in texts and "a<sup>&lt;0&gt;</sup>=0" in texts
    assert "ŷ<sup>&lt;2&gt;</sup>" in texts and "hidden a<sup>&lt;t&gt;</sup>" in texts
    assert not any("⟨" in t for t in texts)


def test_epoch_figure_puts_steps_on_epochs_and_marks_the_checkpoints():
    history = [
        {"kind": "train", "step": 10, "train_loss": 4.0, "val_loss": None},
        {"kind": "train", "step": 20, "train_loss": 2.0, "val_loss": None},
        {"kind": "val", "step": 20, "train_loss": 2.0, "val_loss": 1.9},
        {"kind": "sample", "step": 20, "text": "abc"},
        {"kind": "train", "step": 40, "train_loss": 1.5, "val_loss": None},
        {"kind": "val", "step": 40, "train_loss": 1.5, "val_loss": 1.6},
    ]
    fig = curves.epoch_figure(history, 20, references={"trigram": 2.1}, marks={"end": 2}, ymax=2.5)
    train, train_bits, val, val_bits = fig.data
    assert list(train.x) == [0.5, 1.0, 2.0] and list(train.y) == [4.0, 2.0, 1.5]
    assert list(val.x) == [1.0, 2.0] and list(val.y) == [1.9, 1.6]
    assert val_bits.yaxis == "y2" and val_bits.y[0] == pytest.approx(1.9 / math.log(2), 1e-3)
    lo, hi = fig.layout.yaxis.range  # cut at ymax: the first train point runs off the top
    assert lo < 1.5 and 2.5 < hi < 2.6
    assert fig.layout.yaxis2.range[1] == pytest.approx(hi / math.log(2))
    texts = {a.text for a in fig.layout.annotations}
    assert {"trigram 2.10", "end"} <= texts
    assert [s.x0 for s in fig.layout.shapes if s.line.dash == "dot"] == [2]
