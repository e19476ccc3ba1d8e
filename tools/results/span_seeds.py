"""Lesson 07's small multi-seed check: is the span ranking of LSTM, GRU and RNN a property of the
architecture, or of one training run? Too slow to repeat inside the lesson, so shipped.

The three full-size models (``span_models.py``) are one training run each. Here the same recipe
runs at a small scale (about 68,000 parameters per model instead of 851,000; 600 steps of
32 x 64 characters) for 5 seeds per kind, and each trained model's memory span is measured as in
the lesson: the share of gradient influence beyond lag ``LAG`` (``lstmviz.span_shares``, lags 0 to
``MAX_LAG``), averaged over ``POSITIONS`` predictions of the validation text. Regenerate (a few
minutes on one core):

    PYTHONPATH=. OMP_NUM_THREADS=1 python tools/results/span_seeds.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

import lstmviz
from lstmviz.core.vocab import Vocab
from lstmviz.teaching.compare import run

sys.path.insert(0, str(Path(__file__).resolve().parent))
from span_models import count  # noqa: E402  (the parameter count of a CharNet)

# ---- settings
OUT = Path(__file__).resolve().parents[2] / "lstmviz/data/results/07_span_seeds.json"
CORPUS = "python"
TARGET_PARAMS = 68_000  # a small LSTM (2 x 64), and the GRU and RNN closest to it
NUM_LAYERS, EMBEDDING_DIM = 2, 32
STEPS, BATCH_SIZE, SEQ_LEN, LR = 600, 32, 64, 2e-3
SEEDS = range(5)
MAX_LAG, LAG = 100, 20  # influence measured over lags 0..MAX_LAG; the summary: share beyond LAG
POSITIONS = range(MAX_LAG + 100, 20_100, 100)  # 200 predictions of the validation text


def main() -> None:
    torch.set_num_threads(1)
    text = lstmviz.load_corpus(CORPUS)
    val = lstmviz.split(text)[1]
    vocab = Vocab.from_text(text)
    out = {"settings": dict(target_params=TARGET_PARAMS, num_layers=NUM_LAYERS,
                            embedding_dim=EMBEDDING_DIM, steps=STEPS, batch_size=BATCH_SIZE,
                            seq_len=SEQ_LEN, lr=LR, max_lag=MAX_LAG, lag=LAG,
                            positions=len(POSITIONS), corpus=CORPUS),
           "runs": []}  # fmt: skip
    for kind in ("lstm", "gru", "rnn"):
        hidden = min(range(8, 512), key=lambda h: abs(count(kind, h, len(vocab)) - TARGET_PARAMS))
        for seed in SEEDS:
            r = run(kind, text, hidden_size=hidden, num_layers=NUM_LAYERS,
                    embedding_dim=EMBEDDING_DIM, steps=STEPS, batch_size=BATCH_SIZE,
                    seq_len=SEQ_LEN, lr=LR, seed=seed, vocab=vocab)  # fmt: skip
            rows = lstmviz.span_shares(r.model, vocab, val, POSITIONS, MAX_LAG)
            beyond = float(rows[:, LAG + 1 :].sum(1).mean())
            out["runs"].append(dict(kind=kind, seed=seed, hidden_size=hidden, params=r.params,
                                    val_loss=round(r.final_val, 4), beyond=round(beyond, 5),
                                    seconds=round(r.seconds, 1)))  # fmt: skip
            print(out["runs"][-1], flush=True)
    OUT.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
