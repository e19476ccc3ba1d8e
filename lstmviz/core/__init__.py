"""Core: train and sample a character model.

corpus -> vocab -> model -> train (config, device, run, training) -> checkpoint -> sample.

Nothing here draws a figure or knows about widgets; everything above (gates, viz, teaching) builds
on it. Each module has one job; this package re-exports their public names.
"""

from .cell import lstm_step
from .checkpoint import Checkpoint, load_checkpoint, load_pretrained, save_checkpoint
from .config import PRESETS, TrainConfig, choose_preset
from .corpus import load_corpus, split
from .device import pick_device
from .errors import LstmvizError
from .evaluation import Evaluation, evaluate
from .model import CharLSTM
from .run import TrainResult, train
from .sampling import generate, stream
from .training import streams, train_step, validation_loss
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
