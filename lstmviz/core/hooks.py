"""The hook registry: which functions run at the hook points ``i f g o c h`` of which module.

``core.cell`` (``lstm_step``, ``cell_step``) and any module that computes gates itself (the
lessons' from-scratch cell, through ``run_hooks``) pass every activation through a hook point
named ``i f g o c h`` per layer, TransformerLens-style. Two kinds of hook, both removed by the
handle their ``add_*`` function returns:

- step hooks ``hook(name, layer, value (B, H))`` at each hook point, in order; one may return a
  tensor that replaces the value (an intervention). ``observer=True`` hooks run after all the
  others and see the final value (a recorder of a module that calls ``run_hooks`` itself).
- layer hooks ``hook(layer, gates (B, 4H), c (B, H), h (B, H))``, called once per layer and step
  after the step hooks, with the gates already activated and packed i, f, g, o. This is the
  recorder's fast path: one call per layer instead of six.

Hooks are global state, so they are only ever added through context managers
(``lstmviz.GateRecorder``, ``lstmviz.intervene``) that remove them on exit. The registries hold
their modules weakly: a model that is deleted takes its hooks with it.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

from torch import Tensor, nn

#: A step hook: called as ``hook(name, layer, value)`` with value (B, H). It may return a
#: tensor that replaces the value (an intervention) or None to leave it alone (a recorder).
StepHook = Callable[[str, int, Tensor], "Tensor | None"]
#: A layer hook: ``hook(layer, gates (B, 4H) activated i f g o, c (B, H), h (B, H))``; -> None.
LayerHook = Callable[[int, Tensor, Tensor, Tensor], None]

_hooks: weakref.WeakKeyDictionary[nn.Module, list[StepHook]] = weakref.WeakKeyDictionary()
_observers: weakref.WeakKeyDictionary[nn.Module, list[StepHook]] = weakref.WeakKeyDictionary()
_layer_hooks: weakref.WeakKeyDictionary[nn.Module, list[LayerHook]] = weakref.WeakKeyDictionary()


class HookHandle:
    """Removes one hook; also a context manager, so a hook cannot outlive its block."""

    def __init__(
        self, lstm: nn.Module, hook: Callable, registry: weakref.WeakKeyDictionary = _hooks
    ):
        self.lstm, self.hook, self.registry = lstm, hook, registry

    def remove(self) -> None:
        hooks = self.registry.get(self.lstm, [])
        if self.hook in hooks:
            hooks.remove(self.hook)
        if not hooks:
            self.registry.pop(self.lstm, None)

    def __enter__(self) -> HookHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def add_step_hook(lstm: nn.Module, hook: StepHook, observer: bool = False) -> HookHandle:
    """Call ``hook(name, layer, value (B, H))`` at every hook point of ``lstm_step(lstm, ...)``."""
    registry = _observers if observer else _hooks
    registry.setdefault(lstm, []).append(hook)
    return HookHandle(lstm, hook, registry)


def add_layer_hook(lstm: nn.Module, hook: LayerHook) -> HookHandle:
    """Call ``hook(layer, gates (B, 4H), c (B, H), h (B, H))`` once per layer in ``lstm_step``."""
    _layer_hooks.setdefault(lstm, []).append(hook)
    return HookHandle(lstm, hook, _layer_hooks)


def has_step_hooks(lstm: nn.Module) -> bool:
    """True while some recorder or intervention is attached to ``lstm``."""
    return bool(_hooks.get(lstm) or _observers.get(lstm) or _layer_hooks.get(lstm))


def hooks_of(module: nn.Module) -> tuple[list | None, list | None, list | None]:
    """(step hooks, observers, layer hooks) attached to ``module`` now; None for a kind it lacks."""
    return _hooks.get(module), _observers.get(module), _layer_hooks.get(module)


def apply_step_hooks(
    hooks: list | None, observers: list | None, name: str, layer: int, value: Tensor
) -> Tensor:
    """``value`` (B, H) through the given step hooks, then the observers -> the final value."""
    for hook in list(hooks or ()):
        out = hook(name, layer, value)
        if out is not None:
            value = out
    for hook in list(observers or ()):
        hook(name, layer, value)
    return value


def run_hooks(module: nn.Module, name: str, layer: int, value: Tensor) -> Tensor:
    """``value`` (B, H) through hook point ``name`` of ``module`` -> the (maybe replaced) value.

    Any module that computes gates itself (the lessons' from-scratch cell) calls this at each
    of ``i f g o c h`` so recorders and interventions see it like an ``nn.LSTM``.
    """
    hooks, observers = _hooks.get(module), _observers.get(module)
    return apply_step_hooks(hooks, observers, name, layer, value) if hooks or observers else value
