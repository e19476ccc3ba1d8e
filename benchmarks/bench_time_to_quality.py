"""Time to quality on this machine, in one run: how fast the full model reaches a validation loss.

1. chars/s of a full-preset training step (2x512, dropout 0.5, batch 64 x 100) in float32 and
   bf16, steps interleaved one by one (``bench_training.precision_throughput``).
2. The same model trained for ``--budget`` characters in each precision (same seed, same batches,
   the seed run's recipe: Adam 2e-3 -> 2e-4 cosine over the budget, state resets 2 %), validated on
   the first ``VAL_CHARS`` characters of the validation text after each quarter of the budget:
   the loss and the wall time at each, then how long each precision took to reach the loss that
   both reach (the higher final loss). Compare the next change to training against these numbers.

    OMP_NUM_THREADS=2 python benchmarks/bench_time_to_quality.py [--budget 4000000]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from bench_training import precision_throughput  # same folder: python benchmarks/<this file>

import lstmviz

BATCH, SEQ = 64, 100  # the seed run's batch (README model card)
VAL_CHARS = 100_000  # validation characters scored at each mark (the whole part: 495,558)
MARKS = 4  # validations per run: after each quarter of the budget


def run(text: str, precision: str, steps: int) -> list[tuple[int, float, float]]:
    """(characters trained, validation loss, seconds of training) at each quarter of the run."""
    marks, start = [], time.perf_counter()

    def mark(entry: dict) -> None:
        if entry["kind"] == "val":
            marks.append((entry["step"] * BATCH * SEQ, entry["val_loss"], entry["elapsed"]))

    lstmviz.train(
        preset="full",
        text=text,
        batch_size=BATCH,
        seq_len=SEQ,
        steps=steps,
        eval_every=steps // MARKS,
        val_chars=VAL_CHARS,
        sample_len=0,
        device="cpu",
        precision=precision,
        seed=0,
        progress=False,
        callback=mark,
    )
    print(f"  {precision}: {time.perf_counter() - start:.0f} s in all")
    return marks


def seconds_to_reach(marks: list[tuple[int, float, float]], loss: float) -> float:
    """Wall seconds at which the validation loss first fell to ``loss`` (linear between marks)."""
    prev = (0, float("inf"), 0.0)
    for chars, val, seconds in marks:
        if val <= loss:
            if not np.isfinite(prev[1]):
                return seconds
            return prev[2] + (seconds - prev[2]) * (prev[1] - loss) / (prev[1] - val)
        prev = (chars, val, seconds)
    return float("inf")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=4e6, help="characters per training run")
    args = ap.parse_args()
    steps = max(MARKS, int(args.budget) // (BATCH * SEQ) // MARKS * MARKS)
    text = lstmviz.load_corpus("shakespeare")
    vocab = lstmviz.Vocab.from_text(text)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {load:.1f} "
        f"on {os.cpu_count()} cores; --precision auto here: "
        f"{lstmviz.core.training.resolve_precision('auto', 'cpu')}"
    )
    precision_throughput(text, vocab)

    print(f"\ntime to quality: {steps} steps of {BATCH} x {SEQ} = {steps * BATCH * SEQ:,} chars")
    runs = {p: run(text, p, steps) for p in ("fp32", "bf16")}
    print(f"{'characters':>12} | {'fp32 loss':>9} {'seconds':>8} | {'bf16 loss':>9} {'seconds':>8}")
    for (chars, v32, s32), (_, v16, s16) in zip(runs["fp32"], runs["bf16"], strict=True):
        print(f"{chars:>12,} | {v32:9.4f} {s32:8.0f} | {v16:9.4f} {s16:8.0f}")
    # the loss both runs reach (the higher of the two final losses): bf16's rounding can leave it
    # a little above float32 at equal characters, so float32's own final may be out of its reach
    target = max(marks[-1][1] for marks in runs.values())
    t32, t16 = (seconds_to_reach(runs[p], target) for p in ("fp32", "bf16"))
    print(
        f"to reach {target:.4f} nats/char, the loss both reach (on {VAL_CHARS:,} validation "
        f"chars): fp32 {t32:.0f} s, bf16 {t16:.0f} s -> bf16 reaches it {t32 / t16:.2f}x sooner"
    )


if __name__ == "__main__":
    main()
