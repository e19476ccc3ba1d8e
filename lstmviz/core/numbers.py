"""Numbers every layer reports the same way: nats and bits, perplexity, mean ± standard error.

Losses are cross-entropies in nats per character; bits/char = nats / ln 2 and perplexity = e^nats.
A result measured several times (seeds, positions) is reported as mean ± SE, SE = the sample
standard deviation (n - 1 in its denominator) / sqrt(n).
"""

from __future__ import annotations

import functools
import math
import operator
from typing import Any

import numpy as np

#: Nats per bit: bits/char = nats/char / LN2.
LN2 = math.log(2)


def bits(nats: float) -> float:
    """A loss in nats/char as bits/char."""
    return nats / LN2


def perplexity(loss: float) -> float:
    """e^loss, or inf where that overflows a float (a loss past 709 nats)."""
    return math.exp(loss) if loss < 709 else math.inf


def mean_se(values: Any) -> tuple[Any, Any]:
    """(mean, standard error) over the first axis: (n,) -> two floats, (n, K) -> two (K,) arrays.

    Needs n >= 2 (ValueError otherwise). Summed in order, one row at a time, so each column of an
    (n, K) array gets exactly what it would get alone.
    """
    a = np.asarray(values, dtype=np.float64)
    n = len(a)
    if n < 2:
        raise ValueError(f"need at least two values for a standard error, got {a.tolist()}")
    rows = list(a.reshape(n, -1))
    mean = functools.reduce(operator.add, rows) / n
    var = functools.reduce(operator.add, [(r - mean) * (r - mean) for r in rows]) / (n - 1)
    se = np.sqrt(var / n)
    return (float(mean[0]), float(se[0])) if a.ndim == 1 else (mean, se)
