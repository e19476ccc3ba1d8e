"""Worked solutions for lesson 07 (How far back?). Try each exercise in the lesson first."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from lstmviz.teaching import memory

#: Exercise 2 zeroes the state every EVERY[0] and every EVERY[1] characters.
EVERY = (200, 20)


def exercise_1(model, vocab, text: str, position: int) -> np.ndarray:
    """|d log p(text[position + 1]) / d e_t| for every t <= position: the gradient measure (T,).

    The embeddings are a leaf of the graph (detached, requires_grad), so one backward pass leaves
    d log p / d e in ``e.grad``, one row per character; its norm over the embedding dimension is
    the score. The model must not drop anything out: eval mode, as ``lstmviz.influence`` uses.
    """
    model.eval()
    e = model.embedding(vocab.encode(text[: position + 1])[None]).detach().requires_grad_()
    out, _ = model.lstm(e)  # (1, T, H), from the zero state
    logp = torch.log_softmax(model.head(out[0, -1]), -1)[vocab.stoi[text[position + 1]]]
    logp.backward()
    return e.grad[0].norm(dim=-1).numpy()


def exercise_2(
    models: Mapping[str, torch.nn.Module], ids: torch.Tensor
) -> tuple[str, str, dict[str, tuple[float, float]]]:
    """(least hurt by resets every 200, most hurt by resets every 20, {name: (rise 200, rise 20)}).

    A rise is the loss (nats/char) with the state zeroed every k characters minus the loss
    without resets. Why the order can turn over between k = 200 and k = 20: a reset does two
    things. It removes everything k or more characters back -- what the span curve measures,
    and what a long memory loses -- and it leaves the characters just after each reset with
    almost no context at all. Every 200 characters the second part touches few characters, and
    the model with the shortest span loses least; every 20 characters it touches most of them,
    and what counts is how well each model predicts from its last few characters, which the span
    curve (a share, each prediction's curve summing to 1) does not say.
    """
    no_reset = {name: memory.loss_with_resets(m, ids, None) for name, m in models.items()}
    rises = {
        name: tuple(memory.loss_with_resets(m, ids, k) - no_reset[name] for k in EVERY)
        for name, m in models.items()
    }
    least = min(rises, key=lambda name: rises[name][0])
    most = max(rises, key=lambda name: rises[name][1])
    return least, most, rises
