"""Lesson 04's quick-preset run over 5 seeds: too slow to repeat inside the lesson, so shipped.

The lesson trains seed 0 itself and checks it against seed 0 here. Each seed runs exactly the
lesson's protocol (fp32 on a CPU; one epoch at constant lr, then resumed with the cosine decay up
to 4 epochs; on the first 120,000 characters of the plays) and records the validation loss after
every epoch. Regenerate (about 1 minute per seed on one idle core):

    PYTHONPATH=. OMP_NUM_THREADS=1 python tools/results/quick_seeds.py
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import torch

import lstmviz
from lstmviz.core.training import streams

SEEDS = range(5)
EPOCHS = 4
CHARS = 120_000
OUT = Path(__file__).resolve().parents[2] / "lstmviz/data/results/04_quick_seeds.json"


def run(seed: int, text: str) -> dict:
    """One seed of the lesson's protocol -> {"seed", "val_loss" per epoch, "seconds"}."""
    vocab = lstmviz.Vocab.from_text(text)
    config = lstmviz.TrainConfig.from_preset(
        "quick", val_chars=200_000, precision="fp32", device="cpu", seed=seed
    )
    epoch = streams(vocab.encode(lstmviz.split(text)[0]), config.batch_size)[0].shape[1]
    epoch //= config.seq_len
    config = config.replace(eval_every=epoch)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as run_dir:
        lstmviz.train(config, text=text, steps=epoch, min_lr=config.lr, out=run_dir, progress=False)
        result = lstmviz.train(
            config,
            text=text,
            steps=EPOCHS * epoch,
            min_lr=config.min_lr,
            out=run_dir,
            resume=True,
            progress=False,
        )
    val = [h["val_loss"] for h in result.history if h["kind"] == "val"]
    return {
        "seed": seed,
        "steps_per_epoch": epoch,
        "val_loss": val,
        "seconds": round(time.perf_counter() - t0, 1),
    }


if __name__ == "__main__":
    torch.set_num_threads(1)
    text = lstmviz.load_corpus("shakespeare")[:CHARS]
    runs = []
    for seed in SEEDS:
        runs.append(run(seed, text))
        print(runs[-1], flush=True)
    OUT.write_text(
        json.dumps(
            {
                "preset": "quick",
                "chars": CHARS,
                "epochs": EPOCHS,
                "precision": "fp32",
                "torch": torch.__version__,
                "runs": runs,
            },
            indent=1,
        )
        + "\n"
    )
    print("wrote", OUT)
