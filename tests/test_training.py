"""Training: stateful truncated BPTT, losses, callback, presets, NaN stop, checkpoints, resume."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

import lstmviz.core.run as core_run
import lstmviz.core.training as training
from lstmviz.core.checkpoint import BEST, LATEST, load_checkpoint, read_raw
from lstmviz.core.corpus import split
from lstmviz.core.errors import LstmvizError
from lstmviz.core.model import CharLSTM
from lstmviz.core.training import (
    PRESETS,
    TrainConfig,
    choose_preset,
    pick_device,
    streams,
    train,
    validation_loss,
)
from lstmviz.core.vocab import Vocab


def test_streams_are_contiguous_and_shifted():
    ids = torch.arange(23)
    x, y = streams(ids, 4)
    assert x.shape == y.shape == (4, 5)
    assert x[1].tolist() == [5, 6, 7, 8, 9]  # row b holds text[b*n : (b+1)*n]
    assert torch.equal(y, x + 1)  # target = next character


def test_presets_and_choice(monkeypatch):
    full = PRESETS["full"]
    assert (full["hidden_size"], full["num_layers"], full["dropout"]) == (512, 2, 0.5)
    assert (full["seq_len"], full["batch_size"]) == (100, 128)
    monkeypatch.setenv("LSTMVIZ_PRESET", "full")
    assert choose_preset() == "full"
    assert TrainConfig.from_preset(steps=7).hidden_size == 512
    monkeypatch.setenv("LSTMVIZ_PRESET", "quick")
    cfg = TrainConfig.from_preset(steps=7)
    assert (cfg.preset, cfg.steps, cfg.hidden_size) == ("quick", 7, PRESETS["quick"]["hidden_size"])
    assert choose_preset("full") == "full"  # an explicit name beats the environment
    monkeypatch.delenv("LSTMVIZ_PRESET")
    assert choose_preset() == ("full" if torch.cuda.is_available() else "quick")
    monkeypatch.setenv("LSTMVIZ_PRESET", "huge")
    with pytest.raises(LstmvizError, match="unknown preset 'huge'"):
        choose_preset()
    with pytest.raises(LstmvizError, match="unknown training setting"):
        TrainConfig().replace(hiden_size=3)


def test_pick_device():
    assert pick_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert pick_device() == torch.device("cpu") or torch.backends.mps.is_available()
        with pytest.raises(LstmvizError, match="no CUDA GPU"):
            pick_device("cuda")
    with pytest.raises(LstmvizError, match="unknown device"):
        pick_device("tpu9")


def test_learning_rate_schedule():
    cfg = TrainConfig(steps=100, lr=1e-2, min_lr=1e-3)
    assert training.lr_at(cfg, 0) == pytest.approx(1e-2)
    assert training.lr_at(cfg, 50) == pytest.approx(5.5e-3)
    assert training.lr_at(cfg, 100) == pytest.approx(1e-3)


def test_training_learns_and_reports(tiny_trained, tiny_text):
    vocab_size = len(Vocab.from_text(tiny_text))
    vals = [e for e in tiny_trained.history if e["kind"] == "val"]
    trains = [e for e in tiny_trained.history if e["kind"] == "train"]
    assert [e["step"] for e in vals] == [10, 20, 30, 40, 50, 60]
    assert [e["step"] for e in trains] == list(range(5, 61, 5))
    # starts near a uniform guess (ln V nats) and clearly improves on it
    assert trains[0]["train_loss"] > 0.8 * math.log(vocab_size)
    assert vals[-1]["val_loss"] < vals[0]["val_loss"] - 0.3
    assert vals[-1]["val_loss"] < math.log(vocab_size) - 0.8
    e = vals[-1]
    assert e["val_bpc"] == pytest.approx(e["val_loss"] / math.log(2))
    assert e["val_perplexity"] == pytest.approx(math.exp(e["val_loss"]))
    assert tiny_trained.val_loss == e["val_loss"] and tiny_trained.step == 60
    assert not tiny_trained.model.training


def test_callback_receives_every_entry(tiny_config, tiny_text):
    seen = []
    result = train(
        tiny_config.replace(steps=10), text=tiny_text, progress=False, callback=seen.append
    )
    assert seen == result.history
    assert [(e["kind"], e["step"]) for e in seen] == [
        ("train", 5),
        ("train", 10),
        ("val", 10),
        ("sample", 10),  # the run's last step: a sample from the fixed prime and seed
    ]
    assert seen[0]["val_loss"] is None and seen[0]["chars_per_sec"] > 0
    assert seen[2]["train_loss"] == seen[1]["train_loss"]


def test_state_is_carried_between_batches(monkeypatch, tiny_config, tiny_text):
    """Each batch continues the previous one in every stream, with the previous (detached) state."""
    calls = []

    class Spy(CharLSTM):
        def forward(self, ids, state=None):
            if self.training:
                calls.append((ids.clone(), None if state is None else state[0].clone()))
            logits, new_state = super().forward(ids, state)
            if self.training:
                calls[-1] += (new_state[0].detach().clone(),)
            return logits, new_state

    monkeypatch.setattr(core_run, "CharLSTM", Spy)
    cfg = tiny_config.replace(steps=3, eval_every=100, reset_prob=0.0)
    train(cfg, text=tiny_text, progress=False)
    vocab = Vocab.from_text(tiny_text)
    x, _ = streams(vocab.encode(split(tiny_text)[0]), cfg.batch_size)
    assert calls[0][1] is None  # the first batch starts from zero state
    for k, (ids, state_in, _) in enumerate(calls):
        assert torch.equal(ids, x[:, k * cfg.seq_len : (k + 1) * cfg.seq_len])
        if k:
            assert torch.equal(state_in, calls[k - 1][2])  # the state the previous batch ended with
            assert not state_in.requires_grad


def test_random_state_resets(monkeypatch, tiny_config, tiny_text):
    """With reset_prob, some streams start a batch from zero state; the others keep theirs."""
    calls = []

    class Spy(CharLSTM):
        def forward(self, ids, state=None):
            logits, new_state = super().forward(ids, state)
            if self.training:
                calls.append(
                    (None if state is None else state[1].clone(), new_state[1].detach().clone())
                )
            return logits, new_state

    monkeypatch.setattr(core_run, "CharLSTM", Spy)
    train(
        tiny_config.replace(steps=20, eval_every=100, reset_prob=0.3),
        text=tiny_text,
        progress=False,
    )
    kept = zeroed = 0
    for (_, prev_out), (state_in, _) in zip(calls[:-1], calls[1:], strict=True):
        for b in range(state_in.shape[1]):
            if torch.equal(state_in[:, b], prev_out[:, b]):
                kept += 1
            else:
                assert not state_in[:, b].any()
                zeroed += 1
    assert kept + zeroed == 19 * tiny_config.batch_size
    assert 0.15 < zeroed / (kept + zeroed) < 0.45


def test_evaluate_carries_state_like_one_long_sequence(tiny_trained, tiny_text):
    model, vocab = tiny_trained.model, tiny_trained.vocab
    x, y = streams(vocab.encode(tiny_text[:2001]), 4)
    chunked = validation_loss(model, x, y, seq_len=7)
    with torch.no_grad():
        logits, _ = model(x)
        whole = torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten()).item()
    assert chunked == pytest.approx(whole, rel=1e-5)


def test_too_short_corpus(tiny_config):
    with pytest.raises(LstmvizError, match="corpus is too short"):
        train(tiny_config, text="To be or not to be" * 3, progress=False)


def test_nan_loss_stops_and_keeps_last_checkpoint(monkeypatch, tmp_path, tiny_config, tiny_text):
    real_ce, calls = training.F.cross_entropy, [0]

    def poisoned(*args, **kwargs):
        calls[0] += 1
        loss = real_ce(*args, **kwargs)
        return loss * float("nan") if calls[0] == 13 else loss  # the 13th training batch

    monkeypatch.setattr(training.F, "cross_entropy", poisoned)
    cfg = tiny_config.replace(out=str(tmp_path / "run"), save_every=5, eval_every=1000)
    with pytest.raises(LstmvizError, match=r"loss became nan at step 13.*step 10"):
        train(cfg, text=tiny_text, progress=False)
    ck = load_checkpoint(tmp_path / "run")
    assert ck.step == 10
    assert all(torch.isfinite(p).all() for p in ck.model.parameters())


def test_nan_gradient_stops_before_the_weights_change(
    monkeypatch, tmp_path, tiny_config, tiny_text
):
    real_ce, calls = training.F.cross_entropy, [0]

    def poisoned(logits, *args, **kwargs):
        calls[0] += 1
        loss = real_ce(logits, *args, **kwargs)
        if calls[0] == 7:  # finite value, NaN gradient: d sqrt(z)/dz at z = 0 is inf, times 0
            loss = loss + 0 * torch.sqrt(logits.sum() * 0)
        return loss

    monkeypatch.setattr(training.F, "cross_entropy", poisoned)
    cfg = tiny_config.replace(out=str(tmp_path / "run"), save_every=1, eval_every=1000)
    with pytest.raises(LstmvizError, match=r"gradient norm became nan at step 7.*step 6"):
        train(cfg, text=tiny_text, progress=False)
    ck = load_checkpoint(tmp_path / "run")
    assert ck.step == 6 and all(torch.isfinite(p).all() for p in ck.model.parameters())


def test_refuses_to_overwrite_a_run(tmp_path, tiny_config, tiny_text):
    cfg = tiny_config.replace(steps=5, out=str(tmp_path / "run"))
    train(cfg, text=tiny_text, progress=False)
    before = (tmp_path / "run" / LATEST).read_bytes()
    with pytest.raises(LstmvizError, match="already holds a checkpoint"):
        train(cfg, text=tiny_text, progress=False)
    assert (tmp_path / "run" / LATEST).read_bytes() == before


def test_resume_checks(tmp_path, tiny_config, tiny_text):
    cfg = tiny_config.replace(steps=5, out=str(tmp_path / "run"))
    with pytest.raises(LstmvizError, match="nothing to resume"):
        train(cfg, text=tiny_text, resume=True, progress=False)
    train(cfg, text=tiny_text, progress=False)
    with pytest.raises(LstmvizError, match="hidden_size=32"):
        train(out=cfg.out, resume=True, text=tiny_text, progress=False, hidden_size=64)
    other = tiny_text.replace("e", "E")  # another alphabet
    with pytest.raises(LstmvizError, match="holds other data"):
        train(out=cfg.out, resume=True, text=other, progress=False, steps=8)
    assert read_raw(tmp_path / "run")["step"] == 5
    assert read_raw(tmp_path / "run")["config"]["corpus"] == "<text>"
    with pytest.raises(LstmvizError, match=r"trained on a text passed as train\(text=\.\.\.\)"):
        train(out=cfg.out, resume=True, progress=False, steps=8)


def test_resume_equals_uninterrupted_run(tmp_path, tiny_config, tiny_text):
    # constant learning rate, so a run stopped at 20 steps follows the same schedule as one to 30
    cfg = tiny_config.replace(steps=30, save_every=10)
    assert cfg.lr == cfg.min_lr
    part = train(cfg.replace(out=str(tmp_path / "a"), steps=20), text=tiny_text, progress=False)
    assert part.step == 20
    resumed = train(out=str(tmp_path / "a"), resume=True, steps=30, text=tiny_text, progress=False)
    straight = train(cfg, text=tiny_text, progress=False)
    assert resumed.step == 30
    for (name, p), q in zip(
        straight.model.state_dict().items(), resumed.model.state_dict().values(), strict=True
    ):
        assert torch.allclose(p, q, atol=1e-6), name
    assert resumed.val_loss == pytest.approx(straight.val_loss, abs=1e-6)

    def losses(history):
        return [
            (e["kind"], e["step"], round(e["train_loss"], 5))
            for e in history
            if e["kind"] != "sample"  # the stopped run sampled at its last step, 20
        ]

    assert losses(resumed.history) == losses(straight.history)  # history carried over the resume


def test_kill_during_training_then_resume(tmp_path, corpus_file, tiny_text):
    """SIGKILL a real training process after a checkpoint exists; resume must continue exactly."""
    out = tmp_path / "run"
    flags = [
        "--corpus",
        str(corpus_file),
        "--hidden-size",
        "32",
        "--num-layers",
        "2",
        "--dropout",
        "0.1",
        "--embedding-dim",
        "8",
        "--seq-len",
        "32",
        "--batch-size",
        "16",
        "--lr",
        "0.02",
        "--min-lr",
        "0.02",
        "--reset-prob",
        "0.1",
        "--eval-every",
        "10",
        "--log-every",
        "5",
        "--seed",
        "0",
        "--device",
        "cpu",
    ]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lstmviz",
            "train",
            *flags,
            "--steps",
            "100000",
            "--save-every",
            "3",
            "--out",
            str(out),
            "--no-progress",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (out / LATEST).exists():
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
        time.sleep(0.3)  # let it run on, probably into another save
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    killed = load_checkpoint(out)  # intact despite the kill
    assert killed.step >= 3 and killed.step % 3 == 0
    saved = {k: v.clone() for k, v in killed.model.state_dict().items()}

    target = killed.step + 7
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "lstmviz",
            "train",
            "--out",
            str(out),
            "--resume",
            "--steps",
            str(target),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"done: step {target}" in done.stdout
    resumed = load_checkpoint(out)
    assert resumed.step == target

    # the same settings without interruption, in this process: same weights
    straight = train(
        TrainConfig(
            corpus=str(corpus_file),
            hidden_size=32,
            num_layers=2,
            dropout=0.1,
            embedding_dim=8,
            seq_len=32,
            batch_size=16,
            lr=0.02,
            min_lr=0.02,
            reset_prob=0.1,
            eval_every=10,
            log_every=5,
            seed=0,
            device="cpu",
            steps=target,
        ),
        progress=False,
    )
    for name, p in straight.model.state_dict().items():
        assert torch.allclose(p, resumed.model.state_dict()[name], atol=1e-5), name
    # and the resumed run really started from the saved weights, not from scratch
    first = train(
        TrainConfig(**{**straight.config.to_dict(), "steps": killed.step}), progress=False
    )
    for name, p in first.model.state_dict().items():
        assert torch.allclose(p, saved[name], atol=1e-5), name
    assert (out / BEST).exists()


def test_resume_that_validates_before_its_first_log(tmp_path, tiny_config, tiny_text):
    """A resumed run whose first event is a validation has no train loss yet: no crash, no fake."""
    cfg = tiny_config.replace(
        out=str(tmp_path / "run"), steps=2, log_every=5, eval_every=3, save_every=0
    )
    train(cfg, text=tiny_text, progress=True)
    seen: list[dict] = []
    resumed = train(
        out=cfg.out, resume=True, steps=8, text=tiny_text, progress=True, callback=seen.append
    )
    assert resumed.step == 8
    first = seen[0]
    assert (first["kind"], first["step"], first["train_loss"]) == ("val", 3, None)
    assert first["val_loss"] > 0
