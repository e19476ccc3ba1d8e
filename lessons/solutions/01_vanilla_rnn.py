"""Worked solutions for lesson 01 (the vanilla RNN). Try the exercises first."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def exercise_1(n_x: int, n_a: int, seq_len: int) -> int:
    """Parameters of an RNN layer: W_aa (n_a x n_a) + W_ax (n_a x n_x) + b_a (n_a), any length."""
    del seq_len  # the same weights at every step: the count does not depend on it
    return n_a * n_a + n_a * n_x + n_a


def exercise_2(logits: torch.Tensor, tau: float) -> torch.Tensor:
    """softmax(logits / tau) (V,), computed without overflow: subtract the maximum first."""
    z = logits / tau
    e = torch.exp(z - z.max())  # the same ratios, and exp never sees a large number
    return e / e.sum()


def exercise_3(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    """Logits (1, 50, V) of ids[:, 50:] (ids: (1, 100)), continuing from the state after 50."""
    _, first_state = model(ids[:, :50])
    second_logits, _ = model(ids[:, 50:], first_state)
    return second_logits


@torch.no_grad()
def exercise_4(model: torch.nn.Module, ids: torch.Tensor, bigram: float) -> tuple[str, float]:
    """(prediction, loss): the loss (nats/char) of ids (N,) with a zero state at every character."""
    logits, _ = model(ids[:-1, None])  # N - 1 sequences of one character, each from a zero state
    loss = F.cross_entropy(logits[:, 0], ids[1:]).item()
    return ("above" if loss > bigram else "below"), loss
