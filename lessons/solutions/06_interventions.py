"""Worked solutions for lesson 06 (Interventions and experiments). Try each exercise first."""

from __future__ import annotations

import math

import numpy as np
import torch

import lstmviz
from lstmviz.gates import analysis, features
from lstmviz.teaching import experiments


def exercise_1(half_life: float = 10.0) -> float:
    """The forget bias b with σ(b) ** half_life = 1/2: the gate p, then b = ln(p / (1 - p))."""
    p = 0.5 ** (1 / half_life)
    return math.log(p / (1 - p))


def exercise_2(blocks: int, n_x: int, n_a: int) -> int:
    """Recurrent parameters: per block W_ih (n_a x n_x), W_hh (n_a x n_a) and two biases (n_a)."""
    return blocks * (n_a * n_x + n_a * n_a + 2 * n_a)


def exercise_3(
    model, vocab, trace, text: str, prime: str = "ROMEO\nI ", length: int = 300, n: int = 40
) -> tuple[int, int, float]:
    """Find the position-in-line cell, clamp it to its late-in-line value, compare line lengths."""
    layer, unit, r = features.best_cell(trace, text, "position in line")
    values = analysis.activations(trace, "c", layer)[:, unit]
    late = float(np.quantile(values, 0.01 if r < 0 else 0.99))  # where long lines take it
    untouched = experiments.sample_many(model, vocab, prime, length, n, seed=0)
    with lstmviz.intervene(model, {("c", layer, unit): late}):
        clamped = experiments.sample_many(model, vocab, prime, length, n, seed=0)
    ratio = experiments.mean_line_length(clamped) / experiments.mean_line_length(untouched)
    return layer, unit, ratio


@torch.no_grad()
def exercise_4(
    model, vocab, prime: str, layer: int, unit: int, value: float, next_char: str = "w"
) -> torch.Tensor:
    """Clamp memory cell ``unit`` of the top layer to ``value`` for the prime's last step, by hand.

    The clamped step computed a⟨t⟩ = Γ_o ∗ tanh(c⟨t⟩) from the *unclamped* c⟨t⟩, so the state
    needs both: c⟨t⟩ = value and a⟨t⟩ = Γ_o ∗ tanh(value), with that step's Γ_o (recorded).
    This is all for a top-layer cell; in a lower layer the layers above have read a⟨t⟩ already.
    Returns the logits (1, V) of the step that reads ``next_char``.
    """
    if layer % model.num_layers != model.num_layers - 1:
        raise ValueError("an edit of the state clamps a top-layer cell only")
    state = model.init_state()
    for ch in prime[:-1]:
        _, state = model.step(vocab.encode(ch), state)
    with lstmviz.GateRecorder(model) as rec:
        _, state = model.step(vocab.encode(prime[-1]), state)
    gamma_o = rec.trace["o", layer][0, -1, unit]
    h, c = state[0].clone(), state[1].clone()
    c[layer, 0, unit] = value
    h[layer, 0, unit] = gamma_o * torch.tanh(torch.tensor(value))
    logits, _ = model.step(vocab.encode(next_char), (h, c))
    return logits
