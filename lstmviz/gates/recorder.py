"""``GateRecorder``: record every LSTM inside a model across many calls, in bounded memory.

It hooks a whole model: fused ``nn.LSTM`` calls through forward hooks (computed like ``record``
from the call's input and state), single steps (``lstm_step``, generation) through the layer
hooks of ``lstmviz.core.hooks``, ``nn.LSTMCell`` through forward hooks, and any module with a
``hook_points`` attribute (the lessons' from-scratch cell) through its step hooks. Steps are
appended in call order to a ring buffer per layer: memory stays bounded in long generations.
"""

from __future__ import annotations

import math
import threading
from typing import cast

import torch
from torch import Tensor, nn

from ..core import checks, hooks
from ..core.cell import activate, packed_weights, prepare
from ..core.errors import LstmvizError
from ..core.names import NAMES
from .record_call import check_dtype, compute_layers
from .stepwise import runs_stepwise
from .trace import Trace

# ---- settings -------------------------------------------------------------------------------
#: Default cap on a GateRecorder's storage, all layers and names together (MiB). 400 MiB holds
#: 17,066 steps of a 2x512 model in float32, 34,133 in float16.
MAX_MB = 400.0
#: Without a cap (or off the CPU), storage grows by doubling from this many steps.
FIRST_ALLOC = 256


#: ``capacity`` of a recorder with neither max_steps nor a finite max_mb.
UNCAPPED = 2**62


# ---- GateRecorder: many calls, bounded memory ----------------------------------------------


class _Tape:
    """Ring buffers for one hooked module: per layer (steps, B, 6H), i f g o c h side by side."""

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
            self.cap = max(1, min(caps)) if caps else UNCAPPED
        buf = self.bufs[layer]
        if device.type == "cpu" and self.cap < UNCAPPED:
            # The whole ring at once, left untouched (torch.empty): the OS commits a page only
            # when a step is first written into it, so memory grows with the recording and stops
            # at the cap. Growing by doubling instead would hold the old and the new buffer at
            # once while copying (up to twice the cap) and copy every step again and again.
            n = self.cap
        else:
            n = min(self.cap, FIRST_ALLOC if buf is None else 2 * buf.shape[0])
        new = torch.empty(n, B, 6 * H, dtype=dtype, device=device)
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
        """One hook point of a module that calls ``run_hooks``; the step ends at its last name."""
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
        bufs = cast(list[Tensor], self.bufs)  # every layer has pushed (counts): all exist
        kept = min([total] + [b.shape[0] for b in bufs])
        layers = []
        for buf in bufs:
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
    """(qualified name, module) of each nn.LSTM, nn.LSTMCell and ``hook_points`` module."""
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

    Threads: it records only the thread that entered it. Steps the same model takes in other
    threads meanwhile are ignored (not interleaved into this trace); record those with a
    GateRecorder entered in that thread.
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
        if max_steps is not None:
            max_steps = checks.whole("max_steps (None: no cap)", max_steps, 1)
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
                points = tuple(n for n in cast(tuple[str, ...], m.hook_points) if n in NAMES)
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
        self._owner = threading.get_ident()
        try:
            for name, m in self.modules:
                tape = self._tapes[name]
                if isinstance(m, nn.LSTM | nn.LSTMCell):
                    # whole calls (the fused forward) and single steps (lstm_step's layer hook)
                    whole = self._lstm_hook if isinstance(m, nn.LSTM) else self._cell_hook
                    self._handles.append(
                        m.register_forward_hook(self._owned(whole(tape)), with_kwargs=True)
                    )
                    self._handles.append(
                        hooks.add_layer_hook(m, self._owned(self._layer_hook(tape)))
                    )
                else:
                    self._handles.append(
                        hooks.add_step_hook(m, self._owned(self._name_hook(tape)), observer=True)
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

    def _owned(self, hook):
        """``hook``, run only in the thread that entered this recorder (others are ignored)."""
        owner = self._owner

        def guarded(*args, **kwargs):
            if threading.get_ident() == owner:
                return hook(*args, **kwargs)
            return None

        return guarded

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
            if runs_stepwise(module):  # the steps already went through the layer hooks
                return
            x = args[0] if args else kwargs["input"]  # nn.LSTM's forward requires it
            hx = args[1] if len(args) > 1 else kwargs.get("hx")
            with torch.no_grad():
                xt, h0, c0, batched = prepare(module, x, hx)
                check_dtype(cast(Tensor, module.weight_ih_l0))
                out, (h_n, c_n) = output
                if not batched:
                    out, h_n, c_n = out[:, None], h_n[:, None], c_n[:, None]
                elif module.batch_first:
                    out = out.transpose(0, 1)
                layers, _ = compute_layers(
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
            if runs_stepwise(module):
                return
            x = args[0] if args else kwargs["input"]  # nn.LSTMCell's forward requires it
            hx = args[1] if len(args) > 1 else kwargs.get("hx")
            with torch.no_grad():
                batched = x.dim() == 2
                check_dtype(module.weight_ih)
                xb = x if batched else x[None]
                if hx is None:
                    h0 = xb.new_zeros(xb.shape[0], module.hidden_size)
                else:
                    h0 = hx[0] if batched else hx[0][None]
                ((w_ih_t, w_hh_t, b),) = packed_weights(module)
                gates = torch.addmm(b, xb, w_ih_t).addmm_(h0, w_hh_t)
                activate(gates, module.hidden_size)
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

    @property
    def capacity(self) -> dict[str, int]:
        """{module name: the most steps kept per layer} for each module that recorded something."""
        return {name: tape.cap for name, tape in self._tapes.items() if tape.cap}

    def nbytes(self) -> int:
        """Bytes of the steps kept now (all layers): what the recording costs in memory.

        On a CPU the ring buffer is reserved at its cap but costs memory only where steps were
        written, so this is the recording's real size; it never exceeds ``max_mb``.
        """
        return sum(
            min(n, b.shape[0]) * b[0].numel() * b.element_size()
            for t in self._tapes.values()
            for b, n in zip(t.bufs, t.counts, strict=True)
            if b is not None
        )
