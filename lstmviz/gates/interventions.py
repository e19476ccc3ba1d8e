"""Clamp chosen units of a gate or of the memory cell while a model runs: ``intervene``.

``with lstmviz.intervene(model, {("c", 1, 42): 1.0}):`` fixes memory cell 42 of layer 1 at 1.0
at every step run inside the block, in both of the model's paths: single steps (``lstm_step``,
generation) through the step hooks of ``lstmviz.core.hooks``, and whole sequences, whose fused
``nn.LSTM`` call is replaced for the duration by the same step-by-step computation (the fused
kernel has no place to intervene). A clamped gate is used downstream: clamping Γ_f changes c⟨t⟩,
clamping c⟨t⟩ changes a⟨t⟩, the next layer and every later step. On exit everything is restored:
the model's outputs are bit-identical to before.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from ..core import cell, hooks
from ..core.errors import LstmvizError
from ..core.names import RANGES, canonical
from .recorder import hookable_modules
from .stepwise import stepwise

Key = tuple[str, int, "int | None"]


def _sizes(module: nn.Module) -> tuple[int, int]:
    """(num_layers, hidden_size) of a hookable module."""
    if isinstance(module, nn.LSTM):
        cell.check_supported(module)
        return module.num_layers, module.hidden_size
    if isinstance(module, nn.LSTMCell):
        return 1, module.hidden_size
    hidden = getattr(module, "hidden_size", None)
    if not isinstance(hidden, int):
        raise LstmvizError(
            f"{type(module).__name__} has hook_points but no hidden_size; cannot "
            "check the units to clamp"
        )
    return int(getattr(module, "num_layers", 1)), hidden


class Intervention:
    """What ``intervene`` returns (a context manager); ``clamps``: (name, layer) -> [(units, v)]."""

    def __init__(
        self, module: nn.Module, clamps: dict[tuple[str, int], list[tuple[Tensor | slice, float]]]
    ):
        self.module, self.clamps = module, clamps
        self._stack: contextlib.ExitStack | None = None

    def _hook(self, name: str, layer: int, value: Tensor) -> Tensor | None:
        todo = self.clamps.get((name, layer))
        if not todo:
            return None
        value = value.clone()
        for units, v in todo:
            value[..., units] = v
        return value

    def __enter__(self) -> Intervention:
        if self._stack is not None:
            raise LstmvizError("this intervention is already active")
        stack = contextlib.ExitStack()
        try:
            stack.enter_context(hooks.add_step_hook(self.module, self._hook))
            stack.enter_context(stepwise(self.module))  # fused calls go step by step
        except BaseException:
            stack.close()
            raise
        self._stack = stack
        return self

    def __exit__(self, *exc: object) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            stack.close()


def intervene(model: nn.Module, clamps: Mapping[Key, float]) -> Intervention:
    """Clamp units while ``model`` runs: ``{(name, layer, unit): value}`` -> context manager.

    ``name`` is one of ``i f g o c h`` (or an alias such as ``"cell"``, ``"forget"``), ``layer``
    may be negative, ``unit`` is an int, a tuple of ints, or None for every unit of the layer
    (e.g. ``{("f", 0, None): 0.0}`` zeroes the forget gate: no memory survives a step). The model
    must contain exactly one LSTM (pass the submodule otherwise). Inside the block forward passes
    run step by step without autograd.
    """
    found = hookable_modules(model)
    # a from-scratch LSTM reports on itself; its inner cells (also with hook_points) stay silent
    top = [
        m
        for _, m in found
        if not any(m is not o and any(m is c for c in o.modules()) for _, o in found)
    ]
    if len(top) != 1:
        names = ", ".join(n for n, _ in found)
        raise LstmvizError(
            f"{type(model).__name__} holds several LSTMs ({names}); pass the one to "
            "clamp, e.g. intervene(model.lstm, ...)"
        )
    module = top[0]
    if not isinstance(clamps, Mapping) or not clamps:
        raise LstmvizError(
            'clamps must be a non-empty dict {(name, layer, unit): value}, e.g. {("c", 1, 42): 1.0}'
        )
    num_layers, hidden = _sizes(module)
    table: dict[tuple[str, int], list] = {}
    for key, value in clamps.items():
        if not (isinstance(key, tuple) and len(key) == 3):
            raise LstmvizError(
                f"each clamp key is (name, layer, unit), e.g. ('c', 1, 42); got {key!r}"
            )
        name, layer, unit = key
        name = canonical(name)
        if (
            isinstance(layer, bool)
            or not isinstance(layer, int)
            or not -num_layers <= layer < num_layers
        ):
            raise LstmvizError(
                f"layer {layer!r} is out of range: the LSTM has {num_layers} layer(s), "
                f"0..{num_layers - 1}"
            )
        layer %= num_layers
        if unit is None:
            units: Tensor | slice = slice(None)
        else:
            # the user's value, whatever it is: checked below, one readable error
            seq: Any = [unit] if isinstance(unit, int) and not isinstance(unit, bool) else unit
            try:
                ok = (
                    all(isinstance(u, int) and not isinstance(u, bool) for u in seq)
                    and len(seq) > 0
                )
            except TypeError:
                ok = False
            if not ok:
                raise LstmvizError(
                    f"unit must be an int, a tuple of ints or None (all units); got {unit!r}"
                )
            bad = [u for u in seq if not -hidden <= u < hidden]
            if bad:
                raise LstmvizError(
                    f"unit {bad[0]} is out of range: layer {layer} has {hidden} units, "
                    f"0..{hidden - 1}"
                )
            units = torch.tensor([u % hidden for u in seq])
        lo, hi = RANGES[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
            raise LstmvizError(
                f"the value for {name!r} must be a number in [{lo}, {hi}]; got {value!r}"
            )
        table.setdefault((name, layer), []).append((units, float(value)))
    return Intervention(module, table)


@torch.no_grad()
def logprob_change(model: nn.Module, ids: Tensor, clamps: Mapping[Key, float]) -> Tensor:
    """What a clamp does to each next character's log-probability: ids (T,) -> (T-1,) nats.

    Entry k is log p(ids[k+1] | ids[..k]) with the clamps minus the same without them; ``model``
    maps ids (1, T) to (logits (1, T, V), state), like ``CharLSTM``. Positive: the clamp made
    that character more likely.
    """
    was_training = model.training
    model.eval()

    def logp() -> Tensor:
        logits, _ = model(ids[None, :-1])
        return torch.log_softmax(logits[0].double(), -1).gather(1, ids[1:, None])[:, 0]

    try:
        base = logp()
        with intervene(model, clamps):
            return logp() - base
    finally:
        model.train(was_training)
