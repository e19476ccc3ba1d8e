"""Training speed and precision on this CPU, in one run (about 5 minutes on 2 cores):

1. lstmviz.train vs the tutorial way, full preset (2x512, batch 128, seq 100), both float32.
   The tutorial way (as in the popular char-RNN tutorials): the text as a numpy array, batches cut
   in numpy, inputs one-hot encoded in numpy (B, T, V) float32 and copied into torch every step, an
   ``nn.LSTM`` with input size V. lstmviz keeps the encoded text in torch, slices views of
   contiguous streams and looks inputs up in an embedding. Both carry the detached state between
   batches and clip gradients; Adam, same sizes. Target (issue 2): lstmviz at least as fast.
2. float32 vs bfloat16 autocast: chars/s of ``train_step`` on the full preset's model at batch
   64 x 100, the two precisions' steps interleaved one by one (medians of per-step chars/s).
3. The quality price of bf16: validation loss after the same ``QUICK_STEPS`` steps of the quick
   preset in float32 and in bf16. ``--precision auto`` chooses bf16 only where it is within
   ``MAX_LOSS_GAP`` nats/char of float32 (the result is printed as PASS / FAIL).

    nice python benchmarks/bench_training.py
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch
from torch import nn

import lstmviz
from lstmviz.core.training import (
    PRESETS,
    autocast_for,
    native_bf16,
    resolve_precision,
    streams,
    train_step,
)

STEPS = 8  # tutorial comparison: steps each, interleaved one by one (plus one warm-up step each)
PRECISION_STEPS = 6  # fp32 vs bf16 throughput: steps each, interleaved (plus one warm-up each)
PRECISION_BATCH = 64  # streams per batch in the throughput comparison (seq_len 100: the preset's)
QUICK_STEPS = 300  # quick-preset steps trained in each precision for the loss comparison
MAX_LOSS_GAP = 0.03  # nats/char: bf16 may cost at most this much validation loss, else auto = fp32
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


def engine_vs_tutorial(text: str, vocab: lstmviz.Vocab) -> None:
    """Part 1: lstmviz.train (float32) vs the tutorial loop, steps interleaved one by one."""
    # lstmviz.train calls back after each of its steps; the callback runs one tutorial step.
    # lstmviz's time per step = time between callbacks (tutorial time excluded).
    tutorial = Tutorial(vocab.encode(text).numpy(), len(vocab))
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
        precision="fp32",
        progress=False,
        callback=interleave,
    )
    theirs = theirs[1:]  # first tutorial step: warm-up
    a, b = statistics.median(ours), statistics.median(theirs)
    print(f"\n1. full preset {L}x{H}, batch {B} x {T}, float32; {STEPS} steps each, interleaved")
    print(f"lstmviz.train : {a:8,.0f} chars/s  (steps: {', '.join(f'{x:,.0f}' for x in ours)})")
    print(f"tutorial way  : {b:8,.0f} chars/s  (steps: {', '.join(f'{x:,.0f}' for x in theirs)})")
    print(f"ratio         : {a / b:8.2f}x  (target: >= 1.0x)")


def precision_throughput(text: str, vocab: lstmviz.Vocab) -> None:
    """Part 2: train_step chars/s in fp32 and bf16 on the full preset's model, interleaved."""
    x, y = streams(vocab.encode(text), PRECISION_BATCH)
    runs = {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        model = lstmviz.CharLSTM(len(vocab), H, L, P["dropout"], P["embedding_dim"])
        runs[precision] = dict(
            model=model,
            opt=torch.optim.Adam(model.parameters(), lr=P["lr"]),
            autocast=autocast_for(precision, "cpu")[0],
            state=None,
            speeds=[],
        )
    for k in range(PRECISION_STEPS + 1):  # step 0 of each: warm-up, not counted
        xb, yb = x[:, k * T : (k + 1) * T], y[:, k * T : (k + 1) * T]
        for r in runs.values():
            t = time.perf_counter()
            _, r["state"], _ = train_step(
                r["model"], r["opt"], xb, yb, r["state"], grad_clip=5.0, autocast=r["autocast"]
            )
            if k:
                r["speeds"].append(xb.numel() / (time.perf_counter() - t))
    fp32, bf16 = (statistics.median(runs[p]["speeds"]) for p in ("fp32", "bf16"))
    print(f"\n2. train_step, full preset {L}x{H}, batch {PRECISION_BATCH} x {T}; ", end="")
    print(f"{PRECISION_STEPS} steps each, interleaved")
    for p in ("fp32", "bf16"):
        speeds = ", ".join(f"{s:,.0f}" for s in runs[p]["speeds"])
        print(f"{p:<5}: {statistics.median(runs[p]['speeds']):8,.0f} chars/s  (steps: {speeds})")
    print(f"bf16 / fp32: {bf16 / fp32:.2f}x")


def precision_quality(text: str) -> None:
    """Part 3: validation loss after QUICK_STEPS quick-preset steps, fp32 vs bf16."""
    print(f"\n3. quick preset, {QUICK_STEPS} steps in each precision (same seed, same batches)")
    results = {}
    for precision in ("fp32", "bf16"):
        t = time.perf_counter()
        r = lstmviz.train(
            preset="quick",
            text=text,
            steps=QUICK_STEPS,
            eval_every=QUICK_STEPS,
            device="cpu",
            precision=precision,
            progress=False,
        )
        seconds = time.perf_counter() - t
        results[precision] = r.val_loss
        print(f"{precision:<5}: val {r.val_loss:.4f} nats/char, {seconds:.0f} s")
    gap = results["bf16"] - results["fp32"]
    verdict = "PASS: auto may choose bf16" if abs(gap) <= MAX_LOSS_GAP else "FAIL: auto must not"
    print(f"bf16 - fp32: {gap:+.4f} nats/char (rule: |gap| <= {MAX_LOSS_GAP}) -> {verdict}")


def main() -> None:
    text = lstmviz.load_corpus("shakespeare")
    vocab = lstmviz.Vocab.from_text(text)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; CPU native bf16: ", end=""
    )
    print(f"{native_bf16('cpu')}, --precision auto here: {resolve_precision('auto', 'cpu')}")
    engine_vs_tutorial(text, vocab)
    precision_throughput(text, vocab)
    precision_quality(text)


if __name__ == "__main__":
    main()
