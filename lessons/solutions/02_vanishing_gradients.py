"""Worked solutions to lesson 02's exercises (tested in tests/test_exercises.py)."""

from __future__ import annotations

import math

import torch


def exercise_1(sigma_max: float, threshold: float = 1e-3) -> int:
    """The smallest lag k at which σ_max^k < threshold: ‖∂L_T/∂a⟨T−k⟩‖ ≤ σ_max^k ‖∂L_T/∂a⟨T⟩‖
    (Pascanu et al.), and the gradient at lag 0 has norm 1, so from there on it is guaranteed."""
    # σ^k < threshold  <=>  k > log(threshold) / log(σ), since log(σ) < 0 for σ < 1
    bound = math.log(threshold) / math.log(sigma_max)
    return math.floor(bound) + 1


def exercise_2(g: torch.Tensor, threshold: float) -> torch.Tensor:
    """Clip g (any shape) to norm ``threshold`` if it is longer, keeping its direction."""
    norm = g.norm()
    return g * (threshold / norm) if norm > threshold else g
