"""Training throughput, full preset (2x512, batch 128, seq 100) on CPU: lstmviz.train vs the tutorial way.

The tutorial way (as in the popular char-RNN tutorials): the text as a numpy array, batches cut in
numpy, inputs one-hot encoded in numpy (B, T, V) float32 and copied into torch every step, an
``nn.LSTM`` with input size V. lstmviz keeps the encoded text in torch, slices views of contiguous
streams and looks inputs up in an embedding. Both carry the detached state between batches and
clip gradients; Adam, same sizes. Steps are interleaved one by one; medians of per-step chars/s.

    python benchmarks/bench_training.py        # chars/s for both and the ratio
Target (issue 2): lstmviz at least as fast as the tutorial way.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch
from torch import nn

import lstmviz
from lstmviz.core.training import PRESETS

STEPS = 8  # steps each, interleaved one by one (plus one warm-up step each, not counted)
P = {**lstmviz.TrainConfig().to_dict(), **PRESETS["full"]}
B, T, H, L = P["batch_size"], P["seq_len"], P["hidden_size"], P["num_layers"]


def one_hot_encode(arr: np.ndarray, n_labels: int) -> np.ndarray:
    one_hot = np.zeros((arr.size, n_labels), dtype=np.float32)
    one_hot[np.arange(one_hot.shape[0]), arr.flatten()] = 1.0
    return one_hot.reshape((*arr.shape, n_labels))


def get_batches(arr: np.ndarray, batch_size: int, seq_length: int):
    n_batches = len(arr) // (batch_size * seq_length)
    arr = arr[: n_batches * batch_size * seq_length].reshape((batch_size, -1))
    for n in range(0, arr.shape[1], seq_length):
        x = arr[:, n : n + seq_length]
        y = np.zeros_like(x)
        y[:, :-1] = x[:, 1:]
        y[:, -1] = arr[:, (n + seq_length) % arr.shape[1]]
        yield x, y


class TutorialRNN(nn.Module):
    def __init__(self, n_chars: int):
        super().__init__()
        self.lstm = nn.LSTM(n_chars, H, L, dropout=P["dropout"], batch_first=True)
        self.dropout = nn.Dropout(P["dropout"])
        self.fc = nn.Linear(H, n_chars)

    def forward(self, x, hidden):
        out, hidden = self.lstm(x, hidden)
        return self.fc(self.dropout(out).contiguous().view(-1, H)), hidden


class Tutorial:
    """The tutorial training loop, one step per call."""

    def __init__(self, encoded: np.ndarray, n_chars: int):
        torch.manual_seed(0)
        self.n_chars = n_chars
        self.net = TutorialRNN(n_chars)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=P["lr"])
        self.h = (torch.zeros(L, B, H), torch.zeros(L, B, H))
        self.batches = get_batches(encoded, B, T)

    def step(self) -> float:
        """One training step; returns its chars/s."""
        t = time.perf_counter()
        x, y = next(self.batches)
        inputs, targets = torch.from_numpy(one_hot_encode(x, self.n_chars)), torch.from_numpy(y)
        self.h = tuple(each.data for each in self.h)
        self.net.zero_grad()
        output, self.h = self.net(inputs, self.h)
        loss = nn.functional.cross_entropy(output, targets.reshape(-1).long())
        loss.backward()
        nn.utils.clip_grad_norm_(self.net.parameters(), P["grad_clip"])
        self.opt.step()
        return B * T / (time.perf_counter() - t)


def main() -> None:
    text = lstmviz.load_corpus("shakespeare")
    vocab = lstmviz.Vocab.from_text(text)
    encoded = vocab.encode(text).numpy()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; full preset {L}x{H}, batch {B}, "
        f"seq {T}; {STEPS} steps each, interleaved one by one"
    )
    # Interleave step by step: lstmviz.train calls back after each of its steps; the callback runs
    # one tutorial step. lstmviz's time per step = time between callbacks (tutorial time excluded).
    tutorial = Tutorial(encoded, len(vocab))
    ours, theirs, last_end = [], [], [None]

    def interleave(entry: dict) -> None:
        if entry["kind"] != "train":
            return
        now = time.perf_counter()
        if last_end[0] is not None:
            ours.append(B * T / (now - last_end[0]))
        theirs.append(tutorial.step())
        last_end[0] = time.perf_counter()

    lstmviz.train(
        preset="full",
        text=text,
        steps=STEPS + 1,
        log_every=1,
        eval_every=10**9,
        val_chars=2_000,
        device="cpu",
        progress=False,
        callback=interleave,
    )
    theirs = theirs[1:]  # first tutorial step: warm-up
    a, b = statistics.median(ours), statistics.median(theirs)
    print(f"lstmviz.train : {a:8,.0f} chars/s  (steps: {', '.join(f'{x:,.0f}' for x in ours)})")
    print(f"tutorial way  : {b:8,.0f} chars/s  (steps: {', '.join(f'{x:,.0f}' for x in theirs)})")
    print(f"ratio         : {a / b:8.2f}x  (target: >= 1.0x)")


if __name__ == "__main__":
    main()
