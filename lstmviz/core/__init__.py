"""Core: train and sample a character model.

corpus -> vocab -> model -> train -> checkpoint -> sample.

Nothing here draws a figure or knows about widgets; everything above (gates, viz, teaching) builds
on it. Each module has one job; this package re-exports their public names.
"""

from .cell import lstm_step
from .checkpoint import Checkpoint, load_checkpoint, load_pretrained, save_checkpoint
from .corpus import load_corpus, split
from .errors import LstmvizError
from .evaluation import Evaluation, evaluate
from .model import CharLSTM
from .sampling import generate, stream
from .training import (
    PRESETS,
    TrainConfig,
    TrainResult,
    choose_preset,
    pick_device,
    streams,
    train,
    train_step,
    validation_loss,
)
from .vocab import Vocab

__all__ = [
    "CharLSTM",
    "Checkpoint",
    "Evaluation",
    "LstmvizError",
    "PRESETS",
    "TrainConfig",
    "TrainResult",
    "Vocab",
    "choose_preset",
    "evaluate",
    "generate",
    "load_checkpoint",
    "load_corpus",
    "load_pretrained",
    "lstm_step",
    "pick_device",
    "save_checkpoint",
    "split",
    "stream",
    "streams",
    "train",
    "train_step",
    "validation_loss",
]
