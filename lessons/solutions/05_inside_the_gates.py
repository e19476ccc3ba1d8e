"""Worked solutions for lesson 05 (Inside the gates). Try each exercise in the lesson first."""

from __future__ import annotations

import math

import numpy as np

from lstmviz.gates import analysis, features


def exercise_1(o0: np.ndarray) -> np.ndarray:
    """Each unit's fraction of steps with Γ_o > 0.9: o0 (T, H) -> (H,)."""
    return (o0 > 0.9).mean(axis=0)


def exercise_2(gate: float = 0.95) -> float:
    """Steps n with gate**n = 1/2: take logarithms, n ln(gate) = ln(1/2)."""
    return math.log(0.5) / math.log(gate)


def exercise_3(trace_a, text_a: str, trace_b, text_b: str) -> tuple[int, int, float]:
    """Find the 'end of line' cell on passage A, then its r on held-out passage B."""
    layer, unit, _ = features.best_cell(trace_a, text_a, "end of line")
    acts_b = analysis.activations(trace_b, "c", layer)[:, [unit]]
    _, r = features.correlations(acts_b, {"end of line": features.is_newline(text_b)})
    return layer, unit, float(r[0, 0])
