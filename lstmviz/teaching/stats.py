"""Several seeds, one honest number: mean ± standard error, for the lessons' stochastic claims.

A result from one seed can go either way on the next; the lessons run each comparison over several
seeds and report ``mean ± SE`` (SE = sample standard deviation / sqrt(n)), and call "A beats B" only
when the gap is larger than the noise (``clearly_less``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..core import numbers


def mean_se(values: Sequence[float]) -> tuple[float, float]:
    """(mean, standard error of the mean) of n >= 2 finite values (n,) -> two floats.

    ``lstmviz.core.numbers.mean_se``, the one definition (SE uses the n-1 deviation), with the
    values checked first: a NaN or a single seed is a mistake in a lesson, not a result.
    """
    xs = [float(v) for v in values]
    if len(xs) < 2 or not all(math.isfinite(v) for v in xs):
        raise ValueError(f"need at least two finite values for a standard error, got {xs}")
    return numbers.mean_se(xs)


def fmt(values: Sequence[float], digits: int = 3) -> str:
    """``'1.234 ± 0.012 (n=5)'`` for a list of per-seed values."""
    m, se = mean_se(values)
    return f"{m:.{digits}f} ± {se:.{digits}f} (n={len(values)})"


def clearly_less(a: Sequence[float], b: Sequence[float], k: float = 2.0) -> bool:
    """True when mean(a) < mean(b) by more than k combined standard errors (default 2)."""
    (ma, sa), (mb, sb) = mean_se(a), mean_se(b)
    return mb - ma > k * math.hypot(sa, sb)
