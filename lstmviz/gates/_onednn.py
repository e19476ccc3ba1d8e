"""The oneDNN-workspace fast path of ``record`` (private): a layer's activated gates, read for free.

On a CPU with oneDNN (float32) there is a cheaper route to the gates than recomputing them: run
the layer in *training* mode, where the kernel keeps every activated gate in its workspace for the
backward pass, and read them from there. oneDNN then picks its reference kernel over its fastest
one, which costs 0–30% more than the plain run (more with more threads), still less than three
extra matrix products and a second pass. The workspace layout is oneDNN's own, not a documented
API, so every read is checked against gate rows recomputed directly at three time steps; if they
disagree (another oneDNN version), ``record`` takes its matrix-product route instead. Never a wrong
value, at worst slower.

The switch: ``LSTMVIZ_ONEDNN=0`` in the environment (read at import), or
``lstmviz.gates._onednn.ENABLED = False`` at run time, turns this path off; ``record`` and
``GateRecorder`` then always use the matrix-product route, with the same values (to float
rounding). Use it to rule this path out when a recording looks wrong, or to time the two routes.
``checked()`` says whether the path has run here and its layout checked out; ``row_stride`` is
the layout (a test replaces it to play another oneDNN version).
"""

from __future__ import annotations

import os

import torch
from torch import Tensor, nn

from ..core.cell import layer_weights

#: False: never take this path (``LSTMVIZ_ONEDNN=0`` in the environment sets it at import).
ENABLED = os.environ.get("LSTMVIZ_ONEDNN", "1") != "0"
#: Largest oneDNN workspace (bytes, about 61 per time step, batch row and unit) worth asking for;
#: longer inputs take the matrix-product route, which needs about a third of that.
MAX_WORKSPACE = 1 << 30
#: None until the workspace route first runs; then whether its layout checked out on this machine.
_layout_ok: bool | None = None


def checked() -> bool | None:
    """None until this path first ran; then whether the workspace layout checked out here."""
    return _layout_ok


def row_stride(n: int) -> int:
    """oneDNN's row stride for n float32 gates: whole cache lines, never a multiple of 1 KiB."""
    ld = -(-n // 16) * 16
    return ld + 16 if ld % 256 == 0 else ld


def layer_gates(lstm: nn.LSTM, layer: int, inp: Tensor, h0: Tensor, c0: Tensor):
    """Layer ``layer`` through oneDNN in training mode: inp (T, B, In) -> (a (T, B, H), h_T, c_T,
    activated gates (T, B, 4H)); None when switched off, unavailable, or the layout does not check.
    """
    global _layout_ok
    T, B = inp.shape[:2]
    H = lstm.hidden_size
    if (
        not ENABLED
        or _layout_ok is False
        or inp.device.type != "cpu"
        or inp.dtype != torch.float32
        or not torch.backends.mkldnn.is_available()
        or not torch.backends.mkldnn.enabled
        or not hasattr(torch.ops.aten, "mkldnn_rnn_layer")
        or T * B * H * 64 > MAX_WORKSPACE
    ):
        return None
    w_ih, w_hh, b = (w.detach() for w in layer_weights(lstm, layer))
    if lstm.bias:
        b_ih, b_hh = (getattr(lstm, f"{n}_l{layer}").detach() for n in ("bias_ih", "bias_hh"))
    else:
        b_ih = b_hh = b
    # the kernel reads raw memory: a batch_first input arrives here as a transposed view
    inp, h0, c0 = inp.contiguous(), h0.contiguous(), c0.contiguous()
    try:
        with torch.enable_grad():  # the workspace is only returned when autograd could want it
            out, hy, cy, ws = torch.ops.aten.mkldnn_rnn_layer(
                inp, w_ih, w_hh, b_ih, b_hh, h0, c0, False, [], 2, H, 1, True, False, False, True
            )
    except (RuntimeError, TypeError):  # another signature, or a configuration oneDNN does not take
        return None
    if ws is None:  # no workspace this time (autograd switched off in a way we did not undo)
        return None
    ld = row_stride(4 * H)
    if ws.dtype != torch.uint8 or ws.numel() < T * B * ld * 4:
        _layout_ok = False
        return None
    gates = ws[: T * B * ld * 4].view(torch.float32).view(T, B, ld)[..., : 4 * H]
    # check the layout: recompute 64 gate rows (spread over i f g o) directly at the first, middle
    # and last step; a wrong offset or stride cannot pass this
    steps = sorted({0, T // 2, T - 1})
    rows = torch.linspace(0, 4 * H - 1, min(64, 4 * H)).round().long().unique()
    prev = torch.stack([h0 if t == 0 else out[t - 1] for t in steps]).flatten(0, 1)
    pre = torch.addmm(b[rows], inp[steps].flatten(0, 1), w_ih[rows].t()).addmm_(
        prev, w_hh[rows].t()
    )
    is_g = (rows >= 2 * H) & (rows < 3 * H)
    direct = torch.where(is_g, pre.tanh(), pre.sigmoid()).view(len(steps), B, len(rows))
    ok = torch.allclose(gates[steps][..., rows], direct, rtol=0, atol=1e-4, equal_nan=True)
    _layout_ok = ok
    if not ok:
        return None
    return out, hy.reshape(B, H), cy.reshape(B, H), gates.clone()
