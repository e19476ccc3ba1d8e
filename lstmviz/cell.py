"""One time step of an ``nn.LSTM``, written out gate by gate, with named hook points.

The fused kernel (cuDNN / oneDNN) is fast for long sequences but hides the gates, and its
oneDNN path is slow for a single step on a small CPU. Generation runs one character at a
time, so it goes through ``lstm_step`` instead: two matrix products per layer on packed
weights, then the elementwise cell update in Ng's notation:

    Γ_u = i = σ(·)   Γ_f = f = σ(·)   ĉ = g = tanh(·)   Γ_o = o = σ(·)
    c⟨t⟩ = Γ_f ∗ c⟨t−1⟩ + Γ_u ∗ ĉ⟨t⟩       a⟨t⟩ = h = Γ_o ∗ tanh(c⟨t⟩)

Every activation passes a hook point named ``i f g o c h`` (per layer), TransformerLens-style.
Hooks are global state, so they are only ever added through context managers
(``lstmviz.GateRecorder``, ``lstmviz.intervene``) that remove them on exit.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import torch
from torch import Tensor, nn

from .errors import LstmvizError

#: Names of the recorded activations, in PyTorch's gate order, then cell and hidden state.
NAMES = ("i", "f", "g", "o", "c", "h")

#: A step hook: called as ``hook(name, layer, value)`` with value (B, H). It may return a
#: tensor that replaces the value (an intervention) or None to leave it alone (a recorder).
StepHook = Callable[[str, int, Tensor], "Tensor | None"]

_hooks: weakref.WeakKeyDictionary[nn.Module, list[StepHook]] = weakref.WeakKeyDictionary()
_packed: weakref.WeakKeyDictionary[nn.Module, tuple] = weakref.WeakKeyDictionary()


class HookHandle:
    """Removes one step hook; also a context manager, so a hook cannot outlive its block."""

    def __init__(self, lstm: nn.Module, hook: StepHook):
        self.lstm, self.hook = lstm, hook

    def remove(self) -> None:
        hooks = _hooks.get(self.lstm, [])
        if self.hook in hooks:
            hooks.remove(self.hook)
        if not hooks:
            _hooks.pop(self.lstm, None)

    def __enter__(self) -> HookHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def add_step_hook(lstm: nn.Module, hook: StepHook) -> HookHandle:
    """Call ``hook(name, layer, value (B, H))`` at every hook point of ``lstm_step(lstm, ...)``."""
    _hooks.setdefault(lstm, []).append(hook)
    return HookHandle(lstm, hook)


def has_step_hooks(lstm: nn.Module) -> bool:
    """True while some recorder or intervention is attached to ``lstm``."""
    return bool(_hooks.get(lstm))


def check_supported(lstm: nn.LSTM) -> None:
    """Raise LstmvizError for an ``nn.LSTM`` configuration whose gates we cannot reproduce exactly."""
    if not isinstance(lstm, nn.LSTM):
        raise LstmvizError(f"expected a torch.nn.LSTM, got {type(lstm).__name__}")
    if lstm.bidirectional:
        raise LstmvizError(
            "bidirectional LSTMs are not supported: a generated character cannot depend on the "
            "future. Use bidirectional=False."
        )
    if lstm.proj_size:
        raise LstmvizError(
            f"LSTMs with proj_size={lstm.proj_size} are not supported; use proj_size=0."
        )
    if lstm.training and lstm.dropout > 0 and lstm.num_layers > 1:
        raise LstmvizError(
            "this LSTM is in training mode with dropout between layers, so its outputs are "
            "random and cannot be reproduced. Call model.eval() first."
        )


def layer_weights(lstm: nn.LSTM, layer: int) -> tuple[Tensor, Tensor, Tensor]:
    """Layer ``layer``'s (W_ih (4H, In), W_hh (4H, H), b (4H,)) with both biases added."""
    w_ih = getattr(lstm, f"weight_ih_l{layer}")
    w_hh = getattr(lstm, f"weight_hh_l{layer}")
    if lstm.bias:
        b = getattr(lstm, f"bias_ih_l{layer}") + getattr(lstm, f"bias_hh_l{layer}")
    else:
        b = w_ih.new_zeros(w_ih.shape[0])
    return w_ih, w_hh, b


def _packed_weights(lstm: nn.LSTM) -> list[tuple[Tensor, Tensor, Tensor]]:
    """Per layer (W_ih^T, W_hh^T, b), contiguous, cached until a parameter changes."""
    key = tuple((p.data_ptr(), p._version, p.dtype, p.device) for p in lstm.parameters())
    cached = _packed.get(lstm)
    if cached is None or cached[0] != key:
        with torch.no_grad():
            layers = []
            for layer in range(lstm.num_layers):
                w_ih, w_hh, b = layer_weights(lstm, layer)
                layers.append((w_ih.t().contiguous(), w_hh.t().contiguous(), b.detach().clone()))
        cached = (key, layers)
        _packed[lstm] = cached
    return cached[1]


@torch.no_grad()
def lstm_step(
    lstm: nn.LSTM, x: Tensor, state: tuple[Tensor, Tensor]
) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """One time step through every layer: x (B, In), state (h, c) each (L, B, H) -> (h_top (B, H), (h, c)).

    Equals ``lstm(x[None], state)`` (up to float rounding) without the fused kernel, and
    calls the step hooks attached to ``lstm`` at each of ``i f g o c h``. No autograd.
    """
    check_supported(lstm)
    h_prev, c_prev = state
    hooks = _hooks.get(lstm)
    hs, cs = [], []
    inp = x
    for layer, (w_ih_t, w_hh_t, b) in enumerate(_packed_weights(lstm)):
        gates = torch.addmm(b, inp, w_ih_t).addmm_(h_prev[layer], w_hh_t)
        i, f, g, o = gates.chunk(4, dim=1)
        i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
        if hooks:
            i, f, g, o = (_run_hooks(hooks, n, layer, v) for n, v in zip("ifgo", (i, f, g, o)))
        c = torch.addcmul(f * c_prev[layer], i, g)
        if hooks:
            c = _run_hooks(hooks, "c", layer, c)
        h = o * c.tanh()
        if hooks:
            h = _run_hooks(hooks, "h", layer, h)
        hs.append(h)
        cs.append(c)
        inp = h
    return inp, (torch.stack(hs), torch.stack(cs))


def run_hooks(module: nn.Module, name: str, layer: int, value: Tensor) -> Tensor:
    """Pass ``value`` (B, H) through the hook point ``name`` of ``module``; returns the (maybe replaced) value.

    Any module that computes gates itself (the lessons' from-scratch cell) calls this at each
    of ``i f g o c h`` so recorders and interventions see it like an ``nn.LSTM``.
    """
    hooks = _hooks.get(module)
    return _run_hooks(hooks, name, layer, value) if hooks else value


def _run_hooks(hooks: list[StepHook], name: str, layer: int, value: Tensor) -> Tensor:
    for hook in list(hooks):
        out = hook(name, layer, value)
        if out is not None:
            value = out
    return value
