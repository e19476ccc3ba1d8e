"""Worked solutions for lesson 06 (Interventions and experiments). Try each exercise first."""

from __future__ import annotations

import math

import numpy as np

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
