"""Influence of the past (lstmviz.gates.attribution): exact against independent computations."""

from __future__ import annotations

import copy
import time

import numpy as np
import pytest
import torch
from conftest import TINY_TEXT
from faults import says

import lstmviz
from lstmviz.core.model import CharLSTM, set_forget_bias
from lstmviz.gates import attribution
from lstmviz.teaching.compare import CharNet

TEXT = TINY_TEXT[:40]  # 'OBERON\nDo you "amend" it then; it lies i'
P = 30  # the prediction after TEXT[:31] (of TEXT[31])


def _logp(model, vocab, ids_or_text, target: str, x=None) -> float:
    """Plain reference: log p(target) after reading the text (or embeddings x (1, T, E))."""
    rnn = attribution._recurrent(model)
    if x is None:
        x = model.embedding(vocab.encode(ids_or_text)[None])
    with torch.no_grad():
        out, _ = rnn(x)
        return float(torch.log_softmax(model.head(out[0, -1]), -1)[vocab.stoi[target]])


def _double(model):
    return copy.deepcopy(model).double().eval()


@pytest.fixture
def gru_model(tiny_model):
    torch.manual_seed(1)
    _, vocab = tiny_model
    return CharNet("gru", len(vocab), hidden_size=16, embedding_dim=8).eval(), vocab


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_gradient_scores_match_central_finite_differences(kind, tiny_model, gru_model):
    model, vocab = tiny_model if kind == "lstm" else gru_model
    model = _double(model)
    result = lstmviz.influence(model, vocab, TEXT, P)
    assert result.scores.shape == (P + 1,) and result.start == 0 and result.target == TEXT[P + 1]

    x = model.embedding(vocab.encode(TEXT[: P + 1])[None]).detach()  # (1, P + 1, E)
    eps = 1e-6
    fd = np.zeros((P + 1, x.shape[-1]))  # the whole gradient, one coordinate at a time
    for t in range(P + 1):
        for d in range(x.shape[-1]):
            up, down = x.clone(), x.clone()
            up[0, t, d] += eps
            down[0, t, d] -= eps
            fd[t, d] = (
                _logp(model, vocab, None, result.target, up)
                - _logp(model, vocab, None, result.target, down)
            ) / (2 * eps)
    np.testing.assert_allclose(result.scores, np.linalg.norm(fd, axis=1), rtol=1e-6, atol=1e-9)
    assert result.scores.min() > 0  # this model uses every character it read, a little
    assert result.logp == pytest.approx(_logp(model, vocab, TEXT[: P + 1], result.target))


def test_prediction_metadata_is_the_models(tiny_model):
    model, vocab = tiny_model
    result = lstmviz.influence(model, vocab, TEXT, P, target="e")
    with torch.no_grad():
        logp = torch.log_softmax(model(vocab.encode(TEXT[: P + 1])[None])[0][0, -1], -1)
    best = int(logp.argmax())
    assert result.target == "e" and result.logp == pytest.approx(float(logp[vocab.stoi["e"]]))
    assert result.predicted == vocab.chars[best]
    assert result.predicted_logp == pytest.approx(float(logp[best]))
    assert result.text == TEXT[: P + 1] and result.measure == "gradient"
    i, ch, s = result.top(1)[0]
    assert s == result.scores.max() and ch == TEXT[i]


def test_characters_after_the_position_have_no_score(tiny_model):
    model, vocab = tiny_model
    a = lstmviz.influence(model, vocab, TEXT, P)
    b = lstmviz.influence(model, vocab, TEXT[: P + 2] + "OBERON" * 5, P)
    assert len(a.scores) == len(a.text) == P + 1
    np.testing.assert_array_equal(a.scores, b.scores)
    o = lstmviz.occlusion(model, vocab, TEXT, P)
    assert len(o.scores) == P + 1


def test_max_context_scores_the_same_numbers_for_the_last_characters(tiny_model):
    model, vocab = _double(tiny_model[0]), tiny_model[1]
    full = lstmviz.influence(model, vocab, TEXT, P)
    cut = lstmviz.influence(model, vocab, TEXT, P, max_context=7)
    assert cut.start == P + 1 - 7 and np.isnan(cut.scores[: cut.start]).all()
    np.testing.assert_allclose(cut.scores[cut.start :], full.scores[cut.start :], rtol=1e-10)
    assert cut.logp == pytest.approx(full.logp, rel=1e-12)


def _occluded(text: str, t: int, mode: str) -> str:
    return text[:t] + (" " if mode == "replace" else "") + text[t + 1 :]


@pytest.mark.parametrize("mode", ["replace", "drop"])
@pytest.mark.parametrize("rows", [P + 1, 3])  # one batch; chunks of 3 rows
def test_occlusion_matches_a_loop_of_separate_forwards(mode, rows, tiny_model, monkeypatch):
    monkeypatch.setattr(attribution, "CHUNK_ELEMENTS", rows * (P + 1) * 16)  # rows x T x H
    model, vocab = _double(tiny_model[0]), tiny_model[1]
    context, target = TEXT[: P + 1], TEXT[P + 1]
    base = _logp(model, vocab, context, target)
    expected = [
        base - _logp(model, vocab, _occluded(context, t, mode), target) for t in range(P + 1)
    ]
    result = lstmviz.occlusion(model, vocab, TEXT, P, mode=mode)
    np.testing.assert_allclose(result.scores, expected, rtol=1e-9, atol=1e-12)
    assert result.logp == pytest.approx(base)
    if mode == "replace":  # a space replaced by a space changes nothing
        spaces = [t for t, ch in enumerate(context) if ch == " "]
        assert spaces and (result.scores[spaces] == 0).all()
        assert result.measure == "replace ' '"
    cut = lstmviz.occlusion(model, vocab, TEXT, P, mode=mode, max_context=5)
    assert np.isnan(cut.scores[: P + 1 - 5]).all()
    np.testing.assert_allclose(cut.scores[-5:], expected[-5:], rtol=1e-9, atol=1e-12)


def _memoryless(model: CharLSTM) -> CharLSTM:
    """Cut the recurrence: W_hh = 0, and Γ_f = 0 so the memory cell forgets at every step too."""
    with torch.no_grad():
        for layer in range(model.num_layers):
            getattr(model.lstm, f"weight_hh_l{layer}").zero_()
            getattr(model.lstm, f"weight_ih_l{layer}")[16:32].zero_()
    set_forget_bias(model.lstm, -1e4)  # σ(-1e4) is exactly 0 in float32
    return model


def test_a_character_that_cannot_matter_has_zero_influence(tiny_model):
    model, vocab = tiny_model
    _memoryless(model)
    assert TEXT[P] != "W"
    for result in (
        lstmviz.influence(model, vocab, TEXT, P),
        lstmviz.occlusion(model, vocab, TEXT, P, replacement="W"),
        lstmviz.occlusion(model, vocab, TEXT, P, mode="drop"),
    ):
        assert (result.scores[:-1] == 0).all() and result.scores[-1] != 0, result.measure


def test_memory_span_of_a_model_without_recurrence_is_lag_zero(tiny_model):
    model, vocab = tiny_model
    single = _memoryless(CharLSTM(len(vocab), hidden_size=16, num_layers=1, embedding_dim=8))
    rnn = CharNet("rnn", len(vocab), hidden_size=16, embedding_dim=8)
    with torch.no_grad():
        rnn.rnn.weight_hh_l0.zero_()
    for m in (single, rnn):
        lags, mean, se = lstmviz.memory_span(m, vocab, TINY_TEXT, range(10, 60, 7), 6)
        np.testing.assert_array_equal(lags, np.arange(7))
        np.testing.assert_array_equal(mean, [1, 0, 0, 0, 0, 0, 0])
        np.testing.assert_array_equal(se, np.zeros(7))
    # the intact model looks further back
    lags, mean, se = lstmviz.memory_span(model, vocab, TINY_TEXT, range(10, 60, 7), 6)
    assert mean[1:].sum() > 0.1 and (se[1:] > 0).all()


def test_memory_span_averages_normalised_influence(tiny_model, monkeypatch):
    monkeypatch.setattr(attribution, "CHUNK_ELEMENTS", 16 * 9 * 3)  # 3 positions per backward
    model, vocab = _double(tiny_model[0]), tiny_model[1]
    positions, max_lag = [8, 20, 21, 55, 90, 150], 8
    shares = []
    for p in positions:
        s = lstmviz.influence(model, vocab, TINY_TEXT, p).scores[::-1][: max_lag + 1]
        shares.append(s / s.sum())
    lags, mean, se = lstmviz.memory_span(model, vocab, TINY_TEXT, positions, max_lag)
    np.testing.assert_allclose(mean, np.mean(shares, 0), rtol=1e-10)
    np.testing.assert_allclose(se, np.std(shares, 0, ddof=1) / np.sqrt(len(positions)), rtol=1e-9)
    assert mean.sum() == pytest.approx(1)
    _, _, one = lstmviz.memory_span(model, vocab, TINY_TEXT, [30], max_lag)
    assert np.isnan(one).all()


def test_train_mode_is_measured_as_eval_and_restored(tiny_model):
    _, vocab = tiny_model
    torch.manual_seed(0)
    model = CharLSTM(len(vocab), hidden_size=16, num_layers=2, dropout=0.5, embedding_dim=8)
    expected = lstmviz.influence(model.eval(), vocab, TEXT, P).scores
    model.train()
    got = lstmviz.influence(model, vocab, TEXT, P).scores
    assert model.training
    np.testing.assert_array_equal(got, expected)  # no dropout
    lstmviz.occlusion(model, vocab, TEXT, P)
    lstmviz.memory_span(model, vocab, TEXT, [20, 30], 5)
    assert model.training


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda m, v: lstmviz.influence(m, v, "", 0), "text is empty"),
        (lambda m, v: lstmviz.influence(m, v, TEXT, 40), "outside the text of 40"),
        (lambda m, v: lstmviz.influence(m, v, TEXT, -1), "use 0..39"),
        (lambda m, v: lstmviz.influence(m, v, TEXT, 2.0), "must be an integer"),
        (lambda m, v: lstmviz.influence(m, v, TEXT, 39), "pass target="),
        (lambda m, v: lstmviz.influence(m, v, "OB€RON", 3), "contains '€'"),
        (lambda m, v: lstmviz.influence(m, v, "OBERON€", 5), "target '€' is not one"),
        (lambda m, v: lstmviz.influence(m, v, TEXT, 3, target="ab"), "one character"),
        (lambda m, v: lstmviz.influence(m, v, TEXT, 3, max_context=0), "max_context"),
        (lambda m, v: lstmviz.influence(torch.nn.Linear(2, 2), v, TEXT, 3), "like lstmviz.Char"),
        (lambda m, v: lstmviz.occlusion(m, v, TEXT, 3, mode="blank"), "'replace' or 'drop'"),
        (lambda m, v: lstmviz.occlusion(m, v, TEXT, 3, replacement="~"), "replacement '~'"),
        (lambda m, v: lstmviz.occlusion(m, v, TEXT, 0, mode="drop"), "two characters"),
        (lambda m, v: lstmviz.memory_span(m, v, TEXT, [3, 10], 5), "fewer than max_lag=5"),
        (lambda m, v: lstmviz.memory_span(m, v, TEXT, [], 5), "positions is empty"),
        (lambda m, v: lstmviz.memory_span(m, v, TEXT, [10, 39], 5), "last character"),
        (lambda m, v: lstmviz.memory_span(m, v, TEXT, [10], -1), "max_lag"),
    ],
)
def test_bad_inputs_get_one_clear_error(call, match, tiny_model):
    with pytest.raises(lstmviz.LstmvizError, match=match):
        call(*tiny_model)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gradient_on_a_gpu_in_eval_mode_matches_the_cpu(tiny_model):
    # cuDNN refuses backward in eval mode; influence turns it off for its pass, and leaves it on
    model, vocab = tiny_model
    cudnn = torch.backends.cudnn.enabled
    cpu = lstmviz.influence(model, vocab, TEXT, P)
    gpu = lstmviz.influence(copy.deepcopy(model).cuda(), vocab, TEXT, P)
    np.testing.assert_allclose(gpu.scores, cpu.scores, rtol=1e-4, atol=1e-6)
    assert torch.backends.cudnn.enabled == cudnn


def test_span_shares_rows_sum_to_one_and_average_to_memory_span(tiny_model):
    model, vocab = tiny_model
    positions = list(range(10, 60, 7))
    rows = lstmviz.span_shares(model, vocab, TINY_TEXT, positions, 6)
    assert rows.shape == (len(positions), 7)
    np.testing.assert_allclose(rows.sum(1), 1.0, rtol=1e-9)
    lags, mean, se = lstmviz.memory_span(model, vocab, TINY_TEXT, positions, 6)
    np.testing.assert_allclose(mean, rows.mean(0))
    np.testing.assert_allclose(se, rows.std(0, ddof=1) / np.sqrt(len(positions)))
    # row j is influence's scores at lags 0..6 of position j, normalised
    p = positions[3]
    s = lstmviz.influence(model, vocab, TINY_TEXT, p).scores[p - 6 : p + 1][::-1]
    np.testing.assert_allclose(rows[3], s / s.sum(), rtol=1e-5)


# ---- bounds: what an attribution costs is checked before it runs; bools are not positions


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda m, v: lstmviz.influence(m, v, TEXT, True), "position must be an integer"),
        (lambda m, v: lstmviz.occlusion(m, v, TEXT, False), "position must be an integer"),
        (lambda m, v: lstmviz.influence(m, v, TEXT, 9, max_context=True), "max_context"),
        (lambda m, v: lstmviz.occlusion(m, v, TEXT, 9, max_context=np.bool_(1)), "max_context"),
        (lambda m, v: lstmviz.memory_span(m, v, TEXT, [10], True), "max_lag"),
        (lambda m, v: lstmviz.memory_span(m, v, TEXT, [True, 10], 0), "position must be"),
    ],
)
def test_bools_are_refused_where_whole_numbers_are_wanted(call, match, tiny_model):
    with pytest.raises(lstmviz.LstmvizError, match=match):
        call(*tiny_model)


def test_numpy_and_tensor_integers_are_positions(tiny_model):
    model, vocab = tiny_model
    a = lstmviz.influence(model, vocab, TEXT, 9)
    for p in (np.int64(9), torch.tensor(9)):
        assert np.array_equal(lstmviz.influence(model, vocab, TEXT, p).scores, a.scores)


def test_influence_that_cannot_fit_in_memory_is_refused_first(tiny_model, monkeypatch):
    model, vocab = tiny_model
    text = TEXT * 60  # 2,400 characters
    per_char = model.lstm.num_layers * model.hidden_size * attribution.BACKWARD_BYTES
    monkeypatch.setattr(attribution, "memory_bytes", lambda device: 1000 * per_char)
    monkeypatch.setattr(attribution, "_gradient_scores", lambda *a: pytest.fail("it ran"))
    with pytest.raises(lstmviz.LstmvizError) as info:
        lstmviz.influence(model, vocab, text, len(text) - 2)
    says(info.value, "2,399 characters", "GB", "max_context=N", "N <= 1,000 fits")
    monkeypatch.undo()
    monkeypatch.setattr(attribution, "memory_bytes", lambda device: 1000 * per_char)
    lstmviz.influence(model, vocab, text, len(text) - 2, max_context=1000)  # what it suggested


def test_influence_out_of_memory_is_a_clear_error(tiny_model, monkeypatch):
    model, vocab = tiny_model

    def no_memory(*args, **kwargs):
        raise RuntimeError(
            "[enforce fail at alloc_cpu.cpp:119] data. DefaultCPUAllocator: can't allocate "
            "memory: you tried to allocate 9369591808 bytes. Error code 12"
        )

    monkeypatch.setattr(model.lstm, "forward", no_memory)
    with pytest.raises(lstmviz.LstmvizError) as info:
        lstmviz.influence(model, vocab, TEXT, 30)
    says(info.value, "ran out of memory", "max_context=N")
    monkeypatch.setattr(model.lstm, "forward", lambda *a, **k: 1 / 0)  # a bug stays a bug
    with pytest.raises(ZeroDivisionError):
        lstmviz.influence(model, vocab, TEXT, 30)


def test_occlusion_checks_its_quadratic_cost_first(tiny_model, monkeypatch):
    import re

    model, vocab = tiny_model
    text = TEXT * 30  # 1,200 characters
    per_step = attribution._macs_per_step(model.lstm)
    # 2 layers of 4 gates x 16 units: (8 + 16) inputs in the first, (16 + 16) in the second
    assert per_step == 4 * 16 * (8 + 16) + 4 * 16 * (16 + 16)
    monkeypatch.setattr(attribution, "OCCLUSION_MAX_MACS", per_step * 300**2)
    lstmviz.occlusion(model, vocab, text[:300], 298)  # about half the limit: runs
    start = time.monotonic()
    with pytest.raises(lstmviz.LstmvizError) as info:
        lstmviz.occlusion(model, vocab, text, len(text) - 2)
    says(info.value, "1,199 characters", "multiply-adds", "square", "max_context=N")
    assert time.monotonic() - start < 1  # refused before any work
    fits = int(re.search(r"N <= ([\d,]+) fits", str(info.value))[1].replace(",", ""))
    assert 250 < fits < 300  # about 300, less the cost of reading the whole text once
    lstmviz.occlusion(model, vocab, text, len(text) - 2, max_context=fits)  # what it suggested
