"""Same text, same budget: small character models trained side by side (lesson 06's experiments).

* ``CharNet(kind, ...)`` -- embedding -> ``nn.RNN`` (tanh) / ``nn.GRU`` / ``nn.LSTM`` -> linear
  head; called like ``CharLSTM``: ``net(ids (B, T), state) -> (logits (B, T, V), state)``.
* ``run(kind, text, ..., forget_bias=v)`` -- a short stateful truncated-BPTT training run (the
  same batches, in the same order, for every kind and setting) -> ``Run``: loss after every
  step, validation loss, size, time.
* ``compare(text, ...)`` -- one ``Run`` per setting; ``table(runs)`` prints them as a bits/char
  table (``lstmviz.viz.curves.loss_figure(runs)`` draws their training curves).
* ``load_net(path)`` -- a trained ``CharNet`` saved as ``{kind, vocab, model}`` (lesson 07's
  matched LSTM, GRU and RNN, ``tools/results/span_models.py``), with the settings saved beside.
* ``evaluate_net(net, vocab, info)`` -- its loss on the whole validation part of its corpus,
  scored as ``lstmviz.evaluate`` scores a checkpoint (``run`` logs only the first ``val_chars``).

A lesson changes one thing at a time (the kind of recurrent layer, or the forget-gate bias) and
keeps everything else -- text, hidden size, steps, batches, learning rate, seed -- the same.

Used by lessons 06 and 07.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from ..core.checkpoint import Checkpoint
from ..core.corpus import split
from ..core.errors import LstmvizError
from ..core.evaluation import Evaluation, evaluate
from ..core.model import set_forget_bias
from ..core.numbers import LN2, perplexity
from ..core.training import streams, train_step, validation_loss, validation_streams, windows
from ..core.vocab import Vocab

# ---- settings of the lesson's experiments: tiny, so three runs take seconds on a 2-core CPU ----
KINDS = ("rnn", "gru", "lstm")
HIDDEN_SIZE = 96
EMBEDDING_DIM = 32
STEPS = 300
BATCH_SIZE = 16
SEQ_LEN = 64
LR = 3e-3
GRAD_CLIP = 5.0
# validate on the first characters of the validation part (fast, and the same for all)
VAL_CHARS = 20_000
NAMES = {"rnn": "vanilla RNN (tanh)", "gru": "GRU", "lstm": "LSTM"}


class CharNet(nn.Module):
    """Next-character model with a chosen recurrent layer: ids (B, T) -> logits (B, T, V)."""

    def __init__(
        self,
        kind: str,
        vocab_size: int,
        hidden_size: int = HIDDEN_SIZE,
        num_layers: int = 1,
        embedding_dim: int = EMBEDDING_DIM,
    ):
        super().__init__()
        if kind not in KINDS:
            raise LstmvizError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
        self.kind = kind
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        cls = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[kind]
        self.rnn = cls(embedding_dim, hidden_size, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, ids: Tensor, state: Tensor | tuple[Tensor, Tensor] | None = None):
        """ids (B, T), state or None -> (logits (B, T, V), state): (h, c) for an LSTM, else h."""
        out, state = self.rnn(self.embedding(ids), state)
        return self.head(out), state


@dataclass
class Run:
    """One training run: label, per-step training loss (nats/char), validation loss, size, time."""

    label: str
    kind: str
    train_loss: list[float]
    val_steps: list[int]
    val_loss: list[float]  # nats/char at each of val_steps; the last one is the final result
    params: int
    seconds: float
    settings: dict = field(default_factory=dict)
    model: nn.Module | None = field(default=None, repr=False)

    @property
    def final_val(self) -> float:
        """Validation loss at the end of the run (nats/char)."""
        return self.val_loss[-1]

    @property
    def bits_per_char(self) -> float:
        """Final validation loss in bits/char."""
        return self.final_val / LN2


def run(
    kind: str,
    text: str,
    *,
    label: str | None = None,
    hidden_size: int = HIDDEN_SIZE,
    num_layers: int = 1,
    embedding_dim: int = EMBEDDING_DIM,
    steps: int = STEPS,
    batch_size: int = BATCH_SIZE,
    seq_len: int = SEQ_LEN,
    lr: float = LR,
    grad_clip: float = GRAD_CLIP,
    forget_bias: float | None = None,
    val_chars: int = VAL_CHARS,
    eval_every: int | None = None,
    seed: int = 0,
    vocab: Vocab | None = None,
) -> Run:
    """Train a ``CharNet(kind)`` on ``text`` for ``steps`` steps; returns a Run.

    Stateful truncated BPTT with Adam, one ``lstmviz.core.training.train_step`` per batch.
    ``forget_bias`` (LSTM only): start Γ_f at σ(forget_bias) instead of PyTorch's random init.
    The validation loss is measured on the first ``val_chars`` characters of ``split(text)``'s
    validation part every ``eval_every`` steps (default: only at the end).
    """
    if steps < 1:
        raise LstmvizError(f"steps must be >= 1, got {steps}")
    if forget_bias is not None and kind != "lstm":
        raise LstmvizError(
            f"only an LSTM has a forget gate; forget_bias was given for kind {kind!r}"
        )
    train_text, val_text = split(text)
    vocab = vocab or Vocab.from_text(text)
    x, y = streams(vocab.encode(train_text, what="corpus"), batch_size)
    if x.shape[1] < seq_len:
        raise LstmvizError(
            f"the text is too short for {batch_size} streams of {seq_len} characters; "
            "use a longer text or a smaller batch_size / seq_len"
        )
    vx, vy = validation_streams(
        vocab.encode(val_text[: val_chars + 1], what="corpus"), batch_size, seq_len
    )

    torch.manual_seed(seed)  # the same initial weights for the same kind and size
    model = CharNet(kind, len(vocab), hidden_size, num_layers, embedding_dim)
    if forget_bias is not None:
        set_forget_bias(model.rnn, forget_bias)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses: list[float] = []
    val_steps: list[int] = []
    val_losses: list[float] = []
    state = None
    t0 = time.perf_counter()
    model.train()
    for step, (xb, yb, new_pass) in zip(range(steps), windows(x, y, seq_len), strict=False):
        if new_pass:
            state = None  # a new pass over the text starts from a zero state
        loss, state, _ = train_step(model, opt, xb, yb, state, grad_clip=grad_clip)
        losses.append(loss)
        if not math.isfinite(losses[-1]):
            raise LstmvizError(
                f"{kind} diverged at step {step + 1} (loss {losses[-1]}); try a lower lr"
            )
        if (eval_every and (step + 1) % eval_every == 0) or step + 1 == steps:
            val_steps.append(step + 1)
            val_losses.append(validation_loss(model, vx, vy, seq_len))
    seconds = time.perf_counter() - t0
    model.eval()
    if label is None:
        label = NAMES[kind] + ("" if forget_bias is None else f", forget bias {forget_bias:g}")
    settings = dict(
        hidden_size=hidden_size,
        num_layers=num_layers,
        steps=steps,
        batch_size=batch_size,
        seq_len=seq_len,
        lr=lr,
        forget_bias=forget_bias,
        seed=seed,
    )
    params = sum(p.numel() for p in model.parameters())
    return Run(label, kind, losses, val_steps, val_losses, params, seconds, settings, model)


def compare(
    text: str, settings: Mapping[str, Mapping] | Sequence[str] = KINDS, **common
) -> list[Run]:
    """One ``run`` per setting on the same text and budget -> [Run].

    ``compare(text, ["rnn", "gru", "lstm"])``, or
    ``compare(text, {"bias 0": dict(kind="lstm", forget_bias=0.0), ...})``; ``common`` goes to
    every run.
    """
    if isinstance(settings, Mapping):
        jobs: list[tuple[str | None, dict]] = [(label, dict(s)) for label, s in settings.items()]
    else:
        jobs = [(None, dict(kind=k)) for k in settings]
    vocab = common.pop("vocab", None) or Vocab.from_text(text)  # one vocabulary: comparable losses
    out = []
    for label, s in jobs:
        kind = s.pop("kind", "lstm")
        out.append(run(kind, text, label=label, vocab=vocab, **{**common, **s}))
    return out


def table(runs: Sequence[Run], baseline: str | None = None) -> str:
    """The runs as a text table: parameters, validation loss (nats, bits/char), perplexity, time."""
    head = (
        f"{'model':<34} {'params':>8} {'val nats/char':>14} {'bits/char':>10} "
        f"{'perplexity':>11} {'time':>7}"
    )
    rows = [
        f"{r.label:<34} {r.params:>8,} {r.final_val:>14.3f} {r.bits_per_char:>10.3f} "
        f"{perplexity(r.final_val):>11.2f} {r.seconds:>6.1f}s"
        for r in runs
    ]
    return "\n".join([head, "-" * len(head), *rows])


def load_net(path: str | os.PathLike) -> tuple[CharNet, Vocab, dict]:
    """A saved ``CharNet`` -> (model in eval mode, its Vocab, info dict).

    The file holds ``{"kind", "vocab" (characters), "model" (state dict, any float dtype)}``, as
    ``tools/results/span_models.py`` writes it; sizes are read from the weights, which load as
    float32. ``info`` is the JSON written beside it (same name, ``.json``: settings, parameters,
    validation losses), or ``{"kind": kind}`` when there is none.
    """
    path = Path(path)
    if not path.is_file():
        raise LstmvizError(
            f"no saved model at {str(path)!r}; lesson 07's come with the repository in "
            "lstmviz/data/results/ (or make them with tools/results/span_models.py)"
        )

    def damaged(why: str) -> LstmvizError:
        return LstmvizError(
            f"{str(path)!r} is not a saved CharNet, or damaged ({why}); remake it with "
            "tools/results/span_models.py"
        )

    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated, not from torch.save, or an unsafe pickle
        raise damaged(f"torch.load failed with {type(e).__name__}") from None
    if not isinstance(saved, dict) or not {"kind", "vocab", "model"} <= set(saved):
        raise damaged("it needs the keys 'kind', 'vocab' and 'model'")
    kind, weights = saved["kind"], saved["model"]
    if kind not in KINDS or not isinstance(weights, dict):
        raise damaged(f"kind {kind!r} is not one of {', '.join(KINDS)}, or no weights")
    try:
        vocab = Vocab(saved["vocab"])
        vocab_size, embedding_dim = weights["embedding.weight"].shape
        hidden_size = weights["rnn.weight_hh_l0"].shape[1]
        num_layers = sum(1 for k in weights if k.startswith("rnn.weight_hh_l"))
        model = CharNet(kind, vocab_size, hidden_size, num_layers, embedding_dim)
        model.load_state_dict({k: v.float() for k, v in weights.items()})
    except (LstmvizError, KeyError, ValueError, RuntimeError, AttributeError, TypeError) as e:
        raise damaged(f"{type(e).__name__}: {str(e).splitlines()[0][:200]}") from None
    if len(vocab) != vocab_size:
        raise damaged(f"{len(vocab)} characters but an embedding for {vocab_size}")
    if not all(torch.isfinite(p).all() for p in model.parameters()):
        raise damaged("its weights hold NaN or infinite values")
    info_path = path.with_suffix(".json")
    info = {"kind": kind}
    if info_path.is_file():
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise LstmvizError(
                f"{str(info_path)!r} (the settings saved beside the model) is not valid JSON "
                f"({e}); remake both with tools/results/span_models.py"
            ) from None
    return model.eval(), vocab, info


def evaluate_net(net: nn.Module, vocab: Vocab, info: Mapping) -> Evaluation:
    """A trained CharNet's loss on its corpus's whole validation part, as ``lstmviz.evaluate``.

    ``info``: its settings, as ``load_net`` returns them (``corpus``, ``batch_size``, ``seq_len``):
    the validation part is read in ``batch_size`` streams of ``seq_len``-character windows, state
    carried, in float32 -- the shipped models' model-card numbers are measured the same way.
    ``run`` logs a loss on the first ``val_chars`` characters only: another text, another number.
    """
    missing = [k for k in ("corpus", "batch_size", "seq_len") if k not in info]
    if missing:
        raise LstmvizError(
            f"the settings lack {', '.join(missing)}: pass the info that load_net reads from the "
            ".json beside the model (tools/results/span_models.py writes both)"
        )
    config = dict(info)
    # evaluate reads only the model's forward and the vocab: a CharNet serves as a CharLSTM does
    ckpt = Checkpoint(net, vocab, int(config.get("steps", 0)), config, val_loss=None)  # type: ignore[arg-type]
    return evaluate(ckpt)
