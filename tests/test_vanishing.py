"""Lesson 02's plumbing: the loss-jump analysis of the clipping experiment, and the decay table."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lstmviz.core.errors import LstmvizError
from lstmviz.teaching import vanishing


def test_jumps_counts_rises_and_says_where_they_start():
    # a rise of 0.6 at step 1 (from chance, after a small gradient) and of 0.9 at step 10
    # (after the run's largest gradient, from a loss well below chance)
    loss = [1.40, 1.40, 2.00, 1.38, 1.00, 0.80, 0.70, 0.60, 0.50, 0.45, 0.40, 1.30, 1.25]
    norm = [1.0] * 13
    norm[1], norm[10] = 0.5, 50.0
    got = vanishing.jumps(loss, norm)
    assert got["jumps"] == 2
    assert got["largest_rise"] == pytest.approx(0.9)
    assert got["largest_grad"] == 50.0
    assert got["after_spike"] == [False, True]
    # step 1: mean of 1.40, 1.40 is above ln 4 - 0.3; step 10: mean of steps 1-10 is 0.923
    assert math.log(4) - vanishing.LEARNT == pytest.approx(1.0863, abs=1e-4)
    assert got["from_learnt"] == [False, True]


def test_jumps_of_a_falling_loss_and_bad_input():
    got = vanishing.jumps(np.linspace(1.4, 0.1, 50), np.ones(50))
    assert got["jumps"] == 0 and got["after_spike"] == [] and got["largest_rise"] < 0
    with pytest.raises(LstmvizError, match="one loss and one gradient norm per step"):
        vanishing.jumps([1.0, 2.0, 3.0], [1.0, 2.0])


def test_sgd_run_reports_its_own_history():
    run = vanishing.sgd_run(1.0, 0.1, seed=0, lag=5, steps=40)
    loss, norm = run.history["loss"], run.history["grad_norm"]
    assert len(loss) == len(norm) == 40
    assert run.jumps == int((np.diff(loss) > vanishing.JUMP).sum())
    assert run.largest_grad == max(norm) and 0 <= run.accuracy <= 1
    assert run.solved == (run.accuracy >= 0.9)
    assert "solved" in vanishing.describe("clipped", [run, run])


def test_decay_table_states_the_guarantee_only_below_one():
    rows = {
        "ρ = 0.9": dict(rho=0.9, sigma=1.8, last=1.5e-7, rate=0.845),
        "σ_max = 0.9": dict(rho=0.45, sigma=0.9, last=1.9e-36, rate=0.432),
    }
    lines = vanishing.decay_table(rows).splitlines()
    assert len(lines) == 3 and "factor/step" in lines[0]
    assert "none, since σ_max ≥ 1" in lines[1] and "1.5e-07" in lines[1]
    assert "vanishes, ≤ 0.90^k" in lines[2] and "0.432" in lines[2]


def test_first_lag_below_needs_every_later_lag_below():
    assert vanishing.first_lag_below([5.0, 0.5, 2.0, 0.5, 0.1], 1.0) == 3  # not 1: lag 2 is above
    assert vanishing.first_lag_below([0.5, 0.1], 1.0) == 0
    assert vanishing.first_lag_below([0.5, 2.0], 1.0) is None
