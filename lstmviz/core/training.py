"""Train a CharLSTM on a text: stateful truncated backpropagation through time.

The encoded training text is cut into ``batch_size`` contiguous streams (one row each). Step k reads
columns ``[k*seq_len, (k+1)*seq_len)`` of every row, so consecutive batches continue each other and
the hidden state (h, c) is carried from one batch to the next -- detached, so gradients flow back at
most ``seq_len`` characters (truncated BPTT). After the last chunk the streams start over (a new
epoch) from a zero state. Everything stays in torch: no per-batch numpy or Python loops over text.

Losses are cross-entropy in nats per character; bits/char = nats / ln 2, perplexity = e^nats.

    result = lstmviz.train(preset="quick", steps=300)        # in a notebook
    python -m lstmviz train --preset full --out runs/full     # from a shell
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import checks, distributed
from .checkpoint import (
    BEST,
    LATEST,
    LOG,
    RunFolder,
    epoch_file,
    model_from_raw,
    read_raw,
    save_checkpoint,
)
from .corpus import load_corpus, split
from .errors import LstmvizError
from .files import atomic_write
from .model import CharLSTM
from .sampling import generate
from .vocab import Vocab

#: ``full``: the seed's model, for a GPU (about 3.3M parameters). ``quick``: a small model that
#: writes recognisable play-script on a 2-core CPU in about 3 minutes.
PRESETS: dict[str, dict[str, Any]] = {
    "full": dict(
        hidden_size=512,
        num_layers=2,
        dropout=0.5,
        embedding_dim=64,
        seq_len=100,
        batch_size=128,
        steps=6000,
        lr=2e-3,
        min_lr=2e-4,
        reset_prob=0.02,
        eval_every=200,
        val_chars=None,
        log_every=10,
        save_every=200,
    ),
    "quick": dict(
        hidden_size=256,
        num_layers=2,
        dropout=0.1,
        embedding_dim=32,
        seq_len=64,
        batch_size=32,
        steps=1000,
        lr=4e-3,
        min_lr=4e-4,
        reset_prob=0.02,
        eval_every=250,
        val_chars=100_000,
        log_every=10,
        save_every=250,
    ),
}


#: ``--precision`` values. Weights, optimizer and checkpoints stay float32 in all of them: bf16
#: and fp16 run the forward pass under ``torch.autocast`` (fp16 with a GradScaler, CUDA only).
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def _setting(default: Any, help: str, **extra: Any) -> Any:
    """A TrainConfig field with its help text (the CLI's ``--flag`` help comes from it)."""
    return field(default=default, metadata={"help": help, **extra})


@dataclass
class TrainConfig:
    """Every training setting; ``TrainConfig.from_preset("quick", steps=100)``.

    Each field is also a ``python -m lstmviz train`` flag (``hidden_size`` -> ``--hidden-size``),
    with the help text written next to it here.
    """

    preset: str | None = _setting(
        None,
        "the preset to start from (default: $LSTMVIZ_PRESET, else full on CUDA, quick otherwise)",
        choices=tuple(PRESETS),
    )
    corpus: str = _setting(
        "shakespeare", "shakespeare, python, a UTF-8 file path or an http(s) URL"
    )
    # model
    hidden_size: int = _setting(512, "LSTM units per layer")
    num_layers: int = _setting(2, "stacked LSTM layers")
    dropout: float = _setting(0.5, "dropout between layers and before the output layer")
    embedding_dim: int = _setting(64, "size of the character embedding")
    # data
    seq_len: int = _setting(100, "characters per truncated-BPTT window")
    batch_size: int = _setting(128, "parallel text streams per batch")
    val_fraction: float = _setting(0.1, "last fraction of the text kept for validation")
    # optimisation
    steps: int = _setting(6000, "total optimizer steps (a resumed run continues up to this)")
    lr: float = _setting(2e-3, "peak learning rate (Adam)")
    min_lr: float = _setting(2e-4, "learning rate at the last step (cosine decay; = lr: constant)")
    grad_clip: float = _setting(5.0, "max global gradient norm (inf: no clipping)")
    # Carried state alone means the model meets a zero state only once per epoch, so it cannot read
    # a prompt from scratch (the sampler's start); a few random resets teach it to. 0 = never
    # (checkpoints older than this field).
    reset_prob: float = _setting(0.0, "chance per stream and batch of zeroing the carried state")
    # bookkeeping
    eval_every: int = _setting(200, "validate every N steps (and at the end)")
    val_chars: int | None = _setting(
        None, "validate on the first N validation characters (none: all)"
    )
    log_every: int = _setting(10, "log the training loss every N steps")
    save_every: int = _setting(200, "write OUT/checkpoint.pt every N steps (0: only at the end)")
    # What a student reads of a run: at the end of every pass over the training text (an epoch)
    # the run validates and writes a sample, always from the same prime and seed, so the samples
    # differ only by what the model learnt. OUT/log.json keeps them with every loss.
    sample_every: int = _setting(0, "also sample every N steps (0: only at each epoch's end)")
    sample_len: int = _setting(300, "characters per recorded sample (0: no samples)")
    sample_prime: str = _setting("\n", "text every recorded sample starts from")
    sample_top_k: int = _setting(5, "recorded samples draw among the K likeliest characters")
    keep_epochs: int = _setting(
        1, "keep OUT/epochN.pt, the checkpoint at the end of each of the first N epochs"
    )
    seed: int = _setting(0, "random seed (initial weights, dropout, state resets)")
    device: str | None = _setting(None, "cpu, cuda, cuda:N or mps (default: cuda, mps, else cpu)")
    precision: str = _setting(
        "auto",
        "auto: bf16 where the device computes it natively, fp16 on other CUDA GPUs, else fp32",
        choices=PRECISIONS,
    )
    out: str | None = _setting(None, "run folder for checkpoint.pt and best.pt (default: none)")

    @classmethod
    def from_preset(cls, name: str | None = None, **overrides: Any) -> TrainConfig:
        """Config of preset ``name`` (None: $LSTMVIZ_PRESET, else full on CUDA, quick otherwise)."""
        name = choose_preset(name)
        return cls(**{**PRESETS[name], "preset": name}).replace(**overrides)

    def replace(self, **overrides: Any) -> TrainConfig:
        """A copy with some fields changed; unknown names raise LstmvizError."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise LstmvizError(
                f"unknown training setting(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(names))}"
            )
        return dataclasses.replace(self, **overrides)

    def to_dict(self) -> dict:
        """Plain dict (stored in checkpoints)."""
        return dataclasses.asdict(self)

    def validate(self) -> TrainConfig:
        """Check every field's type and range (LstmvizError naming the allowed range); returns self.

        ``train`` calls it before any work, so a bad setting never starts a run.
        """
        for name in ("hidden_size", "num_layers", "embedding_dim", "seq_len", "batch_size"):
            checks.whole(_flag(name), getattr(self, name), 1)
        for name in ("steps", "eval_every", "log_every"):
            checks.whole(_flag(name), getattr(self, name), 1)
        checks.whole(_flag("save_every"), self.save_every, 0)
        checks.whole(_flag("sample_every"), self.sample_every, 0)
        checks.whole(_flag("sample_len"), self.sample_len, 0, SAMPLE_MAX)
        checks.whole(_flag("sample_top_k"), self.sample_top_k, 1)
        checks.whole(_flag("keep_epochs"), self.keep_epochs, 0)
        if not isinstance(self.sample_prime, str) or not self.sample_prime:
            raise LstmvizError(
                f"sample_prime (--sample-prime) must be a non-empty string, got "
                f"{self.sample_prime!r}"
            )
        if self.val_chars is not None:
            checks.whole(_flag("val_chars"), self.val_chars, 1)
        checks.seed(_flag("seed"), self.seed)
        checks.real(_flag("dropout"), self.dropout, 0, 1, hi_open=True)
        checks.real(_flag("lr"), self.lr, 0, LR_MAX, lo_open=True)
        checks.real(_flag("min_lr"), self.min_lr, 0, LR_MAX)
        checks.real(_flag("grad_clip"), self.grad_clip, 0, lo_open=True, note=" (inf: no clipping)")
        checks.real(_flag("reset_prob"), self.reset_prob, 0, 1)
        checks.real(_flag("val_fraction"), self.val_fraction, 0, 1, lo_open=True, hi_open=True)
        if not isinstance(self.corpus, str | os.PathLike) or not str(self.corpus):
            raise LstmvizError(
                f"corpus must be 'shakespeare', 'python', a file path or a URL, got {self.corpus!r}"
            )
        for name in ("device", "out"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str | os.PathLike) or not str(value)):
                raise LstmvizError(
                    f"{_flag(name)} must be a non-empty string or None, got {value!r}"
                )
        if self.precision not in PRECISIONS:
            raise LstmvizError(
                f"precision (--precision) must be one of {', '.join(PRECISIONS)}, "
                f"got {self.precision!r}"
            )
        if self.preset is not None and self.preset not in PRESETS:
            raise LstmvizError(
                f"unknown preset {self.preset!r}; choose one of {', '.join(PRESETS)}"
            )
        return self


def _flag(name: str) -> str:
    """A setting's name as the API and the CLI spell it: "seq_len (--seq-len)"."""
    return f"{name} (--{name.replace('_', '-')})"


#: Largest learning rate accepted: far past any useful value, well before Adam's float32 update
#: overflows (from about 1e38).
LR_MAX = 1e6

#: Longest recorded sample (a sample is a few lines of text in the log, not a book).
SAMPLE_MAX = 100_000

#: ``config.corpus`` of a run trained on a string passed as ``train(text=...)``.
GIVEN_TEXT = "<text>"

#: Settings that fix the model or the data stream; a resumed run must keep them.
_FIXED_ON_RESUME = (
    "corpus",
    "hidden_size",
    "num_layers",
    "dropout",
    "embedding_dim",
    "seq_len",
    "batch_size",
    "val_fraction",
    "seed",
)


@dataclass
class TrainResult:
    """What ``train`` returns: the model (eval mode), its vocab, final losses and the history."""

    model: CharLSTM
    vocab: Vocab
    config: TrainConfig
    step: int
    train_loss: float | None
    val_loss: float | None
    best_val_loss: float | None
    history: list[dict] = field(default_factory=list)
    out: Path | None = None


def choose_preset(name: str | None = None) -> str:
    """``name``, else $LSTMVIZ_PRESET, else "full" on CUDA and "quick" otherwise."""
    name = (
        name
        or os.environ.get("LSTMVIZ_PRESET")
        or ("full" if torch.cuda.is_available() else "quick")
    )
    if name not in PRESETS:
        raise LstmvizError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return name


def pick_device(name: str | None = None) -> torch.device:
    """``name`` if given and available, else the best device here: cuda -> mps -> cpu."""
    if name:
        try:
            device = torch.device(name)
        except RuntimeError:
            device = None
        if device is None or device.type not in ("cpu", "cuda", "mps"):  # meta, xla...: unusable
            raise LstmvizError(f"unknown device {name!r}; use cpu, cuda, cuda:0 or mps") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise LstmvizError(
                "device 'cuda' asked for, but no CUDA GPU is available; use --device cpu"
            )
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise LstmvizError(
                "device 'mps' asked for, but Apple MPS is not available; use --device cpu"
            )
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def native_bf16(device: str | torch.device) -> bool:
    """Whether ``device`` computes bfloat16 natively (detected, not guessed).

    CUDA: compute capability 8.0 or newer (Ampere+). CPU: the bf16 instructions the OS reports:
    x86 ``avx512_bf16`` or ``amx_bf16`` in /proc/cpuinfo's flags, ARM ``bf16`` in its Features, or
    macOS's ``hw.optional.arm.FEAT_BF16``. Elsewhere (MPS, Windows CPUs): False.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.get_device_capability(device)[0] >= 8
    if device.type != "cpu":
        return False
    for line in _cpuinfo().splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":  # x86
            return bool({"avx512_bf16", "amx_bf16"} & set(value.split()))
        if key.strip() == "Features":  # aarch64
            return "bf16" in value.split()
    return sys.platform == "darwin" and _sysctl("hw.optional.arm.FEAT_BF16") == "1"


def _cpuinfo() -> str:
    """The text of /proc/cpuinfo ("" where there is none: macOS, Windows)."""
    try:
        return Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return ""


def _sysctl(name: str) -> str:
    """macOS ``sysctl -n name`` ("" if it cannot be read)."""
    try:
        run = subprocess.run(["sysctl", "-n", name], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return ""
    return run.stdout.strip()


def resolve_precision(precision: str, device: str | torch.device) -> str:
    """The precision a run on ``device`` uses: "fp32", "bf16" or "fp16" (``precision``: or "auto").

    ``auto``: bf16 where ``native_bf16(device)``; fp16 on a CUDA GPU without bf16; fp32 elsewhere.
    bf16 costs nothing measurable in loss: ``benchmarks/bench_training.py`` compares the
    validation loss of the same quick-preset run in fp32 and bf16 (rule: within 0.03 nats/char).
    """
    device = torch.device(device)
    if precision not in PRECISIONS:
        raise LstmvizError(
            f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}"
        )
    if precision == "auto":
        if native_bf16(device):
            return "bf16"
        return "fp16" if device.type == "cuda" else "fp32"
    if precision == "fp16" and device.type != "cuda":
        raise LstmvizError(
            f"--precision fp16 needs a CUDA GPU (on {device.type} float16 is slow and needs loss "
            "scaling); use --precision bf16 or fp32"
        )
    if precision == "bf16" and device.type == "mps":
        raise LstmvizError("--precision bf16 is not supported on mps here; use --precision fp32")
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise LstmvizError("this CUDA GPU has no bfloat16; use --precision fp16 or fp32")
    return precision


def autocast_for(
    precision: str, device: str | torch.device
) -> tuple[Any, torch.amp.GradScaler | None]:
    """(autocast context or None, GradScaler or None) for a resolved precision on ``device``."""
    device = torch.device(device)
    if precision == "fp32":
        return None, None
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    amp = torch.autocast(device.type, dtype=dtype)
    # fp16's range is narrow: small gradients underflow unless the loss is scaled up first
    return amp, torch.amp.GradScaler(device.type) if precision == "fp16" else None


def lr_at(cfg: TrainConfig, step: int) -> float:
    """Learning rate of optimizer step ``step`` (0-based): cosine, lr to min_lr over cfg.steps."""
    progress = min(step / max(cfg.steps, 1), 1.0)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * progress))


def streams(ids: torch.Tensor, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """ids (N,) -> (inputs, targets), each (batch_size, n): contiguous streams, targets shifted."""
    n = (len(ids) - 1) // batch_size
    return ids[: n * batch_size].view(batch_size, n), ids[1 : n * batch_size + 1].view(
        batch_size, n
    )


State = Any  # what a model carries between batches: (h, c) for an LSTM, h for an RNN/GRU, or None


def train_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    state: State = None,
    *,
    grad_clip: float | None = None,
    autocast: Any = None,
    scaler: torch.amp.GradScaler | None = None,
) -> tuple[float, State, float]:
    """One optimizer step: x (B, T) ids -> y (B, T) targets, or x (B, T, V) -> y (B,) classes.

    The one training step of the package (``train``, and the lessons' experiments in
    ``lstmviz.teaching``). ``model(x, state)`` returns ``(logits, state)`` (a language model:
    ``state`` is carried in and comes back *detached*, so the next step's gradients stop here:
    truncated BPTT); a model called as ``model(x)`` that returns logits alone is stateless (state
    None). The loss is cross-entropy in nats, computed in float32 even under ``autocast`` (a
    ``torch.autocast`` context, or None for plain float32). Gradients are clipped to global norm
    ``grad_clip`` (None: not clipped); ``scaler`` (an fp16 ``GradScaler``) scales the loss and
    unscales before clipping. Returns ``(loss, state, grad_norm)``: the loss and the global gradient
    norm *before* clipping, as floats. A non-finite loss or gradient norm leaves the weights
    untouched (with a scaler: the scaler skips the step and lowers its scale); the caller decides
    whether to stop.
    """
    with autocast or nullcontext():
        out = model(x) if state is None else model(x, state)
        logits, state = out if isinstance(out, tuple) else (out, None)
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1))
    optimizer.zero_grad(set_to_none=True)
    scaling = scaler is not None and scaler.is_enabled()
    if scaling:
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
    else:
        loss.backward()
    params = [p for p in model.parameters() if p.grad is not None]
    if grad_clip is None:
        norm = torch.linalg.vector_norm(
            torch.stack([torch.linalg.vector_norm(p.grad.detach()) for p in params])
        )
    else:
        norm = torch.nn.utils.clip_grad_norm_(params, grad_clip)
    loss_value, norm_value = loss.item(), norm.item()
    if scaling:
        scaler.step(optimizer)  # skips steps whose gradients overflowed: expected with fp16
        scaler.update()
    elif math.isfinite(loss_value) and math.isfinite(norm_value):
        optimizer.step()  # a non-finite step would poison the weights (and the next checkpoint)
    state = _detach(state)
    if autocast is not None and state is not None:
        # autocast returns a bf16/fp16 state: carry it in the weights' dtype instead, so the next
        # step, a checkpoint and a resume in another precision all see float32
        dtype = next(model.parameters()).dtype
        state = tuple(s.to(dtype) for s in state) if isinstance(state, tuple) else state.to(dtype)
    return loss_value, state, norm_value


def _detach(state: State) -> State:
    """The carried state without its graph: (h, c), h or None."""
    if state is None:
        return None
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


@torch.no_grad()
def validation_loss(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, seq_len: int, autocast: Any = None
) -> float:
    """Mean next-character loss (nats/char) over streams x, y (B, n), carrying state as in train."""
    was_training = model.training
    model.eval()
    state, total, count = None, 0.0, 0
    for t in range(0, x.shape[1], seq_len):
        with autocast or nullcontext():
            logits, state = model(x[:, t : t + seq_len], state)
        target = y[:, t : t + seq_len]
        total += F.cross_entropy(
            logits.float().flatten(0, 1), target.flatten(), reduction="sum"
        ).item()
        count += target.numel()
    model.train(was_training)
    return total / count


def _resolve(
    config: TrainConfig | None, overrides: dict, resume: bool
) -> tuple[TrainConfig, dict | None]:
    """The config to run, and the checkpoint dict to resume from (or None)."""
    preset = overrides.pop("preset", None)
    if config is None:
        config = TrainConfig.from_preset(preset, **overrides)
    else:
        config = config.replace(**overrides)
    out = Path(config.out) if config.out else None
    if not resume:
        if out is not None and (out / LATEST).exists():
            raise LstmvizError(
                f"{str(out)!r} already holds a checkpoint; pass --resume (resume=True) to continue "
                "it, or choose another --out folder"
            )
        return config.validate(), None
    if out is None:
        raise LstmvizError("resume needs the run folder: give --out DIR (out=...)")
    if not (out / LATEST).exists():
        raise LstmvizError(
            f"nothing to resume: {str(out / LATEST)!r} does not exist; drop --resume to start"
        )
    raw = read_raw(out / LATEST)
    if not isinstance(raw.get("config"), dict) or raw.get("optimizer") is None:
        raise LstmvizError(
            f"{str(out / LATEST)!r} has no training state (an exported or hand-saved model); "
            "it cannot be resumed"
        )
    saved = TrainConfig().replace(**{k: v for k, v in raw["config"].items() if k in _field_names()})
    for key in _FIXED_ON_RESUME:
        if key in overrides and overrides[key] != getattr(saved, key):
            raise LstmvizError(
                f"the run in {str(out)!r} was trained with {key}={getattr(saved, key)!r}; resuming "
                f"with {key}={overrides[key]!r} is not possible. Drop that setting or use a new "
                "--out"
            )
    changeable = {k: v for k, v in overrides.items() if k not in _FIXED_ON_RESUME}
    changeable["out"] = str(out)
    try:
        return saved.replace(**changeable).validate(), raw
    except LstmvizError as e:  # the overrides were checked already: the file's config is bad
        raise LstmvizError(
            f"{str(out / LATEST)!r} is damaged: the training settings stored in it are invalid "
            f"({e}); use an earlier checkpoint"
        ) from None


def _field_names() -> set[str]:
    return {f.name for f in dataclasses.fields(TrainConfig)}


class TrainingInterrupted(KeyboardInterrupt):
    """``train`` stopped by SIGINT (Ctrl-C) or SIGTERM after a whole step, its checkpoint saved.

    ``.signum`` the signal, ``.step`` steps done (None: stopped before training started),
    ``.checkpoint`` the file saved (None without ``out``); ``str()`` says how to resume. The CLI
    exits with status 128 + signum (130, 143).
    """

    def __init__(self, signum: int, step: int | None, out: Path | None, *, again: bool = False):
        self.signum, self.step = signum, step
        self.checkpoint = None if out is None else out / LATEST
        name = signal.Signals(signum).name
        if again:  # a second signal: stopped mid-step (or mid-save: the old file stays whole)
            if self.checkpoint is None or not self.checkpoint.exists():
                self.checkpoint = None
                message = f"stopped at once by a second {name}; nothing saved"
            else:
                message = (
                    f"stopped at once by a second {name}; the last checkpoint saved, "
                    f"{str(self.checkpoint)!r}, is kept. Resume with: "
                    f"python -m lstmviz train --out {shlex.quote(str(out))} --resume"
                )
        elif step is None:
            message = f"interrupted by {name} before training started; nothing saved"
        elif out is None:
            message = f"interrupted by {name} at step {step}; nothing saved (no --out folder)"
        else:
            message = (
                f"interrupted by {name} at step {step}; saved {str(self.checkpoint)!r}. "
                "Resume with: "
                f"python -m lstmviz train --out {shlex.quote(str(out))} --resume"
            )
        super().__init__(message)


class _StopOnSignal:
    """While training: SIGINT / SIGTERM ask the loop to stop after the current step and save.

    A second signal stops at once (TrainingInterrupted naming the last checkpoint kept). Only in
    the main thread (Python delivers signals there); the previous handlers come back on exit.
    """

    def __init__(self, out: Path | None = None) -> None:
        self.out = out  # the run folder, named in the message of a second signal
        self.signum: int | None = None
        self.looping = False  # set when the loop starts: before it there is nothing to save
        self._old: dict = {}

    def __enter__(self) -> _StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: object) -> None:
        if not self.looping:  # loading the corpus, building the model: stop now
            raise TrainingInterrupted(signum, None, None)
        if self.signum is not None:
            raise TrainingInterrupted(signum, None, self.out, again=True)
        self.signum = signum

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)


def _check_early(config: TrainConfig | None, overrides: dict) -> Path | None:
    """Validate what was given before touching any file; returns the run folder (or None)."""
    if config is not None and not isinstance(config, TrainConfig):
        raise LstmvizError(f"config must be a TrainConfig, got {type(config).__name__}")
    if overrides.get("preset") is not None:
        choose_preset(overrides["preset"])
    base = config if config is not None else TrainConfig()
    given = base.replace(**{k: v for k, v in overrides.items() if k != "preset"}).validate()
    return Path(given.out) if given.out else None


def train(
    config: TrainConfig | None = None,
    *,
    text: str | None = None,
    resume: bool = False,
    callback: Callable[[dict], None] | None = None,
    progress: bool = True,
    **overrides: Any,
) -> TrainResult:
    """Train a CharLSTM; returns TrainResult (model in eval mode, vocab, losses, history).

    ``config``: a TrainConfig; or leave it out and give ``preset="quick"|"full"`` and/or any
    TrainConfig field as a keyword (``train(preset="quick", steps=300)``). ``text``: train on this
    string instead of loading ``config.corpus``. ``resume=True``: continue from
    ``<out>/checkpoint.pt`` (model, optimizer, step, RNG and carried state), up to ``steps``.

    ``callback(entry)`` is called after every logged step and every validation with a dict:

    =================  ===========================================================================
    ``kind``           ``"train"`` (every ``log_every`` steps), ``"val"`` (every ``eval_every``
                       and at each epoch's end) or ``"sample"`` (see below)
    ``step``           optimizer steps done so far (1-based)
    ``epoch``          passes over the training text so far (step / steps per epoch; 1.0: the
                       end of the first)
    ``train_loss``     mean training loss (nats/char) over the steps since the previous train log
    ``val_loss``       validation loss (nats/char); None in ``"train"`` entries
    ``train_bpc``      train_loss in bits/char;  ``val_bpc``: val_loss in bits/char (or None)
    ``val_perplexity`` e^val_loss (or None)
    ``lr``             learning rate of the last step
    ``chars_per_sec``  training characters per second since the previous train log
    ``elapsed``        seconds since this call started
    ``precision``      what the steps ran in: "fp32", "bf16" or "fp16" (``"auto"`` resolved)
    =================  ===========================================================================

    A ``"sample"`` entry (at each epoch's end, every ``sample_every`` steps and at the end) has
    ``step``, ``epoch``, ``elapsed``, ``prime``, ``top_k``, ``seed`` and ``text``: ``sample_len``
    characters generated from ``sample_prime`` with seed ``seed``, the same for every sample.

    With ``out``, ``OUT/log.json`` holds the settings and this history as plain JSON (rewritten at
    every validation, sample and save), and ``OUT/epochN.pt`` the checkpoints at the end of the
    first ``keep_epochs`` epochs. A resumed run continues the history stored in its checkpoint.

    Seeds torch's global RNG with ``seed`` (initial weights, dropout), so a run is reproducible.
    The same dicts are collected in ``result.history``. A NaN or infinite loss, gradient, validation
    loss or weight stops training with an LstmvizError and leaves the last good checkpoint in place:
    nothing non-finite is ever saved.

    Every setting is checked first (``TrainConfig.validate``). With ``out``, the run folder is
    locked for the whole run (a second run into it is refused) and checked writable before any
    training. SIGINT (Ctrl-C) or SIGTERM stops after the current step, saves ``checkpoint.pt`` and
    raises ``TrainingInterrupted`` saying how to resume.

    Started by ``torchrun`` (RANK, WORLD_SIZE, LOCAL_RANK set), it trains data-parallel with
    DistributedDataParallel, each process on its share of the streams; rank 0 alone holds the run
    folder, validates, calls back, shows progress and writes checkpoints, and a signal stops every
    rank after the same step (see ``lstmviz.core.distributed``).
    """
    overrides = dict(overrides)
    out = _check_early(config, overrides)
    ranks = distributed.from_env()
    if ranks is None:
        with RunFolder(out) if out is not None else nullcontext(), _StopOnSignal(out) as stop:
            cfg, raw, text, precision, device = _prepare(config, overrides, resume, text, None)
            return _out_of_memory_refused(
                lambda: _train(cfg, raw, text, device, precision, callback, progress, stop, None)
            )
    # Under torchrun: rank 0 alone holds the run folder, reads the files (checkpoint, corpus) and
    # sends what it read to the others.
    asked = overrides.get("device") or (config.device if config is not None else None)
    device = distributed.local_device(ranks, pick_device(asked))
    with distributed.group(ranks, device), ExitStack() as held, _StopOnSignal(out) as stop:

        def prepare() -> tuple:
            if out is not None:
                held.enter_context(RunFolder(out))
            return _prepare(config, overrides, resume, text, device, ranks)

        cfg, raw, text, precision, _ = distributed.on_main(ranks, prepare)
        callback, progress = (callback, progress) if ranks.main else (None, False)
        return _out_of_memory_refused(
            lambda: _train(cfg, raw, text, device, precision, callback, progress, stop, ranks)
        )


def _out_of_memory_refused(run: Callable[[], TrainResult]) -> TrainResult:
    """``run()``, with running out of memory turned into one clear LstmvizError."""
    try:
        return run()
    except (RuntimeError, MemoryError) as e:
        if not isinstance(e, MemoryError | torch.OutOfMemoryError) and not any(
            m in str(e) for m in ("can't allocate memory", "not enough memory")
        ):
            raise  # a bug, not a size: keep the traceback
        raise LstmvizError(
            f"out of memory ({_first_line(e)}); use a smaller --batch-size, --seq-len, "
            "--hidden-size or --val-chars"
        ) from None


def _prepare(
    config: TrainConfig | None,
    overrides: dict,
    resume: bool,
    text: str | None,
    device: torch.device | None,
    ranks: distributed.Ranks | None = None,
) -> tuple[TrainConfig, dict | None, str, str, torch.device]:
    """The config, the checkpoint to resume (or None), the text, the precision and the device."""
    cfg, raw = _resolve(config, dict(overrides), resume)
    if ranks is not None:
        distributed.share(cfg.batch_size, ranks)  # refuse a batch that does not split, up front
    device = device or pick_device(cfg.device)
    precision = resolve_precision(cfg.precision, device)  # before any work: refusals come first
    if text is None:
        if cfg.corpus == GIVEN_TEXT:
            raise LstmvizError(
                f"the run in {cfg.out!r} was trained on a text passed as train(text=...); "
                "pass the same text again to resume it"
            )
        text = load_corpus(cfg.corpus)
    elif not isinstance(text, str) or not text:
        raise LstmvizError("text must be a non-empty string")
    elif not text.isascii() and _not_utf8(text):
        raise LstmvizError(
            "text contains a lone surrogate (not a character; e.g. from bytes decoded with "
            "surrogateescape); decode the file as UTF-8 first"
        )
    else:
        # so a checkpoint never claims a corpus it was not trained on
        cfg = cfg.replace(corpus=GIVEN_TEXT)
    return cfg, raw, text, precision, device


def _train(
    cfg: TrainConfig,
    raw: dict | None,
    text: str,
    device: torch.device,
    precision: str,
    callback: Callable[[dict], None] | None,
    progress: bool,
    stop: _StopOnSignal,
    ranks: distributed.Ranks | None,
) -> TrainResult:
    """The training loop of ``train`` (``ranks``: this process's place in a torchrun job, or None).

    Runs with the config resolved and the run folder held."""
    out = Path(cfg.out) if cfg.out else None
    train_text, val_text = split(text, cfg.val_fraction)
    need = cfg.batch_size * cfg.seq_len + 1
    if len(train_text) < need:
        raise LstmvizError(
            f"the corpus is too short: its training part has {len(train_text):,} characters, but "
            f"one batch of {cfg.batch_size} sequences of {cfg.seq_len} needs {need:,}. Use a "
            "longer text or a smaller --batch-size / --seq-len"
        )
    if len(val_text) < 2:
        raise LstmvizError(
            "the validation part of the corpus is empty; use a longer text or a larger val_fraction"
        )
    vocab = Vocab.from_text(text)
    if cfg.sample_len:  # refused now, not after an epoch of training
        vocab.encode(cfg.sample_prime, what="sample prime (--sample-prime)")

    _check_model_fits(cfg, len(vocab), device)
    torch.manual_seed(cfg.seed)
    try:
        model = CharLSTM(
            len(vocab), cfg.hidden_size, cfg.num_layers, cfg.dropout, cfg.embedding_dim
        )
    except (RuntimeError, MemoryError) as e:  # the allocation of the weights failed
        raise LstmvizError(
            f"cannot build a model with hidden_size={cfg.hidden_size}, num_layers="
            f"{cfg.num_layers}, embedding_dim={cfg.embedding_dim} here ({_first_line(e)}); "
            "choose smaller sizes"
        ) from None
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    step, best, history, state = 0, None, [], None
    val_loss = None
    if raw is not None:
        saved_model, saved_vocab = model_from_raw(raw)
        if saved_vocab != vocab:
            raise LstmvizError(
                f"the checkpoint in {str(out)!r} was trained on another vocabulary "
                f"({len(saved_vocab)} characters) than this corpus has ({len(vocab)}); resume with "
                "the same corpus or use a new --out"
            )
        model.load_state_dict(saved_model.state_dict())
        step, best = int(raw["step"]), raw.get("best_val_loss")
        val_loss, history = raw.get("val_loss"), list(raw.get("history") or [])
    model.to(device)
    if raw is not None:
        try:
            optimizer.load_state_dict(raw["optimizer"])
            for p in model.parameters():  # Adam's moments must match their weights
                for key, moment in optimizer.state.get(p, {}).items():
                    if torch.is_tensor(moment) and moment.dim() and moment.shape != p.shape:
                        raise ValueError(f"optimizer {key} of shape {tuple(moment.shape)}")
            rng = raw.get("rng") or {}
            if "torch" in rng:
                torch.set_rng_state(rng["torch"])
            if device.type == "cuda" and rng.get("cuda"):
                torch.cuda.set_rng_state_all(rng["cuda"])
            if raw.get("train_state") is not None:
                h, c = raw["train_state"]["h"], raw["train_state"]["c"]
                want = (cfg.num_layers, cfg.batch_size, cfg.hidden_size)
                if tuple(h.shape) != want or tuple(c.shape) != want:
                    raise ValueError(f"train_state of shape {tuple(h.shape)}, not {want}")
                state = (h.to(device, torch.float32), c.to(device, torch.float32))
        except (ValueError, KeyError, TypeError, RuntimeError, IndexError) as e:
            raise LstmvizError(
                f"{raw.get('_path', str(out))!r} is damaged: its training state does not fit its "
                f"model ({_first_line(e)}); resume from an earlier checkpoint"
            ) from None
    # Under torchrun: this rank's share of the streams (all rows otherwise), DDP around the model.
    rows = slice(None) if ranks is None else distributed.share(cfg.batch_size, ranks)
    world = 1 if ranks is None else ranks.world_size
    main = ranks is None or ranks.main
    net = model  # the CharLSTM itself: validated, saved and returned
    if ranks is not None:
        state = None if state is None else (state[0][:, rows], state[1][:, rows])
        model = distributed.wrap(net, device)
        if not main:  # rank 0 carries on the run's RNG; the others draw their own dropout masks
            torch.manual_seed(cfg.seed + 1_000_003 * ranks.rank + step)

    amp, scaler = autocast_for(precision, device)

    x, y = streams(vocab.encode(train_text, what="corpus").to(device), cfg.batch_size)
    x, y = x[rows], y[rows]
    chunks = x.shape[1] // cfg.seq_len  # BPTT windows per epoch
    val_ids = vocab.encode(
        val_text[: cfg.val_chars + 1] if cfg.val_chars else val_text, what="corpus"
    )
    val_batch = max(1, min(cfg.batch_size, (len(val_ids) - 1) // cfg.seq_len))
    vx, vy = streams(val_ids.to(device), val_batch)

    def save(path_name: str, train_state) -> None:
        if not _all_finite(net):  # never write poisoned weights over a good checkpoint
            _diverged("weights", "NaN or infinite", step, out)
        save_checkpoint(
            out / path_name,
            net,
            vocab,
            step=step,
            config=cfg.to_dict(),
            val_loss=val_loss,
            best_val_loss=best,
            optimizer=optimizer,
            history=history,
            train_state=train_state,
            world_size=world,
        )

    def emit(entry: dict) -> None:
        history.append({**entry, "epoch": entry["step"] / chunks})
        if callback is not None:
            callback(history[-1])

    def write_log() -> None:  # OUT/log.json: what a lesson loads (json.load), whole at any moment
        log = {
            "format": LOG_FORMAT,
            "config": cfg.to_dict(),
            "steps_per_epoch": chunks,
            "chars_per_step": cfg.batch_size * cfg.seq_len,
            "train_chars": len(train_text),
            "val_chars_scored": vx.numel(),
            "history": history,
        }
        data = json.dumps(_finite_or_none(log), indent=1, ensure_ascii=False, allow_nan=False)
        atomic_write(out / LOG, lambda f: f.write(data.encode("utf-8")), "run log")

    start_step, t_start = step, time.perf_counter()
    t_log, loss_sum, loss_n, last_train = t_start, 0.0, 0, None
    desc = f"train ({device.type}, {precision})"
    bar = tqdm(total=cfg.steps, initial=step, disable=not progress, desc=desc, unit="step")
    model.train()
    stop.looping = True
    try:
        while step < cfg.steps:
            k = step % chunks
            if k == 0:
                state = None  # a new pass over the text: streams start from zero state
            xb, yb = (
                x[:, k * cfg.seq_len : (k + 1) * cfg.seq_len],
                y[:, k * cfg.seq_len : (k + 1) * cfg.seq_len],
            )
            lr = lr_at(cfg, step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss_value, state, norm = train_step(
                model,
                optimizer,
                xb,
                yb,
                state,
                grad_clip=cfg.grad_clip,
                autocast=amp,
                scaler=scaler,
            )
            if ranks is not None:  # the whole batch's loss (the mean of the ranks' equal shares),
                # and a signal to any rank stops them all after this same step
                loss_value, agreed = distributed.agree(loss_value, stop.signum, ranks, device)
            if not math.isfinite(loss_value):
                _diverged("loss", loss_value, step + 1, out)
            if scaler is None and not math.isfinite(norm):
                _diverged("gradient norm", norm, step + 1, out)
            if cfg.reset_prob > 0:
                # own generator seeded by (seed, step): the same resets after a resume
                gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
                keep = torch.rand(cfg.batch_size, generator=gen)[rows] >= cfg.reset_prob
                keep = keep.to(device)
                keep = keep.to(state[0].dtype)[None, :, None]
                state = (state[0] * keep, state[1] * keep)
            step += 1
            loss_sum, loss_n = loss_sum + loss_value, loss_n + 1
            bar.update(1)
            epoch_end = step % chunks == 0  # a whole pass over the training text

            if step % cfg.log_every == 0 or step == cfg.steps:
                now = time.perf_counter()
                last_train = loss_sum / loss_n
                emit(
                    _entry(
                        "train",
                        step,
                        last_train,
                        None,
                        lr,
                        loss_n * xb.numel() * world / max(now - t_log, 1e-9),
                        now - t_start,
                        precision,
                    )
                )
                bar.set_postfix(train=_fmt(last_train), val=_fmt(val_loss))
                t_log, loss_sum, loss_n = now, 0.0, 0
            due_eval = step % cfg.eval_every == 0 or step == cfg.steps or epoch_end
            due_sample = cfg.sample_len > 0 and (
                (cfg.sample_every and step % cfg.sample_every == 0)
                or epoch_end
                or step == cfg.steps
            )
            due_save = out is not None and (
                (cfg.save_every and step % cfg.save_every == 0) or step == cfg.steps
            )
            keep = out is not None and epoch_end and step // chunks <= cfg.keep_epochs
            # every rank's streams, for a checkpoint (a collective: all ranks take part)
            need_state = out is not None and (due_eval or due_save or keep)
            full = _all_streams(state, ranks) if need_state else None
            if due_eval and main:  # rank 0 alone validates; the others wait at the next step
                val_loss = validation_loss(net, vx, vy, cfg.seq_len, amp)
                model.train()
                if not math.isfinite(val_loss):
                    _diverged("validation loss", val_loss, step, out)
                # last_train is None when a resumed run validates before its first log
                bar.set_postfix(train=_fmt(last_train), val=_fmt(val_loss))
                emit(
                    _entry(
                        "val",
                        step,
                        last_train,
                        val_loss,
                        lr,
                        None,
                        time.perf_counter() - t_start,
                        precision,
                    )
                )
                if progress:
                    bar.write(
                        f"step {step}: train {_fmt(last_train, 4)}  val {val_loss:.4f} nats/char "
                        f"({val_loss / math.log(2):.3f} bits/char, "
                        f"perplexity {_perplexity(val_loss):.2f})"
                    )
            if due_sample and main:  # same prime and seed every time; the global RNG is untouched
                sample = generate(
                    net,
                    vocab,
                    cfg.sample_prime,
                    cfg.sample_len,
                    top_k=cfg.sample_top_k,
                    seed=cfg.seed,
                )
                model.train()
                emit(
                    {
                        "kind": "sample",
                        "step": step,
                        "prime": cfg.sample_prime,
                        "text": sample,
                        "top_k": cfg.sample_top_k,
                        "seed": cfg.seed,
                        "elapsed": time.perf_counter() - t_start,
                    }
                )
                if progress:
                    bar.write(f"step {step} sample: {cfg.sample_prime + sample!r}"[:200])
            if keep and main:
                save(epoch_file(step // chunks), full)
            if due_eval and main:
                if best is None or val_loss < best:
                    best = val_loss
                    if out is not None:
                        save(BEST, full)
            if due_save and main:
                save(LATEST, full)
            if out is not None and main and (due_eval or due_sample or due_save):
                write_log()
            signum = stop.signum if ranks is None else agreed
            if signum is not None:  # Ctrl-C / SIGTERM: this step is whole; keep it
                if out is not None:
                    full = full or _all_streams(state, ranks)
                    if main:
                        save(LATEST, full)
                        write_log()
                raise TrainingInterrupted(signum, step, out)
        if out is not None and main and step == start_step and not (out / LATEST).exists():
            save(LATEST, state)  # steps <= the resumed step: still leave a checkpoint behind
    except LstmvizError as e:
        if main or isinstance(e, distributed.Echo):
            raise
        raise distributed.Echo(str(e)) from None  # every rank stops alike; rank 0 reports it
    except RuntimeError as e:
        if ranks is None or not distributed.lost(e):
            raise
        raise LstmvizError(
            f"{distributed.failure(e, ranks)}; stopped after step {step}. The last checkpoint is "
            f"{_last_checkpoint(out)}: run the same torchrun command with --resume to continue"
        ) from None
    finally:
        bar.close()

    net.eval()
    return TrainResult(
        model=net,
        vocab=vocab,
        config=cfg,
        step=step,
        train_loss=last_train,
        val_loss=val_loss,
        best_val_loss=best,
        history=history,
        out=out,
    )


#: ``format`` of OUT/log.json.
LOG_FORMAT = "lstmviz-log-1"


def _finite_or_none(value: Any) -> Any:
    """``value`` with every inf or NaN float replaced by None (strict JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_none(v) for v in value]
    return value


def _fmt(loss: float | None, digits: int = 3) -> str:
    return "-" if loss is None else f"{loss:.{digits}f}"


def _entry(
    kind: str,
    step: int,
    train_loss,
    val_loss,
    lr: float,
    chars_per_sec,
    elapsed: float,
    precision: str,
) -> dict:
    ln2 = math.log(2)
    return {
        "kind": kind,
        "step": step,
        "train_loss": train_loss,
        "val_loss": val_loss,
        "train_bpc": None if train_loss is None else train_loss / ln2,
        "val_bpc": None if val_loss is None else val_loss / ln2,
        "val_perplexity": None if val_loss is None else _perplexity(val_loss),
        "lr": lr,
        "chars_per_sec": chars_per_sec,
        "elapsed": elapsed,
        "precision": precision,
    }


def _check_model_fits(cfg: TrainConfig, vocab_size: int, device: torch.device) -> None:
    """Refuse, before allocating anything, a model whose training state cannot fit in memory."""
    h, e, n = cfg.hidden_size, cfg.embedding_dim, cfg.num_layers
    params = (
        vocab_size * e + 4 * h * (e + h + 2) + (n - 1) * 4 * h * (2 * h + 2) + vocab_size * (h + 1)
    )
    need = 16 * params  # float32 weights, gradients and Adam's two moments
    if device.type == "cuda":
        have = torch.cuda.mem_get_info(device)[1]
    else:
        try:
            have = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):  # not on this system: let torch try
            return
    if need > have:
        raise LstmvizError(
            f"a model with hidden_size={h}, num_layers={n}, embedding_dim={e} has {params:,} "
            f"parameters and needs about {need / 1e9:,.1f} GB to train, more than the "
            f"{have / 1e9:.1f} GB of {device.type} memory here; choose smaller sizes"
        )


def _perplexity(loss: float) -> float:
    """e^loss, or inf where that overflows a float (a loss past 709 nats)."""
    return math.exp(loss) if loss < 709 else math.inf


def _all_finite(model: torch.nn.Module) -> bool:
    """Whether every parameter is free of NaN and inf (one device sync)."""
    return bool(torch.stack([torch.isfinite(p).all() for p in model.parameters()]).all())


def _not_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:160]


def _diverged(what: str, value: float | str, step: int, out: Path | None) -> None:
    """Stop training: raise LstmvizError saying where the last good checkpoint is."""
    where = _last_checkpoint(out)
    raise LstmvizError(
        f"training {what} became {value} at step {step}; stopped without saving it. The last "
        f"good checkpoint is {where}. Try a lower --lr or a smaller --grad-clip"
    )


def _last_checkpoint(out: Path | None) -> str:
    """Where the run's latest checkpoint is and its step, for messages after a failure."""
    if out is None or not (out / LATEST).exists():
        return "nowhere (no checkpoint yet)"
    try:
        return f"{str(out / LATEST)!r} (step {int(read_raw(out / LATEST)['step'])})"
    except LstmvizError:
        return repr(str(out / LATEST))


def _all_streams(state, ranks: distributed.Ranks | None):
    """The carried (h, c) of all batch_size streams: gathered from every rank under torchrun."""
    if state is None or ranks is None:
        return state
    return distributed.gather_state(state, ranks)
