"""Generate text from a CharLSTM, one character at a time.

The prime is read once by the fused ``forward`` (fast for a whole string); then each new character
takes one ``model.step`` -- ``lstm_step`` on the carried state (h, c) -- and one draw from the
next-character distribution. Greedy (argmax) when ``temperature == 0`` or ``top_k == 1``; otherwise
``softmax(logits / temperature)`` restricted to the ``top_k`` most likely characters.

Randomness comes from a local ``torch.Generator`` seeded with ``seed``: the same seed gives the same
text, and the global RNG is left alone. While a recorder or intervention is attached to the model's
LSTM, the prime also goes through ``step`` (one character at a time) so the hooks see all of it.
"""

from __future__ import annotations

from collections.abc import Generator
from numbers import Real
from typing import Literal, overload

import torch
from torch import Tensor

from . import checks
from .errors import LstmvizError
from .hooks import has_step_hooks
from .model import CharLSTM
from .vocab import Vocab

#: Temperatures accepted besides 0 (greedy). Below 1e-3 logits / temperature overflows float32
#: (NaN probabilities); above 1e3 every character is equally likely anyway.
TEMPERATURE_RANGE = (1e-3, 1e3)


def _check(
    model: CharLSTM, vocab: Vocab, prime: str, length: int, top_k, temperature, seed
) -> None:
    """Refuse bad arguments up front, before a character is generated or printed."""
    if not isinstance(prime, str) or not prime:
        raise LstmvizError("the prime must be a non-empty string, e.g. '\\n' or 'ROMEO'")
    try:
        prime.encode("utf-8")
    except UnicodeEncodeError as e:
        raise LstmvizError(
            f"the prime contains {prime[e.start]!r} at position {e.start}, a lone surrogate, "
            "which is not a character; pass real text"
        ) from None
    checks.whole("length", length, 0)
    if top_k is not None:
        checks.whole("top_k (None for all characters)", top_k, 1)
    lo, hi = TEMPERATURE_RANGE
    if not (
        isinstance(temperature, Real)
        and not isinstance(temperature, bool)
        and (temperature == 0 or lo <= float(temperature) <= hi)
    ):
        raise LstmvizError(
            f"temperature must be 0 (greedy) or between {lo:g} and {hi:g}, got {temperature!r}"
        )
    checks.seed("seed", seed, optional=True)
    if len(vocab) != model.vocab_size:
        raise LstmvizError(
            f"the vocabulary has {len(vocab)} characters but the model was built for "
            f"{model.vocab_size}; "
            "use the vocab saved with this model (checkpoint.vocab)"
        )


@overload
def stream(
    model: CharLSTM,
    vocab: Vocab,
    prime: str,
    length: int,
    *,
    top_k: int | None = None,
    temperature: float = 1.0,
    seed: int | None = None,
    with_probs: Literal[False] = False,
) -> Generator[str, None, None]: ...


@overload
def stream(
    model: CharLSTM,
    vocab: Vocab,
    prime: str,
    length: int,
    *,
    top_k: int | None = None,
    temperature: float = 1.0,
    seed: int | None = None,
    with_probs: Literal[True],
) -> Generator[tuple[str, Tensor], None, None]: ...


def stream(
    model: CharLSTM,
    vocab: Vocab,
    prime: str,
    length: int,
    *,
    top_k: int | None = None,
    temperature: float = 1.0,
    seed: int | None = None,
    with_probs: bool = False,
) -> Generator[str, None, None] | Generator[tuple[str, Tensor], None, None]:
    """Yield ``length`` generated characters one at a time (the prime itself is not yielded).

    With ``with_probs=True`` yields ``(char, probs)`` instead: probs (V,) is the distribution the
    character was drawn from, after temperature and top-k (zeros outside the top k; one-hot when
    greedy).
    """
    _check(model, vocab, prime, length, top_k, temperature, seed)
    ids = vocab.encode(prime, what="prime")  # raises naming any unknown character
    return _stream(model, vocab, ids, length, top_k, temperature, seed, with_probs)


def _stream(model, vocab, ids, length, top_k, temperature, seed, with_probs):
    was_training = model.training
    model.eval()  # dropout off: lstm_step refuses training mode, and sampling wants the mean model
    try:
        device = model.head.weight.device
        gen = torch.Generator(device=device)
        if seed is None:
            gen.seed()  # fresh entropy, without touching the global RNG
        else:
            gen.manual_seed(seed)
        ids = ids.to(device)
        greedy = temperature == 0 or top_k == 1
        k = None if top_k is None or top_k >= len(vocab) else top_k
        inv_t = 1.0 if greedy else 1.0 / temperature
        chars = vocab.chars

        with torch.no_grad():
            if has_step_hooks(model.lstm):
                state = model.init_state(1)
                for i in range(len(ids)):
                    logits, state = model.step(ids[i : i + 1], state)
                logits = logits[0]
            else:
                out, state = model(ids[None])  # the whole prime in one fused call
                logits = out[0, -1]

            for n in range(length):
                # ---- hot path: one draw, one step. Tensors stay tiny (V,), no Python loop over V.
                if greedy:
                    nxt = logits.argmax().view(1)
                    if with_probs:
                        probs = torch.zeros_like(logits)
                        probs[nxt] = 1.0
                elif k is None:
                    p = torch.softmax(logits * inv_t, dim=-1)
                    nxt = torch.multinomial(p, 1, generator=gen)
                    if with_probs:
                        probs = p
                else:
                    top, idx = torch.topk(logits, k)
                    p = torch.softmax(top * inv_t, dim=-1)
                    nxt = idx[torch.multinomial(p, 1, generator=gen)]
                    if with_probs:
                        probs = torch.zeros_like(logits).index_copy_(0, idx, p)
                ch = chars[nxt.item()]
                yield (ch, probs.float().cpu()) if with_probs else ch
                if n + 1 < length:
                    logits, state = model.step(nxt, state)
                    logits = logits[0]
    finally:
        model.train(was_training)


def generate(
    model: CharLSTM,
    vocab: Vocab,
    prime: str,
    length: int,
    *,
    top_k: int | None = None,
    temperature: float = 1.0,
    seed: int | None = None,
) -> str:
    """``length`` new characters continuing ``prime`` (the returned string excludes the prime)."""
    return "".join(
        stream(model, vocab, prime, length, top_k=top_k, temperature=temperature, seed=seed)
    )
