"""train_step: the one training step (carry + detach state, loss, clip, step) of train, lessons."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lstmviz.core import CharLSTM, train_step
from lstmviz.core.training import streams, windows


def _lm_batch(vocab_size=11, b=3, t=7, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (
        torch.randint(0, vocab_size, (b, t), generator=gen),
        torch.randint(0, vocab_size, (b, t), generator=gen),
    )


def _grads_of(model, x, y, state=None):
    """Reference: loss and the flat gradient of a copy of ``model`` on one batch."""
    ref = copy.deepcopy(model)
    logits, _ = ref(x, state)
    loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
    loss.backward()
    return loss.item(), torch.cat([p.grad.flatten() for p in ref.parameters()])


def test_step_matches_a_hand_written_sgd_step_with_clipping():
    torch.manual_seed(0)
    model = CharLSTM(11, 8, num_layers=2, dropout=0.0, embedding_dim=4)
    x, y = _lm_batch()
    want_loss, g = _grads_of(model, x, y)
    before = torch.cat([p.detach().flatten() for p in model.parameters()]).clone()
    clip = 0.25 * g.norm().item()  # well below the norm: clipping must act
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    loss, state, norm = train_step(model, opt, x, y, grad_clip=clip)
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert loss == pytest.approx(want_loss, rel=1e-6)
    assert norm == pytest.approx(g.norm().item(), rel=1e-5)  # the norm *before* clipping
    torch.testing.assert_close(before - after, g * clip / g.norm(), rtol=1e-4, atol=1e-6)
    h, c = state
    assert h.shape == c.shape == (2, 3, 8)
    assert h.grad_fn is None and c.grad_fn is None  # detached: truncated BPTT


def test_carried_state_is_used_and_no_clip_means_raw_gradient():
    torch.manual_seed(0)
    model = CharLSTM(11, 8, num_layers=1, dropout=0.0, embedding_dim=4)
    x, y = _lm_batch()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)  # lr 0: the weights stay, state moves on
    _, state, _ = train_step(model, opt, x, y)
    want_loss, g = _grads_of(model, x, y, state)
    fresh_loss, _ = _grads_of(model, x, y)
    loss, _, norm = train_step(model, opt, x, y, state, grad_clip=None)
    assert loss == pytest.approx(want_loss, rel=1e-6)
    assert loss != pytest.approx(fresh_loss, rel=1e-6)  # the carried state changed the loss
    assert norm == pytest.approx(g.norm().item(), rel=1e-5)


def test_stateless_classifier_gets_no_state():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))  # x (B, 4, 3) -> logits (B, 3)
    x, y = torch.randn(5, 4, 3), torch.tensor([0, 1, 2, 1, 0])
    want = F.cross_entropy(model(x), y).item()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss, state, norm = train_step(model, opt, x, y, grad_clip=1.0)
    assert state is None and loss == pytest.approx(want, rel=1e-6) and norm > 0
    assert F.cross_entropy(model(x), y).item() < want  # it stepped downhill


def test_non_finite_loss_leaves_the_weights_untouched():
    torch.manual_seed(0)
    model = CharLSTM(11, 8, num_layers=1, dropout=0.0, embedding_dim=4)
    with torch.no_grad():
        model.head.bias[0] = math.nan
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss, _, _ = train_step(model, opt, *_lm_batch(), grad_clip=5.0)
    assert math.isnan(loss)
    for b, p in zip(before, model.parameters(), strict=True):
        torch.testing.assert_close(p.detach(), b, equal_nan=True)


def test_grad_scaler_path_unscales_before_clipping_and_skips_overflow():
    """With a GradScaler: the same step as unscaled; an overflow skips it and lowers the scale."""
    torch.manual_seed(0)
    model = CharLSTM(11, 8, num_layers=1, dropout=0.0, embedding_dim=4)
    x, y = _lm_batch()
    _, g = _grads_of(model, x, y)
    before = torch.cat([p.detach().flatten() for p in model.parameters()]).clone()
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    clip = 0.5 * g.norm().item()
    _, _, norm = train_step(model, opt, x, y, grad_clip=clip, scaler=scaler)
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert norm == pytest.approx(g.norm().item(), rel=1e-4)  # the true norm, not 1024x
    torch.testing.assert_close(before - after, g * clip / g.norm(), rtol=1e-4, atol=1e-6)

    with torch.no_grad():
        model.head.bias[0] = math.inf  # overflowing logits: non-finite loss and gradients
    kept = [p.detach().clone() for p in model.parameters()]
    loss, _, _ = train_step(model, opt, x, y, grad_clip=clip, scaler=scaler)
    assert not math.isfinite(loss) and scaler.get_scale() < 1024.0
    for k, p in zip(kept, model.parameters(), strict=True):
        torch.testing.assert_close(p.detach(), k, equal_nan=True)


def test_windows_walk_the_streams_round_and_round():
    """Step k reads columns [j*T, (j+1)*T), j = k mod windows per pass; a pass starts at j = 0."""
    x, y = streams(torch.arange(2 * 11 + 1), 2)  # (2, 11): 3 whole windows of 3 per pass
    got = list(zip(range(2, 9), windows(x, y, 3, start=2), strict=False))
    assert [(k, new_pass) for k, (_, _, new_pass) in got] == [
        (2, False), (3, True), (4, False), (5, False), (6, True), (7, False), (8, False)
    ]  # fmt: skip
    for k, (xb, yb, _) in got:
        j = k % 3
        assert torch.equal(xb, x[:, 3 * j : 3 * j + 3]) and torch.equal(yb, xb + 1)
