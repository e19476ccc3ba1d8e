"""lstmviz: learn how an LSTM works by recording and plotting its gates and memory cells.

Names follow Ng's notation with PyTorch's letters: update gate Γ_u = i, forget gate Γ_f = f,
candidate ĉ = g, output gate Γ_o = o, memory cell c, activation a = h.

Four layers, each a subpackage that imports only the ones below it (see ARCHITECTURE.md):

    teaching  ->  viz  ->  gates  ->  core

The core and gates names are imported here; ``lstmviz.viz`` and ``lstmviz.teaching`` load plotly
and ipywidgets, so they are imported on first use.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .critical import importing

# torch takes ~1.5 s to import: a Ctrl-C then must not leave half-imported modules behind
with importing():
    from .core import (
        PRESETS,
        CharLSTM,
        Checkpoint,
        Evaluation,
        LstmvizError,
        TrainConfig,
        TrainResult,
        Vocab,
        evaluate,
        generate,
        load_checkpoint,
        load_corpus,
        load_pretrained,
        lstm_step,
        pick_device,
        save_checkpoint,
        split,
        stream,
        train,
    )
    from .core.version import package_version as _package_version
    from .gates import (
        GateRecorder,
        Influence,
        Intervention,
        Trace,
        influence,
        intervene,
        memory_span,
        occlusion,
        record,
        record_text,
        span_shares,
    )

# written once, in pyproject.toml; read from the installed package's metadata
__version__ = _package_version()

__all__ = [
    "PRESETS",
    "CharLSTM",
    "Checkpoint",
    "Evaluation",
    "GateRecorder",
    "Influence",
    "Intervention",
    "LstmvizError",
    "Trace",
    "TrainConfig",
    "TrainResult",
    "Vocab",
    "__version__",
    "core",
    "evaluate",
    "gates",
    "generate",
    "influence",
    "intervene",
    "load_checkpoint",
    "load_corpus",
    "load_pretrained",
    "lstm_step",
    "memory_span",
    "occlusion",
    "pick_device",
    "record",
    "record_text",
    "save_checkpoint",
    "span_shares",
    "split",
    "stream",
    "teaching",
    "train",
    "viz",
]

_LAZY = ("viz", "teaching")


def __getattr__(name: str) -> ModuleType:
    if name in _LAZY:
        return importlib.import_module(f"lstmviz.{name}")
    raise AttributeError(f"module 'lstmviz' has no attribute {name!r}")
