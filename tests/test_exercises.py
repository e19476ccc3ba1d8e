"""The exercise checker, and every worked solution in lessons/solutions/ against its check."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lstmviz.teaching import exercises as E


def test_check_says_unanswered_correct_or_wrong(capsys):
    assert E.check("t.1", ..., 1.0) == E.UNANSWERED
    assert E.check("t.1", None, 1.0) == E.UNANSWERED
    assert "not answered yet" in capsys.readouterr().out
    assert E.check("t.1", 1.0005, 1.0) == E.CORRECT
    assert E.check("t.1", 1.1, 1.0, hint="look at lag 60") == E.WRONG
    assert "Hint: look at lag 60" in capsys.readouterr().out


def test_check_compares_arrays_and_predicates():
    assert E.check("t.2", torch.ones(3), [1.0, 1.0, 1.0]) == E.CORRECT
    assert E.check("t.2", torch.ones(2), [1.0, 1.0, 1.0]) == E.WRONG  # shape matters
    assert E.check("t.2", "ROMEO", lambda a: a.isupper()) == E.CORRECT
    assert E.check("t.2", "romeo", lambda a: a.isupper()) == E.WRONG
    # an answer of the wrong kind is feedback, not an exception
    assert E.check("t.2", object(), 3.0) == E.WRONG
    assert E.check("t.2", 3, lambda a: a.missing) == E.WRONG


def test_mean_and_standard_error():
    from lstmviz.teaching import stats

    m, se = stats.mean_se([1.0, 2.0, 3.0, 4.0])
    assert m == 2.5
    assert abs(se - (1.6666666666666667 / 4) ** 0.5) < 1e-12  # sample variance 5/3, n = 4
    assert stats.fmt([1.0, 2.0, 3.0, 4.0], 2) == "2.50 ± 0.65 (n=4)"
    assert stats.clearly_less([1.0, 1.1, 0.9], [2.0, 2.1, 1.9])
    assert not stats.clearly_less([1.0, 1.5, 0.5], [1.2, 1.7, 0.7])


# ---- lessons 02 and 03: each worked solution against what the lesson's check expects ----------
def _solutions(lesson: str):
    from lstmviz.teaching.notebook import solutions  # as the lessons load them

    return solutions(lesson)


def test_lesson02_exercise1_bound_lag_is_guaranteed_and_smallest():
    from lstmviz.teaching import gradients

    sol = _solutions("02_vanishing_gradients")
    rnn = gradients.rnn_with_radius(4, 32, 0.8, seed=3, scale="sigma")
    sigma = gradients.largest_singular_value(rnn.W_aa)
    k = sol.exercise_1(sigma, 1e-3)
    assert sigma**k < 1e-3 <= sigma ** (k - 1)  # the smallest lag the theorem covers
    assert k == 31  # 0.8^31 ≈ 9.9e-4, 0.8^30 ≈ 1.24e-3
    # the lesson's check (expected = ceil(log(1e-3) / log σ)) accepts it ...
    assert E.check("02.1", k, math.ceil(math.log(1e-3) / math.log(sigma))) == E.CORRECT
    # ... and the guarantee holds on a measured gradient: below 1e-3 from lag k on
    x = torch.randn(3, 50, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    lags, norms = gradients.grad_norm_vs_lag(rnn, x)
    assert norms[0] == pytest.approx(1.0) and np.all(norms[k:] < 1e-3)


def test_lesson02_exercise2_clip_matches_library_and_torch():
    from lstmviz.teaching import gradients

    sol = _solutions("02_vanishing_gradients")
    g = torch.tensor([3.0, 4.0])
    torch.testing.assert_close(sol.exercise_2(g, 1.0), torch.tensor([0.6, 0.8]))
    assert torch.equal(sol.exercise_2(g, 10.0), g)
    big = torch.randn(3, 7, generator=torch.Generator().manual_seed(0)) * 100
    torch.testing.assert_close(sol.exercise_2(big, 2.5), gradients.clip_by_norm(big, 2.5))
    p = torch.nn.Parameter(torch.zeros(3, 7))
    p.grad = big.clone()
    torch.nn.utils.clip_grad_norm_([p], 2.5)
    torch.testing.assert_close(sol.exercise_2(big, 2.5), p.grad)


def test_lesson03_exercise1_slice_is_the_forget_gate():
    from torch import nn

    from lstmviz.core.model import set_forget_bias
    from lstmviz.teaching import scratch

    sol = _solutions("03_lstm_cell")
    lstm = nn.LSTM(2, 6)
    with torch.no_grad():
        lstm.bias_ih_l0.zero_()
        lstm.bias_hh_l0.zero_()
        lstm.bias_ih_l0[sol.exercise_1(6)] = 1.0
    cell = scratch.LSTM.from_torch(lstm).cells[0]
    assert torch.all(cell.b_f == 1) and not (cell.b_u.any() or cell.b_c.any() or cell.b_o.any())
    other = nn.LSTM(2, 6)
    before = (other.bias_ih_l0 + other.bias_hh_l0).detach().clone()
    set_forget_bias(other, 1.0)  # the library's way changes exactly these rows
    changed = (other.bias_ih_l0 + other.bias_hh_l0 != before).nonzero().flatten().tolist()
    assert changed == list(range(12))[sol.exercise_1(6)]


def test_lesson03_exercise2_gates_keep_the_cell():
    from lstmviz.teaching import sandbox

    sol = _solutions("03_lstm_cell")
    gamma_u, gamma_f = sol.exercise_2()
    c = 0.7
    for c_hat in torch.rand(50, generator=torch.Generator().manual_seed(1)).mul(2).sub(1).tolist():
        c, _ = sandbox.cell_update(gamma_u, gamma_f, 1.0, c_hat, c)
    assert c == 0.7
    c, _ = sandbox.cell_update(gamma_u, 0.9, 1.0, 0.5, 0.7)
    assert c == pytest.approx(0.63)  # a forget gate below 1 would lose some of it


def test_lesson03_exercise3_is_the_cell_path_alone():
    # an LSTM whose weights are all zero has constant gates: the gradient travels only along the
    # cell path, so the measured fraction left after 10 steps is exactly σ(b_f)^10 (the lesson's
    # check measures the expected answer this way, so that the page does not show the formula)
    from torch import nn

    from lstmviz.core.model import set_forget_bias
    from lstmviz.teaching import gradients

    sol = _solutions("03_lstm_cell")
    lstm = nn.LSTM(3, 5, batch_first=True).double()
    with torch.no_grad():
        for p in lstm.parameters():
            p.zero_()
    set_forget_bias(lstm, 1.0)
    x = torch.randn(2, 20, 3, dtype=torch.float64)
    _, nc = gradients.grad_norm_vs_lag(lstm, x, wrt="c")
    assert sol.exercise_3(1.0, 10) == pytest.approx(nc[11] / nc[1], rel=1e-9)
    assert E.check("03.3", sol.exercise_3(), (1 / (1 + math.exp(-1.0))) ** 10) == E.CORRECT


# ---- lesson 01: the vanilla RNN -------------------------------------------------------------


def test_lesson01_solutions():
    from lstmviz.core.ngram import NGram
    from lstmviz.core.vocab import Vocab
    from lstmviz.teaching import memory, scratch

    S = _solutions("01_vanilla_rnn")
    expected = sum(p.numel() for p in scratch.RNN(65, 128).parameters())
    assert S.exercise_1(65, 128, 100) == S.exercise_1(65, 128, 10_000) == expected == 24_832
    assert E.check(
        "1", S.exercise_1(5, 7, 3), sum(p.numel() for p in scratch.RNN(5, 7).parameters())
    )

    z = torch.tensor([2.0, 1.0, 0.1, 800.0])
    assert torch.allclose(S.exercise_2(z, 1.0), torch.softmax(z, 0))
    assert torch.allclose(S.exercise_2(z[:3], 0.5), torch.softmax(z[:3] / 0.5, 0))
    assert torch.allclose(S.exercise_2(z[:3], 0.01), torch.tensor([1.0, 0, 0]), atol=1e-6)

    torch.manual_seed(0)
    text = "to be or not to be, that is the question\n" * 8
    vocab = Vocab.from_text(text)
    model = scratch.CharRNN(len(vocab), hidden_size=16)
    ids = vocab.encode(text[:100])[None]
    full, _ = model(ids)
    assert E.check("3", S.exercise_3(model, ids), full[:, 50:].detach(), atol=1e-5) == E.CORRECT

    val_ids = vocab.encode(text[100:300])
    bigram = NGram.fit(text[:100], 2, vocab).loss(text[100:300])
    prediction, loss = S.exercise_4(model, val_ids, bigram)
    measured = memory.loss_with_resets(model, val_ids, every=1)
    assert loss == pytest.approx(measured, rel=1e-5)
    assert prediction == ("above" if measured > bigram else "below")


# ---- lesson 04: training the character LSTM ---------------------------------------------------


def test_lesson04_solutions():
    import lstmviz
    from lstmviz.core.training import streams

    S = _solutions("04_training_char_lstm")
    ids = torch.arange(10_001) % 7
    assert S.exercise_1(len(ids), 32, 64) == streams(ids, 32)[0].shape[1] // 64 == 4
    assert S.exercise_1(108_000, 32, 64) == streams(torch.zeros(108_000), 32)[0].shape[1] // 64
    # the lesson's case: the full preset's B = 128, T = 100 on the plays' 4,460,031 training chars
    assert S.exercise_1(4_460_031, 128, 100) == 348

    lstm = lstmviz.CharLSTM(11, hidden_size=12, num_layers=2, dropout=0.0, embedding_dim=5)
    layer0 = sum(p.numel() for n, p in lstm.lstm.named_parameters() if n.endswith("_l0"))
    assert S.exercise_2(5, 12) == layer0
    assert S.exercise_2(64, 512) == 1_183_744  # the lesson's layer 0

    z = torch.tensor([0.5, 3.0, -1.0, 2.0, 2.5, 0.0])
    torch.manual_seed(0)
    model = lstmviz.CharLSTM(6, hidden_size=8, num_layers=1, dropout=0.0, embedding_dim=4)
    vocab = lstmviz.Vocab("abcdef")
    _, lib = next(
        iter(
            lstmviz.stream(
                model, vocab, "abc", 1, top_k=3, temperature=0.7, seed=0, with_probs=True
            )
        )
    )
    with torch.no_grad():
        logits, _ = model(vocab.encode("abc")[None])
    assert E.check("3", S.exercise_3(logits[0, -1], 3, 0.7), lib, atol=1e-5) == E.CORRECT
    mine = S.exercise_3(z, 2, 0.5)  # the two largest logits: 3.0 (index 1) and 2.5 (index 4)
    expected = torch.zeros(6)
    expected[[1, 4]] = torch.softmax(torch.tensor([3.0, 2.5]) / 0.5, 0)
    assert torch.allclose(mine, expected)

    passage = "ab c\nab d\n"
    entropy = torch.tensor([0.1, 0.2, 2.0, 0.3, 1.0, 0.1, 0.2, 1.5, 0.3, 1.2])
    # after a space: 2.0, 1.5 (mean 1.75); after a newline: 1.0, 1.2; other: mean 0.2
    prediction, means = S.exercise_4(entropy, passage)
    assert prediction == "space"
    assert means == pytest.approx({"space": 1.75, "newline": 1.1, "other": 0.2})
    group = ["space" if ch == " " else "newline" if ch == "\n" else "other" for ch in passage]
    measured = {  # as the lesson measures it, and its check
        g: entropy[[t for t, k in enumerate(group) if k == g]].mean().item() for g in means
    }
    right = E.check(
        "4", means, lambda a: all(math.isclose(a[g], v, rel_tol=1e-3) for g, v in measured.items())
    )
    assert right == E.CORRECT
    entropy[[2, 7]] = 0.0  # now the newlines lead: 1.0, 1.2
    assert S.exercise_4(entropy, passage)[0] == "newline"


# ----------------------------------------------------------------------------- lessons 05 and 06
class _PlantedTrace:
    """A stand-in for a recorded Trace: (1, T, H) arrays per (name, layer), batch first."""

    names = {"c": "memory cell"}
    batch_first = True

    def __init__(self, layers):
        self.layers, self.num_layers = layers, len(layers)

    def __getitem__(self, key):
        return self.layers[key[1]][None]


def test_lesson_05_solutions_pass_the_lessons_checks(tiny_model):
    import numpy as np

    import lstmviz
    from lstmviz.gates import analysis, features

    S = _solutions("05_inside_the_gates")
    # exercise 1: one step of layer 1 by hand, against what the recorder stored while generating
    model, vocab = tiny_model
    with lstmviz.GateRecorder(model) as rec:
        lstmviz.generate(model, vocab, "OBERON\n", 30, temperature=0.8, seed=0)
    trace, t = rec.trace, 12

    def matches(answer, layer=1):  # the lesson's check
        return all(
            torch.allclose(
                torch.as_tensor(answer[n]).reshape(-1).float(),
                trace[n, layer][0, t],
                atol=1e-5,
                rtol=1e-4,
            )
            for n in "ifgoch"
        )

    by_hand = S.exercise_1(model.lstm, trace, t)
    assert E.check("05.1", by_hand, matches) == E.CORRECT
    # the usual mistakes fail: layer 0's state instead of layer 1's, rows in the wrong order
    wrong_state = dict(
        by_hand, c=by_hand["i"] * by_hand["g"] + by_hand["f"] * trace["c", 0][0, t - 1]
    )
    assert E.check("05.1", wrong_state, matches) == E.WRONG
    swapped = dict(by_hand, i=by_hand["f"], f=by_hand["i"])
    assert E.check("05.1", swapped, matches) == E.WRONG
    assert E.check("05.1", {"i": by_hand["i"]}, matches) == E.WRONG  # missing keys: feedback

    def passage(seed):
        rng = np.random.default_rng(seed)
        text = "".join(rng.choice(list("ab \n"), size=400, p=[0.4, 0.4, 0.1, 0.1]))
        layers = [rng.normal(size=(400, 5)), rng.normal(size=(400, 5))]
        layers[1][:, 2] += 3 * features.is_newline(text)  # the planted end-of-line cell
        return _PlantedTrace(layers), text

    (tr_a, text_a), (tr_b, text_b) = passage(1), passage(2)
    layer, unit, r_b = S.exercise_2(tr_a, text_a, tr_b, text_b)
    assert (layer, unit) == (1, 2) and r_b > 0.5
    # the lesson's check cell, on these passages
    _l, _u, _ = features.best_cell(tr_a, text_a, "end of line")
    _, _r = features.correlations(
        analysis.activations(tr_b, "c", _l)[:, [_u]], {"eol": features.is_newline(text_b)}
    )
    expected = (_l, _u, float(_r[0, 0]))
    assert E.check("05.2", (layer, unit, r_b), expected, atol=0.01) == E.CORRECT
    assert E.check("05.2", (layer, unit + 1, r_b), expected, atol=0.01) == E.WRONG


def test_lesson_06_solutions_pass_the_lessons_checks(tiny_model):
    import math

    import numpy as np

    import lstmviz
    from lstmviz.gates import analysis, features
    from lstmviz.teaching import compare, experiments

    S = _solutions("06_interventions")
    b = S.exercise_1()
    half = lambda b: abs(analysis.half_life([1 / (1 + math.exp(-b))]) - 10) < 1e-3  # noqa: E731
    assert E.check("06.1", b, half) == E.CORRECT and 2.5 < b < 2.7
    assert E.check("06.1", 3.0, half) == E.WRONG

    # the parameter count against real layers of the lesson's models (small sizes: fast)
    actual = {}
    for kind, blocks in (("rnn", 1), ("gru", 3), ("lstm", 4)):
        net = compare.CharNet(kind, 20, 12, 1, 5)
        actual[blocks] = sum(p.numel() for p in net.rnn.parameters())
    counts = lambda f: all(f(k, 5, 12) == n for k, n in actual.items())  # noqa: E731
    assert E.check("06.2", S.exercise_2, counts) == E.CORRECT
    assert E.check("06.2", lambda k, n_x, n_a: k * (n_a * n_x + n_a * n_a), counts) == E.WRONG

    # find-then-intervene on the tiny model: the solution is the lesson's recipe, step by step
    model, vocab = tiny_model
    text = "OBERON\nDo you amend it then; it lies in you:\nWhy should Titania cross her Oberon?\n"
    with torch.no_grad():
        trace = lstmviz.record(model.lstm, model.embedding(vocab.encode(text)[None]))
    layer, unit, ratio = S.exercise_3(model, vocab, trace, text, prime="OBERON\n", length=80, n=6)
    assert (layer, unit) == features.best_cell(trace, text, "position in line")[:2]
    values = analysis.activations(trace, "c", layer)[:, unit]
    r = features.best_cell(trace, text, "position in line")[2]
    late = float(np.quantile(values, 0.01 if r < 0 else 0.99))
    plain = experiments.sample_many(model, vocab, "OBERON\n", 80, 6, seed=0)
    with lstmviz.intervene(model, {("c", layer, unit): late}):
        held = experiments.sample_many(model, vocab, "OBERON\n", 80, 6, seed=0)
    expect = experiments.mean_line_length(held) / experiments.mean_line_length(plain)
    assert ratio == expect
    # the lesson's predicate: the right cell, and the ratio the solution measures (not a guess)
    pred = lambda a: tuple(a[:2]) == (layer, unit) and abs(a[2] - ratio) < 0.01  # noqa: E731
    assert E.check("06.3", (layer, unit, expect), pred) == E.CORRECT
    assert E.check("06.3", (layer, unit, expect + 0.05), pred) == E.WRONG
    assert E.check("06.3", (layer, unit + 1, expect), pred) == E.WRONG

    # exercise 4: a one-step clamp of a top-layer cell, by editing the state, equals intervene's
    top, value, prime = model.num_layers - 1, 0.7, "OBERON\nDo"
    expected = experiments.logits_after(model, vocab, prime, "h", clamps={("c", top, 3): value})
    by_hand = S.exercise_4(model, vocab, prime, top, 3, value, "h")
    assert E.check("06.4", by_hand, expected, atol=1e-4) == E.CORRECT
    plain = experiments.logits_after(model, vocab, prime, "h")
    assert not torch.allclose(plain, expected, atol=1e-4)  # the clamp changed the next step
    c_only = experiments.logits_after(
        model, vocab, prime, "h", edit=experiments.overwrite_cell(top, 3, value)
    )
    assert E.check("06.4", c_only, expected, atol=1e-4) == E.WRONG  # c alone is not enough
    with pytest.raises(ValueError, match="top-layer"):
        S.exercise_4(model, vocab, prime, 0, 3, value)


# ---- lesson 07: how far back -------------------------------------------------------------------
def test_lesson_07_exercise_1_gradient_by_hand_is_the_librarys(tiny_model):
    import lstmviz

    S = _solutions("07_how_far_back")
    model, vocab = tiny_model
    text = "OBERON\nDo you amend it then; it lies in you:\nWhy should Titania cross her Oberon?\n"
    p = len(text) - 2
    mine = S.exercise_1(model, vocab, text, p)
    lib = lstmviz.influence(model, vocab, text, p).scores
    assert mine.shape == (p + 1,) and np.all(mine > 0)
    np.testing.assert_allclose(mine, lib, rtol=1e-5, atol=1e-9)
    assert E.check("07.1", mine, lib, rtol=1e-4, atol=1e-7) == E.CORRECT
    # the usual slips give other numbers: the gradient of p instead of log p (scaled by p), or
    # the prediction of another character (the one at p instead of p + 1)
    p_next = np.exp(lstmviz.influence(model, vocab, text, p).logp)
    assert E.check("07.1", mine * p_next, lib, rtol=1e-4, atol=1e-7) == E.WRONG
    other = S.exercise_1(model, vocab, text[:-1], p - 1)
    assert E.check("07.1", other, lib, rtol=1e-4, atol=1e-7) == E.WRONG
    # a dropout model in train mode would give random scores: the solution switches to eval
    drop = lstmviz.CharLSTM(len(vocab), hidden_size=16, num_layers=2, dropout=0.5, embedding_dim=8)
    drop.train()
    np.testing.assert_allclose(
        S.exercise_1(drop, vocab, text, p),
        lstmviz.influence(drop, vocab, text, p).scores,
        rtol=1e-5,
        atol=1e-9,
    )


def test_lesson_07_exercise_2_resets_predictions_follow_the_measurement(tiny_model):
    import torch

    from lstmviz.teaching import memory

    S = _solutions("07_how_far_back")
    model, vocab = tiny_model
    torch.manual_seed(1)
    other = type(model)(len(vocab), hidden_size=16, num_layers=2, dropout=0.0, embedding_dim=8)
    models = {"a": model, "b": other.eval()}
    text = "OBERON\nDo you amend it then; it lies in you:\nWhy should Titania cross her Oberon?\n"
    ids = vocab.encode(text * 12)
    least, most, rises = S.exercise_2(models, ids)
    for name, m in models.items():  # each rise by hand: the loss with resets minus without
        base = memory.loss_with_resets(m, ids, None)
        for k, rise in zip(S.EVERY, rises[name], strict=True):
            assert rise == memory.loss_with_resets(m, ids, k) - base and np.isfinite(rise)
    assert rises["a"] != rises["b"]  # two different models: the comparison means something
    assert least == min(rises, key=lambda n: rises[n][0])
    assert most == max(rises, key=lambda n: rises[n][1])
    # the lesson's checks: each number within 1%, the predictions against the measurement
    close = lambda a: all(  # noqa: E731
        np.allclose(a[n], rises[n], rtol=0.01, atol=1e-4) for n in rises
    )
    assert E.check("07.2 (measurement)", rises, close) == E.CORRECT
    shifted = {n: (r[0] + 0.1, r[1]) for n, r in rises.items()}
    assert E.check("07.2 (measurement)", shifted, close) == E.WRONG
    assert E.check("07.2 (k = 200)", least, least) == E.CORRECT
    wrong = "b" if least == "a" else "a"
    assert E.check("07.2 (k = 200)", wrong, least) == E.WRONG
