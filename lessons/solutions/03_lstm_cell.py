"""Worked solutions to lesson 03's exercises (tested in tests/test_exercises.py)."""

from __future__ import annotations

import math


def exercise_1(H: int) -> slice:
    """Γ_f's rows in PyTorch's packed LSTM weights and biases: gate order i, f, g, o."""
    return slice(H, 2 * H)


def exercise_2() -> tuple[float, float]:
    """(Γ_u, Γ_f) that keep the cell unchanged: write nothing, forget nothing."""
    return 0.0, 1.0


def exercise_3(forget_bias: float = 1.0, steps: int = 10) -> float:
    """The fraction of the cell gradient left after ``steps`` steps along the cell path alone:
    each step multiplies it by Γ_f = σ(b_f)."""
    return (1 / (1 + math.exp(-forget_bias))) ** steps
