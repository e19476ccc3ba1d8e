"""``lstmviz eval`` / ``evaluate``: the validation loss of a model card, as training measures it."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import lstmviz
from lstmviz.core.cli import main
from lstmviz.core.errors import LstmvizError
from lstmviz.core.training import train


@pytest.fixture
def run(tmp_path, tiny_config, corpus_file):
    """A tiny fp32 run on a corpus file, validated on its whole validation part at the end."""
    cfg = tiny_config.replace(
        corpus=str(corpus_file), precision="fp32", out=str(tmp_path / "run"), sample_len=0
    )
    return train(cfg, progress=False)


def test_evaluate_is_what_training_measured(run):
    result = lstmviz.evaluate(run.out / "checkpoint.pt")
    assert result.loss == pytest.approx(run.val_loss, abs=1e-6)
    assert result.bits == pytest.approx(run.val_loss / math.log(2))
    assert result.perplexity == pytest.approx(math.exp(run.val_loss))
    # 4,000 validation characters in 16 streams of 249 (the last few do not fill a stream)
    assert (result.val_chars, result.chars) == (4_000, 16 * (3_999 // 16))


def test_eval_prints_loss_bits_perplexity_and_characters(run, capsys):
    assert main(["eval", "--checkpoint", str(run.out / "best.pt")]) == 0
    out = capsys.readouterr().out
    assert f"validation loss {run.val_loss:.4f} nats/char" in out
    assert "bits/char, perplexity" in out and "3,984 of the 4,000 validation characters" in out


def test_eval_refuses_a_corpus_the_model_cannot_read(run, tmp_path, capsys):
    other = tmp_path / "other.txt"
    other.write_text("plain text ☃ " * 200, encoding="utf-8")
    assert main(["eval", "--checkpoint", str(run.out / "best.pt"), "--corpus", str(other)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the validation part of") and "'☃'" in err


def test_eval_needs_a_corpus_for_a_model_trained_on_a_string(tmp_path, tiny_config, tiny_text):
    out = tmp_path / "run"
    train(tiny_config.replace(steps=2, out=str(out), sample_len=0), text=tiny_text, progress=False)
    with pytest.raises(LstmvizError, match="give one with --corpus"):
        lstmviz.evaluate(out)


#: The model cards' numbers (docs/model-cards.md): validation loss in nats/char.
CARDS = {"shakespeare": 1.394, "shakespeare_epoch1": 1.614, "python": 1.318}


def test_every_shipped_model_has_a_card():
    cards = Path(__file__).resolve().parents[1] / "docs" / "model-cards.md"
    text = cards.read_text(encoding="utf-8")
    assert set(CARDS) == set(lstmviz.core.checkpoint.available_pretrained())
    for name, card in CARDS.items():
        assert f"**{card:.3f} nats/char" in text, name
    assert lstmviz.load_pretrained("shakespeare").val_loss <= 1.4223  # no worse than before


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CARDS))
def test_shipped_models_score_what_their_cards_and_val_loss_say(name):
    """The packaged float16 weights on the whole validation part: the card's number, stored."""
    result = lstmviz.evaluate(name)
    assert round(result.loss, 3) == CARDS[name]
    assert result.loss == pytest.approx(lstmviz.load_pretrained(name).val_loss, abs=1e-5)
