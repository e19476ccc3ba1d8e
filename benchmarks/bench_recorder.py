"""Gate recorder speed, measured in one run: ratios of interleaved repeats (medians).

1. ``lstmviz.record`` vs a plain ``nn.LSTM`` forward: 2 layers x 512 units, 2,000 steps, batch 1
   (issue 3 target: <= 1.5x).
2. Generation (``lstmviz.generate`` on a 2x512 CharLSTM, one ``step`` per character) with vs
   without a ``GateRecorder`` (target: <= 25% more time per character).
3. Memory of a long recording: peak resident memory (VmHWM) a ``GateRecorder`` with its default
   400 MiB cap adds to a 2x512 generation of 5,000 and 25,000 characters (which fills the cap at
   17,066), each in a fresh process, beside the same generation unrecorded (target: growth <= the
   cap + 10 %, at the same chars/s as before). Linux only (reads /proc/self/status).

    python3 benchmarks/bench_recorder.py [--threads N] [--repeats R]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import torch

import lstmviz
from lstmviz.gates import _onednn

# ---- settings
HIDDEN, LAYERS, EMBED, STEPS, VOCAB = 512, 2, 64, 2000, 65
GEN_CHARS = 300
LONG_CHARS = (5_000, 25_000)  # part 3: recordings below and above the default cap

# Part 3's probe, run in a fresh process: peak RSS growth (MiB) and chars/s of one generation.
PROBE = """
import sys, time, torch
import lstmviz
torch.manual_seed(0)
vocab = lstmviz.Vocab.from_text("".join(chr(32 + i) for i in range(64)) + "\\n")
model = lstmviz.CharLSTM(len(vocab), 512, 2, embedding_dim=64).eval()

def peak_mib():
    lines = open("/proc/self/status").read().splitlines()
    return next(int(x.split()[1]) for x in lines if x.startswith("VmHWM")) / 1024

lstmviz.generate(model, vocab, "T", 300, seed=0)  # warm-up: everything but the recording
n, recorded = int(sys.argv[1]), sys.argv[2] == "1"
before, t = peak_mib(), time.perf_counter()
if recorded:
    with lstmviz.GateRecorder(model) as rec:
        lstmviz.generate(model, vocab, "T", n, seed=0)
    kept = rec.nbytes() / 2**20
else:
    lstmviz.generate(model, vocab, "T", n, seed=0)
    kept = 0.0
print(peak_mib() - before, n / (time.perf_counter() - t), kept)
"""


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{args.repeats} interleaved repeats, "
        f"load average {load:.1f} on {os.cpu_count()} cores"
    )
    if load > (os.cpu_count() or 1):
        print(
            "  (busy machine: with more runnable processes than cores, multi-threaded timings are "
            "dominated by OpenMP threads waiting on each other; try --threads 1)"
        )

    # 1. record vs plain forward; record's two routes to the gates
    #    (see lstmviz/gates/record_call.py)
    lstm = torch.nn.LSTM(EMBED, HIDDEN, LAYERS, batch_first=True).eval()
    x = torch.randn(1, STEPS, EMBED)

    def record_matmul():  # the route without oneDNN's workspace (float64, CUDA, other builds)
        _onednn.ENABLED = False  # the documented switch (LSTMVIZ_ONEDNN=0)
        try:
            lstmviz.record(lstm, x)
        finally:
            _onednn.ENABLED = True

    times = {"forward": [], "record": [], "matmul": []}
    with torch.no_grad():
        lstm(x), lstmviz.record(lstm, x), record_matmul()  # warm-up
        route = "oneDNN workspace" if _onednn.checked() else "matrix products"
        for _ in range(args.repeats):
            times["forward"].append(timed(lambda: lstm(x)))
            times["record"].append(timed(lambda: lstmviz.record(lstm, x)))
            times["matmul"].append(timed(record_matmul))
    ratios = [r / f for r, f in zip(times["record"], times["forward"], strict=True)]
    mm = [r / f for r, f in zip(times["matmul"], times["forward"], strict=True)]
    ms = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    print(
        f"record {LAYERS}x{HIDDEN}, {STEPS} steps, batch 1 ({route}): "
        f"forward {ms['forward']:.0f} ms, "
        f"record {ms['record']:.0f} ms, ratio {statistics.median(ratios):.2f}x "
        f"(min {min(ratios):.2f}, max {max(ratios):.2f}; target <= 1.5x)"
    )
    print(
        f"  matrix-product route alone: {ms['matmul']:.0f} ms, ratio {statistics.median(mm):.2f}x"
    )

    # 2. per-character generation with vs without a GateRecorder
    vocab = lstmviz.Vocab.from_text("".join(chr(32 + i) for i in range(VOCAB - 1)) + "\n")
    model = lstmviz.CharLSTM(len(vocab), HIDDEN, LAYERS, embedding_dim=EMBED).eval()

    def gen():
        lstmviz.generate(model, vocab, "T", GEN_CHARS, seed=0)

    def gen_recorded():
        with lstmviz.GateRecorder(model):
            lstmviz.generate(model, vocab, "T", GEN_CHARS, seed=0)

    gen(), gen_recorded()  # warm-up
    off, on, ratios = [], [], []
    for _ in range(args.repeats):
        a, b = timed(gen), timed(gen_recorded)
        off.append(a)
        on.append(b)
        ratios.append(b / a)
    print(
        f"generate {LAYERS}x{HIDDEN}: "
        f"{statistics.median(off) / GEN_CHARS * 1e6:.0f} us/char without, "
        f"{statistics.median(on) / GEN_CHARS * 1e6:.0f} us/char with a GateRecorder: "
        f"{(statistics.median(ratios) - 1) * 100:+.1f}% (target <= +25%)"
    )
    if sys.platform.startswith("linux"):
        long_recordings(args.threads or torch.get_num_threads())


def long_recordings(threads: int) -> None:
    """Part 3: peak RSS growth and chars/s of long generations, recorded (default cap) or not."""
    cap = lstmviz.gates.recorder.MAX_MB
    print(f"long recordings, {LAYERS}x{HIDDEN}, default cap {cap:.0f} MiB, fresh process each:")
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    for n in LONG_CHARS:
        rows = {}
        for recorded in (False, True):
            run = subprocess.run(
                [sys.executable, "-c", PROBE, str(n), str(int(recorded))],
                capture_output=True,
                text=True,
                env=env,
                check=True,
            )
            rows[recorded] = [float(v) for v in run.stdout.split()]
        (grew0, speed0, _), (grew, speed, kept) = rows[False], rows[True]
        print(
            f"  {n:>6,} chars: peak RSS +{grew:.0f} MiB recorded ({kept:.0f} MiB kept; "
            f"unrecorded +{grew0:.0f} MiB), {grew / cap:.2f}x the cap (target <= 1.10x); "
            f"{speed:,.0f} vs {speed0:,.0f} chars/s unrecorded ({speed / speed0:.2f}x)"
        )


if __name__ == "__main__":
    main()
