"""core.ngram: counted character n-gram models, the baselines drawn on the loss plots."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch

from lstmviz.core.errors import LstmvizError
from lstmviz.core.ngram import NGram, ngram_losses
from lstmviz.core.vocab import Vocab

TEXT = "the cat sat on the mat. the hat is flat; that cat ate the rat.\n" * 3


@pytest.mark.parametrize("smoothing", ["interpolated", "add_k"])
@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_probabilities_sum_to_one_at_every_context(order, smoothing):
    vocab = Vocab.from_text(TEXT + "QZ")  # two characters the model never saw
    lm = NGram.fit(TEXT, order, vocab, smoothing=smoothing, k=0.5)
    contexts = ["", "t", "th", "the", "the ", "QZ", "Zt", "at.", TEXT[:40]]
    for ctx in contexts:
        p = lm.probs(ctx)
        assert p.shape == (len(vocab),)
        assert torch.all(p > 0), ctx  # smoothed: nothing is impossible
        assert abs(float(p.sum()) - 1.0) < 1e-12, ctx


def test_unigram_loss_is_the_entropy_of_its_training_text():
    counts = Counter(TEXT)
    n = len(TEXT)
    entropy = -sum(c / n * math.log(c / n) for c in counts.values())
    assert NGram.fit(TEXT, 1, k=0.0).loss(TEXT) == pytest.approx(entropy, rel=1e-12)
    # add-one changes it only a little on a text this long, and always upwards (a mismatch)
    assert entropy < NGram.fit(TEXT, 1, k=1.0).loss(TEXT) < entropy + 0.05


def test_known_values_on_a_tiny_text():
    # "abab": a is followed by b twice (N=2, T=1), b by a once (N=1, T=1); unigram 1/2 each
    lm = NGram.fit("abab", 2, k=0.0)
    assert lm.probs("a").tolist() == pytest.approx([(0 + 0.5) / 3, (2 + 0.5) / 3])
    assert lm.probs("b").tolist() == pytest.approx([(1 + 0.5) / 2, (0 + 0.5) / 2])
    expected = [math.log(2), -math.log(2.5 / 3), -math.log(0.75), -math.log(2.5 / 3)]
    assert lm.per_char_loss("abab").tolist() == pytest.approx(expected)
    # trigram: "ab" -> a once, interpolated with the bigram P(a|b) = 0.75
    tri = NGram.fit("abab", 3, k=0.0)
    assert float(tri.probs("ab")[0]) == pytest.approx((1 + 0.75) / 2)
    assert float(tri.probs("bb")[0]) == pytest.approx(0.75)  # unseen context: the bigram alone
    # add-k: (N(hc) + k) / (N(h) + k V); an unseen context is uniform
    add = NGram.fit("abab", 2, k=1.0, smoothing="add_k")
    assert add.probs("a").tolist() == pytest.approx([1 / 4, 3 / 4])
    assert add.probs("b").tolist() == pytest.approx([2 / 3, 1 / 3])


def test_higher_orders_fit_their_training_text_better():
    losses = [NGram.fit(TEXT, n, k=0.0).loss(TEXT) for n in (1, 2, 3, 4)]
    assert losses == sorted(losses, reverse=True) and losses[-1] < 0.5 * losses[0]


def test_ngram_losses_names_the_orders():
    out = ngram_losses(TEXT[:120], TEXT[120:], orders=(1, 2, 3))
    assert list(out) == ["unigram", "bigram", "trigram"]
    assert out["trigram"] < out["bigram"] < out["unigram"]


def test_bad_input_is_one_clear_error():
    with pytest.raises(LstmvizError, match="order must be"):
        NGram.fit(TEXT, 0)
    with pytest.raises(LstmvizError, match="unknown smoothing"):
        NGram.fit(TEXT, 2, smoothing="kneser")
    with pytest.raises(LstmvizError, match="non-empty"):
        NGram.fit("", 2)
    with pytest.raises(LstmvizError, match="not one of"):
        NGram.fit(TEXT, 2).loss("the QUEEN")


def test_context_counts_are_the_counts_witten_bell_uses():
    # "abab" + "aa": after "a": b twice, a once (N=3, T=2); after "b": a twice (N=2, T=1)
    lm = NGram.fit("ababaa", 2, k=0.0)
    n_h, t_h, n_hc = lm.context_counts("abba")
    assert n_h.tolist() == [-1, 3, 2, 2]  # contexts: none, "a", "b", "b"
    assert t_h.tolist() == [-1, 2, 1, 1]
    assert n_hc.tolist() == [-1, 2, 0, 2]  # "ab" twice, "bb" never, "ba" twice
    # the full-order estimate is (N(hc) + T(h) P_lower) / (N(h) + T(h)), as they say
    p_lower = NGram.fit("ababaa", 1, k=0.0).probs("")
    for t, c in ((1, 1), (2, 1), (3, 0)):
        expect = (n_hc[t] + t_h[t] * float(p_lower[c])) / (n_h[t] + t_h[t])
        assert math.exp(-float(lm.per_char_loss("abba")[t])) == pytest.approx(expect)
    tri = NGram.fit(TEXT, 3, k=0.0)
    n_h, _, n_hc = tri.context_counts("thehhat")  # "hh" was never seen: N(h) = N(hc) = 0
    assert n_h[2] == TEXT.count("th") and n_hc[2] == TEXT.count("the")
    assert n_h[5] == 0 and n_hc[5] == 0
    with pytest.raises(LstmvizError, match="no context"):
        NGram.fit(TEXT, 1).context_counts("the")
