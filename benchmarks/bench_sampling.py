"""Sampling speed: lstmviz.generate vs the tutorial loop, 2x512 char-LSTM, batch 1, on this CPU.

The tutorial loop (as in most char-RNN tutorials) feeds one character at a time through the
fused ``nn.LSTM`` forward and does top-k in numpy. lstmviz reads the prime once with the fused
kernel, then steps with ``lstm_step`` (two matrix products per layer) and samples in torch.

    python benchmarks/bench_sampling.py            # prints chars/s for both and the ratio
Targets (issue 2): lstmviz >= 1,000 chars/s and >= 2.5x the tutorial loop.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch

import lstmviz

HIDDEN, LAYERS, LENGTH, REPEATS, TOP_K = 512, 2, 400, 5, 5
PRIME = "ROMEO:\nWhat light through yonder window breaks?\n"


def tutorial_generate(model, vocab, prime, length, top_k, rng):
    """The common tutorial way: nn.LSTM forward per character, numpy softmax + top-k + choice."""
    chars, stoi = vocab.chars, vocab.stoi
    state = None
    with torch.no_grad():
        for ch in prime:  # the prime one character at a time too
            x = torch.tensor([[stoi[ch]]])
            out, state = model.lstm(model.embedding(x), state)
        out_text = []
        for _ in range(length):
            logits = model.head(out[:, -1])
            p = torch.softmax(logits, dim=-1).numpy().squeeze()
            top = np.argsort(p)[-top_k:]
            p_top = p[top] / p[top].sum()
            nxt = int(rng.choice(top, p=p_top))
            out_text.append(chars[nxt])
            x = torch.tensor([[nxt]])
            out, state = model.lstm(model.embedding(x), state)
    return "".join(out_text)


def main() -> None:
    text = lstmviz.load_corpus("shakespeare")
    vocab = lstmviz.Vocab.from_text(text)
    torch.manual_seed(0)
    model = lstmviz.CharLSTM(len(vocab), HIDDEN, LAYERS, 0.5).eval()
    rng = np.random.default_rng(0)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {HIDDEN}x{LAYERS} LSTM, "
        f"vocab {len(vocab)}, {LENGTH} chars x {REPEATS} repeats (interleaved)"
    )
    lstmviz.generate(model, vocab, PRIME, 50, top_k=TOP_K, seed=0)  # warm-up both paths
    tutorial_generate(model, vocab, PRIME, 50, TOP_K, rng)
    ours, theirs = [], []
    for r in range(REPEATS):
        t = time.perf_counter()
        lstmviz.generate(model, vocab, PRIME, LENGTH, top_k=TOP_K, seed=r)
        ours.append(LENGTH / (time.perf_counter() - t))
        t = time.perf_counter()
        tutorial_generate(model, vocab, PRIME, LENGTH, TOP_K, rng)
        theirs.append(LENGTH / (time.perf_counter() - t))
    a, b = statistics.median(ours), statistics.median(theirs)
    print(f"lstmviz.generate : {a:8,.0f} chars/s   (runs: {', '.join(f'{x:,.0f}' for x in ours)})")
    print(
        f"tutorial loop    : {b:8,.0f} chars/s   (runs: {', '.join(f'{x:,.0f}' for x in theirs)})"
    )
    print(f"ratio            : {a / b:8.2f}x   (targets: >= 1,000 chars/s and >= 2.5x)")


if __name__ == "__main__":
    main()
