"""Record every gate and memory cell of an LSTM: ``record`` for one call, ``GateRecorder`` for many.

``torch.nn.LSTM`` runs as one fused kernel and returns only the top layer's hidden states and the
final (h, c). To get the rest exactly and fast, ``record`` runs each layer through the same fused
kernel (one layer's weights at a time), which gives that layer's whole hidden sequence a⟨1..T⟩.
Every gate pre-activation then depends only on known tensors, so all time steps are computed at
once with two big matrix products, W_ih x⟨t⟩ + W_hh a⟨t−1⟩ + b, followed by σ / tanh. The only
sequential work left is the elementwise memory-cell recurrence c⟨t⟩ = Γ_f ∗ c⟨t−1⟩ + Γ_u ∗ ĉ⟨t⟩,
a few dozen small ops (``cell_scan``).

On a CPU with oneDNN (float32) there is a cheaper route to the gates: run the layer in *training*
mode, where the kernel keeps every activated gate in its workspace for the backward pass, and read
them from there (``_onednn_layer``). oneDNN then picks its reference kernel over its fastest one,
which costs 0–30% more than the plain run (more with more threads), still less than three extra
matrix products and a second pass. The workspace layout is oneDNN's own, not a documented API, so
every read is checked against gate rows recomputed directly at three time steps; if they disagree
(another oneDNN version), the matrix-product route is used instead. Never a wrong value, at worst
slower.

``GateRecorder`` hooks a whole model: fused ``nn.LSTM`` calls through forward hooks (computed as
above from the call's input and state), single steps (``lstm_step``, generation) through the
layer hooks of ``lstmviz.cell``, ``nn.LSTMCell`` through forward hooks, and any module with a
``hook_points`` attribute (the lessons' from-scratch cell) through its step hooks. Steps are
appended in call order to a ring buffer per layer: memory stays bounded in long generations.
"""

from __future__ import annotations

import math
import operator
import warnings

import torch
from torch import Tensor, nn

from ..core import cell
from ..core.cell import activate, layer_weights, prepare
from ..core.errors import LstmvizError
from ..core.names import ALIASES, MEANINGS, NAMES, canonical

# ---- settings -------------------------------------------------------------------------------
#: Default cap on a GateRecorder's storage, all layers and names together (MiB). 400 MiB holds
#: 17,066 steps of a 2x512 model in float32, 34,133 in float16.
MAX_MB = 400.0
#: Storage grows by doubling from this many steps, so short recordings stay small.
FIRST_ALLOC = 256


class Trace:
    """Recorded activations of an LSTM: ``trace[name, layer]`` -> tensor shaped like the layer's output.

    (B, T, H) when batch-first, (T, B, H) otherwise, (T, H) unbatched. ``name`` is one of
    ``i f g o c h`` (see ``Trace.names``) or an alias: update=i, forget=f, candidate=g, output=o,
    cell=c, activation=hidden=h. ``layer`` counts from 0; negative indices count from the top.
    ``trace.output`` and ``trace.final_state`` are what the module returned (for ``record``) or
    the top layer's a⟨1..T⟩ and the last step's (h, c) (for a ``GateRecorder``). The values are
    views of the trace's storage: copy before changing them in place.
    """

    #: name -> meaning, in Ng's notation (TransformerLens-style list of hook points)
    names = MEANINGS
    aliases = ALIASES

    def __init__(
        self,
        layers: list[dict[str, Tensor]],
        *,
        batch_first: bool = False,
        unbatched: bool = False,
        output: Tensor | None = None,
        final_state: tuple[Tensor, Tensor] | None = None,
        start: int = 0,
    ):
        """layers: per layer {name: (T, B, H) time-major}; output/final_state already in the module's layout."""
        self._layers = layers
        self.batch_first = batch_first and not unbatched
        self.unbatched = unbatched
        self.start = start  # index of the first kept step among all steps recorded (ring buffer)
        self._output, self._final_state = output, final_state

    # ---- shape facts
    @property
    def num_layers(self) -> int:
        return len(self._layers)

    @property
    def steps(self) -> int:
        """Number of time steps T held."""
        first = next(iter(self._layers[0].values()), None) if self._layers else None
        return 0 if first is None else first.shape[0]

    def __len__(self) -> int:
        return self.steps

    @property
    def batch_size(self) -> int:
        first = next(iter(self._layers[0].values()))
        return first.shape[1]

    def hidden_size(self, layer: int = -1) -> int:
        """Units in ``layer``."""
        return next(iter(self._layers[self._layer(layer)].values())).shape[-1]

    def available(self, layer: int = -1) -> tuple[str, ...]:
        """The names recorded for ``layer`` (all six unless a module reports fewer)."""
        return tuple(n for n in NAMES if n in self._layers[self._layer(layer)])

    # ---- access
    def _layer(self, layer: int) -> int:
        L = len(self._layers)
        try:
            index = operator.index(layer)  # ints, NumPy ints, 0-d integer tensors
        except TypeError:
            index = None
        if index is None or not -L <= index < L:
            raise LstmvizError(
                f"layer {layer!r} is out of range: this trace has {L} layer(s), 0..{L - 1}"
            )
        return index % L

    def _layout(self, t: Tensor) -> Tensor:
        if self.unbatched:
            return t[:, 0]
        return t.transpose(0, 1) if self.batch_first else t

    def __getitem__(self, key: tuple[str, int]) -> Tensor:
        """``trace['c', 0]`` -> (B, T, H) / (T, B, H) / (T, H) values of ``name`` in ``layer``."""
        if not (isinstance(key, tuple) and len(key) == 2):
            raise LstmvizError(f"index a trace with (name, layer), e.g. trace['c', 0]; got {key!r}")
        name, layer = canonical(key[0]), self._layer(key[1])
        data = self._layers[layer]
        if name not in data:
            raise LstmvizError(
                f"{name!r} was not recorded for layer {layer}; available: "
                f"{' '.join(self.available(layer))}"
            )
        return self._layout(data[name])

    def __contains__(self, key: tuple[str, int]) -> bool:
        try:
            self[key]
        except LstmvizError:
            return False
        return True

    @property
    def output(self) -> Tensor:
        """The top layer's a⟨1..T⟩, in the module's layout (what ``nn.LSTM`` returns first)."""
        return self._output if self._output is not None else self["h", -1]

    @property
    def final_state(self) -> tuple[Tensor, Tensor]:
        """(h_n, c_n), each (L, B, H) or (L, H) unbatched: the state after the last step."""
        if self._final_state is not None:
            return self._final_state
        h = torch.stack([d["h"][-1] for d in self._layers])
        c = torch.stack([d["c"][-1] for d in self._layers])
        return (h[:, 0], c[:, 0]) if self.unbatched else (h, c)

    def __repr__(self) -> str:
        if not self._layers:
            return "Trace(empty)"
        layout = "(T, H)" if self.unbatched else "(B, T, H)" if self.batch_first else "(T, B, H)"
        return (
            f"Trace({self.num_layers} layer(s), {self.steps} steps, batch {self.batch_size}, "
            f"hidden {self.hidden_size()}, layout {layout}, names {' '.join(self.available())})"
        )


# ---- record: one call, exactly --------------------------------------------------------------


def _check_dtype(w: Tensor) -> None:
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


#: Largest oneDNN workspace (bytes, about 61 per time step, batch row and unit) worth asking for;
#: longer inputs take the matrix-product route, which needs about a third of that.
MAX_WORKSPACE = 1 << 30
#: None until the workspace route first runs; then whether its layout checked out on this machine.
_ONEDNN_OK: bool | None = None


def _good_ld(n: int) -> int:
    """oneDNN's row stride for n float32 gates: a whole cache line, never a multiple of 1 KiB (aliasing)."""
    ld = -(-n // 16) * 16
    return ld + 16 if ld % 256 == 0 else ld


def _onednn_layer(lstm: nn.LSTM, layer: int, inp: Tensor, h0: Tensor, c0: Tensor):
    """Layer ``layer`` through oneDNN in training mode: inp (T, B, In) -> (a (T, B, H), h_T, c_T,
    activated gates (T, B, 4H)), or None where that route is unavailable or its layout does not check out.
    """
    global _ONEDNN_OK
    T, B = inp.shape[:2]
    H = lstm.hidden_size
    if (
        _ONEDNN_OK is False
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
    ld = _good_ld(4 * H)
    if ws.dtype != torch.uint8 or ws.numel() < T * B * ld * 4:
        _ONEDNN_OK = False
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
    _ONEDNN_OK = ok
    if not ok:
        return None
    return out, hy.reshape(B, H), cy.reshape(B, H), gates.clone()


@torch.no_grad()
def _compute(lstm: nn.LSTM, xt: Tensor, h0: Tensor, c0: Tensor, top: tuple | None = None):
    """Per layer (gates (T, B, 4H) activated i f g o, c (T, B, H), a (T, B, H)), plus (h_n, c_n) (L, B, H).

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
        run = None if known else _onednn_layer(lstm, layer, inp, h0[layer], c0[layer])
        if run is not None:
            out, h_n, c_n, pre = run
        else:
            if known:
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
    """The memory-cell recurrence c⟨t⟩ = f⟨t⟩ ∗ c⟨t−1⟩ + u⟨t⟩: f, u (T, ...), c0 (...) -> c (T, ...).

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
    """Run ``lstm(x, state)`` and record every gate and cell: x (B, T, In) / (T, B, In) / (T, In) -> Trace.

    Exact: ``trace.output`` and ``trace.final_state`` are what the module returns, and every gate
    equals a step-by-step ``nn.LSTMCell`` loop with the same weights (to float rounding).
    """
    if not isinstance(lstm, nn.LSTM):
        raise LstmvizError(
            f"record needs a torch.nn.LSTM, got {type(lstm).__name__}; for a whole "
            "model use lstmviz.GateRecorder(model)"
        )
    xt, h0, c0, batched = prepare(lstm, x, state)
    _check_dtype(lstm.weight_ih_l0)
    layers, (h_n, c_n) = _compute(lstm, xt, h0, c0)
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


# ---- GateRecorder: many calls, bounded memory ----------------------------------------------


class _Tape:
    """Ring buffers for one hooked module: per layer (steps, B, 6H) holding i f g o c h side by side."""

    def __init__(
        self,
        rec: GateRecorder,
        module: nn.Module,
        num_layers: int,
        batch_first: bool,
        names: tuple[str, ...] = NAMES,
    ):
        self.rec, self.module, self.num_layers = rec, module, num_layers
        self.batch_first = batch_first
        self.names = names  # the names this module reports
        self.bufs: list[Tensor | None] = [None] * num_layers
        self.counts = [0] * num_layers
        self.cap = 0  # steps kept per layer, fixed at the first write
        self.batch = -1
        self.unbatched = True  # until a batched call is seen

    def _alloc(self, layer: int, like: Tensor, H: int) -> Tensor:
        B = like.shape[-2]
        if self.batch < 0:
            self.batch = B
        elif B != self.batch:
            raise LstmvizError(
                f"GateRecorder got a batch of {B} after recording batches of {self.batch}; one "
                "recorder holds one batch layout. Use recorder.reset() or a new recorder."
            )
        dtype = self.rec.dtype or like.dtype
        device = like.device if self.rec.device is None else torch.device(self.rec.device)
        if self.cap == 0:
            step_bytes = self.num_layers * B * 6 * H * torch.empty((), dtype=dtype).element_size()
            by_mb = (
                int(self.rec.max_mb * 2**20 // step_bytes)
                if math.isfinite(self.rec.max_mb)
                else None
            )
            caps = [c for c in (self.rec.max_steps, by_mb) if c is not None]
            self.cap = max(1, min(caps)) if caps else 2**62
        buf = self.bufs[layer]
        n = min(self.cap, FIRST_ALLOC if buf is None else 2 * buf.shape[0])
        new = torch.zeros(n, B, 6 * H, dtype=dtype, device=device)
        if buf is not None:
            new[: buf.shape[0]] = buf
        self.bufs[layer] = new
        return new

    def push_step(self, layer: int, gates: Tensor, c: Tensor, h: Tensor) -> None:
        """One step of one layer: gates (B, 4H) activated, c and h (B, H)."""
        buf, n = self.bufs[layer], self.counts[layer]
        if buf is None or (n >= buf.shape[0] and buf.shape[0] < self.cap):
            buf = self._alloc(layer, c, c.shape[-1])
        elif c.shape[0] != self.batch:
            self._alloc(layer, c, c.shape[-1])  # raises with a clear message
        row = buf[n % buf.shape[0]]
        if row.device == c.device and row.dtype == c.dtype:
            torch.cat((gates, c, h), dim=1, out=row)  # one copy, no temporary
        else:  # float16 storage, or a GPU model recorded into host memory
            row.copy_(torch.cat((gates, c, h), dim=1))
        self.counts[layer] = n + 1

    def push_seq(self, layer: int, gates: Tensor, c: Tensor, h: Tensor) -> None:
        """T steps of one layer: gates (T, B, 4H), c and h (T, B, H)."""
        for t0 in range(0, gates.shape[0], FIRST_ALLOC):  # chunks, so growth and wrap stay simple
            g, cc, hh = (
                gates[t0 : t0 + FIRST_ALLOC],
                c[t0 : t0 + FIRST_ALLOC],
                h[t0 : t0 + FIRST_ALLOC],
            )
            T, n = g.shape[0], self.counts[layer]
            buf = self.bufs[layer]
            while buf is None or (n + T > buf.shape[0] and buf.shape[0] < self.cap):
                buf = self._alloc(layer, cc[0], cc.shape[-1])
            if cc.shape[1] != self.batch:
                self._alloc(layer, cc[0], cc.shape[-1])
            size = buf.shape[0]
            if T >= size:  # only the last `size` steps survive
                g, cc, hh, n, T = g[-size:], cc[-size:], hh[-size:], n + T - size, size
            rows = torch.cat((g, cc, hh), dim=-1)
            pos = n % size
            first = min(T, size - pos)
            buf[pos : pos + first] = rows[:first]
            if first < T:
                buf[: T - first] = rows[first:]
            self.counts[layer] = n + T

    def push_name(self, layer: int, name: str, value: Tensor) -> None:
        """One hook point of a module that calls ``run_hooks`` itself; the step ends at its last name."""
        value = value.detach()  # a recording must not hold on to the autograd graph
        if value.dim() == 1:
            value = value[None]
        else:
            self.unbatched = False
        H = value.shape[-1]
        buf, n = self.bufs[layer], self.counts[layer]
        if buf is None or (n >= buf.shape[0] and buf.shape[0] < self.cap):
            buf = self._alloc(layer, value, H)
        elif value.shape[0] != self.batch:
            self._alloc(layer, value, H)
        k = NAMES.index(name)
        buf[n % buf.shape[0], :, k * H : (k + 1) * H] = value
        if name == self.names[-1]:
            self.counts[layer] = n + 1

    def trace(self) -> Trace | None:
        if not all(self.counts):
            return None
        total = min(self.counts)  # steps every layer has finished
        kept = min([total] + [b.shape[0] for b in self.bufs])
        layers = []
        for buf in self.bufs:
            size = buf.shape[0]
            if total <= size:  # not wrapped yet: a view, no copy
                rows = buf[total - kept : total]
            else:  # oldest kept step first
                rows = buf[torch.arange(total - kept, total, device=buf.device) % size]
            H = rows.shape[-1] // 6
            layers.append(
                {
                    nm: rows[..., k * H : (k + 1) * H]
                    for k, nm in enumerate(NAMES)
                    if nm in self.names
                }
            )
        return Trace(
            layers, batch_first=self.batch_first, unbatched=self.unbatched, start=total - kept
        )


def _is_hookable(module: nn.Module) -> bool:
    return isinstance(module, (nn.LSTM, nn.LSTMCell)) or isinstance(
        getattr(module, "hook_points", None), tuple
    )


def hookable_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(qualified name, module) of every nn.LSTM, nn.LSTMCell and ``hook_points`` module in ``model``."""
    if not isinstance(model, nn.Module):
        raise LstmvizError(f"expected a torch.nn.Module, got {type(model).__name__}")
    found = [(name or type(m).__name__, m) for name, m in model.named_modules() if _is_hookable(m)]
    if not found:
        raise LstmvizError(
            f"{type(model).__name__} contains no nn.LSTM, nn.LSTMCell or module with hook_points; "
            "nothing to record"
        )
    return found


class GateRecorder:
    """Context manager that records every LSTM inside ``model`` across forward calls and steps.

    ``with GateRecorder(model) as rec: ...`` then ``rec.trace['c', 0]`` (see ``Trace``). Calls are
    concatenated along time in call order, keeping the last ``max_steps`` steps (and at most
    ``max_mb`` MiB in all); ``dtype=torch.float16`` halves the memory, ``device='cpu'`` keeps a
    GPU model's trace in host memory. The model's outputs are bit-identical with and without it,
    and its hooks are removed on exit, also when the block raises.
    """

    def __init__(
        self,
        model: nn.Module,
        max_steps: int | None = None,
        *,
        dtype: torch.dtype | None = None,
        device: str | torch.device | None = None,
        max_mb: float = MAX_MB,
    ):
        if max_steps is not None and (not isinstance(max_steps, int) or max_steps < 1):
            raise LstmvizError(f"max_steps must be a whole number >= 1 or None, got {max_steps!r}")
        if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            raise LstmvizError(
                f"dtype must be a floating torch dtype such as torch.float16, got {dtype!r}"
            )
        if not max_mb > 0:
            raise LstmvizError(f"max_mb must be > 0 (math.inf for no cap), got {max_mb!r}")
        self.model, self.max_steps, self.dtype, self.device, self.max_mb = (
            model,
            max_steps,
            dtype,
            device,
            float(max_mb),
        )
        self.modules = hookable_modules(model)
        self._handles: list = []
        self._tapes: dict[str, _Tape] = {}
        self.reset()

    def reset(self) -> None:
        """Forget everything recorded so far (the hooks stay)."""
        self._tapes = {}
        for name, m in self.modules:
            if isinstance(m, nn.LSTM):
                tape = _Tape(self, m, m.num_layers, m.batch_first)
            elif isinstance(m, nn.LSTMCell):
                tape = _Tape(self, m, 1, False)
            else:
                points = tuple(n for n in m.hook_points if n in NAMES)
                tape = _Tape(
                    self,
                    m,
                    int(getattr(m, "num_layers", 1)),
                    bool(getattr(m, "batch_first", False)),
                    points or NAMES,
                )
            self._tapes[name] = tape

    # ---- hooks
    def __enter__(self) -> GateRecorder:
        if self._handles:
            raise LstmvizError("this GateRecorder is already active; use a second one to nest")
        try:
            for name, m in self.modules:
                tape = self._tapes[name]
                if isinstance(m, nn.LSTM):
                    self._handles.append(
                        m.register_forward_hook(self._lstm_hook(tape), with_kwargs=True)
                    )
                    self._handles.append(cell.add_layer_hook(m, self._layer_hook(tape)))
                elif isinstance(m, nn.LSTMCell):
                    self._handles.append(
                        m.register_forward_hook(self._cell_hook(tape), with_kwargs=True)
                    )
                    self._handles.append(cell.add_layer_hook(m, self._layer_hook(tape)))
                else:
                    self._handles.append(
                        cell.add_step_hook(m, self._name_hook(tape), observer=True)
                    )
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove every hook (also done on leaving the ``with`` block)."""
        while self._handles:
            self._handles.pop().remove()

    @staticmethod
    def _layer_hook(tape: _Tape):
        def hook(layer: int, gates: Tensor, c: Tensor, h: Tensor) -> None:
            tape.unbatched = False  # lstm_step and cell_step report (B, H)
            tape.push_step(layer, gates, c, h)

        return hook

    @staticmethod
    def _name_hook(tape: _Tape):
        def hook(name: str, layer: int, value: Tensor) -> None:
            tape.push_name(layer, name, value)

        return hook

    @staticmethod
    def _lstm_hook(tape: _Tape):
        def hook(module: nn.LSTM, args: tuple, kwargs: dict, output) -> None:
            if cell.runs_stepwise(module):  # the steps already went through the layer hooks
                return
            x = args[0] if args else kwargs.get("input")
            hx = args[1] if len(args) > 1 else kwargs.get("hx")
            with torch.no_grad():
                xt, h0, c0, batched = prepare(module, x, hx)
                _check_dtype(module.weight_ih_l0)
                out, (h_n, c_n) = output
                if not batched:
                    out, h_n, c_n = out[:, None], h_n[:, None], c_n[:, None]
                elif module.batch_first:
                    out = out.transpose(0, 1)
                layers, _ = _compute(
                    module, xt, h0, c0, top=(out.detach(), h_n.detach(), c_n.detach())
                )
            if batched:
                tape.unbatched = False
            for layer, (g, c, h) in enumerate(layers):
                tape.push_seq(layer, g, c, h)

        return hook

    @staticmethod
    def _cell_hook(tape: _Tape):
        def hook(module: nn.LSTMCell, args: tuple, kwargs: dict, output) -> None:
            if cell.runs_stepwise(module):
                return
            x = args[0] if args else kwargs.get("input")
            hx = args[1] if len(args) > 1 else kwargs.get("hx")
            with torch.no_grad():
                batched = x.dim() == 2
                _check_dtype(module.weight_ih)
                xb = x if batched else x[None]
                if hx is None:
                    h0 = xb.new_zeros(xb.shape[0], module.hidden_size)
                else:
                    h0 = hx[0] if batched else hx[0][None]
                ((w_ih_t, w_hh_t, b),) = cell._packed_weights(module)
                gates = torch.addmm(b, xb, w_ih_t).addmm_(h0, w_hh_t)
                H = module.hidden_size
                gates[:, : 2 * H].sigmoid_()
                gates[:, 2 * H : 3 * H].tanh_()
                gates[:, 3 * H :].sigmoid_()
                h1, c1 = output
                h1, c1 = (h1, c1) if batched else (h1[None], c1[None])
            if batched:
                tape.unbatched = False
            tape.push_step(0, gates, c1.detach(), h1.detach())

        return hook

    # ---- results
    @property
    def traces(self) -> dict[str, Trace]:
        """{module name: Trace} for every hooked module that recorded something."""
        out = {}
        for name, tape in self._tapes.items():
            t = tape.trace()
            if t is not None:
                out[name] = t
        return out

    @property
    def trace(self) -> Trace:
        """The one recorded module's Trace (see ``traces`` when the model has several LSTMs)."""
        traces = self.traces
        if len(traces) == 1:
            return next(iter(traces.values()))
        if not traces:
            raise LstmvizError(
                "nothing recorded yet: run the model inside `with GateRecorder(model):`"
            )
        raise LstmvizError(
            f"several LSTMs recorded ({', '.join(traces)}); use recorder.traces[name]"
        )

    def nbytes(self) -> int:
        """Bytes of trace storage allocated now."""
        return sum(
            b.numel() * b.element_size()
            for t in self._tapes.values()
            for b in t.bufs
            if b is not None
        )
