"""Sampling: stateful generation equals a from-scratch reference; seeds, greedy, top-k, τ."""

from __future__ import annotations

import pytest
import torch

from lstmviz.core.errors import LstmvizError
from lstmviz.core.hooks import add_step_hook
from lstmviz.core.sampling import generate, stream


def reference(model, vocab, prime, length, top_k, temperature, seed):
    """The slow, obviously right way: re-read the whole text for every new character."""
    gen = torch.Generator().manual_seed(seed)
    ids = vocab.encode(prime).tolist()
    out = []
    with torch.no_grad():
        for _ in range(length):
            logits = model(torch.tensor([ids]))[0][0, -1]
            if temperature == 0 or top_k == 1:
                nxt = int(logits.argmax())
            elif top_k is None:
                p = torch.softmax(logits / temperature, -1)
                nxt = int(torch.multinomial(p, 1, generator=gen))
            else:
                top, idx = torch.topk(logits, top_k)
                p = torch.softmax(top / temperature, -1)
                nxt = int(idx[torch.multinomial(p, 1, generator=gen)])
            ids.append(nxt)
            out.append(vocab.chars[nxt])
    return "".join(out)


@pytest.mark.parametrize(
    "top_k, temperature", [(None, 0.0), (1, 1.0), (5, 1.0), (3, 0.7), (None, 1.3)]
)
def test_matches_reference(tiny_trained, top_k, temperature):
    model, vocab = tiny_trained.model, tiny_trained.vocab
    got = generate(model, vocab, "ROMEO\n", 60, top_k=top_k, temperature=temperature, seed=7)
    assert got == reference(model, vocab, "ROMEO\n", 60, top_k, temperature, seed=7)
    assert len(got) == 60


def test_seeds_and_global_rng(tiny_trained):
    model, vocab = tiny_trained.model, tiny_trained.vocab
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = generate(model, vocab, "The ", 80, top_k=10, seed=1)
    assert torch.equal(torch.get_rng_state(), before)  # the global RNG is not touched
    assert generate(model, vocab, "The ", 80, top_k=10, seed=1) == a
    assert generate(model, vocab, "The ", 80, top_k=10, seed=2) != a
    assert "".join(stream(model, vocab, "The ", 80, top_k=10, seed=1)) == a


def test_greedy_is_deterministic_without_seed(tiny_trained):
    model, vocab = tiny_trained.model, tiny_trained.vocab
    g = generate(model, vocab, "\n", 40, temperature=0)
    assert g == generate(model, vocab, "\n", 40, top_k=1, temperature=5.0)


def test_stream_with_probs(tiny_trained):
    model, vocab = tiny_trained.model, tiny_trained.vocab
    steps = list(stream(model, vocab, "KING", 30, top_k=4, seed=0, with_probs=True))
    assert len(steps) == 30
    for ch, probs in steps:
        assert probs.shape == (len(vocab),)
        assert probs.sum().item() == pytest.approx(1.0, abs=1e-5)
        assert (probs > 0).sum() <= 4 and probs[vocab.stoi[ch]] > 0
    _, greedy = next(stream(model, vocab, "KING", 1, temperature=0, with_probs=True))
    assert greedy.max() == 1.0 and greedy.sum() == 1.0


def test_top_k_frequencies_follow_the_distribution(tiny_trained):
    """Over many draws of the first character, frequencies match the softmax of the top-k logits."""
    model, vocab = tiny_trained.model, tiny_trained.vocab
    _, probs = next(
        stream(model, vocab, "the", 1, top_k=3, temperature=1.0, seed=0, with_probs=True)
    )
    counts = torch.zeros(len(vocab))
    for s in range(600):
        counts[vocab.stoi[generate(model, vocab, "the", 1, top_k=3, seed=s)]] += 1
    assert (counts[probs == 0] == 0).all()
    assert torch.allclose(counts / 600, probs, atol=0.07)


def test_hooks_see_the_prime_and_every_step(tiny_trained):
    model, vocab = tiny_trained.model, tiny_trained.vocab
    calls = []
    plain = generate(model, vocab, "ROMEO", 10, top_k=3, seed=3)
    with add_step_hook(
        model.lstm, lambda n, layer, v: calls.append(n) if (n, layer) == ("h", 1) else None
    ):
        hooked = generate(model, vocab, "ROMEO", 10, top_k=3, seed=3)
    assert hooked == plain
    assert len(calls) == 5 + 9  # each prime character, then every generated one but the last


def test_bad_arguments(tiny_trained):
    model, vocab = tiny_trained.model, tiny_trained.vocab
    with pytest.raises(LstmvizError, match=r"the prime contains '€'"):
        generate(model, vocab, "price: €", 10)
    with pytest.raises(LstmvizError, match="non-empty"):
        generate(model, vocab, "", 10)
    with pytest.raises(LstmvizError, match="top_k"):
        generate(model, vocab, "a", 10, top_k=0)
    with pytest.raises(LstmvizError, match="temperature"):
        generate(model, vocab, "a", 10, temperature=-1)
    assert generate(model, vocab, "a", 0) == ""


def test_model_mode_is_restored(tiny_trained):
    model, vocab = tiny_trained.model, tiny_trained.vocab
    model.train()
    try:
        generate(model, vocab, "a", 5, seed=0)
        assert model.training
    finally:
        model.eval()
