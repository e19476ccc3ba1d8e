"""Gradient-vs-lag measurements agree with the chain rule written out by hand."""

import numpy as np
import pytest
import torch
from torch import nn

from lstmviz.core.errors import LstmvizError
from lstmviz.teaching import gradients, scratch

D = torch.float64


def test_linear_rnn_gradient_is_power_of_transpose():
    # a⟨t⟩ = W a⟨t−1⟩ + U x⟨t⟩:  ∂(g·a⟨T⟩)/∂a⟨T−k⟩ = (Wᵀ)^k g, exactly
    rnn = gradients.rnn_with_radius(3, 12, radius=0.9, seed=1, nonlinearity="linear")
    x = torch.randn(2, 25, 3, dtype=D)
    g = torch.randn(12, dtype=D)
    grads = gradients.hidden_gradients(rnn, x, direction=g)
    W = rnn.W_aa.detach()
    for k in (0, 1, 7, 24):
        expected = torch.linalg.matrix_power(W.T, k) @ g
        torch.testing.assert_close(grads[24 - k], expected.expand(2, 12), rtol=1e-10, atol=1e-12)
    lags, norms = gradients.grad_norm_vs_lag(rnn, x, direction=g)
    assert list(lags[:3]) == [0, 1, 2]
    np.testing.assert_allclose(norms[5], (torch.linalg.matrix_power(W.T, 5) @ g).norm().item())


def test_symmetric_linear_rnn_decays_exactly_like_radius_power():
    # for a symmetric W and g its top eigenvector, ‖(Wᵀ)^k g‖ = ρ^k: the exponential law, exactly
    torch.manual_seed(0)
    A = torch.randn(8, 8, dtype=D)
    W = gradients.scale_spectral_radius(A + A.T, 0.7)
    evals, evecs = torch.linalg.eigh(W)
    top = evecs[:, evals.abs().argmax()]
    rnn = scratch.RNN(2, 8, nonlinearity="linear").to(D)
    with torch.no_grad():
        rnn.W_aa.copy_(W)
    lags, norms = gradients.grad_norm_vs_lag(rnn, torch.randn(1, 30, 2, dtype=D), direction=top)
    np.testing.assert_allclose(norms, 0.7**lags, rtol=1e-9)


def test_tanh_rnn_autograd_equals_jacobian_product():
    rnn = gradients.rnn_with_radius(4, 10, radius=1.5, seed=2)
    x = torch.randn(3, 20, 4, dtype=D)
    g = torch.randn(10, dtype=D)
    torch.testing.assert_close(
        gradients.hidden_gradients(rnn, x, g), gradients.jacobian_product_gradients(rnn, x, g)
    )
    J = gradients.jacobians(rnn, x)
    a_seq, _ = rnn(x)
    # J⟨t⟩ = diag(1 − a⟨t⟩²) W_aa, checked against autograd's Jacobian of one step
    auto = torch.autograd.functional.jacobian(lambda a: rnn.step(x[0, 5], a), a_seq[0, 4])
    torch.testing.assert_close(J[5, 0], auto)


def test_scale_spectral_radius_is_exact():
    torch.manual_seed(3)
    W = torch.randn(30, 30, dtype=D)
    for rho in (0.5, 1.0, 1.5):
        assert gradients.spectral_radius(gradients.scale_spectral_radius(W, rho)) == pytest.approx(
            rho, rel=1e-12
        )
    rnn = gradients.rnn_with_radius(2, 16, radius=0.9, seed=0)
    assert gradients.spectral_radius(rnn.W_aa) == pytest.approx(0.9, rel=1e-12)
    with pytest.raises(LstmvizError, match="square"):
        gradients.spectral_radius(torch.ones(2, 3))


def test_small_radius_vanishes_large_radius_grows():
    x = 0.1 * torch.randn(8, 60, 4, generator=torch.Generator().manual_seed(0), dtype=D)
    _, small = gradients.grad_norm_vs_lag(gradients.rnn_with_radius(4, 64, 0.5), x)
    _, large = gradients.grad_norm_vs_lag(gradients.rnn_with_radius(4, 64, 1.5), x)
    assert small[0] == pytest.approx(1.0) and large[0] == pytest.approx(1.0)
    assert small[40] < 1e-10  # ≤ 0.5^40 ≈ 1e-12 times a polynomial factor
    assert large[40] > 1  # grows (tanh saturation keeps it below 1.5^40)


def test_lstm_and_torch_modules_are_accepted():
    torch.manual_seed(4)
    lstm = nn.LSTM(3, 6, batch_first=True).to(D)
    x = torch.randn(2, 12, 3, dtype=D)
    grads = gradients.hidden_gradients(lstm, x)
    assert grads.shape == (12, 2, 6)
    # at lag 0, ∂(e₀·a⟨T⟩)/∂a⟨T⟩ = e₀; one step back, the same as differentiating nn.LSTM itself
    torch.testing.assert_close(grads[-1], torch.eye(6, dtype=D)[0].expand(2, 6))
    a_prev = scratch.LSTM.from_torch(lstm)(x[:, :11])[1]
    h, c = a_prev[0][0].detach().requires_grad_(), a_prev[1][0].detach()
    _, (h_T, _) = lstm(x[:, 11:], (h[None], c[None]))
    (h_T[0, :, 0].sum()).backward()
    torch.testing.assert_close(grads[-2], h.grad)
    lags, c_norms = gradients.grad_norm_vs_lag(lstm, x, wrt="c")
    assert c_norms.shape == (12,) and np.all(c_norms > 0)
    with pytest.raises(LstmvizError, match="wrt"):
        gradients.hidden_gradients(nn.RNN(3, 4), x, wrt="c")
    with pytest.raises(LstmvizError, match="num_layers=1"):
        gradients.hidden_gradients(nn.LSTM(3, 4, num_layers=2), x)


def test_lstm_forget_bias_keeps_cell_gradient():
    # the constant error carousel: with Γ_f ≈ 1 the cell gradient hardly decays;
    # with Γ_f ≈ 0.5 it does
    torch.manual_seed(5)
    x = torch.randn(4, 50, 3, dtype=D)
    norms = {}
    for bias in (0.0, 6.0):
        lstm = nn.LSTM(3, 16, batch_first=True).to(D)
        with torch.no_grad():
            lstm.bias_ih_l0[16:32].fill_(bias)
            lstm.bias_hh_l0[16:32].zero_()
        norms[bias] = gradients.grad_norm_vs_lag(lstm, x, wrt="c")[1]
    assert norms[0.0][40] / norms[0.0][1] < 1e-8
    assert norms[6.0][40] / norms[6.0][1] > 0.2  # σ(6)^39 ≈ 0.91, minus the paths through the gates


def test_clip_by_norm_matches_torch_and_grad_norm():
    g = torch.tensor([3.0, 4.0])
    torch.testing.assert_close(gradients.clip_by_norm(g, 1.0), torch.tensor([0.6, 0.8]))
    torch.testing.assert_close(gradients.clip_by_norm(g, 10.0), g)
    p = nn.Parameter(torch.zeros(2))
    p.grad = g.clone()
    assert gradients.grad_norm([p]) == pytest.approx(5.0)
    nn.utils.clip_grad_norm_([p], 1.0)
    torch.testing.assert_close(p.grad, gradients.clip_by_norm(g, 1.0))
    with pytest.raises(LstmvizError, match="positive"):
        gradients.clip_by_norm(g, 0)


def test_largest_singular_value_and_sigma_scaling():
    W = torch.diag(torch.tensor([3.0, -2.0, 0.5], dtype=D))
    assert gradients.largest_singular_value(W) == pytest.approx(3.0)
    J = torch.tensor([[0.0, 2.0], [0.0, 0.0]], dtype=D)  # nilpotent: ρ = 0 but σ_max = 2
    assert gradients.spectral_radius(J) == 0 and gradients.largest_singular_value(J) == 2.0
    rnn = gradients.rnn_with_radius(2, 16, 0.9, seed=0, scale="sigma")
    assert gradients.largest_singular_value(rnn.W_aa) == pytest.approx(0.9, rel=1e-12)
    assert gradients.spectral_radius(rnn.W_aa) < 0.9  # ρ ≤ σ_max, strictly for this matrix
    # the same seed: the same matrix up to one scale factor
    ref = gradients.rnn_with_radius(2, 16, 1.0, seed=0).W_aa
    ratio = rnn.W_aa / ref
    torch.testing.assert_close(ratio, ratio[0, 0].expand_as(ratio))
    # Pascanu et al.'s bound: ‖∂L_T/∂a⟨T−k⟩‖ ≤ σ_max^k for a unit direction
    x = torch.randn(3, 30, 2, generator=torch.Generator().manual_seed(1), dtype=D)
    lags, norms = gradients.grad_norm_vs_lag(rnn, x)
    assert np.all(norms <= 0.9**lags * (1 + 1e-9))
    with pytest.raises(LstmvizError, match="scale"):
        gradients.rnn_with_radius(2, 4, 0.9, scale="norm")
    with pytest.raises(LstmvizError, match="matrix"):
        gradients.largest_singular_value(torch.ones(3))


def test_weight_gradient_by_lag_sums_to_autograd():
    rnn = gradients.rnn_with_radius(3, 10, 1.2, seed=4)
    x = torch.randn(4, 15, 3, generator=torch.Generator().manual_seed(2), dtype=D)
    g = torch.randn(10, dtype=D, generator=torch.Generator().manual_seed(3))
    terms = gradients.weight_gradient_by_lag(rnn, x, g)
    assert terms.shape == (15, 10, 10)
    _, a_T = rnn(x)
    (a_T @ g).sum().backward()
    torch.testing.assert_close(terms.sum(0), rnn.W_aa.grad, rtol=1e-10, atol=1e-12)
    assert torch.all(terms[-1] == 0)  # the first step multiplies a⟨0⟩ = 0
    # lag 0 by hand: δ⟨T⟩ a⟨T−1⟩ᵀ with δ⟨T⟩ = (1 − a⟨T⟩²) ∗ g, summed over the batch
    a_seq, _ = rnn(x)
    a_seq = a_seq.detach()
    by_hand = ((1 - a_seq[:, -1] ** 2) * g).T @ a_seq[:, -2]
    torch.testing.assert_close(terms[0], by_hand)
    with pytest.raises(LstmvizError, match="scratch.RNN"):
        gradients.weight_gradient_by_lag(nn.RNN(3, 10), x)
