"""Figure payload and update time at scale: 10,000 characters of trace from a 2x512 CharLSTM.

Targets (issue 4): the figure sent to the browser <= 5 MB (len(fig.to_json())), an update <= 1 s.
Prints, per figure / explorer action, the median time over REPEATS runs, the payload, and both as
a fraction of the budget (<= 1.00 passes). Untrained weights: sizes and times do not depend on
training.

    python3 benchmarks/bench_plots.py
"""

from __future__ import annotations

import statistics
import time

import torch

import lstmviz
from lstmviz.viz import plots, widgets

# ---- settings
CHARS = 10_000
HIDDEN, LAYERS = 512, 2
REPEATS = 3
PAYLOAD_BUDGET = 5_000_000  # bytes
UPDATE_BUDGET = 1.0  # seconds


def timed(fn, repeats: int = REPEATS):
    """(median seconds, last result) of ``repeats`` calls of ``fn``."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    torch.manual_seed(0)
    text = lstmviz.load_corpus("shakespeare")[20_000 : 20_000 + CHARS]
    vocab = lstmviz.Vocab.from_text(lstmviz.load_corpus("shakespeare")[:200_000] + text)
    model = lstmviz.CharLSTM(len(vocab), HIDDEN, LAYERS).eval()
    t_rec, trace = timed(lambda: lstmviz.record_text(model, vocab, text), 1)
    print(
        f"record: {CHARS} characters, {LAYERS}x{HIDDEN} LSTM: {t_rec:.2f} s "
        "(not part of the budget)\n"
    )

    rows = []

    def figure(label, make):
        t, fig = timed(make)
        rows.append((label, t, len(fig.to_json())))

    figure(
        "heatmap c, top-24 units, all 10k chars (binned to 1000 cols)",
        lambda: plots.heatmap(trace, text),
    )
    figure(
        "heatmap c, all 512 units, 1000-char window",
        lambda: plots.heatmap(trace, text, units=range(HIDDEN), start=4000, stop=5000),
    )
    figure(
        "heatmap f, all 512 units, all 10k chars (binned)",
        lambda: plots.heatmap(trace, text, name="f", units=range(HIDDEN)),
    )
    figure(
        "coloured text, 1 unit, 3000 chars (its cap)",
        lambda: plots.coloured_text(trace, text, units=[7]),
    )
    figure(
        "coloured text, 4 units, 3000 chars",
        lambda: plots.coloured_text(trace, text, units=[1, 2, 3, 4]),
    )
    figure("saturation, 3 gates x 2 layers x 512 units", lambda: plots.saturation(trace))
    figure("cell ledger, 400 chars", lambda: plots.cell_ledger(trace, text, unit=7, start=5000))

    # explorer updates: a control moves -> figures rebuilt and pushed into the FigureWidgets
    ex = widgets.CellExplorer(trace, text, window=400)
    units = iter(range(1, 100))
    t, _ = timed(lambda: setattr(ex.w_unit, "value", next(units)))
    rows.append(
        ("cell explorer: move the unit slider", t, sum(len(f.to_json()) for f in ex.figures()))
    )
    names = iter(["f", "i", "o"])
    t, _ = timed(lambda: setattr(ex.w_name, "value", next(names)))
    rows.append(("cell explorer: switch gate", t, sum(len(f.to_json()) for f in ex.figures())))
    starts = iter([1000, 5000, 9000])
    t, _ = timed(lambda: setattr(ex.w_start, "value", next(starts)))
    rows.append(("cell explorer: move the window", t, sum(len(f.to_json()) for f in ex.figures())))
    t, _ = timed(lambda: ex.match(5000, 5020))
    rows.append(
        ("cell explorer: match a span (10k x 512)", t, sum(len(f.to_json()) for f in ex.figures()))
    )
    t, _ = timed(lambda: ex.rank())
    rows.append(
        (
            "cell explorer: rank by 9 features (10k x 512)",
            t,
            sum(len(f.to_json()) for f in ex.figures()),
        )
    )

    live = widgets.LiveGeneration(model, vocab, prime=text[:200], length=300, refresh=10.0)
    live.run()
    t, _ = timed(live.draw)
    rows.append(
        (
            "live generation: one redraw (3 figures + text)",
            t,
            sum(len(f.to_json()) for f in live.figures()),
        )
    )

    print(f"{'figure / action':58s} {'time':>8s} {'payload':>10s} {'time/1s':>8s} {'MB/5MB':>8s}")
    worst_t = worst_p = 0.0
    for label, t, size in rows:
        worst_t, worst_p = max(worst_t, t / UPDATE_BUDGET), max(worst_p, size / PAYLOAD_BUDGET)
        print(
            f"{label:58s} {t:7.3f}s {size / 1e6:8.2f}MB "
            f"{t / UPDATE_BUDGET:8.2f} {size / PAYLOAD_BUDGET:8.2f}"
        )
    print(
        f"\nworst: time {worst_t:.2f} of budget, payload {worst_p:.2f} of budget "
        f"({'OK' if max(worst_t, worst_p) <= 1 else 'OVER BUDGET'})"
    )


if __name__ == "__main__":
    main()
