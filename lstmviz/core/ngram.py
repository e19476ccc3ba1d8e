"""Count-based character n-gram models: the baselines a network has to beat (lessons 01, 04, 07).

An order-n model predicts a character from the n - 1 characters before it, by counting on a
training text. Events never counted need smoothing, or one unseen character costs infinite loss:

* ``smoothing="interpolated"`` (the default): the unigram adds ``k`` to every character's count
  (add-k; Laplace for k = 1) and each higher order is interpolated with the order below it
  (Witten-Bell): ``P_n(c|h) = (N(hc) + T(h) P_{n-1}(c|h')) / (N(h) + T(h))``, where N counts,
  T(h) is the number of different characters seen after h, and h' is h without its oldest
  character. The more kinds of character follow h, the more weight the shorter context gets; a
  context never seen (N(h) = 0) uses P_{n-1} alone. No parameter to tune but k.
* ``smoothing="add_k"``: every order adds k to every count, ``(N(hc) + k) / (N(h) + k V)``.

Either way ``P_n(.|h)`` sums to 1 over the vocabulary at every context. The first n - 1
characters of a scored text have shorter histories: they are scored by the order they can use.
Losses are cross-entropies in nats per character, the same unit as the networks' losses.

    lm = NGram.fit(train_text, order=3, vocab=vocab)
    lm.loss(val_text)                 # mean nats/char on held-out text
    lm.per_char_loss(val_text)        # (T,): which characters are hard for counting
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .errors import LstmvizError
from .vocab import Vocab

#: Names of the first orders, for labels ("trigram" = order 3: two characters of context).
ORDER_NAMES = {1: "unigram", 2: "bigram", 3: "trigram", 4: "4-gram", 5: "5-gram"}

SMOOTHINGS = ("interpolated", "add_k")


def _lookup(keys: np.ndarray, values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """values[i] where keys[i] == query (keys sorted, unique), else 0: (S,) -> (S,)."""
    if len(keys) == 0:
        return np.zeros(queries.shape, dtype=values.dtype)
    idx = np.minimum(np.searchsorted(keys, queries), len(keys) - 1)
    return np.where(keys[idx] == queries, values[idx], 0)


class NGram:
    """A character n-gram model of ``order`` n (1 = unigram) over ``vocab``; build with ``fit``."""

    def __init__(self, vocab: Vocab, order: int, k: float, smoothing: str):
        self.vocab, self.order, self.k, self.smoothing = vocab, order, k, smoothing
        self.unigram = np.full(len(vocab), 1.0 / len(vocab))  # (V,) P_1, replaced by fit
        # per order m >= 2: sorted (context, char) keys and their counts; sorted contexts with
        # N(h) (how often h was seen) and T(h) (how many different characters followed it)
        self._pairs: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._contexts: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    @classmethod
    def fit(
        cls,
        text: str,
        order: int,
        vocab: Vocab | None = None,
        *,
        k: float = 1.0,
        smoothing: str = "interpolated",
    ) -> NGram:
        """Count every m-gram (m <= order) of ``text`` (vocab: by default that of ``text``)."""
        if not isinstance(text, str) or not text:
            raise LstmvizError("an n-gram model needs a non-empty training text")
        vocab = vocab or Vocab.from_text(text)
        V = len(vocab)
        if not isinstance(order, int) or order < 1:
            raise LstmvizError(f"order must be a whole number >= 1 (1 = unigram), got {order!r}")
        if float(V) ** order >= 2.0**62:
            raise LstmvizError(
                f"order {order} over {V} characters is too many contexts to count; use a lower "
                "order"
            )
        if smoothing not in SMOOTHINGS:
            raise LstmvizError(
                f"unknown smoothing {smoothing!r}; choose one of {', '.join(SMOOTHINGS)}"
            )
        if not k >= 0 or (k == 0 and smoothing == "add_k" and order > 1):
            raise LstmvizError(f"k must be > 0 (>= 0 for an interpolated model), got {k!r}")
        lm = cls(vocab, order, float(k), smoothing)
        ids = vocab.encode(text, what="training text").numpy()
        counts = np.bincount(ids, minlength=V).astype(np.float64)
        lm.unigram = (counts + k) / (counts.sum() + k * V)
        code = np.zeros(len(ids), dtype=np.int64)  # context of order m at position t, base V
        for m in range(2, order + 1):
            code = lm._extend(code, ids, m)
            t = np.arange(m - 1, len(ids))
            if len(t) == 0:
                empty = np.zeros(0, dtype=np.int64)
                lm._pairs[m], lm._contexts[m] = (empty, empty), (empty, empty, empty)
                continue
            keys, n_pair = np.unique(code[t] * V + ids[t], return_counts=True)
            ctx, first, distinct = np.unique(keys // V, return_index=True, return_counts=True)
            lm._pairs[m] = (keys, n_pair)
            lm._contexts[m] = (ctx, np.add.reduceat(n_pair, first), distinct)
        return lm

    def _extend(self, code: np.ndarray, ids: np.ndarray, m: int) -> np.ndarray:
        """Order-(m-1) context codes (T,) -> order m: put ids[t - m + 1] in front as a new digit."""
        out = code.copy()
        if len(ids) >= m:
            out[m - 1 :] += ids[: len(ids) - m + 1] * len(self.vocab) ** (m - 2)
        return out

    def _chain(self, codes: Sequence[np.ndarray], usable: Sequence[np.ndarray], c: np.ndarray):
        """P(c | context) (S,), given per order m the context codes (S,) and where they exist."""
        V = len(self.vocab)
        p = self.unigram[c]
        for m in range(2, self.order + 1):
            keys, n_pair = self._pairs[m]
            ctx, n_ctx, distinct = self._contexts[m]
            code = codes[m - 2]
            n_hc = _lookup(keys, n_pair, code * V + c).astype(np.float64)
            n_h = _lookup(ctx, n_ctx, code).astype(np.float64)
            if self.smoothing == "add_k":
                higher = (n_hc + self.k) / (n_h + self.k * V)
            else:
                t_h = _lookup(ctx, distinct, code).astype(np.float64)
                with np.errstate(invalid="ignore", divide="ignore"):
                    higher = np.where(n_h > 0, (n_hc + t_h * p) / (n_h + t_h), p)
            p = np.where(usable[m - 2], higher, p)
        return p

    def probs(self, context: str = "") -> torch.Tensor:
        """The next-character distribution (V,) after ``context`` (its last order-1 characters)."""
        V = len(self.vocab)
        ids = self.vocab.encode(context, what="context").numpy() if context else np.zeros(0, int)
        c = np.arange(V)
        codes, usable, code = [], [], 0
        for m in range(2, self.order + 1):
            if len(ids) >= m - 1:
                code += int(ids[len(ids) - m + 1]) * V ** (m - 2)
            codes.append(np.full(V, code, dtype=np.int64))
            usable.append(np.full(V, len(ids) >= m - 1))
        return torch.from_numpy(self._chain(codes, usable, c))

    def per_char_loss(self, text: str) -> torch.Tensor:
        """-ln P(text[t] | the characters before it), nats: text (T,) -> (T,) float64."""
        if not isinstance(text, str) or not text:
            raise LstmvizError("the text to score must be a non-empty string")
        ids = self.vocab.encode(text, what="scored text").numpy()
        t = np.arange(len(ids))
        codes, usable, code = [], [], np.zeros(len(ids), dtype=np.int64)
        for m in range(2, self.order + 1):
            code = self._extend(code, ids, m)
            codes.append(code)
            usable.append(t >= m - 1)
        with np.errstate(divide="ignore"):  # a zero probability (k = 0) is an infinite loss
            return torch.from_numpy(-np.log(self._chain(codes, usable, ids)))

    def context_counts(self, text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What the full-order estimate of each character rests on: text (T,) -> 3 x (T,) int.

        For text[t] and its context h (the order - 1 characters before it): N(h), how often h was
        counted in the training text; T(h), how many different characters followed it; N(hc),
        how often text[t] did. Witten-Bell gives the counts of h the weight N(h) / (N(h) + T(h))
        (lesson 07). -1 for the first order - 1 characters, which have no full context.
        """
        if self.order < 2:
            raise LstmvizError("a unigram model has no context; use an order >= 2")
        if not isinstance(text, str) or not text:
            raise LstmvizError("the text to count must be a non-empty string")
        ids = self.vocab.encode(text, what="counted text").numpy()
        code = np.zeros(len(ids), dtype=np.int64)
        for m in range(2, self.order + 1):
            code = self._extend(code, ids, m)
        keys, n_pair = self._pairs[self.order]
        ctx, n_ctx, distinct = self._contexts[self.order]
        short = np.arange(len(ids)) < self.order - 1
        counts = (
            _lookup(ctx, n_ctx, code),
            _lookup(ctx, distinct, code),
            _lookup(keys, n_pair, code * len(self.vocab) + ids),
        )
        return tuple(np.where(short, -1, c).astype(np.int64) for c in counts)  # type: ignore

    def loss(self, text: str) -> float:
        """Mean per-character loss of ``text``, nats/char (the cross-entropy of the model)."""
        return float(self.per_char_loss(text).mean())

    def __repr__(self) -> str:
        name = ORDER_NAMES.get(self.order, f"{self.order}-gram")
        return f"NGram({name}, {len(self.vocab)} chars, {self.smoothing}, k={self.k:g})"


def ngram_losses(
    train_text: str,
    val_text: str,
    vocab: Vocab | None = None,
    orders: Sequence[int] = (1, 2, 3),
    **fit_options,
) -> dict[str, float]:
    """``{"unigram": nats/char, ...}``: each order fit on ``train_text``, scored on ``val_text``."""
    vocab = vocab or Vocab.from_text(train_text + val_text)
    return {
        ORDER_NAMES.get(n, f"{n}-gram"): NGram.fit(train_text, n, vocab, **fit_options).loss(
            val_text
        )
        for n in orders
    }
