"""A run that diverges (a NaN or infinite loss, gradient, validation loss or weight) stops with one
message naming the last good checkpoint, and nothing non-finite is ever saved."""

from __future__ import annotations

import math

import pytest
import torch
from faults import refused, says

import lstmviz.core.training as training
from lstmviz.core.checkpoint import BEST, LATEST, load_checkpoint, save_checkpoint
from lstmviz.core.errors import LstmvizError
from lstmviz.core.training import train


def test_no_overflow_from_a_huge_loss_in_the_log_line(monkeypatch, tiny_config, tiny_text, capsys):
    """A validation loss past 709 nats: perplexity inf, no OverflowError from math.exp."""
    monkeypatch.setattr(training, "validation_loss", lambda *a, **k: 800.0)
    result = train(tiny_config.replace(steps=10, eval_every=5), text=tiny_text, progress=True)
    vals = [e for e in result.history if e["kind"] == "val"]
    assert [e["val_perplexity"] for e in vals] == [math.inf, math.inf]
    assert vals[0]["val_bpc"] == pytest.approx(800 / math.log(2))
    captured = capsys.readouterr()
    assert "perplexity inf" in captured.out + captured.err  # the progress bar's line


def test_nan_weights_are_never_saved(monkeypatch, tmp_path, tiny_config, tiny_text):
    """Weights turn NaN at step 3 (loss still finite): checkpoint.pt keeps step 2, no best.pt."""
    real_step, calls = torch.optim.Adam.step, [0]

    def poisoning_step(self, *args, **kwargs):
        calls[0] += 1
        out = real_step(self, *args, **kwargs)
        if calls[0] == 3:
            with torch.no_grad():
                self.param_groups[0]["params"][0].fill_(float("nan"))
        return out

    monkeypatch.setattr(torch.optim.Adam, "step", poisoning_step)
    run = tmp_path / "run"
    cfg = tiny_config.replace(out=str(run), save_every=2, eval_every=3, log_every=1)
    with pytest.raises(LstmvizError) as info:
        train(cfg, text=tiny_text, progress=False)
    says(info.value, "validation loss became nan", "step 3", "(step 2)")
    ck = load_checkpoint(run)
    assert ck.step == 2 and all(torch.isfinite(p).all() for p in ck.model.parameters())
    assert not (run / BEST).exists()  # the NaN validation was never "the best"


def test_nan_weights_caught_at_a_save_without_validation(
    monkeypatch, tmp_path, tiny_config, tiny_text
):
    real_step, calls = torch.optim.Adam.step, [0]

    def poisoning_step(self, *args, **kwargs):
        out = real_step(self, *args, **kwargs)
        calls[0] += 1
        if calls[0] == 4:  # after the 4th step's loss was computed, before its save
            with torch.no_grad():
                self.param_groups[0]["params"][-1].fill_(float("inf"))
        return out

    monkeypatch.setattr(torch.optim.Adam, "step", poisoning_step)
    run = tmp_path / "run"
    cfg = tiny_config.replace(out=str(run), save_every=2, eval_every=1000, steps=10)
    with pytest.raises(LstmvizError) as info:
        train(cfg, text=tiny_text, progress=False)
    says(info.value, "weights became NaN or infinite", "step 4", "(step 2)")
    assert load_checkpoint(run).step == 2


def test_save_checkpoint_refuses_non_finite_weights_and_losses(tmp_path, tiny_trained):
    model = tiny_trained.model
    good = save_checkpoint(tmp_path / "ck.pt", model, tiny_trained.vocab, step=1)
    before = good.read_bytes()
    with pytest.raises(LstmvizError) as info:
        save_checkpoint(good, model, tiny_trained.vocab, val_loss=float("nan"))
    says(info.value, "refusing to save", "val_loss is nan")
    bad = type(model)(**model.config())
    with torch.no_grad():
        bad.head.bias[0] = float("inf")
    with pytest.raises(LstmvizError) as info:
        save_checkpoint(good, bad, tiny_trained.vocab)
    says(info.value, "refusing to save", "'head.bias'", "NaN or infinite")
    assert good.read_bytes() == before


def test_huge_learning_rate_ends_in_one_message_and_finite_checkpoints(
    tmp_path, tiny_config, tiny_text, capsys
):
    """--lr 1e6: the run may diverge, but only with the promised message, never NaN on disk."""
    run = tmp_path / "run"
    cfg = tiny_config.replace(out=str(run), lr=1e6, min_lr=1e6, steps=30, eval_every=1)
    try:
        train(cfg, text=tiny_text, progress=True)
    except LstmvizError as e:
        says(e, "became", "Try a lower --lr")
    for name in (LATEST, BEST):
        if (run / name).exists():
            ck = load_checkpoint(run / name)  # refuses NaN/inf weights: this is the check
            assert all(torch.isfinite(p).all() for p in ck.model.parameters())
    capsys.readouterr()
    refused(capsys, ["train", "--lr", "1e999", "--out", str(tmp_path / "x")], "--lr", "1e+06]")
