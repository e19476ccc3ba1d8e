"""Lessons 05 and 06: measurements over many passages and samples.

Lesson 05 (inside the gates):

* ``forget_saturation`` / ``in_middle`` -- how often a layer's gates are closed, open or neither:
  the numbers behind Karpathy, Johnson & Fei-Fei's (2015) three saturation findings.

Lesson 06 (interventions): clamp dose-response, and memory without Γ_f.

* ``sample_many``      -- n continuations of one prime at once, as one batch (fast on a CPU).
* ``speaker_fraction`` -- the fraction of a text's complete lines that are a speaker's name.
* ``mean_line_length`` -- the mean length of the complete, non-blank lines of some texts.
* ``dose_response``    -- that fraction under clamps of increasing strength, per seed.
* ``context_loss``     -- the loss when the model may read only the last k characters: how far
  back its memory reaches (with Γ_f clamped to 0, it still reaches past one step);
  ``context_losses`` gives it per position, for paired standard errors.
* ``line_medians``     -- each cell's median on verse and on speaker-name lines: the doses' ends.
* ``first_symbol_gradient`` / ``memory_gauge`` -- how much of the loss's gradient reaches the
  first symbol of the remember-the-first-symbol task, and a network's memory setting (mean Γ_f of
  an LSTM, ρ(W_aa) of an RNN): the forget-bias experiment, at the start and the end of training.
* ``logits_after``     -- step through a prime one character at a time, clamp (or edit the state)
  at its last character only, and return the next character's logits: a clamp by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..core.cell import param
from ..core.errors import LstmvizError
from ..core.model import CharLSTM
from ..core.vocab import Vocab
from ..gates.analysis import activations, saturation_fractions
from ..gates.features import speaker_line
from ..gates.interventions import Key, intervene
from ..gates.record_call import record
from .gradients import spectral_radius
from .tasks import FirstSymbolTask, SequenceClassifier

TEMPERATURE = 0.8  # the lessons' sampling temperature


def forget_saturation(trace, layer: int) -> tuple[float, float]:
    """Fractions of a layer's units whose Γ_f is < 0.1 (left) / > 0.9 (right) on most steps."""
    left, right = saturation_fractions(activations(trace, "f", layer))
    return float((left > 0.5).mean()), float((right > 0.5).mean())


def in_middle(trace, layer: int, names: str = "ifo") -> float:
    """Fraction of a layer's gate values (``names``: Γ_u, Γ_f, Γ_o) between 0.1 and 0.9."""
    parts = [saturation_fractions(activations(trace, n, layer)) for n in names]
    return float(np.mean([1 - left.mean() - right.mean() for left, right in parts]))


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
    logits, targets = _from_context(model, ids, k, positions)
    return F.cross_entropy(logits, targets).item()


@torch.no_grad()
def context_losses(model: CharLSTM, ids: Tensor, k: int, positions: np.ndarray) -> np.ndarray:
    """``context_loss`` at each position: ids (N,), positions (P,) -> losses (P,) in nats.

    Two values of k at the same positions are paired: the standard error of their difference is
    that of the per-position differences.
    """
    logits, targets = _from_context(model, ids, k, positions)
    return F.cross_entropy(logits, targets, reduction="none").double().numpy()


def _from_context(
    model: CharLSTM, ids: Tensor, k: int, positions: np.ndarray
) -> tuple[Tensor, Tensor]:
    """(logits (P, V) after reading only ids[p-k+1..p] from a zero state, targets ids[p+1] (P,))."""
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
    return logits[:, -1], ids[positions + 1]


def line_medians(acts: np.ndarray, text: str) -> tuple[np.ndarray, np.ndarray]:
    """Each unit's median on verse and on speaker-name lines: acts (T, H), text -> ((H,), (H,)).

    "Verse" is every character not on a speaker-name line (``features.speaker_line``).
    """
    acts = np.asarray(acts)
    if acts.ndim != 2 or acts.shape[0] != len(text):
        raise LstmvizError(
            f"need activations (T, H) with one row per character; got {acts.shape} for "
            f"{len(text)} characters"
        )
    names = speaker_line(text) > 0
    if names.all() or not names.any():
        raise LstmvizError("the text needs both speaker-name lines and other lines")
    return np.median(acts[~names], axis=0), np.median(acts[names], axis=0)


def first_symbol_gradient(model: SequenceClassifier, task: FirstSymbolTask, n: int = 512) -> float:
    """‖∂L/∂x⟨1⟩‖ / ‖∂L/∂x⟨T⟩‖ over ``n`` fixed sequences of ``task``: the first symbol's share.

    L is the task's loss (cross-entropy on the last step); x⟨1⟩ is the symbol to remember, x⟨T⟩
    the last distractor. A tiny ratio: the gradient hardly hears about the first symbol.
    """
    was_training = model.training
    model.eval()
    try:
        x, y = task.batch(n, torch.Generator().manual_seed(12_345))
        x.requires_grad_(True)
        (grad,) = torch.autograd.grad(F.cross_entropy(model(x), y), x)
    finally:
        model.train(was_training)
    norms = grad.norm(dim=(0, 2))  # one norm per time step
    return float(norms[0] / norms[-1])


@torch.no_grad()
def memory_gauge(model: SequenceClassifier, task: FirstSymbolTask, n: int = 512) -> float:
    """An LSTM's mean Γ_f over ``n`` sequences of ``task``; an RNN's spectral radius ρ(W_aa)."""
    if not isinstance(model.rnn, nn.LSTM):  # model.kind == "rnn"
        return spectral_radius(param(model.rnn, "weight_hh_l0"))
    x, _ = task.batch(n, torch.Generator().manual_seed(12_345))
    return float(record(model.rnn, x)["f", 0].mean())


@torch.no_grad()
def logits_after(
    model: CharLSTM,
    vocab: Vocab,
    prime: str,
    next_char: str,
    *,
    clamps: Mapping[Key, float] | None = None,
    edit: Callable[[tuple[Tensor, Tensor]], tuple[Tensor, Tensor]] | None = None,
) -> Tensor:
    """Read ``prime`` with ``model.step``, then ``next_char``: that step's logits (1, V).

    ``clamps`` (as for ``intervene``) hold during the prime's last character only; ``edit(state)
    -> state`` changes the state (h, c) (each (L, 1, H)) after that character.
    """
    if len(prime) < 1 or len(next_char) != 1:
        raise LstmvizError("need a prime of at least one character and one next character")
    was_training = model.training
    model.eval()
    try:
        state = model.init_state(1)
        for ch in prime[:-1]:
            _, state = model.step(vocab.encode(ch), state)
        if clamps:
            with intervene(model, clamps):
                _, state = model.step(vocab.encode(prime[-1]), state)
        else:
            _, state = model.step(vocab.encode(prime[-1]), state)
        if edit is not None:
            state = edit(state)
        logits, _ = model.step(vocab.encode(next_char), state)
    finally:
        model.train(was_training)
    return logits


def overwrite_cell(layer: int, unit: int, value: float):
    """An ``edit`` for ``logits_after`` that sets c of one unit to ``value`` and nothing else."""

    def edit(state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        h, c = state[0].clone(), state[1].clone()
        c[layer, :, unit] = value
        return h, c

    return edit
