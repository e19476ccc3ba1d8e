"""Influence of the past: which earlier characters did one prediction use, and how far back?

The prediction explained is log p(target | text[:position + 1]), in nats; ``target`` defaults to
the character that actually follows, ``text[position + 1]``.

* ``influence``   -- the gradient measure: for each earlier character t' <= position, the norm of
  d log p(target) / d e(t'), where e(t') (E,) is the character's input embedding vector. One
  forward and one backward pass, exact (checked against finite differences in the tests).
* ``occlusion``   -- the intervention measure: how much log p(target) drops when one character is
  replaced by a fixed character (default: a space) or dropped. Every variant in one batched,
  chunked forward pass without autograd.
* ``memory_span`` -- the gradient measure averaged over many positions of a text, as a curve over
  the distance k = position - t' (lag 0 is the last character read), each prediction weighing
  the same; ``span_shares`` gives the per-position curves it averages (for other summaries).

Models: a ``CharLSTM``, or anything shaped like it -- ``.embedding`` (nn.Embedding), a recurrent
layer ``.lstm`` or ``.rnn`` (nn.LSTM, nn.GRU or nn.RNN, batch_first) and ``.head`` (hidden ->
logits). All measures use the model in eval mode (dropout off; the mode is restored afterwards),
like ``generate``.

On a GPU, cuDNN's fused RNN refuses a backward pass in eval mode. Switching the layer to train mode
would turn on its dropout between layers (and change a model that a generation may be using, whose
step-by-step path refuses train mode), so the gradient measures turn cuDNN off for their one
forward/backward instead (a process-wide switch, restored afterwards): PyTorch's own CUDA LSTM
kernels compute the same function and support autograd in eval mode. On the CPU nothing changes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from torch import Tensor, nn

from ..core import checks
from ..core.device import memory_bytes, out_of_memory
from ..core.errors import LstmvizError
from ..core.numbers import mean_se
from ..core.vocab import Vocab

# ---- settings
# Rows x steps x hidden units of one batched forward: bounds the memory of occlusion and
# memory_span (2**22 float32 outputs = 16 MB; autograd keeps several times that for memory_span).
CHUNK_ELEMENTS = 2**22
#: The most multiply-adds ``occlusion`` starts: its cost grows with the square of the characters
#: it occludes (each variant reads the text after the occluded one again). 10^13 is minutes on one
#: CPU core (measured 5.8e10 per second on one core of a 2-core cloud CPU: 600 characters of the
#: 2 x 512 model, 6e11, in 10 s); above it, it refuses with its estimate and the ``max_context``
#: that fits. Raise it (``lstmviz.gates.attribution.OCCLUSION_MAX_MACS``) to wait longer.
OCCLUSION_MAX_MACS = 1e13
#: Multiply-adds per second assumed for the time in that message (a slower core than measured).
MACS_PER_S = 2e10
#: Bytes autograd keeps per character, layer and hidden unit in ``influence``'s backward pass
#: (gates, cell and hidden states and their gradients; peak memory measured 46-48 on a CPU).
BACKWARD_BYTES = 48

State = Tensor | tuple[Tensor, Tensor]  # h, or (h, c) for an LSTM; each (num_layers, B, H)


@dataclass
class Influence:
    """How much each character of ``text`` mattered for predicting ``target`` after it."""

    text: str  # the context, text[:position + 1] of the text given
    position: int  # index of the last context character; the prediction is for position + 1
    target: str  # the character whose log-probability is explained
    logp: float  # log p(target | text), nats
    predicted: str  # the model's most probable next character
    predicted_logp: float  # its log-probability, nats
    scores: np.ndarray  # (position + 1,) one score per character of text; NaN before ``start``
    start: int  # the first scored character (0 unless max_context left earlier ones unscored)
    measure: str  # "gradient", "replace ' '" or "drop"

    def top(self, k: int = 5) -> list[tuple[int, str, float]]:
        """The ``k`` highest-scoring characters, best first: (index, character, score)."""
        order = np.argsort(-np.nan_to_num(self.scores, nan=-np.inf), kind="stable")[:k]
        return [(int(i), self.text[i], float(self.scores[i])) for i in order]


# ---- input checks: one clear LstmvizError per mistake


def _embedding(model: nn.Module) -> nn.Embedding:
    """The model's input embedding (``_recurrent`` checked that it is an nn.Embedding)."""
    return cast(nn.Embedding, model.embedding)


def _head(model: nn.Module) -> Callable[[Tensor], Tensor]:
    """The model's output layer: activations (..., H) -> logits (..., V)."""
    return cast(Callable[[Tensor], Tensor], model.head)


def _recurrent(model: nn.Module) -> nn.RNNBase:
    """The model's recurrent layer (``.lstm`` or ``.rnn``), checked to be batch-first."""
    rnn = getattr(model, "lstm", None) or getattr(model, "rnn", None)
    if not (
        isinstance(rnn, nn.RNNBase)
        and isinstance(getattr(model, "embedding", None), nn.Embedding)
        and callable(getattr(model, "head", None))
    ):
        raise LstmvizError(
            f"influence needs a character model like lstmviz.CharLSTM, with .embedding "
            f"(nn.Embedding), .lstm or .rnn (nn.LSTM / nn.GRU / nn.RNN) and .head; "
            f"got {type(model).__name__}"
        )
    projected = int(getattr(rnn, "proj_size", 0)) > 0
    if not rnn.batch_first or rnn.bidirectional or projected:
        raise LstmvizError(
            "influence needs a one-directional, batch_first recurrent layer without projections "
            "(as in lstmviz.CharLSTM)"
        )
    return rnn


def _char(vocab: Vocab, ch: object, what: str) -> int:
    """The id of one character ``ch`` of ``vocab``."""
    if not isinstance(ch, str) or len(ch) != 1:
        raise LstmvizError(f"the {what} must be one character, got {ch!r}")
    if ch not in vocab.stoi:
        raise LstmvizError(
            f"the {what} {ch!r} is not one of the {len(vocab)} characters this model knows "
            f"(known characters: {vocab.listing()})"
        )
    return vocab.stoi[ch]


def _position(text: object, position: object, *, needs_next: bool) -> int:
    """``position`` checked to index ``text`` (and to have a next character if ``needs_next``)."""
    if not isinstance(text, str) or not text:
        raise LstmvizError("the text is empty; give at least one character of context")
    try:  # the range is checked below, in words
        p = checks.whole("position", position, -(2**63), index=True)
    except LstmvizError:  # not a whole number (a float, a bool...)
        raise LstmvizError(
            f"position must be an integer (a character's index), got {position!r}"
        ) from None
    last = len(text) - 1
    if not 0 <= p <= last:
        raise LstmvizError(
            f"position {p} is outside the text of {len(text)} characters; use 0..{last}"
        )
    if needs_next and p == last:
        raise LstmvizError(
            f"position {p} is the text's last character, so no next character follows it; "
            "pass target='x' (the character whose probability to explain), or a longer text"
        )
    return p


def _prepare(vocab, text, position, target) -> tuple[int, Tensor, str, int]:
    """(position, ids (position + 1,), target character, target id) from checked inputs."""
    p = _position(text, position, needs_next=target is None)
    target = text[p + 1] if target is None else target
    tid = _char(vocab, target, "target")
    return p, vocab.encode(text[: p + 1]), target, tid


def _window_start(p: int, max_context: int | None) -> int:
    """The first character scored when only the last ``max_context`` ones are."""
    if max_context is None:
        return 0
    n = checks.whole("max_context (None: all)", max_context, 1, index=True)
    return max(0, p + 1 - n)


# ---- running the recurrent layer


@contextlib.contextmanager
def _eval(model: nn.Module) -> Iterator[None]:
    """Eval mode (dropout off) for the block, then the model's own mode again."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _autograd_ok(rnn: nn.RNNBase):
    """A context in which ``rnn`` supports backward in eval mode (cuDNN off on a GPU, see top)."""
    if next(rnn.parameters()).is_cuda and torch.backends.cudnn.enabled:
        cudnn = torch.backends.cudnn
        return cudnn.flags(
            enabled=False,
            benchmark=cudnn.benchmark,
            deterministic=cudnn.deterministic,
            allow_tf32=cudnn.allow_tf32,
        )
    return contextlib.nullcontext()


def _select(state: State | None, rows: Tensor | slice) -> State | None:
    """Rows (batch entries) of a state; None (the zero state) stays None."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return state[0][:, rows], state[1][:, rows]
    return state[:, rows]


def _expand(state: State | None, n: int) -> State | None:
    """A batch-1 state repeated for ``n`` rows: (L, 1, H) -> (L, n, H)."""
    if state is None:
        return None
    if isinstance(state, tuple):
        h, c = state
        return h.expand(-1, n, -1).contiguous(), c.expand(-1, n, -1).contiguous()
    return state.expand(-1, n, -1).contiguous()


def _cat(states: Sequence[State | None], rnn: nn.RNNBase, x: Tensor) -> State:
    """Batch-1 states (None = zeros) joined along the batch: -> (L, len(states), H) each."""
    zero = x.new_zeros(rnn.num_layers, 1, rnn.hidden_size)
    if isinstance(rnn, nn.LSTM):
        filled = [(zero, zero) if s is None else s for s in states]
        return torch.cat([s[0] for s in filled], 1), torch.cat([s[1] for s in filled], 1)
    return torch.cat([zero if s is None else cast(Tensor, s) for s in states], 1)  # h alone


@torch.no_grad()
def _states_at(rnn: nn.RNNBase, x: Tensor, cuts: Sequence[int]) -> dict[int, State | None]:
    """States after reading x[:, :cut] for each cut: x (1, N, E) -> {cut: state (L, 1, H)}.

    One pass over x, split at the cuts (fused kernel per piece): O(N), not O(N x cuts).
    """
    states: dict[int, State | None] = {0: None}
    state, done = None, 0
    for cut in sorted(set(cuts)):
        if cut > done:
            _, state = rnn(x[:, done:cut], state)
            done = cut
        states[cut] = state
    return states


def _top_h(state: State) -> Tensor:
    """The top layer's h of a state: (L, B, H) -> (B, H)."""
    return (state[0] if isinstance(state, tuple) else state)[-1]


def _log_probs(model: nn.Module, h: Tensor) -> Tensor:
    """Top-layer activations (..., H) -> log-probabilities (..., V) in float32 or float64."""
    logits = _head(model)(h)
    return torch.log_softmax(logits if logits.dtype == torch.float64 else logits.float(), -1)


def _gradient_scores(
    model: nn.Module,
    rnn: nn.RNNBase,
    x: Tensor,
    starts: Sequence[int],
    window: int,
    targets: Tensor,
    states: dict[int, State | None] | None = None,
) -> tuple[Tensor, Tensor]:
    """Gradient norms for windows of x: x (1, N, E), B starts -> (scores (B, W), log p (B, V)).

    Row b scores x[0, starts[b] : starts[b] + W] for the prediction after the window's last
    character, ``targets[b]``. The state before each window comes from reading the text before
    it (no autograd; it does not depend on the window), so the scores equal those of one
    backward pass through the whole text. One backward for all rows: rows do not interact.
    ``states`` ({start: state}, from ``_states_at``) saves re-reading the text when given.
    """
    states = _states_at(rnn, x, starts) if states is None else states
    h0 = _cat([states[s] for s in starts], rnn, x)
    rows = torch.stack([x[0, s : s + window] for s in starts]).detach().requires_grad_(True)
    with torch.enable_grad(), _autograd_ok(rnn):
        out, _ = rnn(rows, h0)
        logp = _log_probs(model, out[:, -1])
        chosen = logp.gather(1, targets[:, None]).sum()
        (grad,) = torch.autograd.grad(chosen, rows)  # the weights' .grad stay untouched
    return grad.norm(dim=-1).detach(), logp.detach()


def _result(text, p, target, tid, logp, vocab, scores, start, measure) -> Influence:
    """An ``Influence`` from log-probabilities (V,) and the scores of text[start : p + 1]."""
    full = np.full(p + 1, np.nan)
    full[start:] = scores.double().cpu().numpy()
    best = int(logp.argmax())
    return Influence(
        text=text[: p + 1],
        position=p,
        target=target,
        logp=float(logp[tid]),
        predicted=vocab.chars[best],
        predicted_logp=float(logp[best]),
        scores=full,
        start=start,
        measure=measure,
    )


# ---- the public measures


def influence(
    model: nn.Module,
    vocab: Vocab,
    text: str,
    position: int,
    *,
    target: str | None = None,
    max_context: int | None = None,
) -> Influence:
    """Gradient norm of log p(target | text[:position+1]) per input embedding: scores (position+1,).

    ``scores[t]`` = || d log p(target) / d e_t || for the embedding vector e_t (E,) of character t
    (any t <= position); characters after ``position`` are not read, so they have no score.
    ``target`` defaults to ``text[position + 1]``. With ``max_context=n`` only the last n
    characters are scored (NaN before ``start``), but the model still reads the whole text: the
    scores are the same numbers, computed faster.
    """
    rnn = _recurrent(model)
    p, ids, target, tid = _prepare(vocab, text, position, target)
    start = _window_start(p, max_context)
    dev = next(model.parameters()).device
    _check_backward_fits(rnn, p + 1 - start, dev)
    with _eval(model), _memory_refused("influence", p + 1 - start):
        with torch.no_grad():
            x = _embedding(model)(ids.to(dev)[None])  # (1, p + 1, E)
        targets = torch.tensor([tid], device=dev)
        scores, logp = _gradient_scores(model, rnn, x, [start], p + 1 - start, targets)
    return _result(text, p, target, tid, logp[0], vocab, scores[0], start, "gradient")


def _macs_per_step(rnn: nn.RNNBase) -> int:
    """Multiply-adds of one step of ``rnn`` for one text, all layers (LSTM: 4 gates)."""
    gates = {"LSTM": 4, "GRU": 3}.get(getattr(rnn, "mode", "LSTM"), 1)
    H, L = rnn.hidden_size, rnn.num_layers
    return gates * H * (rnn.input_size + H) + (L - 1) * gates * H * 2 * H


def _check_backward_fits(rnn: nn.RNNBase, window: int, device: torch.device) -> None:
    """Refuse, before allocating, a backward pass over ``window`` characters that cannot fit."""
    need = window * rnn.num_layers * rnn.hidden_size * BACKWARD_BYTES
    have = memory_bytes(device)
    if have is not None and need > have:
        fits = max(1, have // (rnn.num_layers * rnn.hidden_size * BACKWARD_BYTES))
        raise LstmvizError(
            f"influence over {window:,} characters needs about {need / 1e9:,.1f} GB for its "
            f"backward pass, more than the {have / 1e9:.1f} GB of {device.type} memory here; "
            f"pass max_context=N (scores only the last N characters; N <= {fits:,} fits) or "
            "a shorter text"
        )


@contextlib.contextmanager
def _memory_refused(what: str, window: int) -> Iterator[None]:
    """Running out of memory in the block becomes one LstmvizError saying what to do."""
    try:
        yield
    except (RuntimeError, MemoryError) as e:
        if not out_of_memory(e):
            raise
        raise LstmvizError(
            f"{what} over {window:,} characters ran out of memory ({str(e).splitlines()[0][:120]}"
            "); pass max_context=N to score only the last N characters, or use a shorter text"
        ) from None


def _occlusion_macs(rnn: nn.RNNBase, rows: int, text_len: int) -> float:
    """Multiply-adds of ``occlusion`` occluding ``rows`` characters of ``text_len``."""
    per_chunk = max(1, CHUNK_ELEMENTS // (rows * rnn.hidden_size))  # as occlusion's chunks
    # the chunk starting at row a runs min(per_chunk, rows - a) variants over rows - a characters:
    # full chunks a = 0, c, ..., (K - 1) c give c (K rows - c K (K - 1) / 2), and the rest r, r^2
    c = per_chunk
    full, rest = divmod(rows, c)
    steps = c * (full * rows - c * full * (full - 1) // 2) + rest * rest
    return float(_macs_per_step(rnn)) * (steps + text_len)  # + reading the text once


def _check_occlusion_cost(rnn: nn.RNNBase, rows: int, text_len: int) -> None:
    """Refuse an occlusion whose multiply-adds pass ``OCCLUSION_MAX_MACS``, with the estimate."""
    macs = _occlusion_macs(rnn, rows, text_len)
    if macs <= OCCLUSION_MAX_MACS:
        return
    lo, hi = 1, rows  # the most characters that fit: cost grows with them
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (
            (mid, hi)
            if _occlusion_macs(rnn, mid, text_len) <= OCCLUSION_MAX_MACS
            else (lo, mid - 1)
        )
    seconds = macs / MACS_PER_S
    took = (
        f"{seconds:.0f} s"
        if seconds < 120
        else f"{seconds / 60:,.0f} minutes"
        if seconds < 7200
        else f"{seconds / 3600:,.0f} hours"
    )
    raise LstmvizError(
        f"occlusion of {rows:,} characters needs about {macs:.1e} multiply-adds (it grows with "
        f"the square of the characters occluded; roughly {took} on one CPU core), more than the "
        f"{OCCLUSION_MAX_MACS:.0e} it starts; pass max_context=N to occlude only the last N "
        f"characters (N <= {lo:,} fits), use influence() (one backward pass), or raise "
        "lstmviz.gates.attribution.OCCLUSION_MAX_MACS"
    )


@torch.no_grad()
def occlusion(
    model: nn.Module,
    vocab: Vocab,
    text: str,
    position: int,
    *,
    target: str | None = None,
    mode: str = "replace",
    replacement: str = " ",
    max_context: int | None = None,
) -> Influence:
    """Drop in log p(target) when one earlier character is occluded: scores (position + 1,).

    ``scores[t]`` = log p(target | text) - log p(target | text with character t occluded), nats:
    positive when character t helped the prediction. ``mode="replace"`` puts ``replacement``
    (default a space, the commonest character of prose: an input the model was trained on, unlike
    an averaged embedding) in its place -- a character equal to the replacement scores exactly 0;
    ``mode="drop"`` removes it, so the text behind it moves one step closer. ``max_context=n``
    occludes only the last n characters (NaN before ``start``); the model still reads the whole
    text. All variants run as one batch (in chunks of ``CHUNK_ELEMENTS``), each chunk starting
    from the state its rows share: the text before its first occluded character.
    """
    if mode not in ("replace", "drop"):
        raise LstmvizError(f"mode must be 'replace' or 'drop', got {mode!r}")
    rnn = _recurrent(model)
    p, ids, target, tid = _prepare(vocab, text, position, target)
    start = _window_start(p, max_context)
    if mode == "drop" and p == 0:
        raise LstmvizError(
            "mode='drop' needs at least two characters of context (position >= 1): dropping the "
            "only character leaves nothing to read"
        )
    rid = _char(vocab, replacement, "replacement") if mode == "replace" else None
    T = p + 1
    _check_occlusion_cost(rnn, T - start, T)
    with _eval(model), _memory_refused("occlusion", T - start):
        dev = next(model.parameters()).device
        x = _embedding(model)(ids.to(dev)[None])  # (1, T, E)
        per_chunk = max(1, CHUNK_ELEMENTS // ((T - start) * rnn.hidden_size))
        firsts = list(range(start, T, per_chunk))
        states = _states_at(rnn, x, [*firsts, T])
        final = states[T]
        assert final is not None  # the state after T >= 1 characters, never the zero state
        base = _log_probs(model, _top_h(final)[0])  # (V,)
        drops = []
        for a in firsts:
            n = min(per_chunk, T - a)
            seg = x[0, a:].expand(n, -1, -1).clone()  # (n, T - a, E); row r occludes a + r
            r = torch.arange(n, device=dev)
            if mode == "replace":
                seg[r, r] = _embedding(model).weight[rid]
            else:
                keep = torch.ones(n, T - a, dtype=torch.bool, device=dev)
                keep[r, r] = False
                seg = seg[keep].view(n, T - a - 1, x.shape[-1])
            if seg.shape[1]:
                _, state = rnn(seg, _expand(states[a], n))
            else:  # the last character dropped: the state before it predicts
                state = _expand(states[a], n)
            drops.append(base[tid] - _log_probs(model, _top_h(state))[:, tid])
    measure = f"replace {replacement!r}" if mode == "replace" else "drop"
    return _result(text, p, target, tid, base, vocab, torch.cat(drops), start, measure)


def span_shares(
    model: nn.Module,
    vocab: Vocab,
    text: str,
    positions: Sequence[int],
    max_lag: int,
) -> np.ndarray:
    """Each prediction's share of gradient influence at each distance: -> (len(positions), K).

    K = max_lag + 1. Row j: for the prediction of ``text[p + 1]`` (p = positions[j]) the gradient
    scores s(k) of the characters at lag k = 0..max_lag (character p - k), divided by their sum
    over those lags, so each row sums to 1 whatever the prediction's overall gradient size.
    Needs max_lag <= p <= len(text) - 2. The scores equal ``influence``'s: the state before each
    window comes from reading the text before it. Positions are batched, many per backward pass.
    """
    rnn = _recurrent(model)
    K = checks.whole("max_lag", max_lag, 0, index=True) + 1
    ps = [_position(text, q, needs_next=True) for q in positions]
    if not ps:
        raise LstmvizError("positions is empty; give at least one position to average over")
    if min(ps) < K - 1:
        raise LstmvizError(
            f"position {min(ps)} has fewer than max_lag={K - 1} characters before it; "
            f"use positions >= {K - 1} or a smaller max_lag"
        )
    ids = vocab.encode(text[: max(ps) + 2])
    per_chunk = max(1, CHUNK_ELEMENTS // (K * rnn.hidden_size))
    shares = []
    with _eval(model):
        dev = next(model.parameters()).device
        ids = ids.to(dev)
        with torch.no_grad():
            x = _embedding(model)(ids[None])  # (1, N, E)
        states = _states_at(rnn, x, [q - K + 1 for q in ps])
        for i in range(0, len(ps), per_chunk):
            chunk = ps[i : i + per_chunk]
            starts = [q - K + 1 for q in chunk]
            targets = ids[[q + 1 for q in chunk]]
            # (B, K): columns are lags K-1..0
            scores, _ = _gradient_scores(model, rnn, x, starts, K, targets, states)
            s = scores.flip(1).double()  # column k = lag k
            shares.append(s / s.sum(1, keepdim=True).clamp_min(torch.finfo(s.dtype).tiny))
    return torch.cat(shares).cpu().numpy()


def memory_span(
    model: nn.Module,
    vocab: Vocab,
    text: str,
    positions: Sequence[int],
    max_lag: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean share of gradient influence at each distance: -> (lags (K,), mean (K,), se (K,)).

    K = max_lag + 1. The rows of ``span_shares`` (one per position, each summing to 1, so each
    prediction weighs the same whatever its overall gradient size) averaged over the positions;
    ``se`` is their standard error (sample standard deviation / sqrt(n); NaN for one position).
    Needs max_lag <= p <= len(text) - 2 for every position p.
    """
    share = span_shares(model, vocab, text, positions, max_lag)  # (n, K)
    n, K = share.shape
    mean, se = mean_se(share) if n > 1 else (share[0], np.full(K, np.nan))
    return np.arange(K), mean, se
