"""Speed of the influence measures on the shipped 2x512 Shakespeare model (float32, CPU).

1. ``lstmviz.influence`` (gradient), 500 characters of context: target <= 0.5 s, so the live
   explorer can colour the text behind a clicked character (issue 15); and one update of that
   explorer's influence view (``LiveGeneration.show_influence``: influence of the 500 characters
   behind a generated one, its figure, the FigureWidget update), with its ratio to ``influence``.
2. ``lstmviz.occlusion`` (replace by a space), 500 characters: all 500 occluded variants; and with
   ``max_context=100`` (the last 100 characters, the interactive use).
3. ``lstmviz.memory_span``: 50 positions, max_lag 100, 20 characters apart (what a lesson cell
   runs) and 200 apart (the text read before the windows dominates: it is read once, exactly).

Each line gives the median wall time, the process CPU time (with one thread and a busy machine,
CPU time is close to what a quiet machine's wall time would be), the target and PASS/FAIL on
the wall time.

    python3 benchmarks/bench_influence.py [--threads 1 2] [--repeats R]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

import lstmviz

# ---- settings
CONTEXT = 500  # characters behind the explained prediction
WINDOW = 100  # occlusion's max_context for the interactive case
POSITIONS, MAX_LAG = 50, 100  # memory_span
TARGETS = {  # seconds
    "influence": 0.5,
    "view": 1.0,
    "occlusion": 15.0,
    "occlusion_window": 1.0,
    "span_dense": 5.0,
    "span_spread": 10.0,
}


def timed(fn, repeats: int) -> tuple[float, float]:
    """Median (wall, process CPU) seconds of ``repeats`` calls."""
    walls, cpus = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch thread counts")
    ap.add_argument("--repeats", type=int, default=5, help="repeats of the fast measurements")
    args = ap.parse_args()

    ckpt = lstmviz.load_pretrained("shakespeare")
    model, vocab = ckpt.model.float(), ckpt.vocab
    _, text = lstmviz.split(lstmviz.load_corpus("shakespeare"))  # validation text
    p = CONTEXT - 1
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"torch {torch.__version__}, model {model.num_layers}x{model.hidden_size} float32, "
        f"load average {load:.1f} on {os.cpu_count()} cores"
    )
    if load > (os.cpu_count() or 1):
        print(
            "  (busy machine: wall times are inflated; CPU time with 1 thread is the better guide)"
        )

    from lstmviz.viz.widgets import LiveGeneration

    # the explorer: 500 characters of validation text as the prime, 20 generated after them
    live = LiveGeneration(model, vocab, prime=text[:CONTEXT], length=20)
    live.run()  # warms influence up (the first call pays one-time costs), as in a lesson
    chosen = len(live.text) - 1

    def view_update() -> None:
        live.influence_view.key = ""  # forget the cached result: time a fresh computation
        live.show_influence(chosen)

    dense = range(MAX_LAG, MAX_LAG + 20 * POSITIONS, 20)
    spread = range(MAX_LAG, MAX_LAG + 200 * POSITIONS, 200)
    cases = {
        "influence": (
            lambda: lstmviz.influence(model, vocab, text, p),
            args.repeats,
            f"influence, {CONTEXT} chars of context",
        ),
        "view": (
            view_update,
            args.repeats,
            f"explorer influence view update, {CONTEXT} chars",
        ),
        "occlusion": (
            lambda: lstmviz.occlusion(model, vocab, text, p),
            1,
            f"occlusion (replace by ' '), {CONTEXT} chars",
        ),
        "occlusion_window": (
            lambda: lstmviz.occlusion(model, vocab, text, p, max_context=WINDOW),
            args.repeats,
            f"occlusion, last {WINDOW} of {CONTEXT} chars",
        ),
        "span_dense": (
            lambda: lstmviz.memory_span(model, vocab, text, dense, MAX_LAG),
            1,
            f"memory_span, {POSITIONS} positions 20 apart, max_lag {MAX_LAG}",
        ),
        "span_spread": (
            lambda: lstmviz.memory_span(model, vocab, text, spread, MAX_LAG),
            1,
            f"memory_span, {POSITIONS} positions 200 apart, max_lag {MAX_LAG}",
        ),
    }
    for threads in args.threads:
        torch.set_num_threads(threads)
        lstmviz.influence(model, vocab, text, p)  # warm-up (oneDNN primitives)
        walls = {}
        for key, (fn, repeats, label) in cases.items():
            wall, cpu = timed(fn, repeats)
            walls[key] = wall
            target = TARGETS[key]
            verdict = "PASS" if wall <= target else "FAIL"
            print(
                f"{label}, {threads} thread{'s' * (threads > 1)}: {wall:.2f} s wall "
                f"({cpu:.2f} s CPU, median of {repeats}); target <= {target:g} s: {verdict}"
            )
            if key == "view":
                print(f"  view update / influence alone: {wall / walls['influence']:.2f}x")


if __name__ == "__main__":
    main()
