"""Line figures: training curves (live), several runs' losses, gradient norm and accuracy vs lag.

The unrolled RNN, a schematic, is ``diagrams.unrolled_figure`` (still importable from here).

Every function returns a plotly figure whose data is exactly what it was given, rounded to
4 significant digits so notebooks store small, stable JSON. ``TrainingCurves`` is a callback for
``lstmviz.train(..., callback=...)`` (or any loop that calls it with the same dicts) that draws
train and validation loss in nats/char, with bits/char on a second axis, as training runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..core.errors import LstmvizError
from ..core.numbers import mean_se
from . import style
from .diagrams import unrolled_figure  # noqa: F401 -- importable from here as before
from .livefig import LiveFigure
from .style import COLORS, LN2, add_bits_twin, bits, bits_axis


class TrainingCurves:
    """Train/val loss (nats/char left, bits/char right) vs step, fed by a training callback.

    ``curves(entry)`` takes the dicts ``lstmviz.train`` passes to its callback (keys ``step``,
    ``train_loss``, ``val_loss``; ``kind`` "train" or "val"). ``live=True`` draws into a plotly
    FigureWidget that updates in place as training runs; ``figure()`` returns a static copy.
    ``references``: ``{label: nats/char}`` drawn as dashed lines (``add_references``).
    """

    def __init__(
        self,
        title: str = "Training curves",
        live: bool = False,
        references: Mapping[str, float] | None = None,
    ):
        self.title = title
        # dashed horizontal lines, e.g. n-gram baselines {"trigram": 1.93} (nats/char)
        self.references = dict(references or {})
        self.train_steps: list[int] = []
        self.train_loss: list[float] = []
        self.val_steps: list[int] = []
        self.val_loss: list[float] = []
        self.widget = None
        if live:  # a FigureWidget in a box that replaces it if the browser lost it (livefig)
            self.widget = LiveFigure(self._empty())

    def _empty(self) -> go.Figure:
        fig = go.Figure()
        for name, color, mode in (
            ("train", COLORS[0], "lines"),
            ("validation", COLORS[1], "lines+markers"),
        ):
            fig.add_scatter(
                x=[],
                y=[],
                name=name,
                mode=mode,
                line=dict(color=color),
                hovertemplate="step %{x}<br>%{y:.3f} nats/char<extra>" + name + "</extra>",
            )
        # the same curves in bits/char, invisible, on the right axis (style.add_bits_twin)
        for name in ("train", "validation"):
            add_bits_twin(fig, [], [], name=name + " (bits)")
        add_references(fig, self.references)
        fig.update_layout(
            title=self.title,
            template="plotly_white",
            height=380,
            xaxis=dict(title="training step"),
            yaxis=dict(title="loss (nats/char)"),
            yaxis2=bits_axis("loss (bits/char)", tickformat=".1f"),
            legend=dict(x=0.99, xanchor="right", y=0.99),
            margin=dict(l=70, r=70, t=60, b=50),
        )
        return fig

    def update(
        self, step: int, train_loss: float | None = None, val_loss: float | None = None
    ) -> None:
        """Add one point: a train loss and/or a validation loss (nats/char) at ``step``."""
        if train_loss is not None:
            self.train_steps.append(int(step))
            self.train_loss.append(float(train_loss))
        if val_loss is not None:
            self.val_steps.append(int(step))
            self.val_loss.append(float(val_loss))
        if self.widget is not None:
            self._fill(self.widget.fw)

    def __call__(self, entry: Mapping) -> None:
        """The training callback: one ``lstmviz.train`` history dict."""
        if "step" not in entry:
            raise LstmvizError(
                "a training-curve entry needs a 'step' (and 'train_loss' / 'val_loss')"
            )
        if entry.get("kind") == "val":  # a validation entry repeats the last train loss: skip it
            self.update(entry["step"], val_loss=entry.get("val_loss"))
        else:
            self.update(entry["step"], entry.get("train_loss"), entry.get("val_loss"))

    def _fill(self, fig: go.Figure) -> None:
        series = ((self.train_steps, self.train_loss), (self.val_steps, self.val_loss))
        with fig.batch_update() if isinstance(fig, go.FigureWidget) else nullcontext():
            for i, (steps, loss) in enumerate(series):
                fig.data[i].x, fig.data[i].y = list(steps), style.round_sig(loss, as_list=True)
                fig.data[i + 2].x, fig.data[i + 2].y = list(steps), bits(loss)
            values = [v for v in self.train_loss + self.val_loss if math.isfinite(v)]
            if values:  # keep the reference lines in view
                values += [v for v in self.references.values() if math.isfinite(v)]
            if values:  # fix both ranges so the right axis reads bits/char exactly, with nice ticks
                lo, hi = min(values), max(values)
                pad = 0.05 * (hi - lo) or 0.05 * abs(hi) or 0.05
                fig.layout.yaxis.range = [lo - pad, hi + pad]
                fig.layout.yaxis2.range = [(lo - pad) / LN2, (hi + pad) / LN2]

    def figure(self) -> go.Figure:
        """A static figure of everything fed so far."""
        fig = self._empty()
        self._fill(fig)
        return fig

    def __repr__(self) -> str:
        return (
            f"TrainingCurves({len(self.train_loss)} train and {len(self.val_loss)} validation "
            f"points{', live' if self.widget is not None else ''})"
        )

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        """Live: the FigureWidget (plain text elsewhere). Static: the figure, via plotly."""
        if self.widget is None:
            return self.figure()._repr_mimebundle_(include, exclude)
        bundle = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude) or {})
        # no point counts here: at display time there are none, and "0 points" reads as a bug
        bundle["text/plain"] = (
            "(live training plot: it fills in while training runs in a live kernel; "
            "a static copy is shown after training)"
        )
        return bundle


def add_references(
    fig: go.Figure, references: Mapping[str, float], position: str = "top left"
) -> go.Figure:
    """Dashed grey horizontal lines at ``{label: y}`` (e.g. n-gram losses), labelled at
    ``position`` (plotly's annotation position: "top left", "top right", ...)."""
    for label, y in references.items():
        fig.add_hline(
            y=float(y),
            line=dict(dash="dash", color="gray", width=1.5),
            annotation_text=f"{label} {float(y):.2f}",
            annotation_position=position,
            annotation_font=dict(color="gray", size=11),
        )
    return fig


def lag_figure(
    runs: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    title: str = "How far back does the gradient reach?",
    fig: go.Figure | None = None,
    dash: str = "solid",
    ylabel: str = "‖∂L<sub>T</sub> / ∂a⟨t⟩‖",
    colors: Sequence[str] | None = None,
) -> go.Figure:
    """Gradient norm vs lag T − t on a log y-axis, one line per ``label: (lags, norms)``.

    Pass ``fig`` to add the runs to an existing figure (e.g. LSTM lines on the RNN's axes);
    ``dash`` styles the added lines, ``colors`` (one per run) overrides the palette's next ones.
    """
    if fig is None:
        fig = go.Figure()
        fig.update_layout(
            title=title,
            template="plotly_white",
            height=450,
            xaxis=dict(title="lag T − t (steps back in time)"),
            yaxis=dict(title=ylabel, type="log", exponentformat="power"),
            legend=dict(title="run"),
            margin=dict(l=80, r=30, t=60, b=50),
        )
    start = len(fig.data)
    for k, (label, (lags, norms)) in enumerate(runs.items()):
        y = np.asarray(norms, dtype=float)
        # a log axis cannot show 0; underflowed gradients are dropped, not drawn as a cliff
        y = np.where(y > 0, y, np.nan)
        fig.add_scatter(
            x=list(np.asarray(lags).tolist()),
            y=style.round_sig(y, as_list=True),
            name=label,
            mode="lines",
            line=dict(
                color=colors[k] if colors else COLORS[(start + k) % len(COLORS)],
                dash=dash,
                width=2.5,
            ),
            hovertemplate="lag %{x}<br>%{y:.2e}<extra>" + label + "</extra>",
        )
    return fig


def accuracy_figure(
    runs: Mapping[str, tuple[Sequence[float], ...]],
    chance: float,
    title: str = "Remember the first symbol: success vs lag",
) -> go.Figure:
    """Test accuracy vs lag, one line per ``label: (lags, accuracies)``; chance level dashed.

    ``label: (lags, mean accuracies, standard errors)`` adds ± 1 SE error bars (several seeds).
    """
    fig = go.Figure()
    for k, (label, (lags, acc, *se)) in enumerate(runs.items()):
        fig.add_scatter(
            x=list(np.asarray(lags).tolist()),
            y=style.round_sig(acc, as_list=True),
            name=label,
            mode="lines+markers",
            line=dict(color=COLORS[k % len(COLORS)], width=2.5),
            marker=dict(size=9),
            error_y=dict(type="data", array=style.round_sig(se[0], as_list=True), visible=True)
            if se
            else None,
        )
    _chance_line(fig, chance, "bottom right")
    fig.update_layout(
        title=title,
        template="plotly_white",
        height=420,
        xaxis=dict(title="lag (distractor steps between the symbol and the question)"),
        yaxis=dict(title="test accuracy", range=[0, 1.05], tickformat=".0%"),
        margin=dict(l=80, r=30, t=60, b=50),
    )
    return fig


def accuracy_bars(
    runs: Mapping[str, Sequence[float]],
    chance: float,
    title: str = "Remember the first symbol: test accuracy",
) -> go.Figure:
    """Mean test accuracy ± 1 SE per ``label: per-seed accuracies``; seeds dots, chance dashed."""
    fig = go.Figure()
    for k, (label, per_seed) in enumerate(runs.items()):
        acc = np.asarray(per_seed, dtype=float)
        mean, se = mean_se(acc) if len(acc) > 1 else (float(acc[0]), 0.0)
        color = COLORS[k % len(COLORS)]
        fig.add_bar(
            x=[label],
            y=style.round_sig([mean], as_list=True),
            error_y=dict(type="data", array=style.round_sig([se], as_list=True)),
            marker=dict(color=color, opacity=0.55),
            name=label,
            showlegend=False,
        )
        fig.add_scatter(
            x=[label] * len(acc),
            y=style.round_sig(acc, as_list=True),
            mode="markers",
            marker=dict(color=color, size=8, line=dict(color="black", width=1)),
            showlegend=False,
            hovertemplate="%{y:.0%}<extra>" + label + "</extra>",
        )
    _chance_line(fig, chance, "top right")
    fig.update_layout(
        title=title,
        template="plotly_white",
        height=420,
        yaxis=dict(
            title="test accuracy (bar: mean ± SE; dots: seeds)", range=[0, 1.05], tickformat=".0%"
        ),
        margin=dict(l=80, r=30, t=60, b=80),
    )
    return fig


def _chance_line(fig: go.Figure, chance: float, position: str) -> None:
    """A dashed grey line at the accuracy of guessing, labelled "chance (25%)" at ``position``."""
    fig.add_hline(
        y=chance,
        line=dict(dash="dash", color="gray"),
        annotation_text=f"chance ({chance:.0%})",
        annotation_position=position,
    )


def history_figure(
    histories: Mapping[str, Mapping[str, Sequence[float]]],
    title: str = "Training runs",
    keys: tuple[str, ...] = ("loss", "grad_norm"),
    labels: Mapping[str, str] | None = None,
    log_keys: tuple[str, ...] = ("grad_norm",),
    thresholds: Mapping[str, float] | None = None,
    references: Mapping[str, tuple[float, str]] | None = None,
) -> go.Figure:
    """One row per ``key`` (e.g. loss, gradient norm) vs step, one line per run ``label: history``.

    ``thresholds`` draws a dashed horizontal line in a row, e.g. ``{"grad_norm": 1.0}`` for a clip;
    ``references`` one with its own label, e.g. ``{"loss": (math.log(4), "chance")}``.
    """
    lines = {k: (y, f"threshold {y:g}") for k, y in (thresholds or {}).items()}
    lines.update(references or {})
    labels = {"loss": "loss (nats)", "grad_norm": "gradient norm ‖g‖", **(labels or {})}
    fig = make_subplots(rows=len(keys), cols=1, shared_xaxes=True, vertical_spacing=0.08)
    for k, (run, history) in enumerate(histories.items()):
        for row, key in enumerate(keys, start=1):
            values = history[key]
            fig.add_scatter(
                x=list(range(1, len(values) + 1)),
                y=style.round_sig(values, as_list=True),
                name=run,
                legendgroup=run,
                showlegend=row == 1,
                mode="lines",
                line=dict(color=COLORS[k % len(COLORS)], width=1.5),
                row=row,
                col=1,
            )
    for row, key in enumerate(keys, start=1):
        log = key in log_keys
        fig.update_yaxes(
            title_text=labels.get(key, key),
            row=row,
            col=1,
            type="log" if log else "linear",
            exponentformat="power" if log else None,
            dtick=1 if log else None,
        )
        if key in lines:
            y, text = lines[key]
            fig.add_hline(y=y, row=row, col=1, line=dict(dash="dash", color="gray"))
            # annotations on a log axis are placed in log10 units
            fig.add_annotation(
                text=text,
                x=1,
                xref="x domain",
                xanchor="right",
                y=math.log10(y) if log else y,
                yanchor="bottom",
                showarrow=False,
                font=dict(color="gray"),
                row=row,
                col=1,
            )
    fig.update_xaxes(title_text="training step", row=len(keys), col=1)
    fig.update_layout(
        title=title,
        template="plotly_white",
        height=220 + 200 * len(keys),
        margin=dict(l=80, r=30, t=60, b=50),
    )
    return fig


def smooth(values: Sequence[float], window: int = 20) -> np.ndarray:
    """Running mean over the last ``window`` values (shorter at the start): (N,) -> (N,)."""
    v = np.asarray(values, dtype=np.float64)
    c = np.concatenate([[0.0], np.cumsum(v)])
    end = np.arange(1, len(v) + 1)
    n = np.minimum(end, window)
    return (c[end] - c[end - n]) / n


def loss_figure(
    runs: Sequence[Any],
    title: str = "Training loss, same text and budget",
    window: int = 20,
    first: int | None = None,
    references: Mapping[str, float] | None = None,
) -> go.Figure:
    """Training loss (mean of ``window`` steps) vs step, one line per run; bits/char on the right.

    ``runs``: anything with ``label`` and ``train_loss`` (nats/char per step), such as the
    ``lstmviz.teaching.compare.Run`` of lesson 06. ``first``: show only the first ``first`` steps.
    ``references``: ``{label: nats/char}`` drawn as dashed lines (``add_references``).
    """
    fig = go.Figure()
    for k, r in enumerate(runs):
        y = smooth(r.train_loss, window)[:first]
        fig.add_scatter(
            x=list(range(1, len(y) + 1)),
            y=style.round_sig(y, as_list=True),
            name=r.label,
            mode="lines",
            line=dict(color=COLORS[k % len(COLORS)], width=2),
            hovertemplate="step %{x}<br>%{y:.3f} nats/char<extra>" + r.label + "</extra>",
        )
        add_bits_twin(fig, range(1, len(y) + 1), y)  # the right axis reads off bits/char
    add_references(fig, references or {})
    fig.update_layout(
        title=title,
        template="plotly_white",
        height=400,
        xaxis=dict(title="training step"),
        yaxis=dict(title=f"training loss, nats/char (mean of {window} steps)"),
        yaxis2=bits_axis(),
        legend=dict(x=0.99, xanchor="right", y=0.99),
        margin=dict(l=70, r=70, t=60, b=50),
    )
    return fig


def span_figure(
    runs: Mapping[str, tuple[Sequence[float], Sequence[float], Sequence[float]]],
    references: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
    title: str = "How far back does each model look?",
    ylabel: str = "share of influence (log scale)",
) -> go.Figure:
    """Share of influence vs lag on a log y-axis: ``label: (lags, mean, se)`` as lines with a
    ± 1 SE band, and ``references`` (``label: (lags, values)``, e.g. lesson 02's gradient
    norms, normalised the same way) as dotted lines (lesson 07)."""
    fig = go.Figure()
    for k, (label, (lags, mean, se)) in enumerate(runs.items()):
        x = list(np.asarray(lags).tolist())
        m, s = np.asarray(mean, dtype=float), np.asarray(se, dtype=float)
        color = COLORS[k % len(COLORS)]
        lo = np.where(m - s > 0, m - s, np.nan)  # a log axis cannot show <= 0
        fig.add_scatter(
            x=x + x[::-1],
            y=style.round_sig(m + s, as_list=True) + style.round_sig(lo, as_list=True)[::-1],
            fill="toself",
            fillcolor=color,
            opacity=0.2,
            line=dict(width=0),
            hoverinfo="skip",
            showlegend=False,
        )
        fig.add_scatter(
            x=x,
            y=style.round_sig(m, as_list=True),
            name=label,
            mode="lines",
            line=dict(color=color, width=2.5),
            hovertemplate="lag %{x}<br>%{y:.2e}<extra>" + label + "</extra>",
        )
    for k, (label, (lags, values)) in enumerate((references or {}).items()):
        v = np.asarray(values, dtype=float)
        fig.add_scatter(
            x=list(np.asarray(lags).tolist()),
            y=style.round_sig(np.where(v > 0, v, np.nan), as_list=True),
            name=label,
            mode="lines",
            line=dict(color="gray", dash=("dot", "dash", "dashdot")[k % 3], width=2),
        )
    fig.update_layout(
        title=title,
        template="plotly_white",
        height=450,
        xaxis=dict(title="lag k (characters back from the last one read)"),
        yaxis=dict(title=ylabel, type="log", exponentformat="power"),
        margin=dict(l=80, r=30, t=60, b=50),
    )
    return fig


def group_bars(
    groups: Sequence[str],
    series: Mapping[str, tuple[Sequence[float], Sequence[float] | None]],
    title: str = "Loss by kind of character",
    ylabel: str = "mean loss (nats/char)",
    xlabel: str = "kind of character",
) -> go.Figure:
    """Grouped bars: one group per name in ``groups``, one bar per ``label: (values, ses)`` with
    ± 1 SE error bars, none where ``ses`` is None (lesson 07's losses by kind of character)."""
    fig = go.Figure()
    for k, (label, (values, ses)) in enumerate(series.items()):
        bars = None if ses is None else style.round_sig(ses, as_list=True)
        errors = None if ses is None else dict(type="data", array=bars)
        fig.add_bar(
            x=list(groups),
            y=style.round_sig(values, as_list=True),
            error_y=errors,
            name=label,
            marker=dict(color=COLORS[k % len(COLORS)]),
        )
    fig.update_layout(
        title=title,
        template="plotly_white",
        height=450,
        barmode="group",
        xaxis=dict(title=xlabel),
        yaxis=dict(title=ylabel),
        margin=dict(l=80, r=30, t=60, b=110),
    )
    return fig


def lag_panels(
    panels: Mapping[str, Mapping[str, tuple[Sequence[float], Sequence[float]]]],
    title: str = "Gradient norm vs lag, one panel per run",
    ylabel: str = "gradient norm at lag k",
    dashes: Sequence[str] = ("solid", "dash", "dot"),
) -> go.Figure:
    """Small multiples of ``lag_figure``: one panel per ``panel title: {line: (lags, norms)}``.

    The panels sit side by side on shared axes (log y), so a reader compares them at a glance;
    the k-th line of every panel has the same colour and dash (``dashes[k]``), and one legend
    names them (lesson 03: the memory cell's and the activation's gradient per forget bias).
    """
    if not panels:
        raise LstmvizError("lag_panels needs at least one panel")
    fig = make_subplots(
        rows=1,
        cols=len(panels),
        shared_xaxes=True,
        shared_yaxes=True,
        horizontal_spacing=0.03,
        subplot_titles=list(panels),
    )
    for col, lines in enumerate(panels.values(), start=1):
        for k, (label, (lags, norms)) in enumerate(lines.items()):
            y = np.asarray(norms, dtype=float)
            fig.add_scatter(
                x=list(np.asarray(lags).tolist()),
                # a log axis cannot show 0; underflowed gradients are dropped, not drawn as a cliff
                y=style.round_sig(np.where(y > 0, y, np.nan), as_list=True),
                name=label,
                legendgroup=label,
                showlegend=col == 1,
                mode="lines",
                line=dict(color=COLORS[k % len(COLORS)], dash=dashes[k % len(dashes)], width=2.5),
                hovertemplate="lag %{x}<br>%{y:.2e}<extra>" + label + "</extra>",
                row=1,
                col=col,
            )
        fig.update_xaxes(title_text="lag k (steps back)", row=1, col=col)
    fig.update_yaxes(type="log", exponentformat="power", row=1, col=1, title_text=ylabel)
    fig.update_yaxes(type="log", exponentformat="power")
    fig.update_layout(
        title=title,
        template="plotly_white",
        height=450,
        legend=dict(orientation="h", y=-0.22, x=0.5, xanchor="center"),
        margin=dict(l=80, r=30, t=90, b=100),
    )
    return fig


def loss_and_gain_bars(
    groups: Sequence[str],
    losses: Mapping[str, Sequence[float]],
    gains: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    title: str = "Loss and gain by kind of character",
    xlabel: str = "kind of character",
    gain_label: str = "gain (nats/char)",
) -> go.Figure:
    """Two panels over the same groups (lesson 07): top, each model's mean loss ``label: values``
    as grouped bars; bottom, each gain ``label: (values, ses)`` with ± 1 SE error bars, zero
    marked (a bar whose error bar stays clear of zero is a gain larger than its noise)."""
    n = len(groups)
    for label, values in losses.items():
        if len(values) != n:
            raise LstmvizError(f"losses {label!r} has {len(values)} values for {n} groups")
    for label, (values, ses) in gains.items():
        if len(values) != n or len(ses) != n:
            raise LstmvizError(f"gain {label!r} needs {n} values and {n} SEs, one per group")
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, row_heights=[0.5, 0.5]
    )
    x = list(groups)
    for k, (label, values) in enumerate(losses.items()):
        fig.add_bar(
            x=x,
            y=style.round_sig(values, as_list=True),
            name=label,
            marker=dict(color=COLORS[k % len(COLORS)]),
            legendgroup="loss",
            row=1,
            col=1,
        )
    for k, (label, (values, ses)) in enumerate(gains.items()):
        fig.add_bar(
            x=x,
            y=style.round_sig(values, as_list=True),
            error_y=dict(type="data", array=style.round_sig(ses, as_list=True), thickness=2),
            name=f"{label} (± 1 SE)",
            marker=dict(color=("#555555", "#999999")[k % 2]),
            legendgroup="gain",
            row=2,
            col=1,
        )
    fig.add_hline(y=0, line=dict(color="black", width=1), row=2, col=1)
    fig.update_layout(
        title=title,
        template="plotly_white",
        height=640,
        barmode="group",
        legend=dict(tracegroupgap=150),
        margin=dict(l=80, r=30, t=60, b=110),
    )
    fig.update_yaxes(title_text="mean loss (nats/char)", row=1, col=1)
    fig.update_yaxes(title_text=gain_label, row=2, col=1)
    fig.update_xaxes(title_text=xlabel, row=2, col=1)
    return fig


def epoch_figure(
    history: Sequence[Mapping[str, Any]],
    steps_per_epoch: int,
    title: str = "Training and validation loss per epoch",
    references: Mapping[str, float] | None = None,
    marks: Mapping[str, float] | None = None,
    ymax: float | None = None,
) -> go.Figure:
    """A run's train and validation loss vs epoch (nats/char left, bits/char right).

    ``history``: ``lstmviz.train``'s entries (a run log's ``history``: ``kind`` "train" or "val",
    ``step``, ``train_loss``, ``val_loss``); x = step / ``steps_per_epoch``. ``references``:
    ``{label: nats/char}`` dashed lines, labelled at the right; ``marks``: ``{label: epoch}`` dotted
    vertical lines, e.g. the checkpoints a lesson samples. ``ymax`` cuts the axis there (the first
    steps' losses run off the top), else it shows everything.
    """
    fig = go.Figure()
    lines = (
        ("train", "train_loss", COLORS[0], "lines"),
        ("validation", "val_loss", COLORS[1], "lines+markers"),
    )
    values: list[float] = []
    for name, key, color, mode in lines:
        points = [
            (e["step"] / steps_per_epoch, e[key])
            for e in history
            if e.get("kind") == ("val" if key == "val_loss" else "train") and e.get(key) is not None
        ]
        x = style.round_sig([p[0] for p in points], as_list=True)
        y = [p[1] for p in points]
        values += [v for v in y if math.isfinite(v)]
        fig.add_scatter(
            x=x,
            y=style.round_sig(y, as_list=True),
            name=name,
            mode=mode,
            line=dict(color=color, width=1.5 if key == "train_loss" else 2.5),
            marker=dict(size=5),
            hovertemplate="epoch %{x:.2f}<br>%{y:.3f} nats/char<extra>" + name + "</extra>",
        )
        add_bits_twin(fig, x, y)
    add_references(fig, references or {}, "top right")  # at the right, clear of the early fall
    right = max((e["step"] for e in history), default=1) / steps_per_epoch
    for label, epoch in (marks or {}).items():  # a label on the side away from the nearer edge
        fig.add_vline(
            x=float(epoch),
            line=dict(dash="dot", color="black", width=1),
            annotation_text=label,
            annotation_position="top right" if epoch < right / 2 else "top left",
            annotation_font=dict(size=11),
        )
    values += [float(v) for v in (references or {}).values()]
    if values:  # fix both ranges so the right axis reads bits/char exactly
        lo, hi = min(values), max(values) if ymax is None else ymax
        pad = 0.04 * (hi - lo) or 0.05
        fig.layout.yaxis.range = [lo - pad, hi + pad]
        fig.layout.yaxis2 = bits_axis(
            "loss (bits/char)", range=[(lo - pad) / LN2, (hi + pad) / LN2]
        )
    fig.update_layout(
        title=title,
        template="plotly_white",
        height=420,
        xaxis=dict(title="epoch (passes over the training text)"),
        yaxis=dict(title="loss (nats/char)"),
        legend=dict(x=0.02, xanchor="left", y=0.02, yanchor="bottom"),
        margin=dict(l=70, r=70, t=60, b=50),
    )
    return fig
