"""Recurrent networks written out from scratch, in Ng's notation, to read beside the lessons.

Nothing here is fast; everything here is the math, one line per equation, and each module
loads its weights from (and exports them to) the PyTorch module it explains, so a lesson can
check that the two compute the same thing:

    RNN       a⟨t⟩ = tanh(W_aa a⟨t−1⟩ + W_ax x⟨t⟩ + b_a)          ≙ torch.nn.RNN
              (lesson 01 writes it h_t = tanh(W_hh h_{t−1} + W_xh x_t + b))
    LSTMCell  ĉ⟨t⟩ = tanh(W_c [a⟨t−1⟩, x⟨t⟩] + b_c)                 ≙ torch.nn.LSTMCell
              Γ_u = σ(W_u [a⟨t−1⟩, x⟨t⟩] + b_u)   (PyTorch's i)
              Γ_f = σ(W_f [a⟨t−1⟩, x⟨t⟩] + b_f)   (f)
              Γ_o = σ(W_o [a⟨t−1⟩, x⟨t⟩] + b_o)   (o;  ĉ is PyTorch's g)
              c⟨t⟩ = Γ_u ∗ ĉ⟨t⟩ + Γ_f ∗ c⟨t−1⟩
              a⟨t⟩ = Γ_o ∗ tanh(c⟨t⟩)             (PyTorch's h)
    LSTM      LSTMCells stacked in layers, run over a sequence          ≙ torch.nn.LSTM

PyTorch stores each gate's weight in two pieces, W_ih (acting on x) and W_hh (acting on a), with
two biases, and packs the four gates in the order i, f, g, o. Ng writes one matrix acting on the
concatenation [a⟨t−1⟩, x⟨t⟩] and one bias; ``from_torch`` / ``to_torch`` translate.

The LSTM modules call ``lstmviz.core.hooks.run_hooks`` at each of ``i f g o c h`` (``hook_points``),
so ``lstmviz.GateRecorder`` and ``lstmviz.intervene`` see them like an ``nn.LSTM``.

Used by lessons 01 (``RNN``, ``CharRNN``), 02 (``RNN`` for the gradients) and 03
(``LSTMCell``, ``LSTM``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..core.cell import param
from ..core.errors import LstmvizError
from ..core.hooks import run_hooks
from ..core.names import NAMES

# the activation a vanilla RNN may use; "linear" is for analysis (lesson 02's exact Jacobians)
_NONLINEARITIES = {"tanh": torch.tanh, "relu": torch.relu, "linear": lambda z: z}


def _param(*shape: int, bound: float) -> nn.Parameter:
    # PyTorch's default recurrent init: U(-1/sqrt(n_a), 1/sqrt(n_a)) for every weight and bias
    return nn.Parameter(torch.empty(*shape).uniform_(-bound, bound))


class RNN(nn.Module):
    """A one-layer vanilla RNN: a⟨t⟩ = tanh(W_aa a⟨t−1⟩ + W_ax x⟨t⟩ + b_a), batch first."""

    def __init__(self, input_size: int, hidden_size: int, nonlinearity: str = "tanh"):
        super().__init__()
        if nonlinearity not in _NONLINEARITIES:
            raise LstmvizError(
                f"unknown nonlinearity {nonlinearity!r}; use one of {sorted(_NONLINEARITIES)}"
            )
        self.input_size, self.hidden_size, self.nonlinearity = input_size, hidden_size, nonlinearity
        k = hidden_size**-0.5
        self.W_aa = _param(hidden_size, hidden_size, bound=k)  # PyTorch's weight_hh_l0
        self.W_ax = _param(hidden_size, input_size, bound=k)  # PyTorch's weight_ih_l0
        self.b_a = _param(hidden_size, bound=k)  # PyTorch's bias_ih_l0 + bias_hh_l0

    def step(self, x: Tensor, a_prev: Tensor) -> Tensor:
        """One time step: x⟨t⟩ (B, n_x), a⟨t−1⟩ (B, n_a) -> a⟨t⟩ (B, n_a)."""
        g = _NONLINEARITIES[self.nonlinearity]
        return g(a_prev @ self.W_aa.T + x @ self.W_ax.T + self.b_a)

    def forward(self, x: Tensor, a0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """x (B, T, n_x), a⟨0⟩ (B, n_a) or None -> (a⟨1..T⟩ (B, T, n_a), a⟨T⟩ (B, n_a))."""
        a = x.new_zeros(x.shape[0], self.hidden_size) if a0 is None else a0
        outputs = []
        for t in range(x.shape[1]):  # the recurrence: each step needs the one before
            a = self.step(x[:, t], a)
            outputs.append(a)
        return torch.stack(outputs, dim=1), a

    @classmethod
    def from_torch(cls, rnn: nn.RNN) -> RNN:
        """The same network as a one-layer, unidirectional ``nn.RNN`` (weights copied)."""
        if not isinstance(rnn, nn.RNN):
            raise LstmvizError(f"expected a torch.nn.RNN, got {type(rnn).__name__}")
        if rnn.num_layers != 1 or rnn.bidirectional:
            raise LstmvizError(
                "scratch.RNN is one layer, one direction: build the nn.RNN with num_layers=1 "
                "and bidirectional=False"
            )
        new = cls(rnn.input_size, rnn.hidden_size, nonlinearity=rnn.nonlinearity)
        new = new.to(param(rnn, "weight_hh_l0").dtype)
        with torch.no_grad():
            new.W_aa.copy_(param(rnn, "weight_hh_l0"))
            new.W_ax.copy_(param(rnn, "weight_ih_l0"))
            if rnn.bias:  # PyTorch adds two biases; Ng has one
                new.b_a.copy_(param(rnn, "bias_ih_l0") + param(rnn, "bias_hh_l0"))
            else:
                new.b_a.zero_()
        return new

    def to_torch(self) -> nn.RNN:
        """An ``nn.RNN(batch_first=True)`` computing the same (PyTorch's second bias zero)."""
        if self.nonlinearity == "linear":
            raise LstmvizError("nn.RNN has no linear nonlinearity; use 'tanh' or 'relu'")
        rnn = nn.RNN(
            self.input_size, self.hidden_size, nonlinearity=self.nonlinearity, batch_first=True
        ).to(self.W_aa.dtype)
        with torch.no_grad():
            param(rnn, "weight_hh_l0").copy_(self.W_aa)
            param(rnn, "weight_ih_l0").copy_(self.W_ax)
            param(rnn, "bias_ih_l0").copy_(self.b_a)
            param(rnn, "bias_hh_l0").zero_()
        return rnn


class CharRNN(nn.Module):
    """Characters in, next-character logits out: one-hot x⟨t⟩ -> RNN -> ŷ⟨t⟩ = W_ya a⟨t⟩ + b_y.

    Same interface as ``lstmviz.CharLSTM``: forward(ids (B, T), state) -> (logits (B, T, V), state).
    """

    def __init__(self, vocab_size: int, hidden_size: int = 128):
        super().__init__()
        self.vocab_size = vocab_size
        self.rnn = RNN(vocab_size, hidden_size)
        self.head = nn.Linear(hidden_size, vocab_size)  # W_ya, b_y

    def forward(self, ids: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """ids (B, T) int, state a⟨0⟩ (B, n_a) or None -> (logits (B, T, V), a⟨T⟩ (B, n_a))."""
        x = nn.functional.one_hot(ids, self.vocab_size).to(self.head.weight.dtype)
        a, a_last = self.rnn(x, state)
        return self.head(a), a_last


class LSTMCell(nn.Module):
    """One LSTM step in Ng's notation; equal to ``nn.LSTMCell`` with the same weights.

    forward(x⟨t⟩ (B, n_x), (a⟨t−1⟩, c⟨t−1⟩) each (B, n_a) or None) -> (a⟨t⟩, c⟨t⟩) each (B, n_a).
    """

    #: names at which ``lstmviz.core.hooks.run_hooks`` is called: Γ_u Γ_f ĉ Γ_o c a (i f g o c h)
    hook_points = NAMES

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        k, n = hidden_size**-0.5, hidden_size + input_size
        # one matrix per gate, acting on the concatenation [a⟨t−1⟩, x⟨t⟩] (n_a + n_x columns)
        self.W_u, self.b_u = _param(hidden_size, n, bound=k), _param(hidden_size, bound=k)
        self.W_f, self.b_f = _param(hidden_size, n, bound=k), _param(hidden_size, bound=k)
        self.W_c, self.b_c = _param(hidden_size, n, bound=k), _param(hidden_size, bound=k)
        self.W_o, self.b_o = _param(hidden_size, n, bound=k), _param(hidden_size, bound=k)

    def forward(
        self, x: Tensor, state: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, Tensor]:
        """x⟨t⟩ (B, n_x), (a⟨t−1⟩, c⟨t−1⟩) (B, n_a) each or None -> (a⟨t⟩, c⟨t⟩) (B, n_a) each."""
        return self.step(x, state, hooks=self, layer=0)

    def step(
        self, x: Tensor, state: tuple[Tensor, Tensor] | None, hooks: nn.Module, layer: int
    ) -> tuple[Tensor, Tensor]:
        """The equations; hook points are reported as ``(name, layer)`` on module ``hooks``."""
        if state is None:
            zeros = x.new_zeros(x.shape[0], self.hidden_size)
            state = (zeros, zeros)
        a_prev, c_prev = state
        concat = torch.cat([a_prev, x], dim=1)  # [a⟨t−1⟩, x⟨t⟩]
        gamma_u = run_hooks(hooks, "i", layer, torch.sigmoid(concat @ self.W_u.T + self.b_u))
        gamma_f = run_hooks(hooks, "f", layer, torch.sigmoid(concat @ self.W_f.T + self.b_f))
        c_hat = run_hooks(hooks, "g", layer, torch.tanh(concat @ self.W_c.T + self.b_c))
        gamma_o = run_hooks(hooks, "o", layer, torch.sigmoid(concat @ self.W_o.T + self.b_o))
        # the memory cell is *added to*, not squashed: this is the path gradients survive on
        c = run_hooks(hooks, "c", layer, gamma_u * c_hat + gamma_f * c_prev)
        a = run_hooks(hooks, "h", layer, gamma_o * torch.tanh(c))
        return a, c

    def load_torch_weights(
        self, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None, b_hh: Tensor | None
    ) -> None:
        """Copy PyTorch's packed (i, f, g, o) W_ih (4n_a, n_x), W_hh (4n_a, n_a), biases (4n_a,)."""
        with torch.no_grad():
            bias = torch.zeros_like(w_ih[:, 0])
            for b in (b_ih, b_hh):  # PyTorch adds both biases; Ng has one
                if b is not None:
                    bias = bias + b
            for W, b, rows in zip(
                (self.W_u, self.W_f, self.W_c, self.W_o),
                (self.b_u, self.b_f, self.b_c, self.b_o),
                range(4),
                strict=True,
            ):
                s = slice(rows * self.hidden_size, (rows + 1) * self.hidden_size)
                W.copy_(torch.cat([w_hh[s], w_ih[s]], dim=1))  # columns: a first, then x
                b.copy_(bias[s])

    def torch_weights(self) -> tuple[Tensor, Tensor, Tensor]:
        """PyTorch's packed (W_ih (4n_a, n_x), W_hh (4n_a, n_a), b (4n_a,)), gate order i f g o."""
        W = torch.cat([self.W_u, self.W_f, self.W_c, self.W_o])  # (4n_a, n_a + n_x)
        b = torch.cat([self.b_u, self.b_f, self.b_c, self.b_o])
        return W[:, self.hidden_size :], W[:, : self.hidden_size], b

    @classmethod
    def from_torch(cls, cell: nn.LSTMCell) -> LSTMCell:
        """The same cell as ``cell`` (weights copied, both biases summed into Ng's one)."""
        if not isinstance(cell, nn.LSTMCell):
            raise LstmvizError(f"expected a torch.nn.LSTMCell, got {type(cell).__name__}")
        new = cls(cell.input_size, cell.hidden_size).to(cell.weight_ih.dtype)
        new.load_torch_weights(cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
        return new

    def to_torch(self) -> nn.LSTMCell:
        """An ``nn.LSTMCell`` computing the same function (PyTorch's second bias zero)."""
        cell = nn.LSTMCell(self.input_size, self.hidden_size).to(self.W_u.dtype)
        w_ih, w_hh, b = self.torch_weights()
        with torch.no_grad():
            cell.weight_ih.copy_(w_ih)
            cell.weight_hh.copy_(w_hh)
            cell.bias_ih.copy_(b)
            cell.bias_hh.zero_()
        return cell


class LSTM(nn.Module):
    """Stacked ``LSTMCell``s over a sequence, batch first; equal to ``nn.LSTM`` with its weights.

    forward(x (B, T, n_x), (a⟨0⟩, c⟨0⟩) each (L, B, n_a) or None)
        -> (a⟨1..T⟩ of the top layer (B, T, n_a), (a⟨T⟩, c⟨T⟩) each (L, B, n_a)).
    """

    hook_points = NAMES
    batch_first = True  # inputs and outputs are (B, T, ·), like nn.LSTM(batch_first=True)

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1):
        super().__init__()
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.cells = nn.ModuleList(
            LSTMCell(input_size if layer == 0 else hidden_size, hidden_size)
            for layer in range(num_layers)
        )

    def layer_cells(self) -> list[LSTMCell]:
        """The layers' cells, bottom first (``.cells``, typed)."""
        return [cell for cell in self.cells if isinstance(cell, LSTMCell)]

    def forward(
        self, x: Tensor, state: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """x (B, T, n_x), state (L, B, n_a) x2 or None -> (top a (B, T, n_a), (a_T, c_T))."""
        B, T = x.shape[:2]
        if state is None:
            zeros = x.new_zeros(self.num_layers, B, self.hidden_size)
            state = (zeros, zeros)
        a = list(state[0].unbind(0))
        c = list(state[1].unbind(0))
        outputs = []
        for t in range(T):
            inp = x[:, t]
            for layer, cell in enumerate(self.layer_cells()):
                # hooks are reported on this module, with the layer number, like nn.LSTM's
                a[layer], c[layer] = cell.step(inp, (a[layer], c[layer]), hooks=self, layer=layer)
                inp = a[layer]
            outputs.append(inp)
        return torch.stack(outputs, dim=1), (torch.stack(a), torch.stack(c))

    @classmethod
    def from_torch(cls, lstm: nn.LSTM) -> LSTM:
        """The same network as a unidirectional ``nn.LSTM`` without projections (weights copied)."""
        if not isinstance(lstm, nn.LSTM):
            raise LstmvizError(f"expected a torch.nn.LSTM, got {type(lstm).__name__}")
        if lstm.bidirectional or lstm.proj_size:
            raise LstmvizError(
                "scratch.LSTM is one direction without projections: use bidirectional=False "
                "and proj_size=0"
            )
        dtype = param(lstm, "weight_ih_l0").dtype
        new = cls(lstm.input_size, lstm.hidden_size, lstm.num_layers).to(dtype)
        for layer, cell in enumerate(new.layer_cells()):
            get = lambda name: getattr(lstm, f"{name}_l{layer}", None)  # noqa: E731, B023
            cell.load_torch_weights(
                param(lstm, f"weight_ih_l{layer}"),
                param(lstm, f"weight_hh_l{layer}"),
                get("bias_ih"),  # None without biases
                get("bias_hh"),
            )
        return new

    def to_torch(self) -> nn.LSTM:
        """An ``nn.LSTM(batch_first=True)`` computing the same (PyTorch's second bias zero)."""
        lstm = nn.LSTM(self.input_size, self.hidden_size, self.num_layers, batch_first=True).to(
            self.layer_cells()[0].W_u.dtype
        )
        with torch.no_grad():
            for layer, cell in enumerate(self.layer_cells()):
                w_ih, w_hh, b = cell.torch_weights()
                getattr(lstm, f"weight_ih_l{layer}").copy_(w_ih)
                getattr(lstm, f"weight_hh_l{layer}").copy_(w_hh)
                getattr(lstm, f"bias_ih_l{layer}").copy_(b)
                getattr(lstm, f"bias_hh_l{layer}").zero_()
        return lstm
