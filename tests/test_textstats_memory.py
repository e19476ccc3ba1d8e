"""teaching.memory (loss with the state reset every k), teaching.textstats (lessons 01, 04)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lstmviz.core.errors import LstmvizError
from lstmviz.core.vocab import Vocab
from lstmviz.teaching import memory, scratch, textstats


def test_loss_with_resets_matches_a_loop_over_windows():
    torch.manual_seed(0)
    text = "abcabcabd" * 6
    vocab = Vocab.from_text(text)
    model = scratch.CharRNN(len(vocab), hidden_size=8)
    ids = vocab.encode(text)
    with torch.no_grad():
        logits, _ = model(ids[None, :-1])
        whole = F.cross_entropy(logits[0], ids[1:]).item()
        losses = []
        for start in range(0, 50, 5):  # 53 targets: 10 windows of 5, the rest dropped
            out, _ = model(ids[None, start : start + 5])
            losses.append(F.cross_entropy(out[0], ids[start + 1 : start + 6], reduction="none"))
        windows = torch.cat(losses).mean().item()
    assert memory.loss_with_resets(model, ids, None) == pytest.approx(whole, rel=1e-6)
    assert memory.loss_with_resets(model, ids, 5) == pytest.approx(windows, rel=1e-6)
    assert model.training  # the mode it came in with
    with pytest.raises(LstmvizError, match="every"):
        memory.loss_with_resets(model, ids, 0)


def test_text_stats_counts_words_lines_and_names():
    dictionary = textstats.known_words("To be, or not to be: that is the question.")
    sample = "ROMEO\nTo be or nat to bee\n\nJULIET\nthe question"
    s = textstats.text_stats(sample, dictionary)
    # 10 words; nat, bee and the two names are not in the dictionary
    assert s["real_words"] == pytest.approx(6 / 10)
    assert s["distinct_words"] == pytest.approx(9 / 10)  # "to" twice
    assert s["names_per_1000"] == pytest.approx(1000 * 2 / len(sample))
    assert s["line_len"] == pytest.approx((5 + 19 + 6 + 12) / 4)
    assert textstats.is_name_line("SIR TOBY BELCH") and not textstats.is_name_line("I am.")
