"""The character LSTM: embedding -> nn.LSTM (dropout between layers) -> dropout -> linear head.

``forward`` runs whole sequences through the fused kernel (cuDNN on GPU, oneDNN on CPU) for
training and for reading a prompt. ``step`` advances one character through
``lstmviz.core.cell.lstm_step``, the gate-by-gate version with hook points, so recorders and
interventions see every generated character.
``set_forget_bias`` is an initialisation: it starts every forget gate at Γ_f = σ(value).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .cell import lstm_step
from .errors import LstmvizError

State = tuple[Tensor, Tensor]  # (h, c), each (num_layers, B, hidden_size)

#: Most stacked layers accepted (in settings and in checkpoints). Each layer is a sequential step
#: of every character, and the nn.LSTM of 200,000 one-unit layers takes minutes just to build;
#: deep character LSTMs have a handful.
NUM_LAYERS_MAX = 64


def param_shapes(
    vocab_size: int, hidden_size: int, num_layers: int, embedding_dim: int
) -> dict[str, tuple[int, ...]]:
    """The shape of every tensor in ``CharLSTM(...).state_dict()``, by name, computed without
    building anything (a file or a flag may declare a model too big to build)."""
    V, H, E = vocab_size, hidden_size, embedding_dim
    shapes: dict[str, tuple[int, ...]] = {"embedding.weight": (V, E)}
    for k in range(num_layers):
        shapes[f"lstm.weight_ih_l{k}"] = (4 * H, E if k == 0 else H)
        shapes[f"lstm.weight_hh_l{k}"] = (4 * H, H)
        shapes[f"lstm.bias_ih_l{k}"] = (4 * H,)
        shapes[f"lstm.bias_hh_l{k}"] = (4 * H,)
    shapes["head.weight"] = (V, H)
    shapes["head.bias"] = (V,)
    return shapes


def param_count(vocab_size: int, hidden_size: int, num_layers: int, embedding_dim: int) -> int:
    """How many numbers ``CharLSTM(...)`` holds, computed without building it."""
    V, H, E = vocab_size, hidden_size, embedding_dim
    per_layer = 4 * H * H + 8 * H  # weight_hh and the two biases
    return V * E + 4 * H * E + 4 * H * H * (num_layers - 1) + per_layer * num_layers + V * H + V


class CharLSTM(nn.Module):
    """Predicts the next character: ids (B, T) -> logits (B, T, V) over the vocabulary."""

    def __init__(
        self,
        vocab_size: int,
        hidden_size: int = 512,
        num_layers: int = 2,
        dropout: float = 0.5,
        embedding_dim: int = 64,
    ):
        super().__init__()
        self.vocab_size, self.hidden_size, self.num_layers = vocab_size, hidden_size, num_layers
        self.dropout_p, self.embedding_dim = dropout, embedding_dim
        # A learned embedding instead of one-hot input: same function (a one-hot vector times the
        # first weight matrix is a row lookup), without building a (B, T, V) one-hot tensor.
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(
            embedding_dim,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,  # between layers only
        )
        self.dropout = nn.Dropout(dropout)  # on the top layer's output, before the head
        self.head = nn.Linear(hidden_size, vocab_size)

    def config(self) -> dict:
        """The constructor arguments, to rebuild this model from a checkpoint."""
        return {
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "num_layers": self.num_layers,
            "dropout": self.dropout_p,
            "embedding_dim": self.embedding_dim,
        }

    def init_state(self, batch_size: int = 1) -> State:
        """Zero state (h, c), each (num_layers, batch_size, hidden_size), on the model's device."""
        w = self.head.weight
        shape = (self.num_layers, batch_size, self.hidden_size)
        return w.new_zeros(shape), w.new_zeros(shape)

    def forward(self, ids: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """ids (B, T), state (h, c) or None -> (logits (B, T, V), state (h, c) each (L, B, H))."""
        x = self.embedding(ids)
        out, state = self.lstm(x, state)
        return self.head(self.dropout(out)), state

    @torch.no_grad()
    def step(self, ids: Tensor, state: State) -> tuple[Tensor, State]:
        """One character per sequence: ids (B,), state -> (logits (B, V), state). No autograd.

        Goes through ``lstm_step`` (hook points ``i f g o c h`` per layer), not the fused kernel.
        """
        h_top, state = lstm_step(self.lstm, self.embedding(ids), state)
        return self.head(h_top), state


def set_forget_bias(lstm: nn.LSTM, value: float) -> None:
    """Set Γ_f's total bias (b_ih + b_hh, rows H:2H of i f g o) to ``value`` in every layer."""
    if not isinstance(lstm, nn.LSTM):
        raise LstmvizError(f"set_forget_bias needs an nn.LSTM, got {type(lstm).__name__}")
    if not lstm.bias:
        raise LstmvizError(
            "this LSTM has no biases (bias=False), so there is no forget-gate bias to set"
        )
    H = lstm.hidden_size
    with torch.no_grad():
        for layer in range(lstm.num_layers):
            getattr(lstm, f"bias_ih_l{layer}")[H : 2 * H].fill_(value)
            getattr(lstm, f"bias_hh_l{layer}")[H : 2 * H].zero_()
