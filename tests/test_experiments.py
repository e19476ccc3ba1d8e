"""Lesson 06's many-sample measurements: batched sampling, line statistics, dose-response."""

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
