"""Lesson 02's plumbing: the decay table, and the clipping experiment (plain SGD on an RNN started
at ρ(W_aa) = 2, with and without gradient-norm clipping, and what its loss does after each step).

A *jump* is a step after which the training loss (measured on the next batch) rose by more than
``JUMP`` nats. Runs at ρ = 2 are chaotic: the same seed takes another path on a CPU that rounds
differently, so the lesson states what holds over several seeds (counts, mean ± SE), never what
one run did.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.errors import LstmvizError
from . import stats, tasks

#: A rise of the training loss by more than this (nats) in one step is a jump.
JUMP = 0.5
#: A jump "follows a large gradient" when the step's gradient norm is in its run's top 20 %.
TOP = 0.8
#: A jump "starts from a learnt state" when the mean loss over the 10 steps up to it is this far
#: (nats) below chance.
LEARNT = 0.3


@dataclass
class SGDRun:
    """One plain-SGD run on the memory task: its accuracy and what its loss curve did."""

    accuracy: float
    solved: bool
    jumps: int  # steps after which the loss rose by more than JUMP
    largest_rise: float  # the largest one-step rise of the loss (nats)
    largest_grad: float  # the largest gradient norm, before clipping
    after_spike: list[bool]  # per jump: did the step have one of the run's top-20 % gradients?
    from_learnt: list[bool]  # per jump: was the loss LEARNT nats below chance just before?
    history: dict[str, list[float]] = field(default_factory=dict)  # "loss", "grad_norm"


def sgd_run(
    clip: float | None,
    lr: float,
    seed: int,
    *,
    lag: int = 20,
    steps: int = 300,
    radius: float = 2.0,
) -> SGDRun:
    """Train ``tasks.train_on_task`` with plain SGD (W_aa at spectral radius ``radius``), all steps.

    ``clip`` is the gradient-norm threshold (None: no clipping). The history's ``loss[s]`` is the
    loss of step s's batch before its update, so ``loss[s + 1] - loss[s]`` is what the update of
    step s did (seen on a new batch).
    """
    result = tasks.train_on_task(
        "rnn",
        lag=lag,
        steps=steps,
        lr=lr,
        optimizer="sgd",
        clip=clip,
        radius=radius,
        seed=seed,
        stop_when_solved=False,
    )
    return SGDRun(
        accuracy=result.accuracy,
        solved=result.success,
        history=result.history,
        **jumps(result.history["loss"], result.history["grad_norm"]),
    )


def jumps(loss: Sequence[float], grad_norm: Sequence[float]) -> dict[str, Any]:
    """What a loss curve (S,) did after each step, with the gradient norms (S,) of those steps.

    Returns ``jumps`` (how many steps s have loss[s + 1] - loss[s] > JUMP), ``largest_rise``,
    ``largest_grad``, and per jump ``after_spike`` (grad_norm[s] in the run's top 20 %) and
    ``from_learnt`` (the mean loss of steps s - 9 .. s at least LEARNT below chance, ln 4).
    """
    loss_a, norm = np.asarray(loss, dtype=float), np.asarray(grad_norm, dtype=float)
    if loss_a.shape != norm.shape or loss_a.ndim != 1 or len(loss_a) < 2:
        raise LstmvizError(
            f"need one loss and one gradient norm per step (two steps at least), got "
            f"{loss_a.shape} and {norm.shape}"
        )
    up = np.diff(loss_a)  # up[s]: the change after the update of step s
    at = np.nonzero(up > JUMP)[0]
    chance = math.log(tasks.N_SIGNALS)
    return {
        "jumps": len(at),
        "largest_rise": float(up.max()),
        "largest_grad": float(norm.max()),
        "after_spike": [bool((norm < norm[s]).mean() >= TOP) for s in at],
        "from_learnt": [bool(loss_a[max(0, s - 9) : s + 1].mean() < chance - LEARNT) for s in at],
    }


def describe(label: str, runs: list[SGDRun]) -> str:
    """One line per setting: accuracy, runs solved, jumps per run, the largest one-step rise."""
    n = len(runs)
    return (
        f"{label}: accuracy {stats.fmt([r.accuracy for r in runs], 2)}, "
        f"solved {sum(r.solved for r in runs)}/{n}; jumps per run "
        f"{[r.jumps for r in runs]} = {stats.fmt([r.jumps for r in runs], 1)}; largest one-step "
        f"rise per run {stats.fmt([r.largest_rise for r in runs], 2)} nats"
    )


def decay_table(rows: Mapping[str, Mapping[str, float]]) -> str:
    """Lesson 02's table: per W_aa, ρ, σ_max, the theorem's guarantee, the norm left at lag 99 and
    the measured factor per step (rows: label -> {"rho", "sigma", "last", "rate"})."""
    lines = [
        f"{'W_aa scaled to':>14} {'ρ':>6} {'σ_max':>6}  {'guarantee':<28} {'norm at 99':>10} "
        f"{'factor/step':>11}"
    ]
    for label, r in rows.items():
        guarantee = f"vanishes, ≤ {r['sigma']:.2f}^k" if r["sigma"] < 1 else "none, since σ_max ≥ 1"
        lines.append(
            f"{label:>14} {r['rho']:6.3f} {r['sigma']:6.3f}  {guarantee:<28} {r['last']:10.1e} "
            f"{r['rate']:11.3f}"
        )
    return "\n".join(lines)


def first_lag_below(norms: Sequence[float], level: float) -> int | None:
    """The lag from which on every entry of norms (K,) is below ``level`` (None: the last isn't)."""
    below = np.asarray(norms, dtype=float) < float(level)
    if not below[-1]:
        return None
    above = np.nonzero(~below)[0]
    return int(above[-1]) + 1 if len(above) else 0
