"""What a run records for a student: epochs, fixed-prime samples, the first epoch's checkpoint, and
OUT/log.json, kept across a resume."""

from __future__ import annotations

import json

import pytest
import torch

from lstmviz.core.checkpoint import LOG, epoch_file, load_checkpoint, read_raw
from lstmviz.core.errors import LstmvizError
from lstmviz.core.sampling import generate
from lstmviz.core.training import train

# 64 streams of the 36,000 training characters are 562 columns: 17 windows of 32 per epoch.
EPOCH = 17


@pytest.fixture
def epoch_config(tiny_config):
    """The tiny model over 40 steps: two epoch ends (17, 34) and the last step (40)."""
    return tiny_config.replace(batch_size=64, steps=40, eval_every=100, sample_len=30)


def _kinds(history, kind):
    return [e for e in history if e["kind"] == kind]


def test_epochs_record_validation_samples_and_the_first_checkpoint(
    tmp_path, epoch_config, tiny_text
):
    out = tmp_path / "run"
    result = train(epoch_config.replace(out=str(out)), text=tiny_text, progress=False)
    log = json.loads((out / LOG).read_text(encoding="utf-8"))
    assert log["steps_per_epoch"] == EPOCH
    assert log["chars_per_step"] == 64 * 32
    # validation at each epoch's end (eval_every is 100) and at the last step
    vals = _kinds(result.history, "val")
    assert [(e["step"], e["epoch"]) for e in vals] == [(17, 1.0), (34, 2.0), (40, 40 / 17)]
    samples = _kinds(result.history, "sample")
    assert [e["step"] for e in samples] == [17, 34, 40]
    assert all(len(e["text"]) == 30 and e["prime"] == "\n" for e in samples)
    assert log["history"] == json.loads(json.dumps(result.history))  # the whole history, as JSON

    # the kept checkpoint is the model at the end of epoch 1, and its sample is that model's text
    first = load_checkpoint(out / epoch_file(1))
    assert first.step == EPOCH and first.val_loss == vals[0]["val_loss"]
    assert not (out / epoch_file(2)).exists()  # keep_epochs=1
    again = generate(first.model, first.vocab, "\n", 30, top_k=5, seed=epoch_config.seed)
    assert samples[0]["text"] == again
    assert samples[-1]["text"] == generate(result.model, result.vocab, "\n", 30, top_k=5, seed=0)


def test_sampling_does_not_change_training(epoch_config, tiny_text):
    with_samples = train(epoch_config, text=tiny_text, progress=False)
    without = train(epoch_config.replace(sample_len=0), text=tiny_text, progress=False)
    assert not _kinds(without.history, "sample")
    for (name, p), q in zip(
        with_samples.model.state_dict().items(),
        without.model.state_dict().values(),
        strict=True,
    ):
        assert torch.equal(p, q), name  # the samples drew nothing from the global RNG


def test_a_resumed_run_keeps_its_log_and_samples(tmp_path, epoch_config, tiny_text):
    cfg = epoch_config.replace(lr=2e-2, min_lr=2e-2)  # constant rate: stopping changes nothing
    train(cfg.replace(out=str(tmp_path / "a"), steps=25), text=tiny_text, progress=False)
    resumed = train(out=str(tmp_path / "a"), resume=True, steps=40, text=tiny_text, progress=False)
    straight = train(cfg.replace(out=str(tmp_path / "b")), text=tiny_text, progress=False)

    def record(history):  # the stopped run also sampled and validated at its last step, 25
        return [
            (e["kind"], e["step"], e.get("text"), round(e.get("val_loss") or 0, 5))
            for e in history
            if e["step"] != 25 or e["kind"] == "train"
        ]

    assert record(resumed.history) == record(straight.history)
    log = json.loads((tmp_path / "a" / LOG).read_text(encoding="utf-8"))
    assert record(log["history"]) == record(straight.history)
    assert read_raw(tmp_path / "a" / epoch_file(1))["step"] == EPOCH


@pytest.mark.parametrize(
    "setting, match",
    [
        (dict(sample_len=-1), "sample_len"),
        (dict(sample_every=1.5), "sample_every"),
        (dict(sample_top_k=0), "sample_top_k"),
        (dict(keep_epochs=-2), "keep_epochs"),
        (dict(sample_prime=""), "sample_prime"),
        (dict(sample_prime="\u2603"), r"sample prime \(--sample-prime\) contains '\u2603'"),
    ],
)
def test_bad_sample_settings_are_refused_before_training(
    tmp_path, epoch_config, tiny_text, setting, match
):
    out = tmp_path / "run"
    with pytest.raises(LstmvizError, match=match):
        train(epoch_config.replace(out=str(out), **setting), text=tiny_text, progress=False)
    assert not out.exists()  # nothing trained, nothing written
