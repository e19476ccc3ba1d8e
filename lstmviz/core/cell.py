"""One time step of an ``nn.LSTM``, written out gate by gate, with named hook points.

The fused kernel (cuDNN / oneDNN) is fast for long sequences but hides the gates, and its
oneDNN path is slow for a single step on a small CPU. Generation runs one character at a
time, so it goes through ``lstm_step`` instead: two matrix products per layer on packed
weights, then the elementwise cell update in Ng's notation:

    Γ_u = i = σ(·)   Γ_f = f = σ(·)   ĉ = g = tanh(·)   Γ_o = o = σ(·)
    c⟨t⟩ = Γ_f ∗ c⟨t−1⟩ + Γ_u ∗ ĉ⟨t⟩       a⟨t⟩ = h = Γ_o ∗ tanh(c⟨t⟩)

Every activation passes a hook point named ``i f g o c h`` (per layer): the hooks attached
there (``lstmviz.core.hooks``) may read or replace it. ``prepare`` and ``check_supported`` check
an ``nn.LSTM`` call's input the way the module would, with one readable error each.
"""

from __future__ import annotations

import weakref
from typing import cast

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from .errors import LstmvizError
from .hooks import apply_step_hooks, hooks_of
from .names import NAMES

_packed: weakref.WeakKeyDictionary[nn.Module, tuple] = weakref.WeakKeyDictionary()


def check_supported(lstm: nn.LSTM) -> None:
    """Raise LstmvizError for an ``nn.LSTM`` setting whose gates cannot be reproduced exactly."""
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


def param(module: nn.Module, name: str) -> Tensor:
    """``module``'s parameter or buffer ``name`` (e.g. ``weight_hh_l0`` of an nn.RNN): (shape as
    registered). torch's type hints give such attributes as ``Tensor | Module``; this is the one
    place that says which."""
    return cast(Tensor, getattr(module, name))


def layer_weights(lstm: nn.Module, layer: int) -> tuple[Tensor, Tensor, Tensor]:
    """Layer ``layer``'s (W_ih (4H, In), W_hh (4H, H), b (4H,)) with both biases added."""
    w_ih = getattr(lstm, f"weight_ih_l{layer}")
    w_hh = getattr(lstm, f"weight_hh_l{layer}")
    if lstm.bias:
        b = getattr(lstm, f"bias_ih_l{layer}") + getattr(lstm, f"bias_hh_l{layer}")
    else:
        b = w_ih.new_zeros(w_ih.shape[0])
    return w_ih, w_hh, b


def packed_weights(lstm: nn.Module) -> list[tuple[Tensor, Tensor, Tensor]]:
    """Per layer (W_ih^T, W_hh^T, b), contiguous, cached until a parameter changes."""
    params = list(lstm.parameters())
    key = [(p.data_ptr(), p._version, p.dtype, p.device) for p in params]
    cached = _packed.get(lstm)
    if cached is None or cached[0] != key:
        with torch.no_grad():
            layers = []
            for layer in range(getattr(lstm, "num_layers", 1)):
                if isinstance(lstm, nn.LSTMCell):
                    b = lstm.bias_ih + lstm.bias_hh if lstm.bias else None
                    w_ih, w_hh = lstm.weight_ih, lstm.weight_hh
                    b = w_ih.new_zeros(w_ih.shape[0]) if b is None else b
                else:
                    w_ih, w_hh, b = layer_weights(lstm, layer)
                layers.append((w_ih.t().contiguous(), w_hh.t().contiguous(), b.detach().clone()))
        cached = (key, layers)
        _packed[lstm] = cached
    return cached[1]


def activate(pre: Tensor, H: int) -> Tensor:
    """Gate pre-activations (..., 4H) in place -> Γ_u, Γ_f = σ (adjacent), ĉ = tanh, Γ_o = σ."""
    pre[..., : 2 * H].sigmoid_()
    pre[..., 2 * H : 3 * H].tanh_()
    pre[..., 3 * H :].sigmoid_()
    return pre


def _layer(hooks, observers, layer_hooks, layer, gates, c_prev, H):
    """One layer's elementwise step: gate pre-activations (B, 4H) -> (c, h), through the hooks."""
    activate(gates, H)  # in place on the packed gates
    i, f, g, o = gates.chunk(4, dim=1)
    if hooks or observers:
        for k, name in enumerate(NAMES[:4]):
            v = (i, f, g, o)[k]
            new = apply_step_hooks(hooks, observers, name, layer, v)
            if new is not v:
                gates[:, k * H : (k + 1) * H] = new  # keeps the packed gates what the cell used
    c = torch.addcmul(f * c_prev, i, g)
    if hooks or observers:
        c = apply_step_hooks(hooks, observers, "c", layer, c)
    h = o * c.tanh()
    if hooks or observers:
        h = apply_step_hooks(hooks, observers, "h", layer, h)
    if layer_hooks:
        for hook in list(layer_hooks):
            hook(layer, gates, c, h)
    return c, h


@torch.no_grad()
def lstm_step(
    lstm: nn.LSTM, x: Tensor, state: tuple[Tensor, Tensor] | None = None
) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """One step through every layer: x (B, In), (h, c) each (L, B, H) or None -> (h_top, (h, c)).

    Equals ``lstm(x[None], state)`` (up to float rounding) without the fused kernel, and
    calls the hooks attached to ``lstm`` at each of ``i f g o c h``. No autograd.
    """
    check_supported(lstm)
    H = lstm.hidden_size
    if state is None:
        zeros = x.new_zeros(lstm.num_layers, x.shape[0], H)
        state = (zeros, zeros)
    h_prev, c_prev = state
    hooks, observers, layer_hooks = hooks_of(lstm)
    hs, cs = [], []
    inp = x
    for layer, (w_ih_t, w_hh_t, b) in enumerate(packed_weights(lstm)):
        gates = torch.addmm(b, inp, w_ih_t).addmm_(h_prev[layer], w_hh_t)
        c, h = _layer(hooks, observers, layer_hooks, layer, gates, c_prev[layer], H)
        hs.append(h)
        cs.append(c)
        inp = h
    return inp, (torch.stack(hs), torch.stack(cs))


@torch.no_grad()
def cell_step(
    cell: nn.LSTMCell, x: Tensor, state: tuple[Tensor, Tensor] | None = None
) -> tuple[Tensor, Tensor]:
    """``nn.LSTMCell`` gate by gate through the hooks (layer 0): x (B, In) / (In,) -> (h, c)."""
    unbatched = x.dim() == 1
    if unbatched:
        x = x[None]
        state = None if state is None else (state[0][None], state[1][None])
    if state is None:
        zeros = x.new_zeros(x.shape[0], cell.hidden_size)
        state = (zeros, zeros)
    ((w_ih_t, w_hh_t, b),) = packed_weights(cell)
    gates = torch.addmm(b, x, w_ih_t).addmm_(state[0], w_hh_t)
    c, h = _layer(*hooks_of(cell), 0, gates, state[1], cell.hidden_size)
    return (h[0], c[0]) if unbatched else (h, c)


def prepare(
    lstm: nn.LSTM, x: Tensor, state: tuple[Tensor, Tensor] | None
) -> tuple[Tensor, Tensor, Tensor, bool]:
    """Check an ``nn.LSTM`` call like the module: -> (x (T, B, In), h0, c0 (L, B, H), batched)."""
    check_supported(lstm)
    if isinstance(x, PackedSequence):
        raise LstmvizError(
            "PackedSequence inputs are not supported: record each sequence separately, or pad "
            "them to one (B, T, In) tensor"
        )
    if not isinstance(x, Tensor):
        raise LstmvizError(f"the input must be a tensor, got {type(x).__name__}")
    w = lstm.weight_ih_l0
    if x.dim() not in (2, 3):
        raise LstmvizError(
            f"the input must be (T, In) unbatched or (B, T, In) / (T, B, In) batched, got shape "
            f"{tuple(x.shape)}"
        )
    if x.shape[-1] != lstm.input_size:
        raise LstmvizError(
            f"the input has {x.shape[-1]} features per step but the LSTM expects input_size="
            f"{lstm.input_size}"
        )
    if x.dtype != w.dtype or x.device != w.device:
        raise LstmvizError(
            f"the input is {x.dtype} on {x.device} but the LSTM's weights are {w.dtype} on "
            f"{w.device}; convert one of them (e.g. x.to(lstm.weight_ih_l0))"
        )
    batched = x.dim() == 3
    xt = x if batched else x[:, None]
    if batched and lstm.batch_first:
        xt = xt.transpose(0, 1)
    T, B = xt.shape[:2]
    if T == 0 or B == 0:
        raise LstmvizError(f"the input has no time steps or no sequences (shape {tuple(x.shape)})")
    L, H = lstm.num_layers, lstm.hidden_size
    if state is None:
        zeros = xt.new_zeros(L, B, H)
        return xt, zeros, zeros, batched
    if not (
        isinstance(state, (tuple, list))
        and len(state) == 2
        and all(isinstance(s, Tensor) for s in state)
    ):
        raise LstmvizError("the state must be a pair of tensors (h0, c0), or None for zeros")
    want = (L, B, H) if batched else (L, H)
    h0, c0 = state
    for nm, s in (("h0", h0), ("c0", c0)):
        if tuple(s.shape) != want:
            raise LstmvizError(
                f"{nm} has shape {tuple(s.shape)} but this LSTM and input need {want} "
                "(num_layers, batch, hidden_size)"
            )
        if s.dtype != w.dtype or s.device != w.device:
            raise LstmvizError(
                f"{nm} is {s.dtype} on {s.device}; it must match the weights "
                f"({w.dtype} on {w.device})"
            )
    if not batched:
        h0, c0 = h0[:, None], c0[:, None]
    return xt, h0, c0, batched
