"""Score a trained model on its validation text: the number a model card gives.

    python -m lstmviz eval --checkpoint shakespeare        # a shipped model, by name
    python -m lstmviz eval --checkpoint runs/full/best.pt --corpus my_plays.txt

The validation text is the last ``val_fraction`` of the corpus the model was trained on
(``split(load_corpus(corpus))``), read in ``batch_size`` contiguous streams of ``seq_len``-character
windows with the state carried, exactly as training validates, but always in float32 (training may
validate under bf16 autocast, which moves the third decimal).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from . import numbers
from .checkpoint import Checkpoint, load_checkpoint
from .config import GIVEN_TEXT
from .corpus import load_corpus, split
from .errors import LstmvizError
from .training import validation_loss, validation_streams


@dataclass
class Evaluation:
    """What ``evaluate`` measured: the loss in nats/char and the text it was measured on."""

    loss: float  # mean next-character cross-entropy, nats/char
    chars: int  # characters scored (the streams drop fewer than batch_size at the end)
    val_chars: int  # characters in the validation part
    corpus: str  # what was read: a corpus name, path or URL

    @property
    def bits(self) -> float:
        """The loss in bits/char."""
        return numbers.bits(self.loss)

    @property
    def perplexity(self) -> float:
        """e^loss: how many characters the model is, on average, choosing among."""
        return numbers.perplexity(self.loss)

    def __str__(self) -> str:
        return (
            f"validation loss {self.loss:.4f} nats/char ({self.bits:.3f} bits/char, perplexity "
            f"{self.perplexity:.2f}) on {self.chars:,} of the {self.val_chars:,} validation "
            f"characters of {self.corpus!r}"
        )


def evaluate(
    checkpoint: Checkpoint | str | os.PathLike,
    corpus: str | None = None,
    *,
    device: str | torch.device = "cpu",
) -> Evaluation:
    """Validation loss of a checkpoint (object, path or shipped name) on its corpus's last part.

    ``corpus``: the text to split (default: the corpus the model was trained on, from its
    settings). Its validation part must use only characters the model knows.
    """
    ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else load_checkpoint(checkpoint)
    cfg = ckpt.config or {}
    source = corpus if corpus is not None else cfg.get("corpus")
    if source in (None, GIVEN_TEXT):
        raise LstmvizError(
            "this checkpoint does not say which corpus it was trained on (it was trained on a "
            "text passed to train(text=...) or saved by hand); give one with --corpus"
        )
    _, val_text = split(load_corpus(source), cfg.get("val_fraction", 0.1))
    seq_len, batch_size = int(cfg.get("seq_len", 100)), int(cfg.get("batch_size", 64))
    ids = ckpt.vocab.encode(val_text, what=f"validation part of {source!r}")
    if len(ids) < 2:
        raise LstmvizError(f"the validation part of {source!r} is too short to score")
    x, y = validation_streams(ids, batch_size, seq_len)  # as training validates
    model = ckpt.model.to(device)
    loss = validation_loss(model, x.to(device), y.to(device), seq_len)
    return Evaluation(loss=loss, chars=y.numel(), val_chars=len(val_text), corpus=str(source))
