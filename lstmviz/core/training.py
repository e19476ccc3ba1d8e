"""Train a CharLSTM on a text: stateful truncated backpropagation through time.

The encoded training text is cut into ``batch_size`` contiguous streams (one row each). Step k reads
columns ``[k*seq_len, (k+1)*seq_len)`` of every row, so consecutive batches continue each other and
the hidden state (h, c) is carried from one batch to the next -- detached, so gradients flow back at
most ``seq_len`` characters (truncated BPTT). After the last chunk the streams start over (a new
epoch) from a zero state. Everything stays in torch: no per-batch numpy or Python loops over text.

Losses are cross-entropy in nats per character; bits/char = nats / ln 2, perplexity = e^nats.

    result = lstmviz.train(preset="quick", steps=300)        # in a notebook
    python -m lstmviz train --preset full --out runs/full     # from a shell

This module is the mathematics of a step and the loop that repeats it (``loop``). Running a job
around the loop -- the settings, the run folder, resuming, torchrun, signals, logging, validation
and saving -- is ``lstmviz.core.run`` (``train``); the settings are ``lstmviz.core.config``, the
device and precision ``lstmviz.core.device``.
"""

from __future__ import annotations

import importlib
import itertools
import math
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .config import PRECISIONS, PRESETS, TrainConfig, choose_preset  # noqa: F401 -- importable here
from .device import autocast_for, native_bf16, pick_device, resolve_precision  # noqa: F401

State = Any  # what a model carries between batches: (h, c) for an LSTM, h for an RNN/GRU, or None


def lr_at(cfg: TrainConfig, step: int) -> float:
    """Learning rate of optimizer step ``step`` (0-based): cosine, lr to min_lr over cfg.steps."""
    progress = min(step / max(cfg.steps, 1), 1.0)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * progress))


def streams(ids: Tensor, batch_size: int) -> tuple[Tensor, Tensor]:
    """ids (N,) -> (inputs, targets), each (batch_size, n): contiguous streams, targets shifted."""
    n = (len(ids) - 1) // batch_size
    return ids[: n * batch_size].view(batch_size, n), ids[1 : n * batch_size + 1].view(
        batch_size, n
    )


def validation_streams(ids: Tensor, batch_size: int, seq_len: int) -> tuple[Tensor, Tensor]:
    """``streams`` of validation ids (N,): at most batch_size rows, each a window long at least."""
    return streams(ids, max(1, min(batch_size, (len(ids) - 1) // seq_len)))


def windows(
    x: Tensor, y: Tensor, seq_len: int, start: int = 0
) -> Iterator[tuple[Tensor, Tensor, bool]]:
    """The BPTT windows of streams x, y (B, n) from step ``start`` on, round and round.

    Yields ``(xb, yb, new_pass)``: step k's columns ``[j*seq_len, (j+1)*seq_len)``, j = k modulo
    the windows per pass (B, seq_len) each, and whether a new pass over the text starts there (the
    carried state then starts from zero). Endless: zip it with the steps to take.
    """
    per_pass = x.shape[1] // seq_len
    for step in itertools.count(start):
        j = step % per_pass
        cols = slice(j * seq_len, (j + 1) * seq_len)
        yield x[:, cols], y[:, cols], j == 0


def train_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    x: Tensor,
    y: Tensor,
    state: State = None,
    *,
    grad_clip: float | None = None,
    autocast: Any = None,
    scaler: torch.amp.GradScaler | None = None,
) -> tuple[float, State, float]:
    """One optimizer step: x (B, T) ids -> y (B, T) targets, or x (B, T, V) -> y (B,) classes.

    The one training step of the package (``train``, and the lessons' experiments in
    ``lstmviz.teaching``). ``model(x, state)`` returns ``(logits, state)`` (a language model:
    ``state`` is carried in and comes back *detached*, so the next step's gradients stop here:
    truncated BPTT); a model called as ``model(x)`` that returns logits alone is stateless (state
    None). The loss is cross-entropy in nats, computed in float32 even under ``autocast`` (a
    ``torch.autocast`` context, or None for plain float32). Gradients are clipped to global norm
    ``grad_clip`` (None: not clipped); ``scaler`` (an fp16 ``GradScaler``) scales the loss and
    unscales before clipping. Returns ``(loss, state, grad_norm)``: the loss and the global gradient
    norm *before* clipping, as floats. A non-finite loss or gradient norm leaves the weights
    untouched (with a scaler: the scaler skips the step and lowers its scale); the caller decides
    whether to stop.
    """
    with autocast or nullcontext():
        out = model(x) if state is None else model(x, state)
        logits, state = out if isinstance(out, tuple) else (out, None)
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1))
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None and not scaler.is_enabled():
        scaler = None  # a disabled scaler is no scaler
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
    else:
        loss.backward()
    params = [p for p in model.parameters() if p.grad is not None]
    if grad_clip is None:
        norm = torch.linalg.vector_norm(
            torch.stack(
                [torch.linalg.vector_norm(p.grad.detach()) for p in params if p.grad is not None]
            )
        )
    else:
        norm = torch.nn.utils.clip_grad_norm_(params, grad_clip)
    loss_value, norm_value = loss.item(), norm.item()
    if scaler is not None:
        scaler.step(optimizer)  # skips steps whose gradients overflowed: expected with fp16
        scaler.update()
    elif math.isfinite(loss_value) and math.isfinite(norm_value):
        optimizer.step()  # a non-finite step would poison the weights (and the next checkpoint)
    state = _detach(state)
    if autocast is not None and state is not None:
        # autocast returns a bf16/fp16 state: carry it in the weights' dtype instead, so the next
        # step, a checkpoint and a resume in another precision all see float32
        dtype = next(model.parameters()).dtype
        state = tuple(s.to(dtype) for s in state) if isinstance(state, tuple) else state.to(dtype)
    return loss_value, state, norm_value


def _detach(state: State) -> State:
    """The carried state without its graph: (h, c), h or None."""
    if state is None:
        return None
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def reset_streams(state: State, cfg: TrainConfig, step: int, rows: slice = slice(None)) -> State:
    """Zero the carried (h, c) of each stream with chance ``cfg.reset_prob`` (after step ``step``).

    Carried state alone shows the model a zero state once per epoch; a few resets teach it to read
    a prompt from scratch. The draw has its own generator seeded by (seed, step), over all
    ``batch_size`` streams (``rows``: this process's share under torchrun): the same streams are
    reset after a resume and with any number of processes, and the global RNG is untouched.
    """
    if cfg.reset_prob <= 0:
        return state
    gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
    keep = torch.rand(cfg.batch_size, generator=gen)[rows] >= cfg.reset_prob
    keep = keep.to(state[0].device).to(state[0].dtype)[None, :, None]
    return state[0] * keep, state[1] * keep


@torch.no_grad()
def validation_loss(
    model: torch.nn.Module, x: Tensor, y: Tensor, seq_len: int, autocast: Any = None
) -> float:
    """Mean next-character loss (nats/char) over streams x, y (B, n), carrying state as in train."""
    was_training = model.training
    model.eval()
    state, total, count = None, 0.0, 0
    for t in range(0, x.shape[1], seq_len):
        with autocast or nullcontext():
            logits, state = model(x[:, t : t + seq_len], state)
        target = y[:, t : t + seq_len]
        total += F.cross_entropy(
            logits.float().flatten(0, 1), target.flatten(), reduction="sum"
        ).item()
        count += target.numel()
    model.train(was_training)
    return total / count


#: What ``loop`` calls after every step: ``after_step(step, loss, grad_norm, lr, state)``.
AfterStep = Callable[[int, float, float, float, State], None]


def loop(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    x: Tensor,
    y: Tensor,
    cfg: TrainConfig,
    after_step: AfterStep,
    *,
    start: int = 0,
    state: State = None,
    autocast: Any = None,
    scaler: torch.amp.GradScaler | None = None,
    rows: slice = slice(None),
) -> tuple[int, State]:
    """Train on streams x, y (B, n) from step ``start`` up to ``cfg.steps``: -> (steps, state).

    The training loop of ``train``: each step takes the next BPTT window, sets the learning rate of
    the cosine schedule, takes one ``train_step`` carrying ``state`` (h, c) from the window before,
    and resets a few streams. ``after_step`` (``train``'s run: it logs, validates, samples, saves
    and stops on a signal or a diverged loss) is called with the steps done so far (1-based).
    """
    model.train()
    steps = zip(range(start, cfg.steps), windows(x, y, cfg.seq_len, start), strict=False)
    for step, (xb, yb, new_pass) in steps:
        if new_pass:
            state = None  # a new pass over the text: the streams start from a zero state
        lr = lr_at(cfg, step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss, state, norm = train_step(
            model,
            optimizer,
            xb,
            yb,
            state,
            grad_clip=cfg.grad_clip,
            autocast=autocast,
            scaler=scaler,
        )
        state = reset_streams(state, cfg, step, rows)
        after_step(step + 1, loss, norm, lr, state)
    return max(start, cfg.steps), state


#: Public names that lived here before the split, and their modules now: still importable from
#: here (``from lstmviz.core.training import train`` keeps working), loaded on first use because
#: ``run`` imports this module.
_MOVED = {
    "train": "run",
    "TrainResult": "run",
    "LOG_FORMAT": "run",
    "TrainingInterrupted": "signals",
    "GIVEN_TEXT": "config",
    "LR_MAX": "config",
    "SAMPLE_MAX": "config",
}


def __getattr__(name: str) -> Any:
    """The names in ``_MOVED``, from their new modules."""
    if name in _MOVED:
        return getattr(importlib.import_module(f".{_MOVED[name]}", __package__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
