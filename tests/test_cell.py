"""lstm_step and its hook points against nn.LSTM; the step-by-step forward used by interventions."""

from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from lstmviz import LstmvizError
from lstmviz.core.cell import cell_step, check_supported, lstm_step
from lstmviz.core.hooks import add_layer_hook, add_step_hook, has_step_hooks, run_hooks
from lstmviz.core.names import NAMES
from lstmviz.gates.stepwise import forward_stepwise, runs_stepwise, stepwise


@pytest.mark.parametrize("seed", range(12))
def test_lstm_step_equals_one_step_of_nn_lstm(seed):
    rng = random.Random(seed)
    torch.manual_seed(seed)
    dtype = rng.choice([torch.float32, torch.float64])
    In, H, L, B = rng.randint(1, 8), rng.randint(1, 10), rng.randint(1, 3), rng.randint(1, 4)
    lstm = nn.LSTM(In, H, L, bias=rng.random() < 0.7).to(dtype).eval()
    x = torch.randn(B, In, dtype=dtype)
    state = (torch.randn(L, B, H, dtype=dtype), torch.randn(L, B, H, dtype=dtype))
    top, (h, c) = lstm_step(lstm, x, state)
    with torch.no_grad():
        out, (h_ref, c_ref) = lstm(x[None], state)
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(top, out[0], atol=tol, rtol=0)
    torch.testing.assert_close(h, h_ref, atol=tol, rtol=0)
    torch.testing.assert_close(c, c_ref, atol=tol, rtol=0)
    top0, _ = lstm_step(lstm, x, None)  # no state means zeros
    with torch.no_grad():
        torch.testing.assert_close(top0, lstm(x[None])[0][0], atol=tol, rtol=0)


def test_step_hooks_see_every_point_in_order_and_can_replace():
    torch.manual_seed(0)
    lstm = nn.LSTM(3, 4, 2)
    seen = []
    x = torch.randn(2, 3)
    with add_step_hook(lstm, lambda n, layer, v: seen.append((n, layer, tuple(v.shape)))):
        base_top, (base_h, base_c) = lstm_step(lstm, x)
    assert [(n, layer) for n, layer, _ in seen] == [(n, layer) for layer in range(2) for n in NAMES]
    assert all(shape == (2, 4) for *_, shape in seen)
    assert not has_step_hooks(lstm)
    # a replacing hook (an intervention) and an observer that must see the replaced value
    observed = {}

    def clamp(n, layer, v):
        if (n, layer) == ("c", 0):
            v = v.clone()
            v[:, 1] = 5.0
            return v
        return None

    with (
        add_step_hook(
            lstm, lambda n, layer, v: observed.__setitem__((n, layer), v.clone()), observer=True
        ),
        add_step_hook(lstm, clamp),
    ):
        top, (h, c) = lstm_step(lstm, x)
    assert (observed["c", 0][:, 1] == 5.0).all() and (c[0, :, 1] == 5.0).all()
    torch.testing.assert_close(h[0, :, 1], observed["o", 0][:, 1] * torch.tanh(torch.tensor(5.0)))
    assert torch.equal(h[0, :, [0, 2, 3]], base_h[0, :, [0, 2, 3]])
    assert not torch.equal(top, base_top)  # layer 1 saw the change


def test_layer_hook_gets_activated_packed_gates():
    torch.manual_seed(1)
    lstm = nn.LSTM(3, 5, 2)
    got = []
    per_name = {}
    with (
        add_layer_hook(
            lstm, lambda layer, g, c, h: got.append((layer, g.clone(), c.clone(), h.clone()))
        ),
        add_step_hook(lstm, lambda n, layer, v: per_name.__setitem__((n, layer), v.clone())),
    ):
        lstm_step(lstm, torch.randn(2, 3))
    assert [g[0] for g in got] == [0, 1]
    for layer, gates, c, h in got:
        for k, n in enumerate("ifgo"):
            assert torch.equal(gates[:, k * 5 : (k + 1) * 5], per_name[n, layer])
        assert torch.equal(c, per_name["c", layer]) and torch.equal(h, per_name["h", layer])


def test_hooks_do_not_change_outputs_bitwise():
    torch.manual_seed(2)
    lstm = nn.LSTM(4, 6, 2)
    x, state = torch.randn(3, 4), (torch.randn(2, 3, 6), torch.randn(2, 3, 6))
    off = lstm_step(lstm, x, state)
    with add_layer_hook(lstm, lambda *a: None), add_step_hook(lstm, lambda *a: None):
        on = lstm_step(lstm, x, state)
    assert torch.equal(off[0], on[0]) and torch.equal(off[1][1], on[1][1])


def test_packed_weights_follow_parameter_changes():
    torch.manual_seed(3)
    lstm = nn.LSTM(2, 3)
    x = torch.randn(1, 2)
    before, _ = lstm_step(lstm, x)
    with torch.no_grad():
        lstm.weight_ih_l0.mul_(2)
    after, _ = lstm_step(lstm, x)
    with torch.no_grad():
        torch.testing.assert_close(after, lstm(x[None])[0][0], atol=1e-6, rtol=0)
    assert not torch.equal(before, after)


@pytest.mark.parametrize(
    "batch_first, batched, with_state",
    [(True, True, False), (False, True, True), (True, False, True), (False, False, False)],
)
def test_forward_stepwise_equals_fused_forward(batch_first, batched, with_state):
    torch.manual_seed(4)
    lstm = nn.LSTM(3, 5, 2, batch_first=batch_first).eval()
    x = (
        (torch.randn(2, 7, 3) if batch_first else torch.randn(7, 2, 3))
        if batched
        else torch.randn(7, 3)
    )
    shape = (2, 2, 5) if batched else (2, 5)
    state = (torch.randn(shape), torch.randn(shape)) if with_state else None
    out, (h, c) = forward_stepwise(lstm, x, state)
    with torch.no_grad():
        ref, (h_ref, c_ref) = lstm(x, state)
    assert out.shape == ref.shape and h.shape == h_ref.shape
    for a, b in [(out, ref), (h, h_ref), (c, c_ref)]:
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_stepwise_context_swaps_forward_and_restores_it():
    lstm = nn.LSTM(3, 4)
    x = torch.randn(5, 1, 3)
    seen = []
    with stepwise(lstm), add_step_hook(lstm, lambda n, layer, v: seen.append(n)):
        assert runs_stepwise(lstm)
        lstm(x)
    assert len(seen) == 5 * 6 and not runs_stepwise(lstm) and "forward" not in lstm.__dict__
    with pytest.raises(RuntimeError), stepwise(lstm):
        raise RuntimeError
    assert "forward" not in lstm.__dict__


def test_cell_step_equals_nn_lstmcell():
    torch.manual_seed(5)
    cellm = nn.LSTMCell(3, 4)
    x, hx = torch.randn(2, 3), (torch.randn(2, 4), torch.randn(2, 4))
    h, c = cell_step(cellm, x, hx)
    with torch.no_grad():
        h_ref, c_ref = cellm(x, hx)
    torch.testing.assert_close(h, h_ref, atol=1e-6, rtol=0)
    torch.testing.assert_close(c, c_ref, atol=1e-6, rtol=0)
    hu, cu = cell_step(cellm, x[0])
    with torch.no_grad():
        torch.testing.assert_close(hu, cellm(x[0])[0], atol=1e-6, rtol=0)


def test_run_hooks_is_identity_without_hooks():
    m = nn.Linear(1, 1)
    v = torch.randn(2, 3)
    assert run_hooks(m, "c", 0, v) is v
    with add_step_hook(m, lambda n, layer, val: val * 2):
        assert torch.equal(run_hooks(m, "c", 0, v), v * 2)
    assert run_hooks(m, "c", 0, v) is v


def test_check_supported_refuses():
    for lstm, match in [
        (nn.LSTM(2, 3, bidirectional=True), "bidirectional"),
        (nn.LSTM(2, 3, proj_size=1), "proj_size"),
        (nn.LSTM(2, 3, 2, dropout=0.2).train(), "eval"),
        (nn.GRU(2, 3), "torch.nn.LSTM"),
    ]:
        with pytest.raises(LstmvizError, match=match):
            check_supported(lstm)
        if isinstance(lstm, nn.LSTM):
            with pytest.raises(LstmvizError, match=match):
                lstm_step(lstm, torch.randn(1, 2))
