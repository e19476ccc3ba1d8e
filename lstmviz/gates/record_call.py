"""``record``: every gate and memory cell of one ``nn.LSTM`` call, exactly and fast.

``torch.nn.LSTM`` runs as one fused kernel and returns only the top layer's hidden states and the
final (h, c). To get the rest exactly and fast, ``record`` runs each layer through the same fused
kernel (one layer's weights at a time), which gives that layer's whole hidden sequence a⟨1..T⟩.
Every gate pre-activation then depends only on known tensors, so all time steps are computed at
once with two big matrix products, W_ih x⟨t⟩ + W_hh a⟨t−1⟩ + b, followed by σ / tanh (the
matrix-product route). The only sequential work left is the elementwise memory-cell recurrence
c⟨t⟩ = Γ_f ∗ c⟨t−1⟩ + Γ_u ∗ ĉ⟨t⟩, a few dozen small ops (``cell_scan``).

On a CPU with oneDNN (float32) the gates are read from the kernel's workspace instead, checked,
which is cheaper (``lstmviz.gates._onednn``; ``LSTMVIZ_ONEDNN=0`` turns that path off).
"""

from __future__ import annotations

import math
import warnings
from typing import Any, cast

import torch
from torch import Tensor, nn

from ..core.cell import activate, layer_weights, prepare
from ..core.errors import LstmvizError
from ..core.model import CharLSTM
from . import _onednn
from .trace import Trace


def check_dtype(w: Tensor) -> None:
    """Raise LstmvizError unless ``w`` is float32 or float64, the dtypes recorded exactly."""
    if w.dtype not in (torch.float32, torch.float64):
        raise LstmvizError(
            f"recording needs float32 or float64 weights, got {w.dtype}: the fused kernel "
            "accumulates half precision differently. Convert with model.float()."
        )


def _fused_layer(lstm: nn.LSTM, layer: int, inp: Tensor, h0: Tensor, c0: Tensor):
    """Layer ``layer`` alone through the fused kernel: inp (T, B, In) -> (a (T, B, H), h_T, c_T)."""
    names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if lstm.bias else [])
    weights = [getattr(lstm, f"{n}_l{layer}") for n in names]
    with warnings.catch_warnings():
        # cuDNN warns that one layer's weights are not one contiguous block; it copies them, fine
        warnings.filterwarnings("ignore", message=".*contiguous chunk of memory.*")
        out, hy, cy = torch._VF.lstm(
            inp, (h0[None], c0[None]), weights, lstm.bias, 1, 0.0, False, False, False
        )
    return out, hy[0], cy[0]


@torch.no_grad()
def compute_layers(lstm: nn.LSTM, xt: Tensor, h0: Tensor, c0: Tensor, top: tuple | None = None):
    """Per layer (activated gates i f g o (T, B, 4H), c, a (T, B, H)), and (h_n, c_n) (L, B, H).

    ``top``: the module's own (output (T, B, H), h_n, c_n) when already known (a forward hook),
    so the top layer is not run twice.
    """
    T, B = xt.shape[:2]
    L, H = lstm.num_layers, lstm.hidden_size
    gates, hs, hy, cy = [], [], [], []
    inp = xt
    for layer in range(L):
        # the top layer's output is known in a forward hook: two matrix products beat a rerun there
        known = top is not None and layer == L - 1
        run = None if known else _onednn.layer_gates(lstm, layer, inp, h0[layer], c0[layer])
        if run is not None:
            out, h_n, c_n, pre = run
        else:
            if known and top is not None:
                out, h_n, c_n = top[0], top[1][layer], top[2][layer]
            else:
                out, h_n, c_n = _fused_layer(lstm, layer, inp, h0[layer], c0[layer])
            w_ih, w_hh, b = layer_weights(lstm, layer)
            # all pre-activations at once: b + x⟨t⟩ W_ihᵀ + a⟨t−1⟩ W_hhᵀ, with a⟨0⟩ = h0
            pre = torch.addmm(b, inp.reshape(T * B, -1), w_ih.t()).view(T, B, 4 * H)
            pre[0].addmm_(h0[layer], w_hh.t())
            if T > 1:
                pre[1:].view((T - 1) * B, 4 * H).addmm_(out[:-1].reshape((T - 1) * B, H), w_hh.t())
            activate(pre, H)
        gates.append(pre)
        hs.append(out)
        hy.append(h_n)
        cy.append(c_n)
        inp = out
    layers = []
    for layer, g in enumerate(gates):
        u = g[..., :H] * g[..., 2 * H : 3 * H]  # Γ_u ∗ ĉ⟨t⟩, what each step writes
        layers.append((g, cell_scan(g[..., H : 2 * H], u, c0[layer]), hs[layer]))
    return layers, (torch.stack(hy), torch.stack(cy))


def cell_scan(f: Tensor, u: Tensor, c0: Tensor) -> Tensor:
    """The cell recurrence c⟨t⟩ = f⟨t⟩ ∗ c⟨t−1⟩ + u⟨t⟩: f, u (T, ...), c0 (...) -> c (T, ...).

    A loop of T tiny ops would cost more Python than arithmetic, so the steps are cut into n ≈ √T
    chunks of K steps: every chunk runs its own recurrence from 0 at once, together with the running
    product of its f (how much of the chunk's start survives so far): K ops over all chunks. Then
    the chunk starts are chained (n ops) and added in, and the < K leftover steps run one by one.
    About 3√T ops instead of T, the same values to float rounding, written straight into c.
    """
    T, rest = f.shape[0], f.shape[1:]
    K = max(1, math.isqrt(T))
    n = T // K
    m = n * K
    c = torch.empty((T, *rest), dtype=u.dtype, device=u.device)
    fc = f[:m].reshape(n, K, *rest)
    uc = u[:m].reshape(n, K, *rest)
    local = c[:m].view(n, K, *rest)  # each chunk's recurrence started from c = 0, then corrected
    carry = torch.empty_like(local)  # ∏ f over the chunk so far
    local[:, 0] = uc[:, 0]
    carry[:, 0] = fc[:, 0]
    for k in range(1, K):
        torch.addcmul(uc[:, k], fc[:, k], local[:, k - 1], out=local[:, k])
        torch.mul(carry[:, k - 1], fc[:, k], out=carry[:, k])
    starts = torch.empty_like(local[:, 0])
    prev = c0
    for j in range(n):
        starts[j] = prev
        prev = torch.addcmul(local[j, -1], carry[j, -1], prev)
    local.addcmul_(carry, starts[:, None])
    for t in range(m, T):
        torch.addcmul(u[t], f[t], c[t - 1], out=c[t])
    return c


def _as_dict(gates: Tensor, c: Tensor, h: Tensor) -> dict[str, Tensor]:
    i, f, g, o = gates.chunk(4, dim=-1)
    return {"i": i, "f": f, "g": g, "o": o, "c": c, "h": h}


def record(lstm: nn.LSTM, x: Tensor, state: tuple[Tensor, Tensor] | None = None) -> Trace:
    """Run ``lstm(x, state)``, recording every gate and cell: x (B, T, In) / (T, B, In) / (T, In).

    Exact: ``trace.output`` and ``trace.final_state`` are what the module returns, and every gate
    equals a step-by-step ``nn.LSTMCell`` loop with the same weights (to float rounding).
    """
    if not isinstance(lstm, nn.LSTM):
        raise LstmvizError(
            f"record needs a torch.nn.LSTM, got {type(lstm).__name__}; for a whole "
            "model use lstmviz.GateRecorder(model)"
        )
    xt, h0, c0, batched = prepare(lstm, x, state)
    check_dtype(cast(Tensor, lstm.weight_ih_l0))
    layers, (h_n, c_n) = compute_layers(lstm, xt, h0, c0)
    top = layers[-1][2]
    if not batched:
        output, final = top[:, 0], (h_n[:, 0], c_n[:, 0])
    else:
        output, final = (top.transpose(0, 1) if lstm.batch_first else top), (h_n, c_n)
    return Trace(
        [_as_dict(*lay) for lay in layers],
        batch_first=lstm.batch_first,
        unbatched=not batched,
        output=output,
        final_state=final,
    )


def record_text(model: CharLSTM, vocab: Any, text: str) -> Trace:
    """A CharLSTM reading ``text`` (T chars) from a zero state: ``trace[name, layer]`` (1, T, H).

    The recording idiom in one call: ``record(model.lstm, model.embedding(ids))``, on the model's
    device, without gradients. An unknown character is an LstmvizError naming it.
    """
    ids = vocab.encode(text)[None].to(model.head.weight.device)
    with torch.no_grad():
        return record(model.lstm, model.embedding(ids))
