"""The from-scratch modules compute exactly what the PyTorch modules they explain compute."""

import pytest
import torch
from torch import nn

from lstmviz.core import hooks
from lstmviz.core.errors import LstmvizError
from lstmviz.teaching import scratch

D = torch.float64


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_equals_nn_rnn(nonlinearity):
    torch.manual_seed(0)
    ref = nn.RNN(5, 7, nonlinearity=nonlinearity, batch_first=True).to(D)
    ours = scratch.RNN.from_torch(ref)
    x, a0 = torch.randn(3, 11, 5, dtype=D), torch.randn(3, 7, dtype=D)
    out, h_n = ref(x, a0[None])
    a_seq, a_T = ours(x, a0)
    torch.testing.assert_close(a_seq, out, rtol=0, atol=1e-12)
    torch.testing.assert_close(a_T, h_n[0], rtol=0, atol=1e-12)
    # and back: to_torch gives an nn.RNN with the same function
    torch.testing.assert_close(ours.to_torch()(x, a0[None])[0], out, rtol=0, atol=1e-12)


def test_rnn_step_is_the_formula():
    torch.manual_seed(1)
    rnn = scratch.RNN(3, 4).to(D)
    x, a = torch.randn(2, 3, dtype=D), torch.randn(2, 4, dtype=D)
    expected = torch.tanh(rnn.W_aa @ a[0] + rnn.W_ax @ x[0] + rnn.b_a)
    torch.testing.assert_close(rnn.step(x, a)[0], expected)


def test_rnn_from_torch_without_bias_and_refusals():
    ref = nn.RNN(2, 3, bias=False, batch_first=True).to(D)
    ours = scratch.RNN.from_torch(ref)
    assert torch.all(ours.b_a == 0)
    x = torch.randn(1, 4, 2, dtype=D)
    torch.testing.assert_close(ours(x)[0], ref(x)[0])
    with pytest.raises(LstmvizError, match="num_layers=1"):
        scratch.RNN.from_torch(nn.RNN(2, 3, num_layers=2))
    with pytest.raises(LstmvizError, match="nonlinearity"):
        scratch.RNN(2, 3, nonlinearity="sigmoid")


def test_char_rnn_shapes_and_state():
    torch.manual_seed(0)
    model = scratch.CharRNN(vocab_size=10, hidden_size=8)
    ids = torch.randint(0, 10, (2, 6))
    logits, state = model(ids)
    assert logits.shape == (2, 6, 10) and state.shape == (2, 8)
    # carrying the state across two halves equals running the whole sequence at once
    l1, s1 = model(ids[:, :3])
    l2, _ = model(ids[:, 3:], s1)
    torch.testing.assert_close(torch.cat([l1, l2], 1), logits)


def test_lstm_cell_equals_nn_lstm_cell():
    torch.manual_seed(2)
    ref = nn.LSTMCell(5, 6).to(D)
    ours = scratch.LSTMCell.from_torch(ref)
    x = torch.randn(4, 5, dtype=D)
    state = (torch.randn(4, 6, dtype=D), torch.randn(4, 6, dtype=D))
    for got, want in zip(ours(x, state), ref(x, state), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    for got, want in zip(ours(x), ref(x), strict=True):  # zero initial state
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    back = ours.to_torch()
    torch.testing.assert_close(back(x, state)[1], ref(x, state)[1], rtol=0, atol=1e-12)


def test_lstm_cell_gates_are_ngs_equations():
    # build a cell from torch weights and check each named gate against PyTorch's i, f, g, o rows
    torch.manual_seed(3)
    ref = nn.LSTMCell(3, 2).to(D)
    ours = scratch.LSTMCell.from_torch(ref)
    x, a, c = (torch.randn(1, n, dtype=D) for n in (3, 2, 2))
    pre = x @ ref.weight_ih.T + a @ ref.weight_hh.T + ref.bias_ih + ref.bias_hh
    i, f, g, o = pre.chunk(4, dim=1)
    seen = {}
    with hooks.add_step_hook(ours, lambda name, layer, v: seen.__setitem__(name, v.clone())):
        a_t, c_t = ours(x, (a, c))
    torch.testing.assert_close(seen["i"], torch.sigmoid(i))  # Γ_u
    torch.testing.assert_close(seen["f"], torch.sigmoid(f))  # Γ_f
    torch.testing.assert_close(seen["g"], torch.tanh(g))  # ĉ
    torch.testing.assert_close(seen["o"], torch.sigmoid(o))  # Γ_o
    torch.testing.assert_close(seen["c"], torch.sigmoid(i) * torch.tanh(g) + torch.sigmoid(f) * c)
    torch.testing.assert_close(seen["h"], a_t)
    assert scratch.LSTMCell.hook_points == ("i", "f", "g", "o", "c", "h")


@pytest.mark.parametrize("num_layers,batch_first", [(1, True), (2, True), (3, False)])
def test_lstm_equals_nn_lstm(num_layers, batch_first):
    torch.manual_seed(4)
    ref = nn.LSTM(4, 5, num_layers=num_layers, batch_first=batch_first).to(D)
    ours = scratch.LSTM.from_torch(ref)
    x = torch.randn(3, 9, 4, dtype=D)
    state = (torch.randn(num_layers, 3, 5, dtype=D), torch.randn(num_layers, 3, 5, dtype=D))
    out, (h, c) = ref(x if batch_first else x.transpose(0, 1), state)
    out = out if batch_first else out.transpose(0, 1)
    a_seq, (a_T, c_T) = ours(x, state)
    torch.testing.assert_close(a_seq, out, rtol=0, atol=1e-12)
    torch.testing.assert_close(a_T, h, rtol=0, atol=1e-12)
    torch.testing.assert_close(c_T, c, rtol=0, atol=1e-12)
    back = ours.to_torch()
    torch.testing.assert_close(back(x, state)[0], a_seq, rtol=0, atol=1e-12)


def test_lstm_float32_matches_within_tolerance():
    torch.manual_seed(5)
    ref = nn.LSTM(8, 16, num_layers=2, batch_first=True)
    out, _ = ref(x := torch.randn(2, 30, 8))
    torch.testing.assert_close(scratch.LSTM.from_torch(ref)(x)[0], out, rtol=0, atol=1e-5)


def test_lstm_hooks_report_every_layer_and_can_intervene():
    torch.manual_seed(6)
    lstm = scratch.LSTM(3, 4, num_layers=2).to(D)
    x = torch.randn(2, 5, 3, dtype=D)
    calls = []
    with hooks.add_step_hook(lstm, lambda n, layer, v: calls.append((n, layer, tuple(v.shape)))):
        lstm(x)
    assert len(calls) == 5 * 2 * 6
    assert calls[:6] == [(n, 0, (2, 4)) for n in "ifgoch"]
    assert calls[6:12] == [(n, 1, (2, 4)) for n in "ifgoch"]
    # clamping layer 1's cell to zero makes its output exactly zero; hooks go away after the block
    clamp = lambda n, layer, v: torch.zeros_like(v) if (n, layer) == ("c", 1) else None  # noqa: E731
    with hooks.add_step_hook(lstm, clamp):
        clamped, (_, c_T) = lstm(x)
    assert torch.all(clamped == 0) and torch.all(c_T[1] == 0)
    assert not hooks.has_step_hooks(lstm)
    assert lstm(x)[0].abs().sum() > 0


def test_lstm_refusals():
    with pytest.raises(LstmvizError, match="bidirectional"):
        scratch.LSTM.from_torch(nn.LSTM(2, 3, bidirectional=True))
    with pytest.raises(LstmvizError, match="LSTMCell"):
        scratch.LSTMCell.from_torch(nn.LSTM(2, 3))


def test_gate_recorder_and_intervene_see_the_scratch_lstm():
    import lstmviz

    torch.manual_seed(7)
    ref = nn.LSTM(3, 5, num_layers=2, batch_first=True).to(D)
    ours = scratch.LSTM.from_torch(ref)
    x = torch.randn(2, 7, 3, dtype=D)
    trace = lstmviz.record(ref, x)
    with lstmviz.GateRecorder(ours) as rec:
        ours(x)
    for name in "ifgoch":
        for layer in (0, 1):
            torch.testing.assert_close(
                rec.trace[name, layer], trace[name, layer], rtol=0, atol=1e-12
            )
    with lstmviz.intervene(ours, {("c", 1, None): 0.0}):
        assert ours(x)[0].abs().max() == 0
