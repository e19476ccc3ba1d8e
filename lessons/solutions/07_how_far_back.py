"""Worked solutions for lesson 07 (How far back?). Try each exercise in the lesson first."""

from __future__ import annotations

import numpy as np

import lstmviz
from lstmviz.teaching import memory

#: A 5-gram sees the 4 characters before the one it predicts (lags 0-3); exercise 1 looks
#: further back, at lags >= NEAR.
NEAR = 4


def exercise_1(model, vocab, text: str, position: int, context: int = 60) -> int:
    """The character at lag NEAR or more whose replacement by a space lowers log p most.

    Predict first (the opening bracket?); then measure with ``occlusion`` over the last
    ``context`` characters and take the largest drop among lags >= NEAR -> its index in ``text``.
    """
    o = lstmviz.occlusion(model, vocab, text, position, max_context=context)
    far = o.scores.copy()
    far[position - NEAR + 1 :] = np.nan  # lags 0..NEAR-1: inside the 5-gram's view
    return int(np.nanargmax(far))


def exercise_2(model, ids, every: int = 20) -> float:
    """How much the loss (nats/char) rises when the state is zeroed every ``every`` characters."""
    return memory.loss_with_resets(model, ids, every) - memory.loss_with_resets(model, ids, None)
