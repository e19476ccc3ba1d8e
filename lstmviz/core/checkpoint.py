"""Saving and loading trained models safely.

A checkpoint is a ``torch.save``'d dict holding only tensors and plain Python values::

    format        "lstmviz-checkpoint"      version      1
    model         CharLSTM state_dict (float32, or float16 in an export)
    model_config  {vocab_size, hidden_size, num_layers, dropout, embedding_dim}
    vocab         the vocabulary's characters, one string
    config        the TrainConfig as a dict (None for a hand-saved model)
    step          optimizer steps taken          val_loss / best_val_loss  nats/char or None
    optimizer     Adam state_dict, or None       rng          {"torch": ByteTensor, "cuda": [...]}
    train_state   the carried (h, c) of the training streams, or None
    history       list of the logged dicts (see ``lstmviz.training.train``)

Writes go to a temporary file in the same folder, then ``os.replace`` (atomic on POSIX and Windows):
a kill at any moment leaves either the old or the new checkpoint, never half of one. Loads use
``torch.load(weights_only=True)``, which refuses pickles that would run code.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .errors import LstmvizError
from .model import CharLSTM
from .vocab import Vocab

FORMAT = "lstmviz-checkpoint"
VERSION = 1
#: File name of the latest checkpoint inside a training run's ``out`` folder.
LATEST = "checkpoint.pt"
#: File name of the checkpoint with the lowest validation loss so far.
BEST = "best.pt"
#: Where ``load_pretrained`` looks: ``lstmviz/checkpoints/{name}.pt``.
PRETRAINED_DIR = Path(__file__).parent.parent / "checkpoints"


@dataclass
class Checkpoint:
    """A loaded checkpoint: ``.model`` (eval mode), ``.vocab``, ``.step``, ``.config``, ``.val_loss``."""

    model: CharLSTM
    vocab: Vocab
    step: int
    config: dict | None
    val_loss: float | None
    best_val_loss: float | None = None
    history: list[dict] = field(default_factory=list)
    path: Path | None = None
    raw: dict = field(default_factory=dict, repr=False)  # everything, for resuming training


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj)`` to ``path`` via a temp file in the same folder + ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_checkpoint(
    path: str | os.PathLike,
    model: CharLSTM,
    vocab: Vocab,
    *,
    step: int = 0,
    config: dict | None = None,
    val_loss: float | None = None,
    best_val_loss: float | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    history: list[dict] | None = None,
    train_state: tuple[torch.Tensor, torch.Tensor] | None = None,
    half: bool = False,
) -> Path:
    """Write ``model`` + ``vocab`` (+ training state) atomically to ``path``; returns the path.

    ``half=True`` writes an export: float16 weights only, no optimizer, RNG or stream state
    (half the size; loading converts back to float32). Use it for shipping a trained model.
    """
    if len(vocab) != model.vocab_size:
        raise LstmvizError(
            f"the vocabulary has {len(vocab)} characters but the model expects {model.vocab_size}"
        )
    weights = {
        k: (
            v.detach().to("cpu", torch.float16)
            if half and v.is_floating_point()
            else v.detach().cpu()
        )
        for k, v in model.state_dict().items()
    }
    ckpt: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "model": weights,
        "model_config": model.config(),
        "vocab": vocab.chars,
        "config": config,
        "step": int(step),
        "val_loss": None if val_loss is None else float(val_loss),
        "best_val_loss": None if best_val_loss is None else float(best_val_loss),
        "history": list(history or []),
        "optimizer": None,
        "rng": None,
        "train_state": None,
    }
    if not half:
        ckpt["optimizer"] = optimizer.state_dict() if optimizer is not None else None
        ckpt["rng"] = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            ckpt["rng"]["cuda"] = torch.cuda.get_rng_state_all()
        if train_state is not None:
            # float32 on CPU: a run trained under CUDA autocast (half-precision state) resumes anywhere
            h, c = (t.detach().to("cpu", torch.float32) for t in train_state)
            ckpt["train_state"] = {"h": h, "c": c}
    return atomic_save(ckpt, path)


def export_checkpoint(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Copy checkpoint ``src`` to ``dst`` as a float16 weights-only export (for shipping)."""
    ck = load_checkpoint(src)
    return save_checkpoint(
        dst,
        ck.model,
        ck.vocab,
        step=ck.step,
        config=ck.config,
        val_loss=ck.val_loss,
        best_val_loss=ck.best_val_loss,
        history=ck.history,
        half=True,
    )


def read_raw(path: str | os.PathLike) -> dict:
    """The checkpoint dict at ``path``, checked: a file, a run folder holding ``checkpoint.pt``, or
    the name of a pretrained model (``"shakespeare"``; an existing file of that name wins)."""
    path = Path(path)
    if path.is_dir():
        if not (path / LATEST).is_file():
            raise LstmvizError(
                f"{str(path)!r} is a folder without a {LATEST}; give a checkpoint file"
            )
        path = path / LATEST
    if not path.exists():
        if str(path) not in available_pretrained():
            raise LstmvizError(
                f"checkpoint {str(path)!r} does not exist and is not a pretrained model's name "
                f"({', '.join(available_pretrained()) or 'none'}); check the path"
            )
        path = PRETRAINED_DIR / f"{path}.pt"  # a pretrained model's name: "shakespeare"
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise LstmvizError(
            f"refused to load {str(path)!r}: it contains Python objects or code, not just tensors "
            f"({first[:120]}). Only load checkpoints written by lstmviz from a source you trust."
        ) from None
    except (
        RuntimeError,
        EOFError,
        zipfile.BadZipFile,
        OSError,
        ValueError,
        KeyError,
        IndexError,
    ) as e:
        raise LstmvizError(
            f"{str(path)!r} is not a readable checkpoint (truncated or corrupted?): "
            f"{type(e).__name__}. Re-save it or use an earlier checkpoint."
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise LstmvizError(
            f"{str(path)!r} is a PyTorch file but not an lstmviz checkpoint; "
            "train one with `python -m lstmviz train` or save one with lstmviz.save_checkpoint"
        )
    if ckpt.get("version", 0) > VERSION:
        raise LstmvizError(
            f"{str(path)!r} was written by a newer lstmviz (format version {ckpt['version']}); upgrade lstmviz"
        )
    ckpt["_path"] = str(path)
    return ckpt


def model_from_raw(ckpt: dict, device: str | torch.device = "cpu") -> tuple[CharLSTM, Vocab]:
    """Rebuild (model in eval mode, float32, on ``device``, vocab) from a checkpoint dict."""
    where = ckpt.get("_path", "checkpoint")
    try:
        vocab = Vocab(ckpt["vocab"])
        cfg = dict(ckpt["model_config"])
        if cfg["vocab_size"] != len(vocab):
            raise LstmvizError(
                f"{where!r} does not fit together: its vocabulary has {len(vocab)} characters but its "
                f"model expects {cfg['vocab_size']}; the file was edited or mixed from two runs"
            )
        model = CharLSTM(**cfg)
        weights = {k: v.float() if v.is_floating_point() else v for k, v in ckpt["model"].items()}
        model.load_state_dict(weights)
    except LstmvizError:
        raise
    except (KeyError, TypeError, RuntimeError, AttributeError) as e:
        msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise LstmvizError(
            f"{where!r} does not match its own model configuration ({msg}); "
            "the file is damaged or was not written by this version of lstmviz"
        ) from None
    return model.to(device).eval(), vocab


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> Checkpoint:
    """Load a checkpoint file (or a run folder's latest) -> Checkpoint with ``.model`` in eval mode."""
    ckpt = read_raw(path)
    model, vocab = model_from_raw(ckpt, device)
    return Checkpoint(
        model=model,
        vocab=vocab,
        step=int(ckpt.get("step", 0)),
        config=ckpt.get("config"),
        val_loss=ckpt.get("val_loss"),
        best_val_loss=ckpt.get("best_val_loss"),
        history=list(ckpt.get("history") or []),
        path=Path(ckpt["_path"]),
        raw=ckpt,
    )


def available_pretrained() -> list[str]:
    """Names accepted by ``load_pretrained`` (the ``.pt`` files shipped in lstmviz/checkpoints)."""
    return sorted(p.stem for p in PRETRAINED_DIR.glob("*.pt"))


def load_pretrained(name: str = "shakespeare", device: str | torch.device = "cpu") -> Checkpoint:
    """The model shipped with lstmviz as ``lstmviz/checkpoints/{name}.pt`` -> Checkpoint (eval mode)."""
    path = PRETRAINED_DIR / f"{name}.pt"
    if not path.is_file():
        names = available_pretrained()
        raise LstmvizError(
            f"no pretrained model named {name!r}; available: {', '.join(names) if names else 'none'}. "
            "Train one with `python -m lstmviz train` and load it with lstmviz.load_checkpoint(path)."
        )
    return load_checkpoint(path, device)
