"""intervene: clamps exactly the chosen units, in both paths, and leaves the model untouched."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import lstmviz
from lstmviz import GateRecorder, LstmvizError, generate, intervene


def steps(model, ids, state=None, clamps=None, clamp_from=0):
    """Run ids (1, T) one step at a time, clamping from step ``clamp_from``: -> (logits, Trace)."""
    outs = []
    with GateRecorder(model) as rec:
        for t in range(ids.shape[1]):
            if clamps and t >= clamp_from:
                with intervene(model, clamps):
                    lg, state = model.step(ids[:, t], state)
            else:
                lg, state = model.step(ids[:, t], state)
            outs.append(lg)
    return torch.stack(outs), rec.trace


@pytest.fixture
def model(tiny_model):
    return tiny_model[0]


def test_clamping_a_cell_changes_exactly_that_unit_then_flows_downstream(model):
    ids = torch.randint(0, model.vocab_size, (1, 12))
    t0, unit = 5, 3
    base_logits, base = steps(model, ids)
    logits, tr = steps(model, ids, clamps={("c", 0, unit): 0.9}, clamp_from=t0)
    # before the intervention: identical
    assert torch.equal(logits[:t0], base_logits[:t0])
    for name in "ifgoch":
        assert torch.equal(tr[name, 0][:, :t0], base[name, 0][:, :t0])
    # at the intervention step, layer 0: the gates are untouched, c and h change at that unit only
    for name in "ifgo":
        assert torch.equal(tr[name, 0][:, t0], base[name, 0][:, t0])
    assert (tr["c", 0][0, t0:, unit] == 0.9).all()
    others = [u for u in range(model.hidden_size) if u != unit]
    for name in "ch":
        assert torch.equal(tr[name, 0][0, t0, others], base[name, 0][0, t0, others])
        assert tr[name, 0][0, t0, unit] != base[name, 0][0, t0, unit]
    # h = o * tanh(c) used the clamped c
    torch.testing.assert_close(
        tr["h", 0][0, t0, unit], tr["o", 0][0, t0, unit] * torch.tanh(torch.tensor(0.9))
    )
    # downstream: the next layer at the same step, and later steps, see it
    assert not torch.equal(tr["c", 1][:, t0], base["c", 1][:, t0])
    assert not torch.equal(tr["f", 0][:, t0 + 1], base["f", 0][:, t0 + 1])
    assert not torch.equal(logits[t0], base_logits[t0])


def test_zero_forget_gate_means_no_memory(model):
    ids = torch.randint(0, model.vocab_size, (1, 8))
    _, tr = steps(model, ids, clamps={("forget", -1, None): 0.0})
    assert (tr["f", 1] == 0).all()
    torch.testing.assert_close(
        tr["c", 1], tr["i", 1] * tr["g", 1], atol=0, rtol=0
    )  # c = Γ_u ∗ ĉ only
    assert not torch.equal(tr["c", 0], tr["i", 0] * tr["g", 0])  # layer 0 untouched keeps memory


def test_forward_path_is_clamped_and_model_is_untouched_after(model):
    ids = torch.randint(0, model.vocab_size, (2, 10))
    with torch.no_grad():
        before, (h0, c0) = model(ids)
    with intervene(model, {("c", 1, (0, 2)): -2.0, ("o", 0, 1): 1.0}), GateRecorder(model) as rec:
        assert lstmviz.gates.stepwise.runs_stepwise(model.lstm)
        with torch.no_grad():
            during, (h1, c1) = model(ids)
    tr = rec.trace
    assert tr.steps == 10  # recorded once, through the steps, not again by the forward hook
    assert (tr["c", 1][..., [0, 2]] == -2.0).all() and (tr["o", 0][..., 1] == 1.0).all()
    assert (c1[1][:, [0, 2]] == -2.0).all()
    assert torch.equal(tr.final_state[1], c1) and torch.equal(tr.final_state[0], h1)
    assert not torch.equal(during, before)
    # outside the context: no override, no hooks, bit-identical outputs
    assert "forward" not in model.lstm.__dict__ and not lstmviz.core.hooks.has_step_hooks(
        model.lstm
    )
    with torch.no_grad():
        after, (h2, c2) = model(ids)
    assert torch.equal(after, before) and torch.equal(h2, h0) and torch.equal(c2, c0)


def test_stepwise_forward_with_intervention_matches_steps(model):
    """A clamped fused call equals the same clamp applied step by step."""
    ids = torch.randint(0, model.vocab_size, (1, 9))
    clamps = {("g", 1, 4): -0.5}
    with intervene(model, clamps), torch.no_grad():
        fwd, _ = model(ids)
    step_logits, _ = steps(model, ids, clamps=clamps)
    torch.testing.assert_close(fwd[0], step_logits[:, 0], atol=1e-6, rtol=0)


def test_hooks_and_override_removed_when_the_block_raises(model):
    with pytest.raises(RuntimeError, match="boom"), intervene(model, {("c", 0, 0): 1.0}):
        raise RuntimeError("boom")
    assert "forward" not in model.lstm.__dict__ and not lstmviz.gates.stepwise.runs_stepwise(
        model.lstm
    )
    assert not lstmviz.core.hooks.has_step_hooks(model.lstm)
    # nested interventions on one module restore in order
    with intervene(model, {("c", 0, 0): 1.0}):
        with intervene(model, {("c", 0, 1): 1.0}):
            pass
        assert lstmviz.gates.stepwise.runs_stepwise(model.lstm)
    assert not lstmviz.gates.stepwise.runs_stepwise(model.lstm)


@pytest.mark.parametrize(
    "clamps, match",
    [
        ({("z", 0, 0): 1.0}, "unknown name"),
        ({("c", 2, 0): 1.0}, "layer 2 is out of range"),
        ({("c", -3, 0): 1.0}, "out of range"),
        ({("c", 0, 16): 1.0}, "unit 16 is out of range"),  # the tiny model has 16 units
        ({("c", 0, "a"): 1.0}, "unit must be"),
        ({("c", 0, ()): 1.0}, "unit must be"),
        ({("f", 0, 0): 1.5}, r"\[0.0, 1.0\]"),
        ({("g", 0, 0): -2.0}, r"\[-1.0, 1.0\]"),
        ({("c", 0, 0): float("nan")}, "must be a number"),
        ({("c", 0): 1.0}, "name, layer, unit"),
        ({}, "non-empty"),
    ],
)
def test_invalid_clamps_are_refused(model, clamps, match):
    with pytest.raises(LstmvizError, match=match):
        intervene(model, clamps)


def test_model_with_two_lstms_must_name_one():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc, self.dec = nn.LSTM(2, 3), nn.LSTM(3, 3)

    with pytest.raises(LstmvizError, match="several LSTMs"):
        intervene(Two(), {("c", 0, 0): 1.0})
    intervene(Two().dec, {("c", 0, 0): 1.0})


def test_lstmcell_and_unbatched_inputs():
    torch.manual_seed(1)
    cellm = nn.LSTMCell(3, 4)
    x, hx = torch.randn(2, 3), (torch.randn(2, 4), torch.randn(2, 4))
    with torch.no_grad():
        h_ref, c_ref = cellm(x, hx)
        with intervene(cellm, {("c", 0, 1): 0.25}):
            h, c = cellm(x, hx)
            hu, cu = cellm(x[0], (hx[0][0], hx[1][0]))  # unbatched
    assert (c[:, 1] == 0.25).all() and cu[1] == 0.25
    others = [0, 2, 3]
    torch.testing.assert_close(c[:, others], c_ref[:, others], atol=1e-6, rtol=0)
    torch.testing.assert_close(h[:, others], h_ref[:, others], atol=1e-6, rtol=0)
    torch.testing.assert_close(cu, c[0], atol=1e-6, rtol=0)
    lstm = nn.LSTM(3, 4, batch_first=True)
    with intervene(lstm, {("h", 0, 2): 0.5}), torch.no_grad():
        out, (h_n, _) = lstm(torch.randn(5, 3))  # unbatched (T, In)
    assert out.shape == (5, 4) and h_n.shape == (1, 4) and (out[:, 2] == 0.5).all()


def test_generation_continuations_differ_and_return(tiny_model):
    lm, vocab = tiny_model
    with torch.no_grad():
        lm.lstm.weight_hh_l1.mul_(4)  # strong recurrence, so one clamped cell shows in the text
        lm.head.weight.mul_(8)
    base = generate(lm, vocab, "abc", 60, temperature=0)
    with intervene(lm, {("c", 1, u): 3.0 for u in range(8)}):
        clamped = generate(lm, vocab, "abc", 60, temperature=0)
    assert clamped != base
    assert generate(lm, vocab, "abc", 60, temperature=0) == base


def test_logprob_change_matches_by_hand(tiny_model):
    from lstmviz.gates.interventions import logprob_change

    model, vocab = tiny_model
    ids = vocab.encode("OBERON\nWe hold")
    with pytest.raises(LstmvizError, match="non-empty"):
        logprob_change(model, ids, {})
    clamps = {("c", 0, 2): 3.0}
    delta = logprob_change(model, ids, clamps)
    with torch.no_grad():
        base = torch.log_softmax(model(ids[None, :-1])[0][0].double(), -1)
        with lstmviz.intervene(model, clamps):
            moved = torch.log_softmax(model(ids[None, :-1])[0][0].double(), -1)
    k = torch.arange(len(ids) - 1)
    torch.testing.assert_close(delta, moved[k, ids[1:]] - base[k, ids[1:]])
    assert delta.shape == (len(ids) - 1,) and delta.abs().max() > 1e-3
