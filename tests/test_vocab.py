"""Vocab: sorted ids, round trips, clear errors for unknown characters and bad ids."""

from __future__ import annotations

import pytest
import torch

from lstmviz.core.errors import LstmvizError
from lstmviz.core.vocab import Vocab


def test_sorted_ids_and_round_trip():
    v = Vocab.from_text("hello, world\n")
    assert v.chars == "\n ,dehlorw" and len(v) == 10
    ids = v.encode("hello")
    assert ids.dtype == torch.long and ids.tolist() == [5, 4, 6, 6, 7]
    assert v.decode(ids) == "hello"
    assert v.decode([0, 1]) == "\n " and v.decode(torch.tensor([[3, 3]])) == "dd"
    assert Vocab.from_text("dlrow") == Vocab.from_text("world") != v
    assert v.encode("").shape == (0,)


def test_non_ascii_and_large_text(tiny_text):
    text = tiny_text + "—é✓"
    v = Vocab.from_text(text)
    assert v.chars == "".join(sorted(set(text)))
    assert v.decode(v.encode(text)) == text
    reference = torch.tensor([v.stoi[c] for c in text])
    assert torch.equal(v.encode(text), reference)


def test_unknown_character_is_named():
    v = Vocab.from_text("abc")
    with pytest.raises(LstmvizError, match=r"the prime contains 'é' \(U\+00E9\) at position 2"):
        v.encode("abé", what="prime")
    with pytest.raises(LstmvizError, match=r"'z' \(U\+007A\) at position 0"):
        v.encode("z")  # past the last known character


def test_bad_ids_and_vocab():
    v = Vocab.from_text("abc")
    for bad in ([3], [-1], [0.5]):
        with pytest.raises(LstmvizError, match=r"ids must be integers in 0\.\.2"):
            v.decode(bad)
    with pytest.raises(LstmvizError, match="unique and sorted"):
        Vocab("ba")
    with pytest.raises(LstmvizError, match="empty"):
        Vocab.from_text("")
