"""core.numbers: what every layer reports alike (bits/char, perplexity, mean ± standard error)."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from lstmviz.core.numbers import LN2, bits, mean_se, perplexity
from lstmviz.teaching import stats


def test_mean_se_is_the_mean_and_the_sample_sd_over_root_n():
    values = [1.5, 2.25, 1.75, 3.0, 2.0]
    m, se = mean_se(values)
    assert m == pytest.approx(statistics.mean(values), rel=1e-15)
    assert se == pytest.approx(statistics.stdev(values) / math.sqrt(5), rel=1e-15)
    assert stats.mean_se(values) == (m, se)  # the lessons' mean_se is this one, checked
    with pytest.raises(ValueError, match="two"):
        mean_se([1.0])


def test_mean_se_of_columns_is_each_column_alone():
    """memory_span averages (positions, lags) at once; each lag must get what it gets alone."""
    a = np.random.default_rng(0).random((37, 6))
    m, se = mean_se(a)
    assert m.shape == se.shape == (6,)
    for k in range(6):
        assert (m[k], se[k]) == mean_se(a[:, k])


def test_bits_and_perplexity():
    assert bits(LN2) == 1.0 and bits(2 * LN2) == 2.0
    assert perplexity(math.log(65)) == pytest.approx(65)
    assert perplexity(800.0) == math.inf  # e^800 overflows a float: inf, not OverflowError
