"""Ctrl-C and SIGTERM during training: the step in progress finishes, a checkpoint is saved and the
resume command printed; a second signal stops at once, still naming the checkpoint kept; a signal
before the first step stops at once with nothing to save. Real signals, real processes."""

from __future__ import annotations

import os
import shlex
import signal
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import TINY
from faults import TINY_FLAGS, lstmviz_process, run_lstmviz, says, wait_for_line

import lstmviz.core.run as core_run
from lstmviz.__main__ import main
from lstmviz.core.checkpoint import HOLDER, LATEST, load_checkpoint, save_checkpoint
from lstmviz.core.training import TrainConfig, TrainingInterrupted, train
from lstmviz.critical import critical, importing


@pytest.mark.parametrize("sig, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_saves_a_final_checkpoint_and_prints_the_resume_command(
    tmp_path, corpus_file, sig, status
):
    run = tmp_path / "run dir"  # a space: the printed command must quote it
    args = ["train", "--corpus", str(corpus_file), *TINY_FLAGS, "--out", str(run)]
    proc = lstmviz_process(
        *args,
        "--steps",
        "100000",
        "--save-every",
        "0",
        "--eval-every",
        "1000",
        "--log-every",
        "3",
        "--no-progress",
    )
    try:
        wait_for_line(proc, "step 6: train")
        assert not (run / LATEST).exists()  # --save-every 0: nothing saved before the signal
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == status, err
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]
    name = signal.Signals(sig).name
    ck = load_checkpoint(run)
    assert line.startswith(f"interrupted by {name} at step {ck.step}; saved ")
    command = line.split("Resume with: ", 1)[1]
    assert command == f"python -m lstmviz train --out {shlex.quote(str(run))} --resume"
    assert ck.step >= 6 and ck.raw["optimizer"] is not None
    if sig == signal.SIGINT:
        # the printed command really resumes, and continues exactly like an uninterrupted run
        target = ck.step + 4
        resumed = run_lstmviz(*shlex.split(command)[3:], "--steps", str(target))
        assert resumed.returncode == 0, resumed.stderr
        straight = train(
            TrainConfig(
                **{
                    **TINY,
                    "corpus": str(corpus_file),
                    "steps": target,
                    "eval_every": 1000,
                    "log_every": 3,
                    "save_every": 0,
                }
            ),
            progress=False,
        )
        again = load_checkpoint(run)
        assert again.step == target
        for key, value in straight.model.state_dict().items():
            torch.testing.assert_close(again.model.state_dict()[key], value, atol=1e-5, rtol=0)


def test_interrupt_in_process_raises_training_interrupted(tmp_path, tiny_config, tiny_text):
    calls = [0]

    def ctrl_c(entry):
        calls[0] += 1
        if calls[0] == 2:
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, delivered to the main thread

    run = tmp_path / "run"
    cfg = tiny_config.replace(out=str(run), log_every=2, save_every=0, eval_every=1000)
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(TrainingInterrupted) as info:
        train(cfg, text=tiny_text, callback=ctrl_c, progress=False)
    assert info.value.step == 4 and info.value.signum == signal.SIGINT
    assert load_checkpoint(run).step == 4
    assert signal.getsignal(signal.SIGINT) is before  # the handler is put back
    assert not (run / HOLDER).exists()
    calls[0] = 0
    with pytest.raises(TrainingInterrupted) as info:
        train(cfg.replace(out=None), text=tiny_text, callback=ctrl_c, progress=False)
    says(info.value, "SIGINT", "nothing saved")


def test_a_signal_before_training_starts_stops_at_once(
    monkeypatch, tmp_path, tiny_config, capsys, corpus_file
):
    """Ctrl-C while the corpus loads: no waiting for a first step; nothing to save yet."""

    def slow_corpus(source):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(2)  # the handler interrupts this sleep
        pytest.fail("the signal did not stop the run")

    monkeypatch.setattr(core_run, "read_corpus", slow_corpus)
    with pytest.raises(TrainingInterrupted) as info:
        train(tiny_config.replace(out=str(tmp_path / "run")), progress=False)
    says(info.value, "before training started", "nothing saved")
    assert not (tmp_path / "run").exists()
    argv = ["train", "--corpus", str(corpus_file), *TINY_FLAGS, "--out", str(tmp_path / "r2")]
    assert main(argv) == 130
    says(capsys.readouterr().err.strip(), "SIGINT", "before training started", "nothing saved")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_second_signal_still_says_how_to_resume(tmp_path, tiny_config, tiny_text, sig):
    """Two Ctrl-C (or SIGTERM) in a row: a bare KeyboardInterrupt ("interrupted", status 130 even
    for SIGTERM) that named neither the kept checkpoint nor the resume command."""
    out = tmp_path / "run"
    seen = []

    def twice(entry):
        seen.append(entry["step"])
        if entry["step"] == 6:
            os.kill(os.getpid(), sig)  # the first asks for a stop after this step...
            os.kill(os.getpid(), sig)  # ...the second stops at once

    cfg = tiny_config.replace(steps=1000, log_every=1, save_every=2, out=str(out))
    with pytest.raises(TrainingInterrupted) as caught:
        train(cfg, text=tiny_text, callback=twice, progress=False)
    assert caught.value.signum == sig
    assert f"--out {out} --resume" in str(caught.value)
    assert load_checkpoint(out / LATEST).step == 4  # the save of step 4 is kept, intact


def test_two_signals_during_a_save_keep_the_save_whole(
    monkeypatch, tmp_path, tiny_config, tiny_text
):
    """Two Ctrl-C 20-100 ms apart during a save: torch's zip writer turned the interrupt into
    "unexpected RuntimeError ... a bug in lstmviz", and the save was lost."""
    real_save = torch.save
    saves = []

    def save_interrupted(obj, f, *args, **kwargs):
        saves.append(obj["step"])
        if obj["step"] == 4:  # both arrive while the file is half written
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save_interrupted)
    out = tmp_path / "run"
    cfg = tiny_config.replace(steps=1000, log_every=1, save_every=2, eval_every=1000, out=str(out))
    with pytest.raises(TrainingInterrupted) as caught:
        train(cfg, text=tiny_text, progress=False)
    says(caught.value, "second SIGINT", "is kept", "Resume with")
    assert load_checkpoint(out / LATEST).step == 4  # the save they arrived in, whole
    assert saves == [2, 4] and [p for p in out.iterdir() if p.name.endswith(".tmp")] == []


def test_ctrl_c_during_a_save_outside_training_comes_after_the_file_is_whole(
    monkeypatch, tmp_path, tiny_trained
):
    """No training, Python's own handler: the KeyboardInterrupt comes once the save is done."""
    real_save = torch.save

    def save_interrupted(obj, f, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save_interrupted)
    path = tmp_path / "model.pt"
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, tiny_trained.model, tiny_trained.vocab, step=7)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert load_checkpoint(path).step == 7


def test_a_critical_section_holds_signals_until_it_ends():
    """Held, not lost: delivered in order to the handler that was there before, then restored."""
    got = []
    before = signal.signal(signal.SIGTERM, lambda signum, frame: got.append(signum))
    try:
        with critical() as held:
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)
            assert got == [] and held == [signal.SIGTERM, signal.SIGINT]
            inside_done = True
        pytest.fail("the held SIGINT was not delivered")
    except KeyboardInterrupt:
        assert inside_done and got == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, before)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_while_the_command_imports_torch(tmp_path):
    """Ctrl-C in the first ~1.5 s (torch importing): a 14-46 line traceback, once an
    AttributeError, once the interrupt swallowed and the run completed."""
    out = tmp_path / "run"
    proc = lstmviz_process("train", *TINY_FLAGS, "--steps", "3", "--out", str(out))
    try:
        deadline = time.monotonic() + 60
        while "libtorch" not in Path(f"/proc/{proc.pid}/maps").read_text():
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.005)
        proc.send_signal(signal.SIGINT)  # torch's libraries are loading: the import is under way
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert err == "interrupted by SIGINT before training started; nothing was written\n"
    assert not out.exists()


def test_an_import_interrupted_in_a_program_raises_keyboard_interrupt_once_whole(monkeypatch):
    """Imported by a program (a notebook), the held Ctrl-C is the usual KeyboardInterrupt; as the
    command, it is one line and exit 130."""
    with pytest.raises(KeyboardInterrupt), importing():
        os.kill(os.getpid(), signal.SIGINT)
    for argv in ([sys.executable, "-m", "lstmviz", "train"], ["/venv/bin/lstmviz", "sample"]):
        monkeypatch.setattr(sys, "orig_argv", argv)
        monkeypatch.setattr(sys, "argv", argv[1:] if argv[1] == "-m" else argv)
        with pytest.raises(SystemExit) as info, importing():
            os.kill(os.getpid(), signal.SIGTERM)
        assert info.value.code == 143
