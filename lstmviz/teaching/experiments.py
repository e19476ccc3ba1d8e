"""Lesson 06's measurements over many samples: clamp dose-response, and memory without Γ_f.

* ``sample_many``      -- n continuations of one prime at once, as one batch (fast on a CPU).
* ``speaker_fraction`` -- the fraction of a text's complete lines that are a speaker's name.
* ``mean_line_length`` -- the mean length of the complete, non-blank lines of some texts.
* ``dose_response``    -- that fraction under clamps of increasing strength, per seed.
* ``context_loss``     -- the loss when the model may read only the last k characters: how far
  back its memory reaches (with Γ_f clamped to 0, it still reaches past one step).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..core.errors import LstmvizError
from ..core.model import CharLSTM
from ..core.vocab import Vocab
from ..gates.features import speaker_line
from ..gates.interventions import Key, intervene

TEMPERATURE = 0.8  # the lessons' sampling temperature


@torch.no_grad()
def sample_many(
    model: CharLSTM,
    vocab: Vocab,
    prime: str,
    length: int,
    n: int,
    *,
    temperature: float = TEMPERATURE,
    seed: int = 0,
) -> list[str]:
    """``n`` continuations of ``prime``, ``length`` characters each, drawn as one batch (n, T)."""
    if n < 1 or length < 1:
        raise LstmvizError(f"need n >= 1 samples of length >= 1, got n={n}, length={length}")
    gen = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.eval()
    try:
        state = model.init_state(n)
        for i in vocab.encode(prime):  # step by step, so any clamp applies to the prime too
            logits, state = model.step(i.repeat(n), state)
        out = []
        for _ in range(length):
            nxt = torch.multinomial(torch.softmax(logits / temperature, -1), 1, generator=gen)[:, 0]
            out.append(nxt)
            logits, state = model.step(nxt, state)
    finally:
        model.train(was_training)
    chars = vocab.chars
    return ["".join(chars[j] for j in row) for row in torch.stack(out, 1).tolist()]


def speaker_fraction(text: str) -> float:
    """Share of the complete, non-blank lines of ``text`` that are a speaker's name (NaN: none)."""
    marks = speaker_line(text)
    flags, pos = [], 0
    for line in text.split("\n")[:-1]:  # the last piece has no newline yet: unfinished
        if line.strip():
            flags.append(bool(marks[pos]))
        pos += len(line) + 1
    return float(np.mean(flags)) if flags else float("nan")


def mean_line_length(texts: Sequence[str]) -> float:
    """Mean length in characters of the complete (newline-ended), non-blank lines of ``texts``."""
    lengths = [len(ln) for t in texts for ln in t.split("\n")[:-1] if ln.strip()]
    if not lengths:
        raise LstmvizError("no complete line in these texts; generate longer ones")
    return float(np.mean(lengths))


def dose_response(
    model: CharLSTM,
    vocab: Vocab,
    clamps_at: Callable[[float], Mapping[Key, float] | None],
    doses: Sequence[float],
    *,
    prime: str,
    length: int = 300,
    seeds: int = 5,
    per_seed: int = 8,
) -> dict[float, list[float]]:
    """Per dose, the speaker-name fraction for each seed (mean over ``per_seed`` samples).

    ``clamps_at(dose)`` gives the clamps for a dose (None: untouched). One batch per dose, all
    seeds in it; seed s is samples s*per_seed .. (s+1)*per_seed - 1, so seeds are independent.
    """
    out = {}
    for dose in doses:
        clamps = clamps_at(dose)
        if clamps:
            with intervene(model, clamps):
                texts = sample_many(model, vocab, prime, length, seeds * per_seed)
        else:
            texts = sample_many(model, vocab, prime, length, seeds * per_seed)
        fr = np.array([speaker_fraction(t) for t in texts]).reshape(seeds, per_seed)
        out[float(dose)] = np.nanmean(fr, axis=1).tolist()
    return out


@torch.no_grad()
def context_loss(model: CharLSTM, ids: Tensor, k: int, positions: np.ndarray) -> float:
    """Mean loss (nats) of predicting ids[p+1] from only ids[p-k+1..p], from a zero state.

    ids (N,), positions (P,) with p >= k - 1. If the loss stops falling as k grows, the model
    uses no more than k characters of context.
    """
    positions = np.asarray(positions)
    if k < 1 or positions.min() < k - 1 or positions.max() + 1 >= len(ids):
        raise LstmvizError(f"each position needs {k} characters before it and one after")
    was_training = model.training
    model.eval()
    try:
        x = torch.stack([ids[p - k + 1 : p + 1] for p in positions])
        logits, _ = model(x)
    finally:
        model.train(was_training)
    return F.cross_entropy(logits[:, -1], ids[positions + 1]).item()
