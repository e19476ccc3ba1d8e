"""Measuring vanishing and exploding gradients: ‖∂L_T/∂a⟨t⟩‖ against the lag T − t.

For a vanilla RNN a⟨t⟩ = tanh(W_aa a⟨t−1⟩ + W_ax x⟨t⟩ + b_a) the chain rule gives

    ∂L_T/∂a⟨t⟩ = J⟨t+1⟩ᵀ J⟨t+2⟩ᵀ ⋯ J⟨T⟩ᵀ ∂L_T/∂a⟨T⟩,   J⟨s⟩ = ∂a⟨s⟩/∂a⟨s−1⟩ = diag(1 − a⟨s⟩²) W_aa,

a product of T − t Jacobians. Each factor has norm at most σ_max(W_aa) · max|tanh'| ≤ σ_max(W_aa),
σ_max being the largest *singular value* of W_aa (its operator 2-norm). Pascanu, Mikolov & Bengio
(2013, "On the difficulty of training recurrent neural networks") draw two conclusions from this:
σ_max < 1 is *sufficient* for the gradient to vanish, at least as fast as σ_max^(T−t); σ_max > 1 is
*necessary* for it to explode. Neither is about the spectral radius ρ (the largest |eigenvalue|,
ρ ≤ σ_max): a matrix with ρ < 1 ≤ σ_max gets no guarantee either way, although its powers
W_aa^k do shrink like ρ^k in the long run. Here we measure the gradient with autograd, compute it
as that explicit product, split ∂L_T/∂W_aa into the contributions of each lag, rescale W_aa to a
chosen ρ or σ_max, and clip gradients by their norm.

Used by lessons 02 (the vanishing and exploding gradient) and 03 (the LSTM's cell path).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import Tensor, nn

from ..core.errors import LstmvizError
from . import scratch


def spectral_radius(W: Tensor) -> float:
    """The largest |eigenvalue| of a square matrix W (n, n)."""
    if W.ndim != 2 or W.shape[0] != W.shape[1]:
        raise LstmvizError(f"the spectral radius needs a square matrix, got shape {tuple(W.shape)}")
    return torch.linalg.eigvals(W.detach().double()).abs().max().item()


def largest_singular_value(W: Tensor) -> float:
    """σ_max of a matrix W (m, n): its 2-norm, the most it can stretch a vector."""
    if W.ndim != 2:
        raise LstmvizError(f"a singular value needs a matrix, got shape {tuple(W.shape)}")
    return torch.linalg.matrix_norm(W.detach().double(), ord=2).item()


def scale_spectral_radius(W: Tensor, radius: float) -> Tensor:
    """W (n, n) rescaled to spectral radius exactly ``radius`` (eigenvectors unchanged)."""
    current = spectral_radius(W)
    if current == 0:
        raise LstmvizError("this matrix is nilpotent (spectral radius 0): it cannot be rescaled")
    return W * (radius / current)


def rnn_with_radius(
    input_size: int,
    hidden_size: int,
    radius: float,
    seed: int = 0,
    nonlinearity: str = "tanh",
    scale: str = "radius",
) -> scratch.RNN:
    """A float64 ``scratch.RNN``, Gaussian W_aa rescaled so that ρ (``scale="radius"``) or
    σ_max (``scale="sigma"``) equals ``radius``; b_a = 0. The same seed gives the same W_aa
    up to that one scale factor."""
    if scale not in ("radius", "sigma"):
        raise LstmvizError(f"scale must be 'radius' (ρ) or 'sigma' (σ_max), got {scale!r}")
    g = torch.Generator().manual_seed(seed)
    rnn = scratch.RNN(input_size, hidden_size, nonlinearity=nonlinearity).double()
    with torch.no_grad():
        W = torch.randn(hidden_size, hidden_size, generator=g, dtype=torch.float64)
        if scale == "radius":
            W = scale_spectral_radius(W, radius)
        else:
            W = W * (radius / largest_singular_value(W))
        rnn.W_aa.copy_(W)
        rnn.W_ax.copy_(
            torch.randn(hidden_size, input_size, generator=g, dtype=torch.float64) / input_size**0.5
        )
        rnn.b_a.zero_()
    return rnn


def _as_scratch(model: nn.Module) -> scratch.RNN | scratch.LSTMCell:
    # torch modules are translated to the readable ones, whose every state we can see
    if isinstance(model, nn.RNN):
        return scratch.RNN.from_torch(model)
    if isinstance(model, nn.LSTMCell):
        return scratch.LSTMCell.from_torch(model)
    if isinstance(model, nn.LSTM):
        model = scratch.LSTM.from_torch(model)
    if isinstance(model, scratch.LSTM):
        if model.num_layers != 1:
            raise LstmvizError("gradient-vs-lag is measured on one layer: use num_layers=1")
        return model.layer_cells()[0]
    if isinstance(model, (scratch.RNN, scratch.LSTMCell)):
        return model
    raise LstmvizError(
        f"cannot measure gradients through a {type(model).__name__}: pass an nn.RNN, nn.LSTM, "
        "nn.LSTMCell or a lstmviz.teaching.scratch RNN / LSTMCell / LSTM"
    )


def hidden_gradients(
    model: nn.Module, x: Tensor, direction: Tensor | None = None, wrt: str = "a"
) -> Tensor:
    """∂L_T/∂a⟨t⟩ for t = 1..T as (T, B, n_a), where L_T = direction · a⟨T⟩ and x is (B, T, n_x).

    ``direction`` (n_a,) or (B, n_a) defaults to a unit vector along the first axis, so the
    gradient at lag 0 has norm 1. ``wrt="c"`` gives ∂L_T/∂c⟨t⟩ for an LSTM's memory cell.
    Works for vanilla RNNs and one-layer LSTMs (torch or scratch); states start at zero.
    """
    cell = _as_scratch(model)
    is_lstm = isinstance(cell, scratch.LSTMCell)
    if wrt not in ("a", "c") or (wrt == "c" and not is_lstm):
        raise LstmvizError(f"wrt={wrt!r}: use 'a' (any model) or 'c' (LSTMs only)")
    x = x.to(next(cell.parameters()).dtype)
    B, T = x.shape[:2]
    # a⟨0⟩ requires grad so the chain exists even if the weights are frozen
    a = x.new_zeros(B, cell.hidden_size, requires_grad=True)
    c = x.new_zeros(B, cell.hidden_size, requires_grad=True)
    watched = []
    for t in range(T):
        if isinstance(cell, scratch.LSTMCell):  # is_lstm
            a, c = cell.step(x[:, t], (a, c), hooks=cell, layer=0)
        else:
            a = cell.step(x[:, t], a)
        watched.append(a if wrt == "a" else c)
    if direction is None:
        direction = torch.zeros(cell.hidden_size, dtype=x.dtype)
        direction[0] = 1.0
    loss = (a * direction.to(x.dtype)).sum()
    grads = torch.autograd.grad(loss, watched, allow_unused=True)
    return torch.stack(
        [torch.zeros_like(s) if gr is None else gr for s, gr in zip(watched, grads, strict=True)]
    ).detach()


def grad_norm_vs_lag(
    model: nn.Module, x: Tensor, direction: Tensor | None = None, wrt: str = "a"
) -> tuple[np.ndarray, np.ndarray]:
    """(lags k = 0..T−1, batch mean of ‖∂L_T/∂a⟨T−k⟩‖) for x (B, T, n_x); see hidden_gradients."""
    grads = hidden_gradients(model, x, direction, wrt)  # (T, B, n_a), time ascending
    norms = grads.norm(dim=-1).mean(dim=1).flip(0)  # lag 0 is the last step
    return np.arange(len(norms)), norms.double().numpy()


def _slope(rnn: scratch.RNN, a_seq: Tensor) -> Tensor:
    # g'(z⟨t⟩) from the states a⟨t⟩ = g(z⟨t⟩), (B, T, n_a)
    if rnn.nonlinearity == "tanh":
        return 1 - a_seq**2  # tanh'(z) = 1 − tanh(z)²
    if rnn.nonlinearity == "relu":
        return (a_seq > 0).to(a_seq.dtype)
    return torch.ones_like(a_seq)


def jacobians(rnn: scratch.RNN, x: Tensor, a0: Tensor | None = None) -> Tensor:
    """J⟨t⟩ = ∂a⟨t⟩/∂a⟨t−1⟩ = diag(g'(z⟨t⟩)) W_aa, t = 1..T: x (B, T, n_x) -> (T, B, n_a, n_a)."""
    with torch.no_grad():
        a_seq, _ = rnn(x.to(rnn.W_aa.dtype), a0)
        slope = _slope(rnn, a_seq)
        return slope.transpose(0, 1)[..., :, None] * rnn.W_aa  # row i scaled by g'(z_i)


def weight_gradient_by_lag(rnn: scratch.RNN, x: Tensor, direction: Tensor | None = None) -> Tensor:
    """∂L_T/∂W_aa split by lag: x (B, T, n_x) -> (T, n_a, n_a), row k from step t = T − k.

    W_aa is used at every step, so ∂L_T/∂W_aa = Σ_t δ⟨t⟩ a⟨t−1⟩ᵀ (summed over the batch), with
    δ⟨t⟩ = ∂L_T/∂z⟨t⟩ = g'(z⟨t⟩) ∗ ∂L_T/∂a⟨t⟩. The term of step t is what the weight update
    learns from the dependence of a⟨T⟩ on a⟨t−1⟩, k = T − t steps back; the rows sum to
    autograd's ∂L_T/∂W_aa (L_T = direction · a⟨T⟩ as in ``hidden_gradients``; a⟨0⟩ = 0).
    """
    if not isinstance(rnn, scratch.RNN):
        raise LstmvizError(f"weight_gradient_by_lag needs a scratch.RNN, got {type(rnn).__name__}")
    x = x.to(rnn.W_aa.dtype)
    dL_da = hidden_gradients(rnn, x, direction).transpose(0, 1)  # (B, T, n_a)
    with torch.no_grad():
        a_seq, _ = rnn(x)
        delta = _slope(rnn, a_seq) * dL_da  # ∂L_T/∂z⟨t⟩
        a_prev = torch.cat([torch.zeros_like(a_seq[:, :1]), a_seq[:, :-1]], dim=1)  # a⟨t−1⟩
        per_step = torch.einsum("bti,btj->tij", delta, a_prev)  # (T, n_a, n_a), t ascending
    return per_step.flip(0)


def jacobian_product_gradients(rnn: scratch.RNN, x: Tensor, direction: Tensor) -> Tensor:
    """∂L_T/∂a⟨t⟩ (T, B, n_a) as the explicit product J⟨t+1⟩ᵀ ⋯ J⟨T⟩ᵀ direction (no autograd)."""
    J = jacobians(rnn, x)  # (T, B, n, n)
    T, B, n = J.shape[0], J.shape[1], J.shape[2]
    grad = direction.to(J.dtype).expand(B, n).clone()
    out = [grad]
    for t in range(T - 1, 0, -1):  # walk back: ∂L/∂a⟨t−1⟩ = J⟨t⟩ᵀ ∂L/∂a⟨t⟩
        grad = (J[t].transpose(1, 2) @ grad[..., None])[..., 0]
        out.append(grad)
    return torch.stack(out[::-1])


def grad_norm(parameters: Iterable[nn.Parameter]) -> float:
    """The global L2 norm of all ``.grad`` of ``parameters`` (what clipping compares)."""
    grads = [p.grad.detach().flatten() for p in parameters if p.grad is not None]
    return torch.cat(grads).norm().item() if grads else 0.0


def clip_by_norm(grad: Tensor, max_norm: float) -> Tensor:
    """Pascanu et al.'s rule: if ‖g‖ > max_norm, rescale g (any shape) to norm max_norm."""
    if max_norm <= 0:
        raise LstmvizError(f"max_norm must be positive, got {max_norm}")
    norm = grad.norm()
    return grad * (max_norm / norm) if norm > max_norm else grad
