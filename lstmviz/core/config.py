"""Every training setting, once: ``TrainConfig`` (one field per setting) and its two ``PRESETS``.

Each field of ``TrainConfig`` is also a ``python -m lstmviz train`` flag (``hidden_size`` ->
``--hidden-size``) with the help text written next to it here, and ``TrainConfig.validate`` is
where its allowed range is checked. ``PRESETS`` are the two starting points side by side: ``full``
(the 2x512 model, for a GPU; its values are also the fields' defaults) and ``quick`` (a small model
that writes recognisable play-script on a 2-core CPU in about 3 minutes).

    cfg = TrainConfig.from_preset("quick", steps=300)
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from numbers import Integral
from typing import Any

import torch

from . import checks
from .errors import LstmvizError
from .model import NUM_LAYERS_MAX

# setting: (full, quick). full: the seed's model, about 3.3M parameters; quick: a 2-core CPU's.
_PRESET_TABLE: dict[str, tuple[Any, Any]] = {
    "hidden_size": (512, 256),
    "num_layers": (2, 2),
    "dropout": (0.5, 0.1),
    "embedding_dim": (64, 32),
    "seq_len": (100, 64),
    "batch_size": (128, 32),
    "steps": (6000, 1000),
    "lr": (2e-3, 4e-3),
    "min_lr": (2e-4, 4e-4),
    "reset_prob": (0.02, 0.02),
    "eval_every": (200, 250),
    "val_chars": (None, 100_000),
    "log_every": (10, 10),
    "save_every": (200, 250),
}
#: ``--preset`` name -> the settings it fixes (the rest keep TrainConfig's defaults).
PRESETS: dict[str, dict[str, Any]] = {
    name: {setting: values[i] for setting, values in _PRESET_TABLE.items()}
    for i, name in enumerate(("full", "quick"))
}

#: ``--precision`` values. Weights, optimizer and checkpoints stay float32 in all of them: bf16
#: and fp16 run the forward pass under ``torch.autocast`` (fp16 with a GradScaler, CUDA only).
PRECISIONS = ("auto", "fp32", "bf16", "fp16")

#: Largest learning rate accepted: far past any useful value, well before Adam's float32 update
#: overflows (from about 1e38).
LR_MAX = 1e6

#: Longest recorded sample (a sample is a few lines of text in the log, not a book).
SAMPLE_MAX = 100_000

#: ``config.corpus`` of a run trained on a string passed as ``train(text=...)``.
GIVEN_TEXT = "<text>"

#: Settings that fix the model or the data stream; a resumed run must keep them.
FIXED_ON_RESUME = (
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


def _setting(default: Any, help: str, **extra: Any) -> Any:
    """A TrainConfig field with its help text (the CLI's ``--flag`` help comes from it)."""
    return field(default=default, metadata={"help": help, **extra})


def _full(name: str, help: str) -> Any:
    """A TrainConfig field whose default is the ``full`` preset's value."""
    return _setting(PRESETS["full"][name], help)


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
    hidden_size: int = _full("hidden_size", "LSTM units per layer")
    num_layers: int = _full("num_layers", "stacked LSTM layers")
    dropout: float = _full("dropout", "dropout between layers and before the output layer")
    embedding_dim: int = _full("embedding_dim", "size of the character embedding")
    # data
    seq_len: int = _full("seq_len", "characters per truncated-BPTT window")
    batch_size: int = _full("batch_size", "parallel text streams per batch")
    val_fraction: float = _setting(0.1, "last fraction of the text kept for validation")
    # optimisation
    steps: int = _full("steps", "total optimizer steps (a resumed run continues up to this)")
    lr: float = _full("lr", "peak learning rate (Adam)")
    min_lr: float = _full("min_lr", "learning rate at the last step (cosine decay; = lr: constant)")
    grad_clip: float = _setting(5.0, "max global gradient norm (inf: no clipping)")
    # Carried state alone means the model meets a zero state only once per epoch, so it cannot read
    # a prompt from scratch (the sampler's start); a few random resets teach it to. The default is
    # 0, not the presets' value: checkpoints older than this field were trained without resets.
    reset_prob: float = _setting(0.0, "chance per stream and batch of zeroing the carried state")
    # bookkeeping
    eval_every: int = _full("eval_every", "validate every N steps (and at the end)")
    val_chars: int | None = _full(
        "val_chars", "validate on the first N validation characters (none: all)"
    )
    log_every: int = _full("log_every", "log the training loss every N steps")
    save_every: int = _full(
        "save_every", "write OUT/checkpoint.pt every N steps (0: only at the end)"
    )
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
        names = field_names()
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

    def validate(self, *, together: bool = True) -> TrainConfig:
        """Check every field's type and range (LstmvizError naming the allowed range); returns self.

        ``train`` calls it before any work, so a bad setting never starts a run. ``together``:
        also check the settings against each other (min_lr <= lr).
        """
        for name in ("hidden_size", "embedding_dim", "seq_len", "batch_size"):
            checks.whole(flag(name), getattr(self, name), 1)
        checks.whole(flag("num_layers"), self.num_layers, 1, NUM_LAYERS_MAX)
        checks.whole(flag("steps"), self.steps, 1, checks.STEP_MAX)
        for name in ("eval_every", "log_every"):
            checks.whole(flag(name), getattr(self, name), 1)
        checks.whole(flag("save_every"), self.save_every, 0)
        checks.whole(flag("sample_every"), self.sample_every, 0)
        checks.whole(flag("sample_len"), self.sample_len, 0, SAMPLE_MAX)
        checks.whole(flag("sample_top_k"), self.sample_top_k, 1)
        checks.whole(flag("keep_epochs"), self.keep_epochs, 0)
        if not isinstance(self.sample_prime, str) or not self.sample_prime:
            raise LstmvizError(
                f"sample_prime (--sample-prime) must be a non-empty string, got "
                f"{self.sample_prime!r}"
            )
        if self.val_chars is not None:
            checks.whole(flag("val_chars"), self.val_chars, 1)
        checks.seed(flag("seed"), self.seed)
        checks.real(flag("dropout"), self.dropout, 0, 1, hi_open=True)
        checks.real(flag("lr"), self.lr, 0, LR_MAX, lo_open=True)
        checks.real(flag("min_lr"), self.min_lr, 0, LR_MAX)
        if together and self.min_lr > self.lr:  # the cosine schedule would climb to min_lr
            raise LstmvizError(
                f"min_lr (--min-lr) {self.min_lr:g} is above lr (--lr) {self.lr:g}: the rate "
                "decays from lr to min_lr, so min_lr must be <= lr (equal: a constant rate); "
                "set both"
            )
        checks.real(flag("grad_clip"), self.grad_clip, 0, lo_open=True, note=" (inf: no clipping)")
        checks.real(flag("reset_prob"), self.reset_prob, 0, 1)
        checks.real(flag("val_fraction"), self.val_fraction, 0, 1, lo_open=True, hi_open=True)
        if not isinstance(self.corpus, str | os.PathLike) or not str(self.corpus):
            raise LstmvizError(
                f"corpus must be 'shakespeare', 'python', a file path or a URL, got {self.corpus!r}"
            )
        for name in ("device", "out"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str | os.PathLike) or not str(value)):
                raise LstmvizError(
                    f"{flag(name)} must be a non-empty string or None, got {value!r}"
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
        for f in dataclasses.fields(self):  # NumPy integers -> int: checkpoints hold plain values
            value = getattr(self, f.name)
            if isinstance(value, Integral) and not isinstance(value, bool):
                setattr(self, f.name, int(value))
        return self


def flag(name: str) -> str:
    """A setting's name as the API and the CLI spell it: "seq_len (--seq-len)"."""
    return f"{name} (--{name.replace('_', '-')})"


def field_names() -> set[str]:
    """The names of TrainConfig's fields (the settings, and the CLI's flags)."""
    return {f.name for f in dataclasses.fields(TrainConfig)}


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


def resumed(saved: dict, overrides: dict, out: str, where: str) -> TrainConfig:
    """The config of the run in folder ``out``: the settings ``saved`` in its checkpoint (the file
    ``where``), with ``overrides`` on top.

    A setting in ``FIXED_ON_RESUME`` cannot change (LstmvizError naming it); stored settings that
    fail ``validate`` mean a damaged file. Unknown stored names are ignored (a newer lstmviz's
    settings), missing ones take their defaults (an older one's).
    """
    names = field_names()
    base = TrainConfig().replace(**{k: v for k, v in saved.items() if k in names})
    for key in FIXED_ON_RESUME:
        if key in overrides and overrides[key] != getattr(base, key):
            raise LstmvizError(
                f"the run in {out!r} was trained with {key}={getattr(base, key)!r}; resuming "
                f"with {key}={overrides[key]!r} is not possible. Drop that setting or use a new "
                "--out"
            )
    changeable = {k: v for k, v in overrides.items() if k not in FIXED_ON_RESUME}
    changeable["out"] = out
    try:  # each stored setting alone: an older run's min_lr > lr is fixed by --min-lr, below
        base.replace(out=out).validate(together=False)
    except LstmvizError as e:  # the file's own settings are bad
        raise LstmvizError(
            f"{where!r} is damaged: the training settings stored in it are invalid "
            f"({e}); use an earlier checkpoint"
        ) from None
    # each override was checked alone; together with the stored settings they may still clash
    # (--lr below the stored --min-lr): the user's to fix, the file is fine
    return base.replace(**changeable).validate()
