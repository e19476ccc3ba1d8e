"""Lessons 05 and 06: batched sampling, line statistics, dose-response, saturation, clamps."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import lstmviz
from lstmviz.core.errors import LstmvizError
from lstmviz.teaching import experiments as X


def test_sample_many_rows_are_what_one_at_a_time_sampling_gives(tiny_model):
    model, vocab = tiny_model
    texts = X.sample_many(model, vocab, "OBERON\n", 30, 4, temperature=0.8, seed=3)
    assert len(texts) == 4 and all(len(t) == 30 for t in texts)
    assert len(set(texts)) > 1  # four different draws
    # row 0 by hand: the same draws from one generator, one character at a time over the batch
    gen = torch.Generator().manual_seed(3)
    state = model.init_state(4)
    for i in vocab.encode("OBERON\n"):
        logits, state = model.step(i.repeat(4), state)
    row0 = []
    for _ in range(30):
        nxt = torch.multinomial(torch.softmax(logits / 0.8, -1), 1, generator=gen)[:, 0]
        row0.append(vocab.chars[int(nxt[0])])
        logits, state = model.step(nxt, state)
    assert texts[0] == "".join(row0)
    # a clamp applies to every row (and the prime): the draws change
    with lstmviz.intervene(model, {("c", 1, 0): 5.0}):
        assert X.sample_many(model, vocab, "OBERON\n", 30, 4, temperature=0.8, seed=3) != texts


def test_line_statistics_count_only_complete_non_blank_lines():
    text = "OBERON\nI will go.\n\nTITANIA\nNo\nunfinished LINE"
    assert X.speaker_fraction(text) == pytest.approx(2 / 4)
    assert math.isnan(X.speaker_fraction("no newline at all"))
    assert X.mean_line_length([text, "ab\n"]) == pytest.approx((6 + 10 + 7 + 2 + 2) / 5)
    with pytest.raises(LstmvizError, match="no complete line"):
        X.mean_line_length(["abc"])


def test_dose_response_gives_one_fraction_per_seed_and_untouched_matches_sampling(tiny_model):
    model, vocab = tiny_model
    out = X.dose_response(
        model,
        vocab,
        lambda d: None if d == 0 else {("c", 1, 0): d},
        [0.0, 4.0],
        prime="OBERON\n",
        length=60,
        seeds=3,
        per_seed=2,
    )
    assert list(out) == [0.0, 4.0] and all(len(v) == 3 for v in out.values())
    texts = X.sample_many(model, vocab, "OBERON\n", 60, 6)
    by_hand = np.nanmean(np.array([X.speaker_fraction(t) for t in texts]).reshape(3, 2), axis=1)
    np.testing.assert_allclose(out[0.0], by_hand)


def test_context_loss_reads_only_the_last_k_characters(tiny_model):
    model, vocab = tiny_model
    ids = vocab.encode(
        'OBERON\nDo you "amend" it then; it lies in you:\nWhy should (Titania) cross her Oberon?\n'
    )
    positions = np.array([10, 20, 30])
    with torch.no_grad():
        logits = torch.stack([model(ids[None, p - 2 : p + 1])[0][0, -1] for p in positions])
    expect = F.cross_entropy(logits, ids[positions + 1]).item()
    assert X.context_loss(model, ids, 3, positions) == pytest.approx(expect, rel=1e-6)
    with pytest.raises(LstmvizError, match="characters before it"):
        X.context_loss(model, ids, 20, positions)


def test_context_losses_are_the_per_position_losses_of_context_loss(tiny_model):
    model, vocab = tiny_model
    ids = vocab.encode("OBERON\nDo you amend it then; it lies in you:\nWhy should Titania cross?\n")
    positions = np.array([10, 20, 30, 41])
    each = X.context_losses(model, ids, 4, positions)
    with torch.no_grad():
        logits = model(ids[None, 27:31])[0][0, -1]  # position 30 reads ids 27..30 only
    assert each.shape == (4,)
    assert each[2] == pytest.approx(F.cross_entropy(logits, ids[31]).item(), rel=1e-6)
    assert each.mean() == pytest.approx(X.context_loss(model, ids, 4, positions), rel=1e-6)
    with pytest.raises(LstmvizError, match="characters before it"):
        X.context_losses(model, ids, 20, positions)


def test_line_medians_split_verse_from_name_lines():
    text = "ROMEO\nab\nJULIET\ncd\n"
    acts = np.arange(len(text), dtype=float)[:, None] * np.array([1.0, -1.0])  # (T, 2)
    verse, name = X.line_medians(acts, text)
    on = [i for i in range(len(text)) if i < 6 or 9 <= i < 16]  # the two name lines + newlines
    off = [i for i in range(len(text)) if i not in on]
    np.testing.assert_allclose(name, [np.median(on), -np.median(on)])
    np.testing.assert_allclose(verse, [np.median(off), -np.median(off)])
    with pytest.raises(LstmvizError, match="one row per character"):
        X.line_medians(acts[:-1], text)
    with pytest.raises(LstmvizError, match="both"):
        X.line_medians(np.zeros((3, 2)), "ab\n")


def test_saturation_counts_units_mostly_closed_or_open():
    from lstmviz.gates.trace import Trace

    T = 10
    f = torch.full((T, 1, 4), 0.5)  # a trace holds (T, B, H)
    f[:8, 0, 0] = 0.05  # unit 0: closed on 8 of 10 steps -> left-saturated
    f[:4, 0, 1] = 0.95  # unit 1: open on 4 of 10 -> not (needs more than half)
    f[:, 0, 2] = 0.99  # unit 2: always open -> right-saturated
    gates = {n: torch.full((T, 1, 4), 0.5) for n in "igoch"}
    gates["i"][:, 0, 3] = 0.0  # Γ_u of unit 3 always closed: outside the middle
    tr = Trace([{**gates, "f": f}], batch_first=True)
    assert X.forget_saturation(tr, 0) == (0.25, 0.25)
    middle_f = 1 - (8 + 4 + 10) / 40  # Γ_f values between 0.1 and 0.9
    assert X.in_middle(tr, 0, "f") == pytest.approx(middle_f)
    assert X.in_middle(tr, 0, "i") == pytest.approx(0.75)
    assert X.in_middle(tr, 0) == pytest.approx((0.75 + middle_f + 1.0) / 3)


def test_first_symbol_gradient_and_memory_gauge_read_the_memory_setting():
    from lstmviz.teaching import tasks

    task = tasks.FirstSymbolTask(10)
    short = tasks.train_on_task("lstm", 10, forget_bias=-3.0, steps=0, seed=0).model
    long = tasks.train_on_task("lstm", 10, forget_bias=5.0, steps=0, seed=0).model
    assert X.first_symbol_gradient(long, task) > 100 * X.first_symbol_gradient(short, task)
    assert X.memory_gauge(long, task) == pytest.approx(1 / (1 + math.exp(-5)), abs=0.01)
    assert X.memory_gauge(short, task) == pytest.approx(1 / (1 + math.exp(3)), abs=0.02)
    rnn = tasks.train_on_task("rnn", 10, radius=0.8, steps=0, seed=0).model
    assert X.memory_gauge(rnn, task) == pytest.approx(0.8, abs=1e-6)
    rnn.train()
    assert X.first_symbol_gradient(rnn, task) > 0 and rnn.training  # the mode is left alone


def test_logits_after_clamps_the_last_prime_step_only(tiny_model):
    model, vocab = tiny_model
    prime, clamp = "OBERON\nDo", {("c", 1, 2): 0.9}
    plain = X.logits_after(model, vocab, prime, "h")
    with torch.no_grad():
        full = model(vocab.encode(prime + "h")[None])[0][0, -1]
    torch.testing.assert_close(plain[0], full, atol=1e-5, rtol=1e-4)  # step by step = fused
    clamped = X.logits_after(model, vocab, prime, "h", clamps=clamp)
    state = model.init_state()
    with torch.no_grad():
        for ch in prime[:-1]:
            _, state = model.step(vocab.encode(ch), state)
        with lstmviz.intervene(model, clamp):
            _, state = model.step(vocab.encode(prime[-1]), state)
        assert state[1][1, 0, 2].item() == pytest.approx(0.9)
        by_steps, _ = model.step(vocab.encode("h"), state)
    torch.testing.assert_close(clamped, by_steps, atol=0, rtol=0)
    edited = X.logits_after(model, vocab, prime, "h", edit=X.overwrite_cell(1, 2, 0.9))
    assert not torch.allclose(edited, plain) and not torch.allclose(edited, clamped)
    with pytest.raises(LstmvizError, match="one next character"):
        X.logits_after(model, vocab, prime, "hh")
