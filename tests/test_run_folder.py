"""The run folder (``--out``): one run at a time (a lock naming its holder), checked writable before
any training, no empty folder or temp file left behind, and earlier checkpoints kept when a save
fails."""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import socket
import stat
import subprocess
import sys

import pytest
import torch
from faults import (
    ROOT,
    TINY_FLAGS,
    lstmviz_process,
    no_hang,
    refused,
    run_lstmviz,
    says,
    wait_for_line,
)

import lstmviz.core.checkpoint as checkpoint
import lstmviz.core.files as files
import lstmviz.core.run as core_run
from lstmviz.__main__ import main
from lstmviz.core.checkpoint import (
    BEST,
    HOLDER,
    LATEST,
    LOCK,
    LOG,
    RunFolder,
    load_checkpoint,
    save_checkpoint,
)
from lstmviz.core.errors import LstmvizError
from lstmviz.core.training import train


def test_second_run_into_a_locked_folder_is_refused(tmp_path, corpus_file):
    """Two real processes: the second writer is refused naming the folder and the holder."""
    run = tmp_path / "run"
    args = ["train", "--corpus", str(corpus_file), *TINY_FLAGS, "--out", str(run)]
    first = lstmviz_process(*args, "--steps", "100000", "--log-every", "1", "--no-progress")
    try:
        wait_for_line(first, "step 1: train")
        second = run_lstmviz(*args, "--steps", "5", "--no-progress")
        assert second.returncode == 2, second.stderr
        line = second.stderr.strip()
        assert line.count("\n") == 0 and line.startswith("error: the run folder")
        assert repr(str(run)) in line and f"pid {first.pid} on {socket.gethostname()}" in line
        resume = run_lstmviz("train", "--out", str(run), "--resume", "--steps", "5")
        assert resume.returncode == 2 and "in use by another lstmviz run" in resume.stderr
    finally:
        first.kill()  # SIGKILL: the OS drops the lock with the process
        first.wait(30)
    # the holder is gone: the folder can be used again (resuming what the killed run saved)
    assert first.returncode == -signal.SIGKILL
    with RunFolder(run):
        assert (run / HOLDER).read_text().startswith(f"pid {os.getpid()} ")


def test_second_writer_in_the_same_process_is_refused(tmp_path, tiny_config, tiny_text):
    run = tmp_path / "run"
    with RunFolder(run):
        with pytest.raises(LstmvizError) as info:
            train(tiny_config.replace(out=str(run), steps=3), text=tiny_text, progress=False)
        says(info.value, "in use by another lstmviz run", f"pid {os.getpid()} on")
        assert not (run / LATEST).exists()
    result = train(tiny_config.replace(out=str(run), steps=3), text=tiny_text, progress=False)
    assert result.step == 3 and not (run / HOLDER).exists()  # the lock holder file goes on exit


def test_a_refused_run_leaves_no_empty_folder(tmp_path, tiny_config):
    run = tmp_path / "new" / "run"
    with pytest.raises(LstmvizError, match="does not exist"):
        train(tiny_config.replace(out=str(run), corpus=str(tmp_path / "none.txt")), progress=False)
    assert not run.exists()


def test_out_that_is_a_file_is_refused_before_training(tmp_path, corpus_file, capsys):
    (tmp_path / "file").write_text("x")
    refused(
        capsys,
        ["train", "--corpus", str(corpus_file), *TINY_FLAGS, "--out", str(tmp_path / "file")],
        "is a file, not a folder",
    )
    refused(
        capsys,
        [
            "train",
            "--corpus",
            str(corpus_file),
            *TINY_FLAGS,
            "--out",
            str(tmp_path / "file" / "sub"),
        ],
        "a part of the path is a file",
    )


def test_out_in_a_readonly_folder_is_refused_before_training(
    readonly_dir, corpus_file, capsys, monkeypatch
):
    monkeypatch.setattr(core_run, "read_corpus", lambda *a: pytest.fail("training started"))
    argv = ["train", "--corpus", str(corpus_file), *TINY_FLAGS]
    refused(capsys, [*argv, "--out", str(readonly_dir / "run")], "cannot create the run folder")
    refused(capsys, [*argv, "--out", str(readonly_dir)], "cannot write into the run folder")


def test_an_out_name_too_long(tmp_path, corpus_file, capsys):
    out = str(tmp_path / ("x" * 300))
    refused(capsys, ["train", "--corpus", str(corpus_file), *TINY_FLAGS, "--out", out], "too long")


@pytest.mark.parametrize("name", [LATEST, BEST])
@pytest.mark.parametrize("kind", ["folder", "symlink"])
def test_checkpoint_names_that_cannot_be_written_are_refused_up_front(
    tmp_path, tiny_config, tiny_text, name, kind
):
    """A folder or link named best.pt was found only at the first save, after training."""
    out = tmp_path / "run"
    out.mkdir()
    if kind == "folder":
        (out / name).mkdir()
    else:
        (out / name).symlink_to(tmp_path / "elsewhere.pt")
    seen = []
    with pytest.raises(LstmvizError) as info:
        train(tiny_config.replace(out=str(out)), text=tiny_text, callback=seen.append)
    says(info.value, name, "regular files")
    assert seen == []  # refused before the first step


def test_a_holder_file_that_is_a_folder(tmp_path, tiny_config, tiny_text):
    """Leaving the run folder raised a raw IsADirectoryError (and kept the lock held)."""
    out = tmp_path / "run"
    (out / HOLDER).mkdir(parents=True)
    with pytest.raises(LstmvizError, match="cannot write into the run folder"):
        train(tiny_config.replace(out=str(out)), text=tiny_text, progress=False)
    (out / HOLDER).rmdir()
    assert train(tiny_config.replace(out=str(out), steps=2), text=tiny_text, progress=False)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_a_folder_where_no_lock_file_can_be_created_is_not_in_use(capsys):
    """/proc/self is a folder, but no file can be created in it: filelock reports a timeout,
    which was shown as "in use by another lstmviz run (holder unknown); wait for it"."""
    line = refused(capsys, ["train", *TINY_FLAGS, "--out", "/proc/self"], "cannot write into")
    assert "in use" not in line


def test_stale_temp_files_of_a_killed_save_are_cleaned(tmp_path, tiny_trained, caplog):
    """Kill a real process inside a save (at its fsync); the next run removes its temp file."""
    run = tmp_path / "run"
    save_checkpoint(run / LATEST, tiny_trained.model, tiny_trained.vocab, step=7)
    code = (
        "import os, signal, sys, torch\n"
        "import lstmviz.core.checkpoint as ck\n"
        "ck.os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)\n"
        "raw = ck.read_raw(sys.argv[1])\n"
        "ck.atomic_save(raw, sys.argv[1])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code, str(run / LATEST)], env=env, timeout=120)
    assert done.returncode == -signal.SIGKILL
    stale = sorted(p.name for p in run.glob(".checkpoint.pt.*.tmp"))
    assert len(stale) == 1  # what the issue saw: left behind forever
    (run / ".best.pt.abc123.tmp").write_bytes(b"half")
    (run / "notes.tmp").write_text("not ours")
    caplog.set_level(logging.INFO, logger="lstmviz")
    with RunFolder(run):
        pass
    assert sorted(p.name for p in run.iterdir()) == [".lstmviz.lock", LATEST, "notes.tmp"]
    assert load_checkpoint(run).step == 7  # the checkpoint itself survived the killed save
    assert caplog.text.count("left behind by an interrupted save") == 2


def test_full_disk_during_training_keeps_earlier_checkpoints(
    monkeypatch, tmp_path, corpus_file, capsys
):
    real_save, calls = torch.save, [0]

    def disk_fills_up(obj, f, *args, **kwargs):
        calls[0] += 1
        if calls[0] >= 2:
            f.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(checkpoint.torch, "save", disk_fills_up)
    run = tmp_path / "run"
    argv = [
        "train",
        "--corpus",
        str(corpus_file),
        *TINY_FLAGS,
        "--steps",
        "20",
        "--save-every",
        "5",
        "--eval-every",
        "1000",
        "--out",
        str(run),
        "--no-progress",
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "Traceback" not in err
    says(err, "cannot write checkpoint", repr(str(run / LATEST)), "nothing was replaced")
    says(err, "the disk is full")
    monkeypatch.setattr(checkpoint.torch, "save", real_save)
    assert load_checkpoint(run).step == 5  # the earlier checkpoint is intact
    # no temp files; the run log written with the step-5 checkpoint is whole
    assert sorted(p.name for p in run.iterdir()) == [".lstmviz.lock", LATEST, LOG]
    assert json.loads((run / LOG).read_text())["config"]["save_every"] == 5


@pytest.mark.parametrize("name", [HOLDER, LOCK, LATEST, BEST, LOG, "epoch1.pt"])
@pytest.mark.parametrize("kind", ["link", "fifo"])
def test_no_run_file_is_written_through_a_link_or_into_a_fifo(
    tmp_path, tiny_config, tiny_text, name, kind
):
    """A link at .lstmviz.lock.holder pointing at a user's file: train exited 0 and the file held
    "pid ... since ..."; a FIFO there hung train in open()."""
    out = tmp_path / "run"
    out.mkdir()
    victim = tmp_path / "notes.txt"
    victim.write_text("my notes\n")
    if kind == "link":
        (out / name).symlink_to(victim)
    else:
        os.mkfifo(out / name)
    cfg = tiny_config.replace(out=str(out), steps=2)
    res = no_hang(lambda: train(cfg, text=tiny_text, progress=False), out / name, timeout=30)
    assert isinstance(res.get("error"), LstmvizError), res
    says(res["error"], name, "symbolic link" if kind == "link" else "FIFO")
    assert victim.read_text() == "my notes\n"
    assert (
        os.path.islink(out / name)
        if kind == "link"
        else stat.S_ISFIFO(os.lstat(out / name).st_mode)
    )
    assert name == LATEST or not (out / LATEST).exists()  # refused before any training


def test_a_link_or_fifo_swapped_in_after_the_check_is_still_not_written(tmp_path, monkeypatch):
    """The check and the write are two steps; the write puts a new file in place, so a link or
    FIFO that appeared in between is replaced, never followed or opened."""
    victim = tmp_path / "notes.txt"
    victim.write_text("my notes\n")
    (tmp_path / "link").symlink_to(victim)
    (tmp_path / "hard").hardlink_to(victim)
    os.mkfifo(tmp_path / "fifo")
    monkeypatch.setattr(files, "check_write_target", lambda path, what: None)  # lost the race
    for path in (tmp_path / "link", tmp_path / "hard", tmp_path / "fifo"):
        no_hang(lambda p=path: files.atomic_write(p, lambda f: f.write(b"x"), "f"), path)
        assert path.read_bytes() == b"x" and not path.is_symlink()
    assert victim.read_text() == "my notes\n"


def test_a_holder_file_hard_linked_to_a_users_file_leaves_it_alone(
    tmp_path, tiny_config, tiny_text
):
    out = tmp_path / "run"
    out.mkdir()
    victim = tmp_path / "notes.txt"
    victim.write_text("my notes\n")
    (out / HOLDER).hardlink_to(victim)
    train(tiny_config.replace(out=str(out), steps=2), text=tiny_text, progress=False)
    assert victim.read_text() == "my notes\n"


@pytest.mark.parametrize("name", [BEST, "epoch2.pt", LOG])
def test_a_fresh_run_never_replaces_files_of_another_run(tmp_path, saved, tiny_config, name):
    """best.pt (step 900) but no checkpoint.pt -- a run killed before its first save: a fresh
    train --out there exited 0 and best.pt was then step 5."""
    out = tmp_path / "run"
    out.mkdir()
    (out / name).write_bytes(saved.read_bytes())
    seen = []
    with pytest.raises(LstmvizError) as info:
        train(tiny_config.replace(out=str(out), steps=5), callback=seen.append, progress=False)
    says(info.value, name, "another --out", "no checkpoint.pt")
    assert seen == [] and (out / name).read_bytes() == saved.read_bytes()
    assert not (out / HOLDER).exists()


def test_a_fresh_run_into_a_folder_with_a_best_checkpoint_from_the_cli(tmp_path, saved, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / BEST).write_bytes(saved.read_bytes())
    refused(capsys, ["train", *TINY_FLAGS, "--out", str(out), "--steps", "5"], "best.pt", "--out")
    assert load_checkpoint(out / BEST).step == 60


def test_a_folder_named_like_a_temp_file_is_left_alone(tmp_path, tiny_config, tiny_text):
    """Cleaning up after a killed save removed files only; a folder of that name raised."""
    out = tmp_path / "run"
    (out / ".checkpoint.pt.abc123.tmp").mkdir(parents=True)
    train(tiny_config.replace(out=str(out), steps=2), text=tiny_text, progress=False)
    assert (out / ".checkpoint.pt.abc123.tmp").is_dir() and load_checkpoint(out).step == 2


def test_paths_given_as_path_objects_are_stored_as_strings(tmp_path, corpus_file, tiny_config):
    """train(corpus=Path(...), out=Path(...)) crashed writing log.json (TypeError, a bug), and a
    checkpoint holding a PosixPath would be refused by the loader."""
    out = tmp_path / "run"
    result = train(tiny_config.replace(corpus=corpus_file, out=out, steps=2), progress=False)
    assert result.config.corpus == str(corpus_file) and result.config.out == str(out)
    assert load_checkpoint(out).config["corpus"] == str(corpus_file)
    assert json.loads((out / LOG).read_text())["config"]["out"] == str(out)
    again = train(out=out, corpus=corpus_file, resume=True, steps=4, progress=False)
    assert again.step == 4  # the same corpus, as a Path, is the same corpus


def test_a_checkpoint_the_loader_would_refuse_is_never_saved(tmp_path, tiny_trained):
    path = tmp_path / "model.pt"
    with pytest.raises(LstmvizError) as info:
        save_checkpoint(path, tiny_trained.model, tiny_trained.vocab, config={"x": tmp_path})
    says(info.value, "refusing to save", "config", "could not load it back")
    assert not path.exists()
