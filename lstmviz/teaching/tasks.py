"""A long-range memory task, small enough to train in seconds on a CPU: remember the first symbol.

Each sequence starts with a *signal* symbol s ∈ {0, …, n_signals − 1}, followed by ``lag``
*distractor* symbols drawn at random from n_distractors other symbols. After the last
distractor the network must say which signal it saw, ``lag`` steps ago. Guessing gives
1 / n_signals; a network whose gradients vanish over ``lag`` steps never finds out that the
first input matters, and stays at chance (Bengio, Simard & Frasconi 1994; Hochreiter &
Schmidhuber 1997 used tasks like this to motivate the LSTM).

    x = one_hot([s, d₁, d₂, …, d_lag])   (B, lag + 1, n_signals + n_distractors)
    y = s                                  (B,)

Used by lessons 02 and 03 (success vs lag) and 06 (the forget-gate bias experiment).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from ..core.cell import param
from ..core.errors import LstmvizError
from ..core.model import set_forget_bias
from ..core.training import train_step
from .gradients import scale_spectral_radius

# ---- settings the lessons use (small and fast; change them to explore) ----
N_SIGNALS = 4  # chance accuracy is 1 / N_SIGNALS
N_DISTRACTORS = 4
HIDDEN_SIZE = 32
BATCH_SIZE = 64
STEPS = 500  # optimizer steps per run (fewer if it is solved earlier)
LR = 3e-3
CLIP = 1.0  # gradient-norm clipping threshold (None: no clipping)
FORGET_BIAS = 5.0  # LSTM only: Γ_f = σ(5) ≈ 0.993 at the start: the cell remembers by default
SOLVED_LOSS = 0.05  # stop early once the recent training loss is this low
SUCCESS = 0.9  # a run "succeeds" when its test accuracy reaches this


@dataclass(frozen=True)
class FirstSymbolTask:
    """Remember the first of ``lag + 1`` symbols; ``batch`` -> (x (B, lag+1, V) one-hot, y (B,))."""

    lag: int
    n_signals: int = N_SIGNALS
    n_distractors: int = N_DISTRACTORS

    def __post_init__(self) -> None:
        if self.lag < 1 or self.n_signals < 2 or self.n_distractors < 1:
            raise LstmvizError(
                f"FirstSymbolTask needs lag >= 1, n_signals >= 2 and n_distractors >= 1; got "
                f"lag={self.lag}, n_signals={self.n_signals}, n_distractors={self.n_distractors}"
            )

    @property
    def vocab_size(self) -> int:
        """Input symbols: signals first, then distractors."""
        return self.n_signals + self.n_distractors

    @property
    def chance(self) -> float:
        """Accuracy of guessing."""
        return 1 / self.n_signals

    def ids(
        self, batch_size: int, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """Symbol ids (B, lag + 1) and targets (B,): the signal, then ``lag`` distractors."""
        signal = torch.randint(0, self.n_signals, (batch_size,), generator=generator)
        distractors = torch.randint(
            self.n_signals, self.vocab_size, (batch_size, self.lag), generator=generator
        )
        return torch.cat([signal[:, None], distractors], dim=1), signal

    def batch(
        self, batch_size: int, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """One-hot inputs x (B, lag + 1, vocab_size) float32 and targets y (B,) long."""
        ids, y = self.ids(batch_size, generator)
        return nn.functional.one_hot(ids, self.vocab_size).float(), y


class SequenceClassifier(nn.Module):
    """``nn.RNN`` (tanh) or ``nn.LSTM`` over x (B, T, V), then a linear read-out -> (B, C).

    ``forget_bias`` (LSTM) sets Γ_f's bias; ``radius`` (RNN) rescales W_aa to that spectral
    radius at the start. Both choose how much the untrained network remembers (lessons 02, 03).
    """

    def __init__(
        self,
        kind: str,
        input_size: int,
        hidden_size: int,
        n_classes: int,
        forget_bias: float | None = None,
        radius: float | None = None,
    ):
        super().__init__()
        if kind not in ("rnn", "lstm"):
            raise LstmvizError(f"kind must be 'rnn' or 'lstm', got {kind!r}")
        if radius is not None and kind != "rnn":
            raise LstmvizError(
                "radius rescales a vanilla RNN's W_aa; for an LSTM set forget_bias instead"
            )
        self.kind = kind
        # the fused torch modules: the lessons have checked them against lstmviz.teaching.scratch
        cls = nn.RNN if kind == "rnn" else nn.LSTM
        self.rnn = cls(input_size, hidden_size, batch_first=True)
        self.readout = nn.Linear(hidden_size, n_classes)
        if isinstance(self.rnn, nn.LSTM) and forget_bias is not None:  # kind == "lstm"
            set_forget_bias(self.rnn, forget_bias)
        if radius is not None:
            with torch.no_grad():  # PyTorch's default init gives ρ ≈ 0.6 at 32-68 units
                W = param(self.rnn, "weight_hh_l0")
                W.copy_(scale_spectral_radius(W, radius))

    def forward(self, x: Tensor) -> Tensor:
        """x (B, T, V) -> logits (B, C) from the last time step."""
        out, _ = self.rnn(x)
        return self.readout(out[:, -1])


@dataclass
class TaskResult:
    """One training run: test accuracy, whether it succeeded, per-step history, the model."""

    kind: str
    lag: int
    accuracy: float
    success: bool
    steps: int
    history: dict[str, list[float]] = field(default_factory=dict)  # "loss", "grad_norm"
    model: SequenceClassifier | None = None


def train_on_task(
    kind: str,
    lag: int,
    *,
    steps: int = STEPS,
    hidden_size: int = HIDDEN_SIZE,
    batch_size: int = BATCH_SIZE,
    lr: float = LR,
    optimizer: str = "adam",
    clip: float | None = CLIP,
    forget_bias: float | None = FORGET_BIAS,
    radius: float | None = None,
    seed: int = 0,
    stop_when_solved: bool = True,
    test_size: int = 1000,
    model: SequenceClassifier | None = None,
) -> TaskResult:
    """Train a ``kind`` ("rnn" | "lstm") network on ``FirstSymbolTask(lag)``; returns a TaskResult.

    Adam (or plain SGD), cross-entropy on the last step, optional gradient-norm clipping
    (``clip``), one ``lstmviz.core.training.train_step`` per batch. The history records the loss
    and the gradient norm *before* clipping at every step. Accuracy is measured on ``test_size``
    fresh sequences. ``radius`` (RNN only) rescales W_aa to that spectral radius at the start.
    Pass ``model`` to start from given weights.
    """
    task = FirstSymbolTask(lag)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    if model is None:
        model = SequenceClassifier(
            kind,
            task.vocab_size,
            hidden_size,
            task.n_signals,
            forget_bias=forget_bias if kind == "lstm" else None,
            radius=radius,
        )
    if optimizer not in ("adam", "sgd"):
        raise LstmvizError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    # plain SGD steps in proportion to the gradient, so an exploding gradient is a huge step;
    # Adam divides by a running gradient scale, which hides (some of) the explosion
    opt = (torch.optim.Adam if optimizer == "adam" else torch.optim.SGD)(model.parameters(), lr=lr)
    history: dict[str, list[float]] = {"loss": [], "grad_norm": []}
    model.train()
    for _ in range(steps):
        x, y = task.batch(batch_size, gen)
        loss, _, norm = train_step(model, opt, x, y, grad_clip=clip)
        history["loss"].append(loss)
        history["grad_norm"].append(norm)
        if not math.isfinite(loss):
            break  # diverged (what clipping prevents): report what we have
        if (
            stop_when_solved
            and len(history["loss"]) >= 20
            and np.mean(history["loss"][-20:]) < SOLVED_LOSS
        ):
            break
    acc = accuracy(model, task, test_size, seed=seed + 10_000)
    return TaskResult(kind, lag, acc, acc >= SUCCESS, len(history["loss"]), history, model)


@torch.no_grad()
def accuracy(model: nn.Module, task: FirstSymbolTask, n: int = 1000, seed: int = 1) -> float:
    """Fraction of ``n`` fresh sequences of ``task`` whose signal ``model`` names correctly."""
    model.eval()
    x, y = task.batch(n, torch.Generator().manual_seed(seed))
    return (model(x).argmax(dim=1) == y).float().mean().item()


def accuracy_by_seed(
    kind: str, lags: list[int], seeds: tuple[int, ...] = (0, 1, 2, 3, 4), **train_kwargs
) -> np.ndarray:
    """Test accuracy of ``kind`` trained at each lag with each seed: (L lags, S seeds)."""
    return np.asarray(
        [[train_on_task(kind, lag, seed=s, **train_kwargs).accuracy for s in seeds] for lag in lags]
    )


def success_vs_lag(
    kind: str, lags: list[int], seeds: tuple[int, ...] = (0,), **train_kwargs
) -> tuple[np.ndarray, np.ndarray]:
    """(lags (L,), mean test accuracy over ``seeds`` (L,)) for ``kind`` trained at each lag."""
    return np.asarray(lags), accuracy_by_seed(kind, lags, seeds, **train_kwargs).mean(axis=1)
