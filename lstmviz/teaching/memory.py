"""How much of its past a recurrent model uses: the loss when its state is reset every k steps.

Lesson 01: an RNN whose state is zeroed before every character sees only that character (like a
bigram model); carried over k characters it can use up to k - 1 of them. Comparing these losses
with the n-gram baselines (``lstmviz.core.ngram``) shows what the memory is worth.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..core.errors import LstmvizError


@torch.no_grad()
def loss_with_resets(model: torch.nn.Module, ids: torch.Tensor, every: int | None) -> float:
    """Mean next-character loss (nats/char) of ids (N,), the state zeroed every ``every`` steps.

    ``every=None``: never reset (one pass over the whole text). The text is cut into windows of
    ``every`` inputs, all run in one batch from a zero state; ``model(x) -> (logits, state)``.
    """
    was_training = model.training
    model.eval()
    try:
        n = len(ids) - 1
        every = n if every is None else int(every)
        if every < 1:
            raise LstmvizError(f"every must be a whole number >= 1 (or None: never), got {every}")
        windows = n // every
        x = ids[: windows * every].view(windows, every)
        y = ids[1 : windows * every + 1].view(windows, every)
        logits, _ = model(x)
        return F.cross_entropy(logits.float().flatten(0, 1), y.flatten()).item()
    finally:
        model.train(was_training)
