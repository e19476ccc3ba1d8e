"""record() and GateRecorder against nn.LSTM itself and a step-by-step nn.LSTMCell loop."""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys
import threading
import time

import pytest
import torch
from torch import nn

import lstmviz
from lstmviz import GateRecorder, LstmvizError, generate, record
from lstmviz.core.cell import layer_weights, lstm_step
from lstmviz.gates import _onednn

TOL = {torch.float32: 1e-5, torch.float64: 1e-10}


def cell_loop(lstm: nn.LSTM, x, state):
    """Reference: each layer as an nn.LSTMCell loop: x (T, B, In) -> {(name, layer): (T, B, H)}."""
    T, B = x.shape[:2]
    L, H = lstm.num_layers, lstm.hidden_size
    h0, c0 = state if state is not None else (x.new_zeros(L, B, H),) * 2
    ref, inp = {}, x
    for layer in range(L):
        cell = nn.LSTMCell(inp.shape[-1], H, bias=lstm.bias).to(x.dtype)
        with torch.no_grad():
            cell.weight_ih.copy_(getattr(lstm, f"weight_ih_l{layer}"))
            cell.weight_hh.copy_(getattr(lstm, f"weight_hh_l{layer}"))
            if lstm.bias:
                cell.bias_ih.copy_(getattr(lstm, f"bias_ih_l{layer}"))
                cell.bias_hh.copy_(getattr(lstm, f"bias_hh_l{layer}"))
        h, c = h0[layer], c0[layer]
        vals = {n: [] for n in "ifgoch"}
        with torch.no_grad():
            for t in range(T):
                pre = inp[t] @ cell.weight_ih.T + h @ cell.weight_hh.T
                if lstm.bias:
                    pre = pre + cell.bias_ih + cell.bias_hh
                i, f, g, o = pre.chunk(4, 1)
                h, c = cell(inp[t], (h, c))
                for n, v in zip(
                    "ifgoch", (i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid(), c, h), strict=True
                ):
                    vals[n].append(v)
        for n in "ifgoch":
            ref[n, layer] = torch.stack(vals[n])
        inp = ref["h", layer]
    return ref


def random_config(rng: random.Random):
    dtype = rng.choice([torch.float32, torch.float64])
    In, H, L = rng.randint(1, 9), rng.randint(1, 12), rng.randint(1, 3)
    lstm = nn.LSTM(
        In,
        H,
        L,
        bias=rng.random() < 0.8,
        batch_first=rng.random() < 0.5,
        dropout=rng.choice([0.0, 0.3]) if L > 1 else 0.0,
    ).to(dtype)
    lstm.train(rng.random() < 0.3 and lstm.dropout == 0)  # training mode is fine without dropout
    T, B, layout = rng.randint(1, 25), rng.randint(1, 4), rng.choice(["batched", "unbatched"])
    if layout == "unbatched":
        x = torch.randn(T, In, dtype=dtype)
        state = (
            (torch.randn(L, H, dtype=dtype), torch.randn(L, H, dtype=dtype))
            if rng.random() < 0.5
            else None
        )
    else:
        x = (
            torch.randn(B, T, In, dtype=dtype)
            if lstm.batch_first
            else torch.randn(T, B, In, dtype=dtype)
        )
        state = (
            (torch.randn(L, B, H, dtype=dtype), torch.randn(L, B, H, dtype=dtype))
            if rng.random() < 0.5
            else None
        )
    return lstm, x, state


def time_major(lstm, x, _=None):
    """A tensor in the module's layout -> (T, B, ...)."""
    if x.dim() == 2:
        return x[:, None]
    return x.transpose(0, 1) if lstm.batch_first else x


ONEDNN = torch.backends.mkldnn.is_available()


@pytest.fixture(params=["onednn", "matmul"])
def route(request, monkeypatch):
    """Both ways to the gates: oneDNN's training workspace (where it runs) and the matrix products,
    chosen with the documented switch ``lstmviz.gates._onednn.ENABLED``."""
    monkeypatch.setattr(_onednn, "ENABLED", request.param == "onednn")
    return request.param


@pytest.mark.parametrize("seed", range(40))
def test_record_exact_random_configs(seed, route):
    rng = random.Random(seed)
    torch.manual_seed(seed)
    lstm, x, state = random_config(rng)
    tol = TOL[x.dtype]
    trace = record(lstm, x, state)
    if route == "onednn" and ONEDNN and x.dtype == torch.float32:
        assert _onednn.checked() is True  # the workspace route ran where it can, and checked out
    with torch.no_grad():
        out, (h_n, c_n) = lstm(x, state)
    # the module's own outputs
    assert trace.output.shape == out.shape and trace.final_state[0].shape == h_n.shape
    torch.testing.assert_close(trace.output, out, atol=tol, rtol=0)
    torch.testing.assert_close(trace["h", -1], out, atol=tol, rtol=0)
    torch.testing.assert_close(trace.final_state[0], h_n, atol=tol, rtol=0)
    torch.testing.assert_close(trace.final_state[1], c_n, atol=tol, rtol=0)
    # the last step's c of every layer is c_n
    last_c = torch.stack(
        [time_major(lstm, trace["c", layer], None)[-1] for layer in range(lstm.num_layers)]
    )
    torch.testing.assert_close(last_c, c_n if x.dim() == 3 else c_n[:, None], atol=tol, rtol=0)
    # every gate against the LSTMCell loop, in the module's layout
    hx = None if state is None else tuple(s if x.dim() == 3 else s[:, None] for s in state)
    ref = cell_loop(lstm, time_major(lstm, x, None), hx)
    for (name, layer), want in ref.items():
        got = time_major(lstm, trace[name, layer], None)
        assert got.shape == want.shape, (name, layer)
        torch.testing.assert_close(got, want, atol=tol, rtol=0, msg=f"{name} layer {layer}")
    for name in "ifo":
        v = trace[name, 0]
        assert v.min() >= 0 and v.max() <= 1
    assert trace["g", 0].abs().max() <= 1


def test_trace_api_names_aliases_layout():
    torch.manual_seed(0)
    lstm = nn.LSTM(3, 5, 2, batch_first=True)
    trace = record(lstm, torch.randn(2, 7, 3))
    assert trace.num_layers == 2 and trace.steps == 7 and len(trace) == 7 and trace.batch_size == 2
    assert trace["c", 0].shape == (2, 7, 5) and trace.batch_first
    assert set(trace.names) == set("ifgoch") and all(
        isinstance(v, str) and v for v in trace.names.values()
    )
    for alias, name in [
        ("update", "i"),
        ("forget", "f"),
        ("candidate", "g"),
        ("output", "o"),
        ("cell", "c"),
        ("activation", "h"),
        ("hidden", "h"),
    ]:
        assert torch.equal(trace[alias, 1], trace[name, 1])
    assert torch.equal(trace["c", -1], trace["c", 1]) and torch.equal(trace["c", -2], trace["c", 0])
    assert not torch.equal(trace["c", 0], trace["c", 1])
    for bad in [("z", 0), ("c", 2), ("c", -3), "c", ("c",)]:
        with pytest.raises(LstmvizError):
            trace[bad]
    tm = record(nn.LSTM(3, 5, 2), torch.randn(7, 2, 3))
    assert tm["i", 0].shape == (7, 2, 5)
    un = record(nn.LSTM(3, 5, 2), torch.randn(7, 3))
    assert un["i", 0].shape == (7, 5) and un.final_state[0].shape == (2, 5)
    assert "2 layer(s), 7 steps" in repr(trace)


def test_record_refuses_what_it_cannot_reproduce():
    x = torch.randn(4, 1, 3)
    with pytest.raises(LstmvizError, match="bidirectional"):
        record(nn.LSTM(3, 5, bidirectional=True), x)
    with pytest.raises(LstmvizError, match="proj_size"):
        record(nn.LSTM(3, 5, proj_size=2), x)
    with pytest.raises(LstmvizError, match="dropout"):
        record(nn.LSTM(3, 5, 2, dropout=0.5).train(), x)
    record(nn.LSTM(3, 5, 2, dropout=0.5).eval(), x)  # eval mode: dropout is off, fine
    lstm = nn.LSTM(3, 5)
    packed = nn.utils.rnn.pack_padded_sequence(torch.randn(4, 2, 3), [4, 2])
    with pytest.raises(LstmvizError, match="PackedSequence"):
        record(lstm, packed)
    with pytest.raises(LstmvizError, match="input_size"):
        record(lstm, torch.randn(4, 1, 2))
    with pytest.raises(LstmvizError, match="shape"):
        record(lstm, torch.randn(4, 1, 1, 3))
    with pytest.raises(LstmvizError, match="float64"):
        record(lstm, x.double())
    with pytest.raises(LstmvizError, match="no time steps"):
        record(lstm, torch.randn(0, 1, 3))
    with pytest.raises(LstmvizError, match="h0 has shape"):
        record(lstm, x, (torch.zeros(1, 2, 5), torch.zeros(1, 1, 5)))
    with pytest.raises(LstmvizError, match="c0 has shape"):
        record(lstm, x, (torch.zeros(1, 1, 5), torch.zeros(1, 5)))
    with pytest.raises(LstmvizError, match="pair"):
        record(lstm, x, torch.zeros(1, 1, 5))
    with pytest.raises(LstmvizError, match="float32 or float64"):
        record(nn.LSTM(3, 5).half(), x.half())
    with pytest.raises(LstmvizError, match="torch.nn.LSTM"):
        record(nn.GRU(3, 5), x)


def test_record_keeps_autograd_and_module_untouched():
    torch.manual_seed(1)
    lstm = nn.LSTM(3, 4, 2)
    x = torch.randn(5, 2, 3, requires_grad=True)
    before = {k: v.clone() for k, v in lstm.state_dict().items()}
    trace = record(lstm, x)
    assert not trace["c", 0].requires_grad
    assert all(torch.equal(before[k], v) for k, v in lstm.state_dict().items())


# ---- GateRecorder ----------------------------------------------------------------------------


def run_mixed(model, ids, prime=5):
    """The prime through forward, then one step per character: -> (logits (T, V), final state)."""
    with torch.no_grad():
        logits, state = model(ids[:, :prime])
        outs = [logits[0]]
        for t in range(prime, ids.shape[1]):
            lg, state = model.step(ids[:, t], state)
            outs.append(lg)
    return torch.cat(outs), state


def test_recorder_concatenates_forward_and_steps_exactly(tiny_model):
    torch.manual_seed(2)
    model = tiny_model[0]
    ids = torch.randint(0, model.vocab_size, (1, 20))
    with GateRecorder(model) as rec:
        logits_on, state_on = run_mixed(model, ids)
    logits_off, state_off = run_mixed(model, ids)
    assert torch.equal(logits_on, logits_off)  # bit-identical with the recorder on
    assert torch.equal(state_on[0], state_off[0]) and torch.equal(state_on[1], state_off[1])
    trace = rec.trace
    ref = record(model.lstm, model.embedding(ids).detach())  # whole sequence, one call
    assert (
        trace.steps == 20
        and trace.batch_first
        and trace["c", 1].shape == (1, 20, model.hidden_size)
    )
    for name in "ifgoch":
        for layer in range(2):
            torch.testing.assert_close(trace[name, layer], ref[name, layer], atol=1e-5, rtol=0)
    torch.testing.assert_close(trace.final_state[1], state_on[1], atol=1e-6, rtol=0)
    # the second run_mixed, after the block, added no steps: every hook went with the block
    assert not lstmviz.core.hooks.has_step_hooks(model.lstm)


def test_recorder_removes_hooks_when_the_block_raises(tiny_model):
    model = tiny_model[0]
    ids = torch.zeros(1, 3, dtype=torch.long)
    rec = GateRecorder(model)
    with pytest.raises(RuntimeError, match="boom"), rec:
        assert lstmviz.core.hooks.has_step_hooks(model.lstm)
        raise RuntimeError("boom")
    assert not lstmviz.core.hooks.has_step_hooks(model.lstm)
    with torch.no_grad():
        model(ids)  # the fused forward: recorded only through a forward hook
    assert not rec.traces  # ... which went too
    # an input the module accepts but the recorder cannot reproduce: a clear error, hooks still go
    packed = nn.utils.rnn.pack_padded_sequence(
        torch.randn(2, 3, model.lstm.input_size), [3, 1], batch_first=True
    )
    rec = GateRecorder(model.lstm)
    with pytest.raises(LstmvizError, match="PackedSequence"), rec:
        model.lstm(packed)
    with torch.no_grad():
        model(ids)
    assert not rec.traces


def test_ring_buffer_keeps_the_last_steps_and_bounds_memory(tiny_model):
    torch.manual_seed(3)
    model = tiny_model[0]
    ids = torch.randint(0, model.vocab_size, (1, 700))
    ref = record(model.lstm, model.embedding(ids).detach())
    with GateRecorder(model, max_steps=300) as rec:
        run_mixed(model, ids, prime=500)  # 500 through forward (wraps), then 200 single steps
    trace = rec.trace
    assert trace.steps == 300 and trace.start == 400
    for name in "ifgoch":
        torch.testing.assert_close(trace[name, 0], ref[name, 0][:, 400:], atol=1e-5, rtol=0)
    assert rec.nbytes() == 2 * 300 * 1 * 6 * model.hidden_size * 4
    # float16 storage halves it
    with GateRecorder(model, max_steps=300, dtype=torch.float16) as rec16:
        run_mixed(model, ids, prime=500)
    assert rec16.trace["c", 1].dtype == torch.float16 and rec16.nbytes() == rec.nbytes() // 2
    torch.testing.assert_close(
        rec16.trace["c", 1].float(), ref["c", 1][:, 400:], atol=2e-3, rtol=1e-3
    )


def test_default_cap_fits_100k_characters_of_a_2x512_model_in_500_mb():
    """The storage per step is known up front, so the bound follows from it (no 100k run)."""
    lstm = nn.LSTM(64, 512, 2, batch_first=True).eval()
    x = torch.randn(1, 1, 64)
    for kwargs, cap in [
        ({}, 17_066),  # 400 MiB / (2 layers x 6 names x 512 units x 4 bytes)
        ({"dtype": torch.float16}, 34_133),
        ({"max_steps": 10_000}, 10_000),
    ]:
        with GateRecorder(lstm, **kwargs) as rec:
            state = None
            for _ in range(3):
                _, state = lstm_step(lstm, x[:, 0], state)
        assert rec.capacity == {"LSTM": cap}, kwargs
        per_step = 2 * 1 * 6 * 512 * rec.trace["c", 0].element_size()
        assert rec.capacity["LSTM"] * per_step <= 500e6  # the most it will ever hold
        assert rec.nbytes() == 3 * per_step  # ... what the 3 steps so far hold
    # and the window really stops growing: a long cheap run keeps memory at the cap
    small = nn.LSTM(4, 16, 2)
    with GateRecorder(small, max_mb=0.05) as rec:
        with torch.no_grad():
            small(torch.randn(5000, 1, 4))
    assert rec.trace.steps == int(0.05 * 2**20 // (2 * 6 * 16 * 4))
    assert rec.nbytes() <= 0.05 * 2**20


def test_recorder_on_lstmcell_and_unbatched_calls():
    torch.manual_seed(4)
    cellm = nn.LSTMCell(3, 5)
    xs = torch.randn(6, 2, 3)
    with GateRecorder(cellm) as rec:
        h = c = torch.zeros(2, 5)
        for t in range(6):
            h, c = cellm(xs[t], (h, c))
    lstm = nn.LSTM(3, 5)
    with torch.no_grad():
        for a, b in [
            ("weight_ih", "weight_ih_l0"),
            ("weight_hh", "weight_hh_l0"),
            ("bias_ih", "bias_ih_l0"),
            ("bias_hh", "bias_hh_l0"),
        ]:
            getattr(lstm, b).copy_(getattr(cellm, a))
    ref = record(lstm, xs)
    for name in "ifgoch":
        torch.testing.assert_close(rec.trace[name, 0], ref[name, 0], atol=1e-6, rtol=0)
    # unbatched nn.LSTM calls give (T, H)
    with GateRecorder(lstm) as rec:
        with torch.no_grad():
            out, _ = lstm(torch.randn(4, 3))
    assert rec.trace["h", 0].shape == (4, 5) and torch.equal(rec.trace["h", 0], out)


def test_recorder_hooks_modules_with_hook_points():
    """Any module that calls hooks.run_hooks (the lessons' from-scratch cell) is recorded too."""

    class Scratch(nn.Module):
        hook_points = ("i", "f", "g", "o", "c", "h")
        hidden_size = 4

        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3 + 4, 16)

        def forward(self, x, state):
            h, c = state
            i, f, g, o = self.lin(torch.cat([x, h], 1)).chunk(4, 1)
            run = lstmviz.core.hooks.run_hooks
            i, f, g, o = (
                run(self, n, 0, v)
                for n, v in zip(
                    "ifgo", (i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()), strict=True
                )
            )
            c = run(self, "c", 0, f * c + i * g)
            h = run(self, "h", 0, o * c.tanh())
            return h, c

    torch.manual_seed(5)
    m = Scratch()
    state, cs = (torch.zeros(2, 4), torch.zeros(2, 4)), []
    with GateRecorder(m) as rec:
        for _ in range(5):
            state = m(torch.randn(2, 3), state)
            cs.append(state[1])
    assert torch.equal(rec.trace["c", 0], torch.stack(cs).detach())
    assert not rec.trace["c", 0].requires_grad  # recorded under autograd, stored detached
    assert rec.trace["i", 0].shape == (5, 2, 4)


def test_recorder_with_charlstm_and_generate(tiny_model):
    model, vocab = tiny_model
    off = generate(model, vocab, "abc", 30, seed=1)
    with GateRecorder(model) as rec:
        on = generate(model, vocab, "abc", 30, seed=1)
    assert on == off
    trace = rec.trace
    assert trace.steps == 3 + 29  # the prime, then one step per character after the first
    ids = vocab.encode("abc" + on[:-1])[None]
    ref = record(model.lstm, model.embedding(ids).detach())
    for name in "ifgoch":
        torch.testing.assert_close(trace[name, -1], ref[name, -1], atol=1e-5, rtol=0)


def test_recorder_validates_arguments():
    with pytest.raises(LstmvizError, match="no nn.LSTM"):
        GateRecorder(nn.Linear(2, 2))
    with pytest.raises(LstmvizError, match="max_steps"):
        GateRecorder(nn.LSTM(2, 2), max_steps=0)
    with pytest.raises(LstmvizError, match="dtype"):
        GateRecorder(nn.LSTM(2, 2), dtype=torch.int8)
    rec = GateRecorder(nn.LSTM(2, 2))
    with pytest.raises(LstmvizError, match="nothing recorded"):
        _ = rec.trace
    with rec, pytest.raises(LstmvizError, match="already active"):
        rec.__enter__()
    lstm = nn.LSTM(2, 3)
    with GateRecorder(lstm) as rec, torch.no_grad():
        lstm(torch.randn(4, 1, 2))
        with pytest.raises(LstmvizError, match="batch"):
            lstm(torch.randn(4, 2, 2))
    assert math.isfinite(rec.max_mb)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_long_sequence_cell_recurrence_stays_exact(dtype):
    """The chunked cell recurrence over 1,000 steps still ends at the module's c_n."""
    torch.manual_seed(7)
    lstm = nn.LSTM(4, 16, 2).to(dtype)
    with torch.no_grad():
        lstm.bias_hh_l0[16:32] += 3.0  # forget gates near 1: long memory, large cells
    x = torch.randn(1000, 2, 4, dtype=dtype)
    trace = record(lstm, x)
    with torch.no_grad():
        _, (h_n, c_n) = lstm(x)
    tol = TOL[dtype]
    for layer in range(2):
        torch.testing.assert_close(trace["c", layer][-1], c_n[layer], atol=tol * 10, rtol=tol)
        # and c obeys its own equation at every step
        c, f, i, g = (trace[n, layer] for n in "cfig")
        torch.testing.assert_close(c[1:], f[1:] * c[:-1] + i[1:] * g[1:], atol=tol, rtol=tol)
    assert trace["c", 0].abs().max() > 2  # the memory really did build up
    torch.testing.assert_close(trace.final_state[0], h_n, atol=tol, rtol=0)


def test_recorder_on_the_from_scratch_lstm_matches_record_on_its_torch_twin():
    from lstmviz.teaching import scratch

    torch.manual_seed(8)
    mine = scratch.LSTM(3, 5, num_layers=2)
    x = torch.randn(2, 6, 3)
    with GateRecorder(mine) as rec, torch.no_grad():
        out, _ = mine(x)
    trace = rec.trace  # only the LSTM itself reports; its inner cells stay silent
    ref = record(mine.to_torch(), x)
    assert trace.batch_first and trace["c", 1].shape == (2, 6, 5)
    for name in "ifgoch":
        for layer in range(2):
            torch.testing.assert_close(trace[name, layer], ref[name, layer], atol=1e-5, rtol=0)
    torch.testing.assert_close(trace.output, out, atol=0, rtol=0)


@pytest.mark.parametrize("T", [1, 2, 3, 5, 17, 100, 2000])
def test_cell_scan_equals_the_step_by_step_recurrence(T):
    from lstmviz.gates.record_call import cell_scan

    torch.manual_seed(T)
    f, u = torch.rand(T, 2, 3, dtype=torch.float64), torch.randn(T, 2, 3, dtype=torch.float64)
    c, ref = torch.randn(2, 3, dtype=torch.float64), []
    got = cell_scan(f, u, c)
    for t in range(T):
        c = f[t] * c + u[t]
        ref.append(c)
    torch.testing.assert_close(got, torch.stack(ref), atol=1e-12, rtol=0)


def test_storage_dtype_and_device_options(tiny_model):
    torch.manual_seed(9)
    model = tiny_model[0]
    ids = torch.randint(0, model.vocab_size, (1, 12))
    with GateRecorder(model, dtype=torch.float64, device="cpu") as rec:
        run_mixed(model, ids, prime=4)
    ref = record(model.lstm, model.embedding(ids).detach())
    assert rec.trace["g", 0].dtype == torch.float64 and rec.trace["g", 0].device.type == "cpu"
    torch.testing.assert_close(rec.trace["g", 0], ref["g", 0].double(), atol=1e-5, rtol=0)


@pytest.mark.skipif(not ONEDNN, reason="torch built without oneDNN: there is no workspace to read")
def test_a_workspace_layout_that_does_not_check_out_falls_back_to_exact_values(monkeypatch):
    """Another oneDNN version, another layout: the check catches it; the matrix products run."""
    torch.manual_seed(3)
    lstm = nn.LSTM(5, 24, 2)
    x = torch.randn(30, 2, 5)
    want = record(lstm, x)
    monkeypatch.setattr(_onednn, "_layout_ok", None)
    monkeypatch.setattr(_onednn, "row_stride", lambda n: n + 16)  # a wrong row stride
    got = record(lstm, x)
    assert _onednn.checked() is False  # remembered: later calls skip the route at once
    for name in "ifgoch":
        for layer in range(2):
            torch.testing.assert_close(got[name, layer], want[name, layer], atol=1e-5, rtol=0)
    ref = cell_loop(lstm, x, None)
    torch.testing.assert_close(got["f", 1], ref["f", 1], atol=1e-5, rtol=0)


def _layer0(lstm, x, h0, c0):
    """Layer 0 of ``lstm`` alone, as a one-layer nn.LSTM: its hidden sequence a⟨1..T⟩ (B, T, H)."""
    one = nn.LSTM(lstm.input_size, lstm.hidden_size, 1, batch_first=lstm.batch_first)
    one.load_state_dict({k: v for k, v in lstm.state_dict().items() if k.endswith("_l0")})
    return one(x, (h0[:1], c0[:1]))[0]


@pytest.mark.skipif(not ONEDNN, reason="torch built without oneDNN: there is no workspace to read")
def test_workspace_gates_equal_the_matrix_product_gates(monkeypatch):
    """Both routes agree on a 2x512 model over 300 steps, to float32 rounding."""
    torch.manual_seed(4)
    lstm = nn.LSTM(64, 512, 2, batch_first=True)
    x = torch.randn(1, 300, 64)
    h0, c0 = torch.randn(2, 1, 512), torch.randn(2, 1, 512)
    fast = record(lstm, x, (h0, c0))
    assert _onednn.checked() is True
    with torch.no_grad():
        xt = x.transpose(0, 1)
        direct = _layer0(lstm, x, h0, c0).transpose(0, 1)
        w_ih, w_hh, b = layer_weights(lstm, 0)
        prev = torch.cat([h0[0][None], direct[:-1]])
        pre = xt @ w_ih.T + prev @ w_hh.T + b
    torch.testing.assert_close(fast["o", 0][0], pre[:, 0, 1536:].sigmoid(), atol=2e-6, rtol=0)
    torch.testing.assert_close(fast["g", 0][0], pre[:, 0, 1024:1536].tanh(), atol=2e-6, rtol=0)
    monkeypatch.setattr(_onednn, "ENABLED", False)  # the switch: the matrix-product route
    slow = record(lstm, x, (h0, c0))
    for name in "ifgoch":
        for layer in range(2):
            torch.testing.assert_close(slow[name, layer], fast[name, layer], atol=2e-5, rtol=0)


def test_the_onednn_switch_in_the_environment_turns_the_workspace_route_off(tmp_path):
    """``LSTMVIZ_ONEDNN=0``: record never asks oneDNN for its workspace; the same values."""
    script = (
        "import torch, lstmviz\n"
        "from lstmviz.gates import _onednn\n"
        "torch.manual_seed(0)\n"
        "lstm, x = torch.nn.LSTM(5, 24, 2), torch.randn(30, 2, 5)\n"
        "t = lstmviz.record(lstm, x)\n"
        "print(_onednn.ENABLED, _onednn.checked())\n"
        "torch.save({n: t[n, 1] for n in 'ifgoch'}, %r)\n"
    )
    runs = {}
    for flag in ("0", "1"):
        out = tmp_path / f"{flag}.pt"
        env = {**os.environ, "LSTMVIZ_ONEDNN": flag}
        done = subprocess.run(
            [sys.executable, "-c", script % str(out)], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        runs[flag] = (done.stdout.split(), torch.load(out))
    assert runs["0"][0] == ["False", "None"]  # off: the workspace route never ran
    assert runs["1"][0] == ["True", str(True if ONEDNN else None)]
    for name in "ifgoch":
        torch.testing.assert_close(runs["0"][1][name], runs["1"][1][name], atol=1e-5, rtol=0)


def test_record_text_is_the_recording_idiom(tiny_model):
    model, vocab = tiny_model
    text = "OBERON\nDo you amend it"
    trace = lstmviz.record_text(model, vocab, text)
    with torch.no_grad():
        direct = lstmviz.record(model.lstm, model.embedding(vocab.encode(text)[None]))
    for layer in range(2):
        for name in "ifgoch":
            assert torch.equal(trace[name, layer], direct[name, layer]), (name, layer)
    assert trace["c", 1].shape == (1, len(text), 16)
    with pytest.raises(lstmviz.LstmvizError, match="contains '☃'"):
        lstmviz.record_text(model, vocab, "☃")


RSS_PROBE = """
import resource, sys, torch
import lstmviz
torch.manual_seed(0)
vocab = lstmviz.Vocab("abcdefghij")
model = lstmviz.CharLSTM(len(vocab), 256, 2).eval()

def peak_mb():  # VmHWM: the most resident memory this process has ever had
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

lstmviz.generate(model, vocab, "a", 200, seed=0)  # everything but the recording warmed up
before = peak_mb()
with lstmviz.GateRecorder(model, max_mb=float(sys.argv[1])) as rec:
    lstmviz.generate(model, vocab, "a", int(sys.argv[2]), seed=0)
print(peak_mb() - before, rec.nbytes() / 2**20, rec.trace.steps)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_a_long_recording_never_takes_much_more_memory_than_its_cap():
    """Peak resident memory grows by at most the cap (+10 %), however long the generation."""
    cap_mb, steps_at_cap = 48.0, int(48 * 2**20 // (2 * 6 * 256 * 4))  # 4,096 steps
    run = subprocess.run(
        [sys.executable, "-c", RSS_PROBE, str(cap_mb), str(3 * steps_at_cap)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert run.returncode == 0, run.stderr
    grew, kept_mb, steps = map(float, run.stdout.split())
    assert steps == steps_at_cap and kept_mb <= cap_mb
    assert grew <= 1.1 * cap_mb, f"peak RSS grew {grew:.1f} MB for a {cap_mb} MB cap"
    assert grew >= 0.5 * cap_mb  # the probe measures the recording (it did fill its cap)


# ---- threads: a recorder records only the thread that entered it


def test_gate_recorder_records_only_its_own_thread(tiny_trained):
    model, vocab = tiny_trained.model, tiny_trained.vocab
    ids = vocab.encode("ROMEO")
    barrier = threading.Barrier(2)

    def steps(n: int, first: int) -> None:
        state = model.init_state(1)
        for i in range(n):
            barrier.wait(timeout=30)  # the two threads step in lockstep: interleaved
            _, state = model.step(ids[(first + i) % len(ids)].view(1), state)

    with GateRecorder(model) as alone:
        state = model.init_state(1)
        for i in range(5):
            _, state = model.step(ids[i].view(1), state)

    other = threading.Thread(target=steps, args=(5, 2))
    other.start()
    with GateRecorder(model) as rec:
        steps(5, 0)
    other.join(30)
    assert rec.trace.steps == 5  # not 10: the other thread's steps are not interleaved in
    for name in "ifgoch":
        torch.testing.assert_close(rec.trace[name, 1], alone.trace[name, 1], atol=0, rtol=0)

    # a recorder entered in the other thread records that thread's steps
    box = {}

    def own():
        with GateRecorder(model) as r:
            state = model.init_state(1)
            for i in range(3):
                _, state = model.step(ids[i].view(1), state)
        box["steps"] = r.trace.steps

    t = threading.Thread(target=own)
    t.start()
    t.join(30)
    assert box["steps"] == 3
    assert "records only the thread that entered it" in GateRecorder.__doc__


def test_gate_recorder_ignores_fused_forward_calls_of_other_threads(tiny_trained):
    """Whole-sequence calls (the forward hook path) from another thread stay out of the trace."""
    model, vocab = tiny_trained.model, tiny_trained.vocab
    ids = vocab.encode("ROMEO and JULIET")[None]
    stop, calls = threading.Event(), [0]

    def busy() -> None:
        with torch.no_grad():
            while not stop.is_set():
                model(ids[:, :7])
                calls[0] += 1

    other = threading.Thread(target=busy)
    other.start()
    try:
        while calls[0] < 3:  # the other thread is running the model
            time.sleep(0.01)
        with torch.no_grad(), GateRecorder(model) as rec:
            for _ in range(4):
                model(ids)
                time.sleep(0.01)  # give the other thread time to call in between
    finally:
        stop.set()
        other.join(30)
    assert calls[0] > 3
    assert rec.trace.steps == 4 * ids.shape[1]  # only this thread's 4 calls of 16 characters
