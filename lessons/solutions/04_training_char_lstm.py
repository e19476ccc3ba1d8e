"""Worked solutions for lesson 04 (training the character LSTM). Try the exercises first."""

from __future__ import annotations

import torch


def exercise_1(n_chars: int, batch_size: int, seq_len: int) -> int:
    """Steps per epoch: each of B streams holds (n - 1) // B characters, cut into T-windows."""
    return ((n_chars - 1) // batch_size) // seq_len


def exercise_2(input_size: int, hidden_size: int) -> int:
    """Parameters of one nn.LSTM layer: 4 gates x (W_ih, W_hh) plus PyTorch's two bias vectors."""
    return 4 * hidden_size * (input_size + hidden_size) + 2 * 4 * hidden_size


def exercise_3(z: torch.Tensor, k: int, tau: float) -> torch.Tensor:
    """(V,) probabilities: softmax(z / tau) over the k largest logits, 0 everywhere else."""
    top, idx = torch.topk(z, k)
    out = torch.zeros_like(z)
    out[idx] = torch.softmax(top / tau, dim=-1)
    return out


def exercise_4(entropy: torch.Tensor, passage: str) -> tuple[str, dict[str, float]]:
    """(prediction, mean_entropy): the mean next-character entropy after each group of the
    character just read ("space", "newline", "other"), and the group where it is highest;
    entropy (T,) belongs to passage (T,)."""
    groups: dict[str, list[float]] = {"space": [], "newline": [], "other": []}
    for ch, h in zip(passage, entropy.tolist(), strict=True):
        groups["space" if ch == " " else "newline" if ch == "\n" else "other"].append(h)
    means = {g: sum(v) / len(v) for g, v in groups.items() if v}
    return max(means, key=means.get), means
