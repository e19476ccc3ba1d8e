"""Lesson 07's three matched models: an LSTM, a GRU and a vanilla RNN trained on the Python corpus.

    OMP_NUM_THREADS=1 python tools/results/span_models.py lstm   # and gru, rnn (one core each)

Same recipe for all three (``lstmviz.teaching.compare.run``: stateful truncated BPTT, Adam at a
constant learning rate, gradient norm clipped to 5, no dropout), the same budget (the same steps of
the same batches: STEPS x BATCH_SIZE x SEQ_LEN characters) and about the same number of parameters
as the shipped ``python`` model (851,040): each kind's hidden size is the one whose count is
closest. Writes ``span_<kind>.pt`` (float16 weights, about 1.7 MB) and ``span_<kind>.json``
(settings, parameters, seconds, losses) next to this file; lesson 07 loads them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from lstmviz import load_corpus
from lstmviz.core.vocab import Vocab
from lstmviz.teaching.compare import CharNet, run

# ---- settings
HERE = Path(__file__).resolve().parents[2] / "lstmviz/data/results"  # shipped with the package
CORPUS = "python"
TARGET_PARAMS = 851_040  # the shipped python model (2 x 256 LSTM, embedding 32)
NUM_LAYERS = 2
EMBEDDING_DIM = 32
STEPS = 3000  # the shipped python model's schedule length: 3000 x 32 x 64 = 6.1M characters
BATCH_SIZE = 32
SEQ_LEN = 64
LR = 2e-3  # constant; 4e-3 (the quick preset's peak) is too high for the vanilla RNN
EVAL_EVERY = 500
VAL_CHARS = 100_000
SEED = 0


def count(kind: str, hidden: int, vocab_size: int) -> int:
    """Parameters of a CharNet(kind) with this hidden size."""
    with torch.device("meta"):
        m = CharNet(kind, vocab_size, hidden, NUM_LAYERS, EMBEDDING_DIM)
    return sum(p.numel() for p in m.parameters())


def matched_hidden(kind: str, vocab_size: int) -> int:
    """The hidden size whose parameter count is closest to TARGET_PARAMS."""
    return min(range(8, 2048), key=lambda h: abs(count(kind, h, vocab_size) - TARGET_PARAMS))


def main(kind: str) -> None:
    text = load_corpus(CORPUS)
    vocab = Vocab.from_text(text)
    hidden = matched_hidden(kind, len(vocab))
    print(f"{kind}: hidden {hidden}, {count(kind, hidden, len(vocab)):,} parameters", flush=True)
    r = run(kind, text, hidden_size=hidden, num_layers=NUM_LAYERS, embedding_dim=EMBEDDING_DIM,
            steps=STEPS, batch_size=BATCH_SIZE, seq_len=SEQ_LEN, lr=LR, val_chars=VAL_CHARS,
            eval_every=EVAL_EVERY, seed=SEED, vocab=vocab)  # fmt: skip
    weights = {k: v.half() for k, v in r.model.state_dict().items()}
    torch.save({"kind": kind, "vocab": vocab.chars, "model": weights}, HERE / f"span_{kind}.pt")
    info = dict(r.settings, kind=kind, corpus=CORPUS, embedding_dim=EMBEDDING_DIM,
                params=r.params, seconds=round(r.seconds), val_chars=VAL_CHARS,
                val_steps=r.val_steps, val_loss=[round(v, 4) for v in r.val_loss],
                train_loss_last_100=round(sum(r.train_loss[-100:]) / 100, 4),
                command=f"OMP_NUM_THREADS=1 python {Path(__file__).name} {kind}")  # fmt: skip
    (HERE / f"span_{kind}.json").write_text(json.dumps(info, indent=1) + "\n")
    print(f"{kind}: val {r.final_val:.4f} nats/char after {r.seconds:.0f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
