"""Run a module's whole-sequence forward one step at a time, so every hook point fires.

A fused ``nn.LSTM`` call has no place to change a gate: ``gates.intervene`` swaps the module's
forward for ``forward_stepwise`` (``nn.LSTMCell``: ``cell_step``) while a clamp is active, and
``GateRecorder`` then skips the fused call (``runs_stepwise``), since its steps already went
through the layer hooks. Nothing in ``core`` needs this; it lives with the gates that use it.
"""

from __future__ import annotations

import contextlib
import functools
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor, nn

from ..core.cell import cell_step, lstm_step, prepare

#: module -> [number of active ``stepwise`` blocks, the instance ``forward`` it had before]
_stepwise: weakref.WeakKeyDictionary[nn.Module, list] = weakref.WeakKeyDictionary()


@torch.no_grad()
def forward_stepwise(
    lstm: nn.LSTM, input: Tensor, hx: tuple[Tensor, Tensor] | None = None
) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """``lstm(input, hx)`` one ``lstm_step`` at a time, so every hook point fires. No autograd."""
    xt, h0, c0, batched = prepare(lstm, input, hx)
    state = (h0, c0)
    outs = []
    for t in range(xt.shape[0]):
        out, state = lstm_step(lstm, xt[t], state)
        outs.append(out)
    output = torch.stack(outs)  # (T, B, H)
    if not batched:
        return output[:, 0], (state[0][:, 0], state[1][:, 0])
    return (output.transpose(0, 1) if lstm.batch_first else output), state


def runs_stepwise(module: nn.Module) -> bool:
    """True while ``module``'s forward is its step-by-step version (see ``stepwise``)."""
    return module in _stepwise


@contextlib.contextmanager
def stepwise(module: nn.Module) -> Iterator[None]:
    """While active, ``module(...)`` (nn.LSTM, nn.LSTMCell) runs step by step through the hooks."""
    impl: Callable[..., Any]  # module's forward, step by step
    if isinstance(module, nn.LSTM):
        impl = functools.partial(forward_stepwise, module)
    elif isinstance(module, nn.LSTMCell):
        impl = functools.partial(cell_step, module)
    else:  # modules that call run_hooks themselves already pass every hook point
        yield
        return
    entry = _stepwise.get(module)
    if entry is None:
        # an instance attribute shadows the class's forward; nn.Module.__call__ (and its forward
        # hooks) still runs around it. The previous instance attribute, if any, is restored on exit.
        entry = [0, module.__dict__.get("forward")]
        _stepwise[module] = entry
        # (what `module.forward = ...` does, nn.Module.__setattr__ storing a plain function)
        module.__dict__["forward"] = impl
    entry[0] += 1
    try:
        yield
    finally:
        entry[0] -= 1
        if entry[0] == 0:
            del _stepwise[module]
            if entry[1] is None:
                module.__dict__.pop("forward", None)
            else:
                module.__dict__["forward"] = entry[1]
