"""CharLSTM: shapes, the single step against the fused forward, hook points on step."""

from __future__ import annotations

import torch

from lstmviz.core.hooks import add_step_hook
from lstmviz.core.model import CharLSTM


def test_forward_shapes_and_state():
    torch.manual_seed(0)
    model = CharLSTM(11, hidden_size=16, num_layers=3, dropout=0.2, embedding_dim=5)
    assert isinstance(model.lstm, torch.nn.LSTM) and model.lstm.batch_first
    assert model.lstm.dropout == 0.2 and model.head.out_features == 11
    ids = torch.randint(0, 11, (4, 9))
    logits, (h, c) = model(ids)
    assert logits.shape == (4, 9, 11) and h.shape == c.shape == (3, 4, 16)
    h0, c0 = model.init_state(4)
    assert h0.shape == (3, 4, 16) and not h0.any() and not c0.any()
    assert CharLSTM(**model.config()).config() == model.config()


def test_state_continues_a_sequence():
    torch.manual_seed(1)
    model = CharLSTM(7, hidden_size=12, num_layers=2, dropout=0.5, embedding_dim=4).eval()
    ids = torch.randint(0, 7, (2, 10))
    whole, _ = model(ids)
    first, state = model(ids[:, :6])
    rest, _ = model(ids[:, 6:], state)
    assert torch.allclose(torch.cat([first, rest], 1), whole, atol=1e-6)


def test_step_matches_forward_and_calls_hooks():
    torch.manual_seed(2)
    model = CharLSTM(9, hidden_size=20, num_layers=2, dropout=0.5, embedding_dim=6).eval()
    ids = torch.randint(0, 9, (3, 8))
    expected, (h_ref, c_ref) = model(ids)
    seen = []
    with add_step_hook(model.lstm, lambda name, layer, value: seen.append((name, layer))):
        state = model.init_state(3)
        for t in range(8):
            logits, state = model.step(ids[:, t], state)
            assert torch.allclose(logits, expected[:, t], atol=1e-5)
    assert torch.allclose(state[0], h_ref, atol=1e-5) and torch.allclose(state[1], c_ref, atol=1e-5)
    assert seen[:12] == [(n, layer) for layer in (0, 1) for n in "ifgoch"]
    assert len(seen) == 8 * 12
    assert not logits.requires_grad


def test_training_mode_uses_dropout():
    torch.manual_seed(3)
    model = CharLSTM(5, hidden_size=8, num_layers=2, dropout=0.5, embedding_dim=3)
    ids = torch.randint(0, 5, (2, 4))
    a, _ = model(ids)
    b, _ = model(ids)
    assert not torch.allclose(a, b)  # dropout active while training
    model.eval()
    assert torch.equal(model(ids)[0], model(ids)[0])
