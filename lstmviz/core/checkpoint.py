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
    history       list of the logged dicts (see ``lstmviz.core.run.train``)
    world_size    processes that trained it (torchrun; 1 without); any number can resume it
    data          what it trained on: {source, path, size, sha256} (``corpus.read_corpus``), or
                  None; a resumed run must train on the same bytes

Writes go to a temporary file in the same folder, then ``os.replace`` (atomic on POSIX and Windows):
a kill at any moment leaves either the old or the new checkpoint, never half of one (the next run in
that folder removes the orphaned temporary file). Only regular files are ever written over, and
never NaN or infinite weights. Loads read only a regular file of at most ``CHECKPOINT_CAP`` bytes,
verify the zip archive's CRC-32 checksums (a flipped bit inside a tensor is caught), use
``torch.load(weights_only=True)``, which refuses pickles that would run code (a file pickled
with protocol 3-5 is read after its opcodes are rewritten in protocol 2's, still with no code
run), then check every field's type and range, every tensor's structure (dense, on the CPU, a
dtype we compute with, stored whole: a zero stride cannot pose one number as 80 GB) before any
value is read, that the values are finite, and that the tensor shapes fit ``model_config`` --
computed, not built -- before a model is built (so a file that claims a huge or deep model
allocates nothing). A checkpoint is never written larger than ``CHECKPOINT_CAP`` (what is read
back), and ``train`` refuses up front a run whose checkpoint would be. Resuming checks Adam's
settings and moments too.

Resuming a run: ``read_resumable`` reads a run folder's ``checkpoint.pt`` and checks that it holds
training state; ``restore`` puts that state (weights, Adam's moments, the RNG, the carried (h, c)
of every stream) back into a freshly built model and optimizer. The folder itself (its file names,
its lock): ``lstmviz.core.run_folder``.
"""

from __future__ import annotations

import io
import math
import os
import pickle
import pickletools
import struct
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field
from numbers import Real
from pathlib import Path
from typing import Any, BinaryIO

import torch

from .checks import STEP_MAX
from .corpus import public
from .errors import LstmvizError, first_line
from .files import atomic_write, open_regular, os_error, user_path
from .model import NUM_LAYERS_MAX, CharLSTM, param_count, param_shapes
from .run_folder import (  # noqa: F401 -- the run folder's names, imported from here since 0.1
    BEST,
    HOLDER,
    LATEST,
    LOCK,
    LOG,
    RunFolder,
    epoch_file,
    run_files,
)
from .vocab import Vocab

FORMAT = "lstmviz-checkpoint"
VERSION = 1
#: Where ``load_pretrained`` looks: ``lstmviz/checkpoints/{name}.pt``.
PRETRAINED_DIR = Path(__file__).parent.parent / "checkpoints"
#: Largest checkpoint file read, in bytes (a full-preset run's checkpoint is about 40 MB).
CHECKPOINT_CAP = 1_000_000_000


@dataclass
class Checkpoint:
    """A loaded checkpoint: ``.model`` (eval mode), ``.vocab``, ``.step``, ``.config``, losses."""

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
    """``torch.save(obj)`` to ``path`` via a temp file in the same folder + ``os.replace``.

    A file larger than ``CHECKPOINT_CAP`` is not kept: lstmviz never writes what it will not read.
    """
    return atomic_write(path, lambda f: torch.save(obj, f), "checkpoint", cap=CHECKPOINT_CAP)


def training_checkpoint_bytes(model_config: dict, batch_size: int) -> int:
    """About how many bytes a run's ``checkpoint.pt`` of this model takes: float32 weights and
    Adam's two moments (3 x 4 bytes a number), the carried (h, c), the vocabulary (<= 4 bytes a
    character). A lower bound: the history comes on top."""
    sizes = {k: model_config[k] for k in ("vocab_size", "hidden_size", "num_layers")}
    params = param_count(**sizes, embedding_dim=model_config["embedding_dim"])
    state = 2 * sizes["num_layers"] * batch_size * sizes["hidden_size"]
    return 12 * params + 4 * state + 4 * sizes["vocab_size"]


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
    world_size: int = 1,
    data: dict | None = None,
) -> Path:
    """Write ``model`` + ``vocab`` (+ training state) atomically to ``path``; returns the path.

    ``half=True`` writes an export: float16 weights only, no optimizer, RNG or stream state
    (half the size; loading converts back to float32). Use it for shipping a trained model.
    ``data``: the record of the text it trained on (``corpus.read_corpus``), which a resumed run
    compares with its own. A corpus URL's query string (which may hold a secret) is never saved.
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
    bad = _first_nonfinite(weights)
    if bad is not None:
        raise LstmvizError(
            f"refusing to save {str(path)!r}: the model's {bad!r} holds NaN or infinite values "
            "(training diverged); the previous checkpoint, if any, is kept"
        )
    for name, loss in (("val_loss", val_loss), ("best_val_loss", best_val_loss)):
        if loss is not None and not math.isfinite(loss):
            raise LstmvizError(f"refusing to save {str(path)!r}: its {name} is {loss}")
    for name, value in (("config", config), ("history", history)):
        if not _is_plain(value):  # the loader would refuse it (and log.json cannot hold it)
            raise LstmvizError(
                f"refusing to save {str(path)!r}: its {name} holds something other than plain "
                "values (strings, numbers, lists, dicts); lstmviz could not load it back"
            )
    tensor_bytes = sum(t.numel() * t.element_size() for t in weights.values())
    if not half and optimizer is not None:  # Adam's two moments
        tensor_bytes += 2 * sum(t.numel() * 4 for t in weights.values())
    if tensor_bytes > CHECKPOINT_CAP:  # known before writing a byte
        raise LstmvizError(
            f"refusing to save {str(path)!r}: its tensors alone take {tensor_bytes:,} bytes, "
            f"more than the {CHECKPOINT_CAP:,}-byte cap lstmviz reads back; nothing was written"
        )
    ckpt: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "model": weights,
        "model_config": model.config(),
        "vocab": vocab.chars,
        "config": _public(config),
        "step": int(step),
        "val_loss": None if val_loss is None else float(val_loss),
        "best_val_loss": None if best_val_loss is None else float(best_val_loss),
        "history": list(history or []),
        "optimizer": None,
        "rng": None,
        "train_state": None,
        "world_size": int(world_size),
        "data": _public(data),
    }
    if not half:
        ckpt["optimizer"] = optimizer.state_dict() if optimizer is not None else None
        ckpt["rng"] = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            ckpt["rng"]["cuda"] = torch.cuda.get_rng_state_all()
        if train_state is not None:
            # float32 on CPU: a run trained under CUDA autocast (half-precision state) resumes
            # anywhere
            h, c = (t.detach().to("cpu", torch.float32) for t in train_state)
            ckpt["train_state"] = {"h": h, "c": c}
    return atomic_save(ckpt, path)


def export_checkpoint(
    src: str | os.PathLike, dst: str | os.PathLike, *, val_loss: float | None = None
) -> Path:
    """Copy checkpoint ``src`` to ``dst`` as a float16 weights-only export (for shipping).

    ``val_loss``: store this validation loss instead of the source's (``lstmviz export
    --evaluate`` passes the export's own score on the whole validation text).
    """
    ck = load_checkpoint(src)
    dst = user_path(dst, "export target")
    try:
        same = ck.path is not None and os.path.samefile(ck.path, dst)
    except OSError:  # dst does not exist yet (or cannot be looked at: save_checkpoint will say)
        same = False
    if same:
        raise LstmvizError(
            f"the export target {str(dst)!r} is the checkpoint itself; exporting over it would "
            "lose its training state. Choose another --out"
        )
    return save_checkpoint(
        dst,
        ck.model,
        ck.vocab,
        step=ck.step,
        config=ck.config,
        val_loss=ck.val_loss if val_loss is None else val_loss,
        best_val_loss=ck.best_val_loss,
        history=ck.history,
        half=True,
        # what it was trained on, without where that file lies on this machine
        data=None if ck.raw.get("data") is None else {**ck.raw["data"], "path": None},
    )


def _public(settings: dict | None) -> dict | None:
    """``settings`` (a config or a corpus record) with its corpus URL's query string removed."""
    if not isinstance(settings, dict):
        return settings
    key = "corpus" if "corpus" in settings else "source"
    return {**settings, key: public(settings[key])} if key in settings else settings


def read_raw(path: str | os.PathLike) -> dict:
    """The checkpoint dict at ``path``, checked: a file, a run folder holding ``checkpoint.pt``, or
    the name of a pretrained model (``"shakespeare"``; an existing file of that name wins)."""
    path = user_path(path, "checkpoint")
    try:
        if path.is_dir():
            if not (path / LATEST).is_file():
                raise LstmvizError(
                    f"{str(path)!r} is a folder without a {LATEST}; give a checkpoint file"
                )
            path = path / LATEST
        if not path.exists() and not path.is_symlink():
            if str(path) not in available_pretrained():
                raise LstmvizError(
                    f"checkpoint {str(path)!r} does not exist and is not a pretrained model's "
                    f"name ({', '.join(available_pretrained()) or 'none'}); check the path"
                )
            path = PRETRAINED_DIR / f"{path}.pt"  # a pretrained model's name: "shakespeare"
    except OSError as e:  # a name too long, a path through a file...
        raise os_error(e, f"cannot read checkpoint {str(path)!r}") from None
    with open_regular(path, "checkpoint", CHECKPOINT_CAP) as f:
        _verify_archive(f, path)
        f.seek(0)
        try:
            ckpt = _load_weights_only(f)
        except pickle.UnpicklingError:
            # torch's own text is long and styled; say what matters in one plain line
            raise LstmvizError(
                f"refused to load {str(path)!r}: it contains Python objects or code, not just "
                "tensors and plain values. Only load checkpoints written by lstmviz from a source "
                "you trust."
            ) from None
        except (RuntimeError, EOFError, OSError, ValueError, KeyError, IndexError, TypeError) as e:
            raise _damaged(path, f"torch.load failed with {type(e).__name__}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise LstmvizError(
            f"{str(path)!r} is a PyTorch file but not an lstmviz checkpoint; "
            "train one with `python -m lstmviz train` or save one with lstmviz.save_checkpoint"
        )
    version = ckpt.get("version", 0)
    if isinstance(version, int) and not isinstance(version, bool) and version > VERSION:
        raise LstmvizError(
            f"{str(path)!r} was written by a newer lstmviz (format version {version}); "
            "upgrade lstmviz"
        )
    _check_fields(ckpt, path)
    ckpt["_path"] = str(path)
    return ckpt


def _load_weights_only(f: BinaryIO) -> Any:
    """``torch.load(f, weights_only=True)`` on the CPU; a file pickled with protocol 3-5 (a
    valid ``torch.save(..., pickle_protocol=4)``), which torch's safe loader cannot read, is
    read after its pickle is rewritten in protocol 2 (still only tensors and plain values)."""
    try:
        with warnings.catch_warnings():  # torch warns of protocols > 2 before failing on them
            warnings.filterwarnings("ignore", "Detected pickle protocol", UserWarning)
            return torch.load(f, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "Unsupported operand" not in str(e):
            raise
        f.seek(0)
        try:
            copy = _rewritten(f)
        except (ValueError, KeyError, IndexError, zipfile.BadZipFile) as why:
            raise pickle.UnpicklingError(str(why)) from None
        return torch.load(copy, map_location="cpu", weights_only=True)


#: Pickle opcodes of protocols 3-5 that torch's weights-only unpickler cannot read, written in
#: protocol 2's terms by ``_protocol_2``; anything else it cannot read stays refused.
_STRINGS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8"}
_GETS = {"BINGET", "LONG_BINGET"}
_PUTS = {"MEMOIZE", "BINPUT", "LONG_BINPUT"}


def _unicode(s: str) -> bytes:
    """The BINUNICODE opcode pushing ``s``."""
    b = s.encode("utf-8", "surrogatepass")
    return b"X" + struct.pack("<I", len(b)) + b


def _slot(op: bytes, n: int) -> bytes:
    """BINPUT (op b"q") or BINGET (b"h") of memo slot ``n``, in its short or long form."""
    small, large = {b"q": (b"q", b"r"), b"h": (b"h", b"j")}[op]
    return small + bytes([n]) if n < 256 else large + struct.pack("<I", n)


def _protocol_2(data: bytes) -> bytes:
    """A protocol 3-5 pickle of plain values and tensors -> the same in protocol 2 opcodes.

    torch.load(weights_only=True) reads protocol 2 (what torch.save writes); a file saved with
    ``pickle_protocol=4`` differs only in framing (FRAME), memo (MEMOIZE), short strings and
    STACK_GLOBAL, which this rewrites without running anything. ValueError for anything else.
    """
    ops = list(pickletools.genops(data))
    folded: set[int] = set()  # string pushes a STACK_GLOBAL takes: they go into a GLOBAL
    for j, (op, _, _) in enumerate(ops):
        if op.name != "STACK_GLOBAL":
            continue
        k, found = j - 1, 0
        while found < 2 and k >= 0:
            name = ops[k][0].name
            if name not in _PUTS and name != "FRAME":
                if name not in _STRINGS | _GETS:
                    raise ValueError(f"STACK_GLOBAL after {name}")
                folded.add(k)
                found += 1
            k -= 1
    out = bytearray(b"\x80\x02")
    memo: dict[int, tuple] = {}  # original index -> ("slot", new index, str|None) | ("str", s)
    slots = 0  # memo slots the protocol 2 pickle has used
    top: str | None = None  # the string on top of the stack, if it is one
    top_folded = False
    names: list[str] = []
    for i, (op, arg, pos) in enumerate(ops):
        name = op.name
        if name in ("PROTO", "FRAME"):
            continue
        if name in _PUTS:
            index = len(memo) if name == "MEMOIZE" else int(arg)  # type: ignore[arg-type]
            if top_folded:
                memo[index] = ("str", top)
            else:
                memo[index] = ("slot", slots, top)
                out += _slot(b"q", slots)
                slots += 1
            continue
        top_folded = i in folded
        if name in _STRINGS | _GETS:
            if name in _STRINGS:
                top, emit = str(arg), _unicode(str(arg))
            else:
                entry = memo[int(arg)]  # type: ignore[arg-type]
                top = entry[1] if entry[0] == "str" else entry[2]
                emit = _unicode(top) if entry[0] == "str" else _slot(b"h", entry[1])
            if not top_folded:
                out += emit
            elif isinstance(top, str):
                names.append(top)
            else:
                raise ValueError("STACK_GLOBAL on a value that is not a string")
            continue
        top = None
        if name == "STACK_GLOBAL":
            module, attr = names[-2:]
            del names[-2:]
            out += b"c" + f"{module}\n{attr}\n".encode()
            continue
        end = ops[i + 1][2] if i + 1 < len(ops) else len(data)
        out += data[pos:end]  # the same opcode in protocol 2 (torch refuses what it cannot read)
    return bytes(out)


def _rewritten(f: BinaryIO) -> io.BytesIO:
    """The torch.save archive ``f`` in memory, its ``data.pkl`` rewritten by ``_protocol_2``."""
    out = io.BytesIO()
    with zipfile.ZipFile(f) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("/data.pkl"):
                data = _protocol_2(data)
            dst.writestr(info.filename, data)
    out.seek(0)
    return out


def _damaged(path: Path, why: str) -> LstmvizError:
    return LstmvizError(
        f"{str(path)!r} is not an lstmviz checkpoint, or damaged ({why}); "
        "use an earlier checkpoint or re-save it"
    )


def _verify_archive(f, path: Path) -> None:
    """torch.save writes a zip archive with a CRC-32 per entry: check them all before loading."""
    try:
        is_zip = zipfile.is_zipfile(f)
        f.seek(0)
        bad = _first_bad_entry(f) if is_zip else None
    except _Unsafe as e:
        raise _damaged(path, f"unsafe zip archive: {e}") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError) as e:
        raise _damaged(path, f"broken zip archive: {type(e).__name__}") from None
    except OSError as e:
        raise os_error(e, f"cannot read checkpoint {str(path)!r}") from None
    if not is_zip:
        raise _damaged(path, "not a zip archive: truncated, corrupted or not from torch.save")
    if bad is not None:
        raise _damaged(path, f"the checksum of {bad!r} does not match: bytes were changed")


def _first_bad_entry(f) -> str | None:
    """The name of the first archive entry whose CRC-32 does not match, else None.

    torch.save stores its entries uncompressed; a compressed entry (a zip bomb could unpack to
    terabytes) or entries larger than the file cap are refused before anything is unpacked.
    """
    with zipfile.ZipFile(f) as archive:
        infos = archive.infolist()
        if any(i.compress_type != zipfile.ZIP_STORED for i in infos):
            raise _Unsafe("compressed entries, which torch.save never writes")
        if sum(i.file_size for i in infos) > CHECKPOINT_CAP:
            raise _Unsafe(f"its entries unpack to more than {CHECKPOINT_CAP:,} bytes")
        return archive.testzip()


class _Unsafe(Exception):
    """An archive that is not what torch.save writes and could be costly to unpack."""


def _is_int(v: object, lo: int = 0) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= lo


def _is_loss(v: object) -> bool:
    if v is None:
        return True
    try:  # an int too large for a float overflows here rather than in a message later
        return isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(float(v))
    except OverflowError:
        return False


def _is_plain(v: object, depth: int = 0) -> bool:
    """Whether ``v`` is what JSON holds (str, number, bool, None, lists and dicts of them): the
    history and settings are written to log.json, and a tensor there broke the run log."""
    if v is None or isinstance(v, str | bool | int):
        return True
    if isinstance(v, float):
        return True  # NaN and inf become null in log.json
    if depth > 20:
        return False
    if isinstance(v, list | tuple):
        return all(_is_plain(x, depth + 1) for x in v)
    if isinstance(v, dict):
        return all(isinstance(k, str) and _is_plain(x, depth + 1) for k, x in v.items())
    return False


def _check_fields(ckpt: dict, path: Path) -> None:
    """Every field has the type the format promises, and every tensor is finite."""
    mc = ckpt.get("model_config")
    problems = [
        (_is_int(ckpt.get("version", 1), 1), "version", "a whole number >= 1"),
        (
            _is_int(ckpt.get("step", 0)) and ckpt.get("step", 0) <= STEP_MAX,
            "step",
            f"a whole number >= 0 (at most {STEP_MAX:,})",
        ),
        (
            _is_int(ckpt.get("world_size", 1), 1) and ckpt.get("world_size", 1) <= 2**20,
            "world_size",
            "a whole number >= 1",
        ),
        (isinstance(ckpt.get("vocab"), str) and ckpt["vocab"] != "", "vocab", "a string"),
        (
            isinstance(ckpt.get("config"), dict | None) and _is_plain(ckpt.get("config")),
            "config",
            "a dict or None, of plain values",
        ),
        (_is_loss(ckpt.get("val_loss")), "val_loss", "a finite number or None"),
        (_is_loss(ckpt.get("best_val_loss")), "best_val_loss", "a finite number or None"),
        (
            isinstance(ckpt.get("history", []), list)
            and all(isinstance(e, dict) for e in ckpt.get("history", []))
            and _is_plain(ckpt.get("history", [])),
            "history",
            "a list of dicts of plain values",
        ),
        (isinstance(ckpt.get("optimizer"), dict | None), "optimizer", "a dict or None"),
        (isinstance(ckpt.get("rng"), dict | None), "rng", "a dict or None"),
        (
            ckpt.get("data") is None
            or (
                isinstance(ckpt["data"], dict)
                and _is_int(ckpt["data"].get("size"))
                and isinstance(ckpt["data"].get("sha256"), str)
            ),
            "data",
            "None or a corpus record {'source', 'path', 'size', 'sha256'}",
        ),
        (
            isinstance(mc, dict)
            and all(_is_int(mc.get(k), 1) for k in _SIZES)
            and mc["num_layers"] <= NUM_LAYERS_MAX
            and isinstance(mc.get("dropout"), Real)
            and not isinstance(mc.get("dropout"), bool)
            and 0 <= mc["dropout"] < 1,
            "model_config",
            f"a dict of whole numbers >= 1 ({', '.join(_SIZES)}; num_layers at most "
            f"{NUM_LAYERS_MAX}) and a dropout in [0, 1)",
        ),
        (
            isinstance(ckpt.get("model"), dict)
            and all(isinstance(v, torch.Tensor) for v in ckpt["model"].values()),
            "model",
            "a dict of tensors",
        ),
        (
            ckpt.get("train_state") is None
            or (
                isinstance(ckpt["train_state"], dict)
                and all(isinstance(ckpt["train_state"].get(k), torch.Tensor) for k in "hc")
            ),
            "train_state",
            "None or {'h': tensor, 'c': tensor}",
        ),
    ]
    for ok, name, want in problems:
        if not ok:
            got = repr(ckpt.get(name))
            got = got if len(got) <= 60 else got[:57] + "..."
            raise _damaged(path, f"its {name!r} should be {want}, but is {got}")
    # Structure before values: every check below reads only a tensor's metadata, so a tensor
    # that claims 80 GB through a zero stride, lives on the meta device or has a dtype with no
    # kernels (float8) is refused before anything is computed on it.
    tensors = _tensors(ckpt, path)
    for name, t in tensors.items():
        problem = _structure_problem(t, _RNG_DTYPE if name.startswith("rng") else _REAL_DTYPES)
        if problem is not None:
            raise _damaged(path, f"{name!r} is {problem}")
    bad = _first_nonfinite(tensors)
    if bad is not None:
        raise _damaged(path, f"{bad!r} holds NaN or infinite values")


#: The dtypes of the numbers in a checkpoint (weights, moments, state): float32, or float16 in an
#: export; bfloat16 and float64 are loaded too (converted to float32).
_REAL_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)
#: The dtype of a random generator's state.
_RNG_DTYPE = (torch.uint8,)


def _tensors(ckpt: dict, path: Path) -> dict[str, Any]:
    """Every tensor the checkpoint holds, by a name for messages (anything else where a tensor
    belongs is refused)."""
    tensors = dict(ckpt["model"])
    tensors.update({f"train_state.{k}": v for k, v in (ckpt.get("train_state") or {}).items()})
    optimizer = ckpt.get("optimizer") or {}
    states = optimizer.get("state", {})
    if not isinstance(states, dict) or not all(isinstance(st, dict) for st in states.values()):
        raise _damaged(path, "its optimizer 'state' is not a dict of dicts")
    for i, st in states.items():
        for k, v in st.items():
            if not isinstance(v, torch.Tensor):
                raise _damaged(path, f"its optimizer state {i} {k!r} is not a tensor")
            tensors[f"optimizer state {i} {k}"] = v
    rng = ckpt.get("rng") or {}
    if "torch" in rng:
        tensors["rng torch"] = rng["torch"]
    cuda = rng.get("cuda") or []
    if not isinstance(cuda, list | tuple):
        raise _damaged(path, "its rng 'cuda' is not a list")
    tensors.update({f"rng cuda {i}": t for i, t in enumerate(cuda)})
    for name, t in tensors.items():
        if not isinstance(t, torch.Tensor):
            raise _damaged(path, f"{name!r} is not a tensor")
    return tensors


def _structure_problem(t: torch.Tensor, dtypes: tuple[torch.dtype, ...]) -> str | None:
    """What is wrong with tensor ``t``'s structure (layout, device, dtype, strides, storage), or
    None. Reads metadata only; never touches the numbers."""
    if t.layout != torch.strided:
        return f"a {t.layout} tensor, not a dense one"
    if t.device.type != "cpu":
        return f"a tensor on the {t.device.type} device, which holds no numbers"
    if t.dtype not in dtypes:
        return f"a {t.dtype} tensor; expected {' or '.join(str(d) for d in dtypes)}"
    if not t.is_contiguous():
        # torch.save of a state_dict writes dense tensors; a zero stride makes one stored number
        # pose as billions
        return f"not stored densely (shape {tuple(t.shape)}, strides {t.stride()})"
    need = (t.storage_offset() + t.numel()) * t.element_size()
    have = t.untyped_storage().nbytes()
    if need > have:
        return f"larger than its stored data ({need:,} bytes claimed, {have:,} stored)"
    return None


#: The whole-number entries of ``model_config``.
_SIZES = ("vocab_size", "hidden_size", "num_layers", "embedding_dim")


def _first_nonfinite(tensors: dict) -> str | None:
    """The name of the first floating tensor holding NaN or inf, else None."""
    for name, t in tensors.items():
        if isinstance(t, torch.Tensor) and t.is_floating_point() and not torch.isfinite(t).all():
            return name
    return None


def model_from_raw(ckpt: dict, device: str | torch.device = "cpu") -> tuple[CharLSTM, Vocab]:
    """Rebuild (model in eval mode, float32, on ``device``, vocab) from a checkpoint dict."""
    where = ckpt.get("_path", "checkpoint")
    try:
        chars = ckpt["vocab"]
        if isinstance(chars, str) and list(chars) != sorted(set(chars)):
            raise _damaged(Path(where), "its vocabulary's characters are repeated or out of order")
        vocab = Vocab(chars)
        cfg = dict(ckpt["model_config"])
        if cfg["vocab_size"] != len(vocab):
            raise LstmvizError(
                f"{where!r} does not fit together: its vocabulary has {len(vocab)} characters "
                "but its "
                f"model expects {cfg['vocab_size']}; the file was edited or mixed from two runs"
            )
        # Shapes first, computed (nothing built): a file claiming hidden_size 12000 or 200,000
        # layers must not make us allocate gigabytes, or build for minutes, before we notice
        # its tensors are few and small.
        sizes = {k: cfg[k] for k in _SIZES}
        got = {k: tuple(v.shape) for k, v in ckpt["model"].items()}
        if len(got) != 4 * sizes["num_layers"] + 3:
            raise LstmvizError(
                f"{where!r} does not match its own model configuration: it holds {len(got)} "
                f"weight tensors, model_config needs {4 * sizes['num_layers'] + 3}; the file is "
                "damaged or was not written by this version of lstmviz"
            )
        want = param_shapes(**sizes)
        if want != got:
            diff = sorted(set(want) ^ set(got)) or [k for k in want if want[k] != got[k]]
            k = diff[0]
            raise LstmvizError(
                f"{where!r} does not match its own model configuration ({k!r}: stored "
                f"{got.get(k, 'missing')}, model_config needs {want.get(k, 'none')}); "
                "the file is damaged or was not written by this version of lstmviz"
            )
        model = CharLSTM(**cfg)
        weights = {k: v.float() if v.is_floating_point() else v for k, v in ckpt["model"].items()}
        model.load_state_dict(weights)
    except LstmvizError:
        raise
    except (KeyError, TypeError, RuntimeError, AttributeError, ValueError) as e:
        raise LstmvizError(
            f"{where!r} does not match its own model configuration ({first_line(e, 200)}); "
            "the file is damaged or was not written by this version of lstmviz"
        ) from None
    return model.to(device).eval(), vocab


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> Checkpoint:
    """Load a checkpoint file (or a run folder's latest) -> Checkpoint, ``.model`` in eval mode."""
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
    """The model shipped with lstmviz as ``lstmviz/checkpoints/{name}.pt`` -> Checkpoint (eval)."""
    path = PRETRAINED_DIR / f"{name}.pt"
    if not path.is_file():
        names = available_pretrained()
        raise LstmvizError(
            f"no pretrained model named {name!r}; available: "
            f"{', '.join(names) if names else 'none'}. Train one with `python -m lstmviz train` "
            "and load it with lstmviz.load_checkpoint(path)."
        )
    return load_checkpoint(path, device)


# ----------------------------------------------------------------------------- resuming a run


def read_resumable(out: Path) -> dict:
    """The checkpoint dict of run folder ``out``'s ``checkpoint.pt``, checked to hold training
    state (an optimizer and the settings); LstmvizError naming what to do otherwise."""
    if not (out / LATEST).exists():
        others = run_files(out)
        if others:  # a new run there is refused too: say what does work
            raise LstmvizError(
                f"nothing to resume: {str(out / LATEST)!r} does not exist (the folder holds "
                f"{', '.join(others)}, which a new run would replace); start the run in another "
                "--out folder, or move those files away"
            )
        raise LstmvizError(
            f"nothing to resume: {str(out / LATEST)!r} does not exist; drop --resume to start"
        )
    raw = read_raw(out / LATEST)
    if not isinstance(raw.get("config"), dict) or raw.get("optimizer") is None:
        raise LstmvizError(
            f"{str(out / LATEST)!r} has no training state (an exported or hand-saved model); "
            "it cannot be resumed"
        )
    return raw


@dataclass
class Resumed:
    """Where a resumed run stands: its step, losses, history and the carried (h, c) (or None)."""

    step: int = 0
    best_val_loss: float | None = None
    val_loss: float | None = None
    history: list[dict] = field(default_factory=list)
    state: tuple[torch.Tensor, torch.Tensor] | None = None


def restore(
    raw: dict,
    model: CharLSTM,
    optimizer: torch.optim.Optimizer,
    vocab: Vocab,
    batch_size: int,
    out: Path | None,
) -> Resumed:
    """Put checkpoint ``raw``'s training state into ``model`` (on its device) and ``optimizer``.

    Loads the weights, Adam's moments (checked to fit their weights), torch's RNG (and CUDA's) and
    the carried state (h, c), each (num_layers, batch_size, hidden_size), float32 on the model's
    device. LstmvizError if the corpus's ``vocab`` differs or the state does not fit the model.
    """
    saved_model, saved_vocab = model_from_raw(raw)
    if saved_vocab != vocab:
        raise LstmvizError(
            f"the checkpoint in {str(out)!r} was trained on another vocabulary "
            f"({len(saved_vocab)} characters) than this corpus has ({len(vocab)}); resume with "
            "the same corpus or use a new --out"
        )
    model.load_state_dict(saved_model.state_dict())
    device = model.head.weight.device
    resumed = Resumed(
        step=int(raw["step"]),
        best_val_loss=raw.get("best_val_loss"),
        val_loss=raw.get("val_loss"),
        history=list(raw.get("history") or []),
    )
    try:
        optimizer.load_state_dict(_optimizer_state(raw["optimizer"], optimizer))
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
            want = (model.num_layers, batch_size, model.hidden_size)
            if tuple(h.shape) != want or tuple(c.shape) != want:
                raise ValueError(f"train_state of shape {tuple(h.shape)}, not {want}")
            if bool((h.abs() > 1).any()):  # h = o * tanh(c): always inside [-1, 1]
                raise ValueError("a carried h outside [-1, 1], which no LSTM produces")
            resumed.state = (h.to(device, torch.float32), c.to(device, torch.float32))
    except (ValueError, KeyError, TypeError, RuntimeError, IndexError) as e:
        raise LstmvizError(
            f"{raw.get('_path', str(out))!r} is damaged: its training state does not fit its "
            f"model ({first_line(e)}); resume from an earlier checkpoint"
        ) from None
    return resumed


#: Adam's settings that change what a step does; lstmviz always trains with torch's defaults, so a
#: checkpoint saying otherwise was edited (maximize=True makes the loss climb, eps=-1 or a NaN
#: beta poison the weights at the next step). The learning rate is the schedule's, set every step.
_ADAM_SETTINGS = (
    "betas",
    "eps",
    "weight_decay",
    "amsgrad",
    "maximize",
    "capturable",
    "differentiable",
    "decoupled_weight_decay",
)


def _optimizer_state(saved: Any, optimizer: torch.optim.Optimizer) -> dict:
    """The saved Adam state, checked against the run's own optimizer, to load into it.

    ValueError (a damaged file) if its settings differ from the run's (``_ADAM_SETTINGS``), a
    moment does not fit (a negative second moment, a negative or fractional step count) or its
    groups do not match; the groups themselves are the run's (implementation flags such as
    ``fused`` or ``foreach`` say how, not what, and may not exist on this machine).
    """
    if not isinstance(saved, dict) or not isinstance(saved.get("param_groups"), list):
        raise ValueError("optimizer without param_groups")
    groups, fresh = saved["param_groups"], optimizer.state_dict()["param_groups"]
    if len(groups) != len(fresh) or not all(isinstance(g, dict) for g in groups):
        raise ValueError(f"{len(groups)} optimizer parameter groups, not {len(fresh)}")
    for group, own in zip(groups, fresh, strict=True):
        for key in _ADAM_SETTINGS:
            if key in group and key in own and not _same(group[key], own[key]):
                raise ValueError(
                    f"optimizer {key}={group[key]!r}; lstmviz trains with {own[key]!r}"
                )
        if group.get("params") != own["params"]:
            raise ValueError("optimizer parameter groups that do not match the model")
    beta1, beta2 = fresh[0]["betas"]
    # |exp_avg| <= bound * sqrt(exp_avg_sq) for any gradients whatever (Cauchy-Schwarz on the two
    # running averages); twice that leaves room for rounding. Moments outside it come from no
    # training, and make the next step's update huge (weights that overflow to inf).
    bound = 2 * (1 - beta1) / math.sqrt((1 - beta2) * (1 - beta1**2 / beta2))
    for i, st in saved.get("state", {}).items():
        sq, step = st.get("exp_avg_sq"), st.get("step")
        if sq is not None and bool((sq < 0).any()):
            raise ValueError(f"a negative second moment (exp_avg_sq) for parameter {i}")
        avg = st.get("exp_avg")
        if avg is not None and sq is not None and avg.shape == sq.shape:
            if bool((avg.double().abs() > bound * sq.double().sqrt() + 1e-12).any()):
                raise ValueError(
                    f"a first moment (exp_avg) for parameter {i} that no gradients can produce "
                    "with its second moment"
                )
        if step is not None:
            value = float(step)
            if not (0 <= value <= STEP_MAX and value == int(value)):
                raise ValueError(f"an optimizer step count of {value} for parameter {i}")
    return {"state": saved.get("state", {}), "param_groups": fresh}


def _same(a: object, b: object) -> bool:
    """Whether two optimizer settings are equal (tuples and lists alike; NaN never is)."""
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, Real) and isinstance(b, Real):
        return float(a) == float(b)
    return a == b
