"""lstmviz: learn how an LSTM works by recording and plotting its gates and memory cells.

Names follow Ng's notation with PyTorch's letters: update gate Γ_u = i, forget gate Γ_f = f,
candidate ĉ = g, output gate Γ_o = o, memory cell c, activation a = h.

Submodules are imported on first use, so ``import lstmviz`` stays fast and does not pull in
plotly or ipywidgets until a figure is asked for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "LstmvizError": "errors",
    "load_corpus": "corpus",
    "split": "corpus",
    "Vocab": "vocab",
    "CharLSTM": "model",
    "train": "training",
    "TrainConfig": "training",
    "PRESETS": "training",
    "pick_device": "training",
    "generate": "sampling",
    "stream": "sampling",
    "save_checkpoint": "checkpoint",
    "load_checkpoint": "checkpoint",
    "load_pretrained": "checkpoint",
    "Checkpoint": "checkpoint",
    "lstm_step": "cell",
    "record": "recorder",
    "Trace": "recorder",
    "GateRecorder": "recorder",
    "intervene": "interventions",
}
_SUBMODULES = {
    "errors", "corpus", "vocab", "model", "training", "sampling", "checkpoint", "cell",
    "recorder", "interventions", "plots", "widgets", "features", "curves", "gradients",
    "tasks", "sandbox", "notebook", "scratch", "compare",
}

__all__ = [
    "CharLSTM",
    "Checkpoint",
    "GateRecorder",
    "LstmvizError",
    "PRESETS",
    "Trace",
    "TrainConfig",
    "Vocab",
    "generate",
    "intervene",
    "load_checkpoint",
    "load_corpus",
    "load_pretrained",
    "lstm_step",
    "pick_device",
    "record",
    "save_checkpoint",
    "split",
    "stream",
    "train",
]


assert set(__all__) == set(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"lstmviz.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"lstmviz.{name}")
    raise AttributeError(f"module 'lstmviz' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS) | _SUBMODULES)


if TYPE_CHECKING:  # for editors and type checkers
    from .cell import lstm_step
    from .checkpoint import Checkpoint, load_checkpoint, load_pretrained, save_checkpoint
    from .corpus import load_corpus, split
    from .errors import LstmvizError
    from .interventions import intervene
    from .model import CharLSTM
    from .recorder import GateRecorder, Trace, record
    from .sampling import generate, stream
    from .training import PRESETS, TrainConfig, pick_device, train
    from .vocab import Vocab
