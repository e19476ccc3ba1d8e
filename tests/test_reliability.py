"""Nothing lost, nothing hung (issue 12): bad input and faults, each refused in one clear line.

Real FIFOs, real local HTTP servers on 127.0.0.1 only, real concurrent processes, real signals, a
real tmpfs where this machine lets us mount one (root), and a simulated ENOSPC everywhere.
"""

from __future__ import annotations

import errno
import http.server
import logging
import math
import os
import shlex
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import platformdirs
import pytest
import torch
from conftest import TINY, local_server

import lstmviz.core.checkpoint as checkpoint
import lstmviz.core.corpus as corpus
import lstmviz.core.training as training
from lstmviz.__main__ import main
from lstmviz.core.checkpoint import (
    BEST,
    HOLDER,
    LATEST,
    RunFolder,
    load_checkpoint,
    save_checkpoint,
)
from lstmviz.core.corpus import cache_dir, load_corpus
from lstmviz.core.errors import LstmvizError
from lstmviz.core.files import open_regular
from lstmviz.core.sampling import generate
from lstmviz.core.training import TrainConfig, TrainingInterrupted, train
from lstmviz.gates.recorder import GateRecorder

ROOT = Path(__file__).resolve().parents[1]

#: The CLI flags of conftest's TINY settings (a model that trains in about a second).
TINY_FLAGS = [
    *("--hidden-size 32 --num-layers 2 --dropout 0.1 --embedding-dim 8 --seq-len 32").split(),
    *("--batch-size 16 --lr 0.02 --min-lr 0.02 --reset-prob 0.1 --seed 0 --device cpu").split(),
]


def refused(capsys, argv, *fragments):
    """Run the CLI in-process: exit 2, nothing on stdout, one stderr line 'error: ...fragments'."""
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's refusals (one line too, see cli._Parser)
        code = e.code
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, captured.err
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert "Traceback" not in captured.err and "\x1b" not in captured.err
    assert captured.out == ""
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def lstmviz_process(*args, **kwargs) -> subprocess.Popen:
    """``python -m lstmviz ARGS`` as a real process (worktree first on the path)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "lstmviz", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
        **kwargs,
    )


def run_lstmviz(*args, timeout: float = 120) -> subprocess.CompletedProcess:
    proc = lstmviz_process(*args)
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def wait_for_line(proc: subprocess.Popen, text: str, timeout: float = 90) -> str:
    """Read the process's stdout until a line contains ``text`` (kill it after ``timeout``)."""
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        for line in proc.stdout:
            if text in line:
                return line
    finally:
        timer.cancel()
    raise AssertionError(f"never printed {text!r}; stderr: {proc.stderr.read()}")


@pytest.fixture
def saved(tmp_path, tiny_trained):
    """A full training checkpoint of the tiny model (optimizer state included)."""
    return save_checkpoint(
        tmp_path / "ck.pt",
        tiny_trained.model,
        tiny_trained.vocab,
        step=60,
        config=tiny_trained.config.to_dict(),
        val_loss=tiny_trained.val_loss,
        optimizer=torch.optim.Adam(tiny_trained.model.parameters()),
        history=tiny_trained.history,
    )


def _can_mount() -> bool:
    return os.geteuid() == 0 and sys.platform.startswith("linux")


@pytest.fixture
def tmpfs(tmp_path):
    """mount(size, readonly=False) -> a fresh tmpfs folder (root only, else the test is skipped)."""
    mounted: list[Path] = []

    def mount(size: str = "1m", readonly: bool = False) -> Path:
        if not _can_mount():
            pytest.skip("mounting a tmpfs needs root on Linux")
        where = tmp_path / f"tmpfs{len(mounted)}"
        where.mkdir()
        opts = f"size={size}" + (",ro" if readonly else "")
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)], capture_output=True
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.fixture
def readonly_dir(tmp_path, tmpfs):
    """A folder nobody here may write into: a read-only tmpfs as root, chmod 555 otherwise."""
    if os.geteuid() == 0:
        yield tmpfs("64k", readonly=True)
        return
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    yield folder
    folder.chmod(0o755)


def no_hang(fn, fifo: Path | None = None, timeout: float = 20):
    """Call ``fn`` in a thread; if it blocks (a FIFO open), unblock it, fail instead of hanging."""
    result: dict = {}

    def target():
        try:
            result["value"] = fn()
        except BaseException as e:  # noqa: BLE001 -- handed to the test thread
            result["error"] = e

    thread = threading.Thread(target=target, daemon=True)
    start = time.monotonic()
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        if fifo is not None:  # a writer that closes at once ends the reader's wait (EOF)
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(5)
        pytest.fail(f"blocked for {timeout} s (a FIFO open or an endless read)")
    result["seconds"] = time.monotonic() - start
    return result


# ============================================================== 1. a diverging run


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
    with pytest.raises(LstmvizError, match=r"validation loss became nan at step 3.*\(step 2\)"):
        train(cfg, text=tiny_text, progress=False)
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
    with pytest.raises(LstmvizError, match=r"weights became NaN or infinite at step 4.*\(step 2\)"):
        train(cfg, text=tiny_text, progress=False)
    assert load_checkpoint(run).step == 2


def test_save_checkpoint_refuses_non_finite_weights_and_losses(tmp_path, tiny_trained):
    model = tiny_trained.model
    good = save_checkpoint(tmp_path / "ck.pt", model, tiny_trained.vocab, step=1)
    before = good.read_bytes()
    with pytest.raises(LstmvizError, match="val_loss is nan"):
        save_checkpoint(good, model, tiny_trained.vocab, val_loss=float("nan"))
    bad = type(model)(**model.config())
    with torch.no_grad():
        bad.head.bias[0] = float("inf")
    with pytest.raises(LstmvizError, match=r"'head.bias' holds NaN or infinite values"):
        save_checkpoint(good, bad, tiny_trained.vocab)
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
        assert "became" in str(e) and "Try a lower --lr" in str(e)
    for name in (LATEST, BEST):
        if (run / name).exists():
            ck = load_checkpoint(run / name)  # refuses NaN/inf weights: this is the check
            assert all(torch.isfinite(p).all() for p in ck.model.parameters())
    capsys.readouterr()
    refused(capsys, ["train", "--lr", "1e999", "--out", str(tmp_path / "x")], "--lr", "1e+06]")


# ============================================================== 2. two runs into one folder


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
        with pytest.raises(LstmvizError, match=r"is in use by another lstmviz run \(pid \d+ on"):
            train(tiny_config.replace(out=str(run), steps=3), text=tiny_text, progress=False)
        assert not (run / LATEST).exists()
    result = train(tiny_config.replace(out=str(run), steps=3), text=tiny_text, progress=False)
    assert result.step == 3 and not (run / HOLDER).exists()  # the lock holder file goes on exit


def test_a_refused_run_leaves_no_empty_folder(tmp_path, tiny_config):
    run = tmp_path / "new" / "run"
    with pytest.raises(LstmvizError, match="does not exist"):
        train(tiny_config.replace(out=str(run), corpus=str(tmp_path / "none.txt")), progress=False)
    assert not run.exists()


# ============================================================== 3. special and huge files


@pytest.mark.parametrize("use", ["api", "cli"])
def test_fifo_corpus_is_refused_without_blocking(tmp_path, capsys, use):
    fifo = tmp_path / "corpus.fifo"
    os.mkfifo(fifo)
    if use == "api":
        res = no_hang(lambda: load_corpus(str(fifo)), fifo)
        assert isinstance(res.get("error"), LstmvizError), res
        assert "is a FIFO (named pipe), not a regular file" in str(res["error"])
    else:
        res = no_hang(lambda: main(["train", "--corpus", str(fifo), *TINY_FLAGS]), fifo)
        assert res.get("value") == 2, res
        assert "is a FIFO (named pipe)" in capsys.readouterr().err


@pytest.mark.parametrize("use", ["api", "cli"])
def test_fifo_checkpoint_is_refused_without_blocking(tmp_path, capsys, use):
    fifo = tmp_path / "model.pt"
    os.mkfifo(fifo)
    if use == "api":
        res = no_hang(lambda: load_checkpoint(fifo), fifo)
        assert "is a FIFO (named pipe), not a regular file" in str(res.get("error")), res
    else:
        res = no_hang(lambda: main(["sample", "--checkpoint", str(fifo)]), fifo)
        assert res.get("value") == 2, res
        err = capsys.readouterr().err
        assert err.startswith("error: checkpoint") and "FIFO" in err


def test_a_fifo_swapped_in_after_the_check_does_not_block(tmp_path, monkeypatch):
    """The open itself is non-blocking and re-checked with fstat: a race cannot hang the read."""
    fifo = tmp_path / "swap.fifo"
    os.mkfifo(fifo)
    real_stat = os.stat
    monkeypatch.setattr(os, "stat", lambda p, *a, **k: real_stat(__file__))  # "looks regular"
    res = no_hang(lambda: open_regular(fifo, "corpus", 10**6), fifo)
    assert "is a FIFO (named pipe), not a regular file" in str(res.get("error")), res


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_endless_devices_are_refused(device, capsys):
    res = no_hang(lambda: load_corpus(device))
    assert "is a character device, not a regular file" in str(res.get("error")), res
    res = no_hang(lambda: load_checkpoint(device))
    assert "is a character device, not a regular file" in str(res.get("error")), res
    refused(capsys, ["sample", "--checkpoint", device], "character device")


def test_directory_is_refused_as_corpus_and_checkpoint(tmp_path, capsys):
    (tmp_path / "run" / LATEST).mkdir(parents=True)  # a folder where the checkpoint should be
    refused(capsys, ["train", "--corpus", str(tmp_path)], "is a directory")
    refused(capsys, ["sample", "--checkpoint", str(tmp_path / "run" / LATEST)], "a folder")


def test_sparse_10_gb_files_are_refused_without_reading(tmp_path, capsys):
    big = tmp_path / "huge.txt"
    with open(big, "wb") as f:
        f.truncate(10 * 2**30)  # sparse: 10 GiB claimed, nothing stored
    res = no_hang(lambda: load_corpus(str(big)), timeout=10)
    assert res["seconds"] < 5
    msg = str(res.get("error"))
    assert "10,737,418,240 bytes, more than the 200,000,000-byte cap for a corpus" in msg
    res = no_hang(lambda: load_checkpoint(big), timeout=10)
    assert "more than the 1,000,000,000-byte cap for a checkpoint" in str(res.get("error"))
    refused(capsys, ["sample", "--checkpoint", str(big)], "byte cap for a checkpoint")


def test_corpus_cap_is_the_setting(tmp_path, monkeypatch):
    path = tmp_path / "t.txt"
    path.write_text("x" * 1001)
    monkeypatch.setattr(corpus, "FILE_CAP", 1000)
    with pytest.raises(LstmvizError, match="1,001 bytes, more than the 1,000-byte cap"):
        load_corpus(str(path))
    monkeypatch.setattr(corpus, "FILE_CAP", 1001)
    assert load_corpus(str(path)) == "x" * 1001


# ============================================================== 4. downloads


class Handler(http.server.BaseHTTPRequestHandler):
    """Scripted answers: /ok, /short (half its Content-Length), /trickle, /loop, /big."""

    requests: list[str] = []
    body = b"Shall I compare thee to a summer's day?\n" * 50

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802 -- http.server's name
        Handler.requests.append(self.path)
        if self.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.end_headers()
        elif self.path == "/short":
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.body)))
            self.end_headers()
            self.wfile.write(self.body[: len(self.body) // 2])
            self.wfile.flush()
            self.close_connection = True
        elif self.path == "/trickle":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            for _ in range(1000):
                try:
                    self.wfile.write(b"x")
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.2)
        elif self.path == "/slowheaders":  # the status line, then a header a byte at a time
            self.wfile.write(b"HTTP/1.0 200 OK\r\nX-Slow: ")
            for _ in range(1000):
                try:
                    self.wfile.write(b"x")
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.2)
        elif self.path == "/big":
            self.send_response(200)
            self.send_header("Content-Length", str(10**12))
            self.end_headers()
        else:
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.body)))
            self.end_headers()
            self.wfile.write(self.body)


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A scripted HTTP server on 127.0.0.1 (never any other host); the cache in tmp_path."""
    monkeypatch.setenv("LSTMVIZ_CACHE", str(tmp_path / "cache"))
    Handler.requests = []
    with local_server(Handler) as url:
        yield url


def cache_files(tmp_path) -> list[str]:
    root = tmp_path / "cache"
    return sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_short_body_is_an_error_retried_and_not_cached(server, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="lstmviz")
    n = len(Handler.body)
    with pytest.raises(LstmvizError, match=rf"closed after {n // 2:,} of {n:,} bytes; try again"):
        load_corpus(f"{server}/short")
    assert Handler.requests == ["/short", "/short"]  # one retry
    assert "retrying" in caplog.text
    assert cache_files(tmp_path) == []
    assert load_corpus(f"{server}/ok") == Handler.body.decode()
    load_corpus(f"{server}/ok")
    assert Handler.requests.count("/ok") == 1 and "from the cache" in caplog.text


def test_trickling_server_is_cut_off_by_the_total_deadline(server, tmp_path, monkeypatch):
    monkeypatch.setattr(corpus, "URL_TIMEOUT", 5.0)  # each byte comes well within this
    monkeypatch.setattr(corpus, "URL_DEADLINE", 1.5)
    start = time.monotonic()
    with pytest.raises(LstmvizError, match=r"not finished after 1.5 s"):
        load_corpus(f"{server}/trickle")
    assert time.monotonic() - start < 5
    assert cache_files(tmp_path) == []


def test_trickled_headers_are_cut_off_by_the_total_deadline(server, monkeypatch):
    monkeypatch.setattr(corpus, "URL_TIMEOUT", 5.0)
    monkeypatch.setattr(corpus, "URL_DEADLINE", 1.5)
    res = no_hang(lambda: load_corpus(f"{server}/slowheaders"), timeout=20)
    assert "not finished after 1.5 s" in str(res.get("error")), res
    assert res["seconds"] < 5


def test_temp_files_of_a_killed_download_are_cleaned(server, tmp_path, caplog):
    folder = tmp_path / "cache" / "corpora"
    folder.mkdir(parents=True)
    old, fresh = folder / ".download-old", folder / ".download-fresh"
    old.write_bytes(b"half a download")
    fresh.write_bytes(b"maybe still being written by another process")
    os.utime(old, (time.time() - 3 * corpus.URL_DEADLINE,) * 2)
    caplog.set_level(logging.INFO, logger="lstmviz")
    assert load_corpus(f"{server}/ok") == Handler.body.decode()
    assert not old.exists() and fresh.exists()
    assert "left behind by an interrupted download" in caplog.text


def test_declared_size_over_the_cap_is_refused_before_reading(server):
    res = no_hang(lambda: load_corpus(f"{server}/big"), timeout=20)
    assert "larger than 50,000,000 bytes" in str(res.get("error")), res


@pytest.mark.parametrize(
    "netloc", ["user:s3cr3t-pw@127.0.0.1", "s3cr3t-pw@127.0.0.1", "user:s3cr3t-pw@bad host"]
)
def test_credentials_in_urls_are_refused_before_any_request(server, netloc, capsys):
    port = server.rsplit(":", 1)[1]
    url = f"http://{netloc}:{port}/ok"
    with pytest.raises(LstmvizError) as info:
        load_corpus(url)
    assert "user name or password" in str(info.value) and "s3cr3t-pw" not in str(info.value)
    line = refused(capsys, ["train", "--corpus", url, *TINY_FLAGS], "user name or password")
    assert "s3cr3t-pw" not in line
    assert Handler.requests == []  # nothing was sent


@pytest.mark.parametrize(
    "url, fragment",
    [
        ("http://[::1", "Invalid IPv6 URL"),
        ("http://127.0.0.1:99999/x", "malformed"),
        ("http://127.0.0.1:abc/x", "malformed"),
        ("http:///x.txt", "no host"),
    ],
)
def test_malformed_urls_give_one_line(url, fragment, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("LSTMVIZ_CACHE", str(tmp_path / "cache"))
    refused(capsys, ["train", "--corpus", url, *TINY_FLAGS], fragment)


def test_redirect_loop_gives_one_line(server, capsys):
    line = refused(capsys, ["train", "--corpus", f"{server}/loop", *TINY_FLAGS], "redirect")
    assert "HTTP 302" in line


def test_readonly_cache_gives_one_line_and_no_temp_file(server, readonly_dir, monkeypatch, capsys):
    monkeypatch.setenv("LSTMVIZ_CACHE", str(readonly_dir))
    line = refused(capsys, ["train", "--corpus", f"{server}/ok", *TINY_FLAGS], "cannot store")
    assert "LSTMVIZ_CACHE" in line
    assert list(readonly_dir.rglob("*")) == []


def test_full_cache_gives_one_line_and_no_temp_file(server, tmp_path, monkeypatch, capsys):
    """ENOSPC in the middle of writing the cache file (simulated): no half file, no temp file."""
    real_fdopen = os.fdopen

    class FullDisk:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            self.f.write(data[:10])
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(corpus.os, "fdopen", lambda *a, **k: FullDisk(real_fdopen(*a, **k)))
    refused(capsys, ["train", "--corpus", f"{server}/ok", *TINY_FLAGS], "the disk is full")
    assert cache_files(tmp_path) == []


def test_really_full_cache_on_a_tiny_tmpfs(server, tmpfs, monkeypatch, capsys):
    small = tmpfs("4k")
    monkeypatch.setenv("LSTMVIZ_CACHE", str(small))
    monkeypatch.setattr(Handler, "body", b"to be or not to be\n" * 2000)  # 38 KB > 4 KB
    refused(capsys, ["train", "--corpus", f"{server}/ok", *TINY_FLAGS], "the disk is full")
    assert [p for p in small.rglob("*") if p.is_file()] == []


def test_cache_folder_comes_from_platformdirs_unless_overridden(monkeypatch, tmp_path):
    monkeypatch.delenv("LSTMVIZ_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == Path(platformdirs.user_cache_dir("lstmviz", appauthor=False))
    if sys.platform.startswith("linux"):
        assert cache_dir() == tmp_path / "xdg" / "lstmviz"
    monkeypatch.setenv("LSTMVIZ_CACHE", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"


# ============================================================== 5. export


def test_export_refuses_a_symlink_even_with_force(tmp_path, saved, capsys):
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    link = tmp_path / "link.pt"
    link.symlink_to(target)
    argv = ["export", "--checkpoint", str(saved), "--out", str(link), "--force"]
    refused(capsys, argv, "is a symbolic link", "not even with --force")
    assert link.is_symlink() and target.read_text() == "keep me"
    with pytest.raises(LstmvizError, match="symbolic link"):  # the library refuses it too
        checkpoint.export_checkpoint(saved, link)


def test_export_refuses_fifo_directory_and_device(tmp_path, saved, capsys):
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    res = no_hang(
        lambda: main(["export", "--checkpoint", str(saved), "--out", str(fifo), "--force"]), fifo
    )
    assert res.get("value") == 2 and stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert "is a FIFO (named pipe)" in capsys.readouterr().err
    folder = tmp_path / "folder"
    folder.mkdir()
    refused(
        capsys,
        ["export", "--checkpoint", str(saved), "--out", str(folder), "--force"],
        "is a folder",
    )
    assert folder.is_dir()
    node = tmp_path / "null"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # our own /dev/null, in tmp_path
    except (PermissionError, AttributeError):
        pytest.skip("making a device node needs root")
    refused(
        capsys,
        ["export", "--checkpoint", str(saved), "--out", str(node), "--force"],
        "is a character device",
    )
    assert stat.S_ISCHR(os.lstat(node).st_mode)


def test_export_still_overwrites_a_regular_file_with_force(tmp_path, saved, capsys):
    dst = tmp_path / "old.pt"
    dst.write_text("old")
    assert main(["export", "--checkpoint", str(saved), "--out", str(dst), "--force"]) == 0
    assert load_checkpoint(dst).step == 60


# ============================================================== 6. settings


BAD_TRAIN_FLAGS = [
    ("--seq-len", "0", "seq_len (--seq-len) must be >= 1"),
    ("--batch-size", "0", "batch_size (--batch-size) must be >= 1"),
    ("--hidden-size", "0", "hidden_size (--hidden-size) must be >= 1"),
    ("--num-layers", "0", "num_layers (--num-layers) must be >= 1"),
    ("--embedding-dim", "-3", "embedding_dim (--embedding-dim) must be >= 1"),
    ("--dropout", "1.5", "dropout (--dropout) must be a number in [0, 1)"),
    ("--dropout", "1", "in [0, 1)"),
    ("--lr", "nan", "lr (--lr) must be a number in (0, 1e+06], got nan"),
    ("--lr", "0", "in (0, 1e+06]"),
    ("--lr", "inf", "in (0, 1e+06]"),
    ("--lr", "1e300", "in (0, 1e+06]"),
    ("--min-lr", "-1", "min_lr (--min-lr) must be a number in [0, 1e+06]"),
    ("--grad-clip", "-1", "grad_clip (--grad-clip) must be a number > 0 (inf: no clipping)"),
    ("--grad-clip", "0", "> 0 (inf: no clipping)"),
    ("--grad-clip", "nan", "> 0 (inf: no clipping)"),
    ("--eval-every", "0", "eval_every (--eval-every) must be >= 1"),
    ("--log-every", "0", "log_every (--log-every) must be >= 1"),
    ("--save-every", "-1", "save_every (--save-every) must be >= 0"),
    ("--steps", "-5", "steps (--steps) must be >= 1"),
    ("--steps", "0", "steps (--steps) must be >= 1"),
    ("--val-chars", "-1", "val_chars (--val-chars) must be >= 1"),
    ("--val-chars", "0", "val_chars (--val-chars) must be >= 1"),
    ("--reset-prob", "1.5", "reset_prob (--reset-prob) must be a number in [0, 1]"),
    ("--val-fraction", "0", "val_fraction (--val-fraction) must be a number in (0, 1)"),
    ("--val-fraction", "1", "in (0, 1)"),
    ("--seed", "-1", "seed (--seed) must be from 0 to 4294967295"),
    ("--seed", str(10**23), "from 0 to 4294967295"),
    ("--seq-len", "abc", "argument --seq-len: invalid int value: 'abc'"),
]


@pytest.mark.parametrize("flag, value, message", BAD_TRAIN_FLAGS)
def test_bad_training_settings_are_refused_before_any_work(flag, value, message, tmp_path, capsys):
    out = tmp_path / "run"
    start = time.monotonic()
    refused(capsys, ["train", flag, value, "--out", str(out), "--no-progress"], message)
    assert not out.exists()  # refused before the folder was made or the corpus loaded
    assert time.monotonic() - start < 5


def test_a_model_too_big_for_memory_is_refused_before_allocating(tiny_config, tiny_text):
    start = time.monotonic()
    with pytest.raises(LstmvizError) as info:
        train(tiny_config.replace(hidden_size=200_000), text=tiny_text, progress=False)
    assert "a model with hidden_size=200000, num_layers=2, embedding_dim=8 has" in str(info.value)
    assert "GB of cpu memory here; choose smaller sizes" in str(info.value)
    assert time.monotonic() - start < 10
    vocab = len(set(tiny_text))
    model = training.CharLSTM(vocab, 32, 2, 0.1, 8)  # the check counts what the model has
    counted = sum(p.numel() for p in model.parameters())
    h, e = 32, 8
    assert counted == vocab * e + 4 * h * (e + h + 2) + 4 * h * (2 * h + 2) + vocab * (h + 1)


def test_grad_clip_minus_one_never_trains_backwards(tiny_config, tiny_text):
    with pytest.raises(LstmvizError, match="grad_clip"):
        train(tiny_config.replace(grad_clip=-1.0), text=tiny_text, progress=False)
    off = train(tiny_config.replace(grad_clip=math.inf, steps=10), text=tiny_text, progress=False)
    assert off.step == 10  # inf is the documented "no clipping"


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("hidden_size", 2.5, "hidden_size (--hidden-size) must be a whole number >= 1, got 2.5"),
        ("batch_size", True, "must be a whole number >= 1, got True"),
        ("lr", "0.1", "lr (--lr) must be a number in (0, 1e+06], got '0.1'"),
        ("val_chars", 1.0, "val_chars (--val-chars) must be a whole number"),
        ("seed", 2**64, "seed (--seed) must be from 0 to 4294967295"),
        ("corpus", 5, "corpus must be"),
        ("device", 0, "device (--device) must be a non-empty string or None"),
    ],
)
def test_training_settings_of_the_wrong_type(field, value, message, tiny_config):
    with pytest.raises(LstmvizError) as info:
        train(tiny_config.replace(**{field: value}), text="abc" * 1000, progress=False)
    assert message in str(info.value)
    with pytest.raises(LstmvizError, match="must be a TrainConfig"):
        train({"steps": 3}, text="abc" * 1000, progress=False)


def test_training_text_with_a_lone_surrogate(tiny_config, tiny_text):
    with pytest.raises(LstmvizError, match="lone surrogate"):
        train(tiny_config, text=tiny_text + "\udcff", progress=False)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(temperature=1e-45), "temperature must be 0 (greedy) or between 0.001 and 1000"),
        (dict(temperature=math.inf), "got inf"),
        (dict(temperature=math.nan), "got nan"),
        (dict(temperature=-1.0), "got -1.0"),
        (dict(seed=10**23), "seed must be from 0 to 4294967295"),
        (dict(seed=-1), "seed must be from 0 to 4294967295"),
        (dict(seed=1.5), "seed must be a whole number"),
        (dict(prime="RO\ud800"), "a lone surrogate"),
        (dict(top_k=0), "top_k (None for all characters) must be >= 1"),
        (dict(top_k=True), "must be a whole number"),
        (dict(length=-1), "length must be >= 0"),
    ],
)
def test_bad_generation_arguments_are_refused_up_front(tiny_trained, kwargs, message):
    args = dict(prime="ROMEO", length=20, temperature=1.0, seed=0) | kwargs
    prime, length = args.pop("prime"), args.pop("length")
    with pytest.raises(LstmvizError) as info:
        generate(tiny_trained.model, tiny_trained.vocab, prime, length, **args)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--temperature", "1e-45"], "temperature must be 0 (greedy)"),
        (["--temperature", "inf"], "temperature must be 0 (greedy)"),
        (["--temperature", "nan"], "temperature must be 0 (greedy)"),
        (["--seed", str(10**23)], "seed must be from 0 to 4294967295"),
        (["--prime", "\ud800"], "a lone surrogate"),
        (["--length", "-2"], "length must be >= 0"),
        (["--top-k", "0"], "top_k"),
    ],
)
def test_cli_sample_refuses_before_printing_anything(tmp_path, saved, flags, message, capsys):
    refused(capsys, ["sample", "--checkpoint", str(saved), *flags], message)


# ============================================================== 7. checkpoints that lie


def _edit(saved: Path, dst: Path, **changes) -> Path:
    raw = torch.load(saved, weights_only=True)
    raw.update(changes)
    torch.save(raw, dst)
    return dst


def test_non_finite_weights_are_refused_at_load(tmp_path, saved, capsys):
    raw = torch.load(saved, weights_only=True)
    raw["model"]["lstm.weight_hh_l1"][3, 4] = float("nan")
    torch.save(raw, tmp_path / "nan.pt")
    with pytest.raises(LstmvizError, match=r"damaged \('lstm.weight_hh_l1' holds NaN or infinite"):
        load_checkpoint(tmp_path / "nan.pt")
    raw = torch.load(saved, weights_only=True)
    raw["model"]["head.bias"][0] = float("-inf")
    torch.save(raw, tmp_path / "inf.pt")
    refused(capsys, ["sample", "--checkpoint", str(tmp_path / "inf.pt")], "'head.bias' holds NaN")
    raw = torch.load(saved, weights_only=True)
    raw["train_state"] = {"h": torch.full((2, 16, 32), math.nan), "c": torch.zeros(2, 16, 32)}
    torch.save(raw, tmp_path / "state.pt")
    with pytest.raises(LstmvizError, match="'train_state.h' holds NaN"):
        load_checkpoint(tmp_path / "state.pt")


def test_a_file_claiming_a_huge_model_allocates_nothing(tmp_path, saved):
    """hidden_size 12000 in a small file: refused from the shapes, in a process that stays small."""
    raw = torch.load(saved, weights_only=True)
    raw["model_config"]["hidden_size"] = 12000
    torch.save(raw, tmp_path / "liar.pt")
    assert (tmp_path / "liar.pt").stat().st_size < 200_000
    code = (
        "import resource, sys\n"
        "from lstmviz.core.checkpoint import load_checkpoint\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n    load_checkpoint(sys.argv[1])\n"
        "except Exception as e:\n    print(e)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "liar.pt")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    message, grew_kib = done.stdout.strip().splitlines()
    assert "does not match its own model configuration ('lstm.weight_ih_l0'" in message
    assert "model_config needs (48000, 8)" in message
    # the peak over what importing torch and lstmviz took: building the 12000-unit model would
    # add > 2.5 GB; reading the small file and comparing shapes adds a few MB
    assert int(grew_kib) < 200_000, f"grew {int(grew_kib) / 1e6:.2f} GB"


def test_a_flipped_byte_inside_a_tensor_is_detected(tmp_path, saved, capsys):
    data = bytearray(saved.read_bytes())
    with zipfile.ZipFile(saved) as archive:
        entry = next(i for i in archive.infolist() if "/data/" in i.filename and i.file_size > 64)
    name_len = int.from_bytes(data[entry.header_offset + 26 : entry.header_offset + 28], "little")
    extra_len = int.from_bytes(data[entry.header_offset + 28 : entry.header_offset + 30], "little")
    data[entry.header_offset + 30 + name_len + extra_len + 17] ^= 0x04  # one bit of one float
    (tmp_path / "flip.pt").write_bytes(bytes(data))
    refused(
        capsys,
        ["sample", "--checkpoint", str(tmp_path / "flip.pt")],
        "damaged",
        f"the checksum of {entry.filename!r} does not match",
    )


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(step="abc"), "its 'step' should be a whole number >= 0, but is 'abc'"),
        (dict(step=True), "its 'step' should be a whole number >= 0, but is True"),
        (dict(history=5), "its 'history' should be a list of dicts, but is 5"),
        (dict(history=[1, 2]), "its 'history' should be a list of dicts"),
        (dict(version="2"), "its 'version' should be a whole number >= 1, but is '2'"),
        (dict(val_loss="low"), "its 'val_loss' should be a finite number or None"),
        (dict(best_val_loss=math.nan), "its 'best_val_loss' should be a finite number or None"),
        (dict(vocab=7), "its 'vocab' should be a string"),
        (dict(config=[1]), "its 'config' should be a dict or None"),
        (dict(model=[1]), "its 'model' should be a dict of tensors"),
        (dict(optimizer="x"), "its 'optimizer' should be a dict or None"),
        (dict(train_state={"h": 1}), "its 'train_state' should be None or"),
    ],
)
def test_fields_of_the_wrong_type_give_one_line(tmp_path, saved, capsys, changes, message):
    bad = _edit(saved, tmp_path / "bad.pt", **changes)
    refused(
        capsys,
        ["sample", "--checkpoint", str(bad)],
        "not an lstmviz checkpoint, or damaged",
        message,
    )


def test_model_config_of_the_wrong_type(tmp_path, saved, capsys):
    raw = torch.load(saved, weights_only=True)
    for key, value in [("hidden_size", "32"), ("num_layers", 0), ("dropout", 1.5)]:
        bad = _edit(saved, tmp_path / "bad.pt", model_config={**raw["model_config"], key: value})
        refused(capsys, ["sample", "--checkpoint", str(bad)], "its 'model_config' should be")


def test_resuming_a_checkpoint_with_bad_stored_settings(tmp_path, tiny_config, tiny_text):
    run = tmp_path / "run"
    train(tiny_config.replace(out=str(run), steps=3), text=tiny_text, progress=False)
    raw = torch.load(run / LATEST, weights_only=True)
    raw["config"]["seq_len"] = -4
    torch.save(raw, run / LATEST)
    with pytest.raises(LstmvizError) as info:
        train(out=str(run), resume=True, text=tiny_text, progress=False, steps=6)
    assert "is damaged: the training settings stored in it are invalid" in str(info.value)
    assert "seq_len (--seq-len) must be >= 1, got -4" in str(info.value)


@pytest.mark.parametrize("damage", ["optimizer", "train_state", "rng"])
def test_resuming_a_checkpoint_with_damaged_training_state(
    tmp_path, tiny_config, tiny_text, damage
):
    run = tmp_path / "run"
    train(tiny_config.replace(out=str(run), steps=3), text=tiny_text, progress=False)
    raw = torch.load(run / LATEST, weights_only=True)
    if damage == "optimizer":
        raw["optimizer"]["param_groups"] = []
    elif damage == "train_state":
        raw["train_state"] = {"h": torch.zeros(2, 3, 32), "c": torch.zeros(2, 3, 32)}
    else:
        raw["rng"] = {"torch": torch.zeros(3, dtype=torch.uint8)}
    torch.save(raw, run / LATEST)
    with pytest.raises(LstmvizError) as info:
        train(out=str(run), resume=True, text=tiny_text, progress=False, steps=6)
    assert "is damaged: its training state does not fit its model" in str(info.value)
    assert read_step(run) == 3  # nothing was overwritten


def read_step(run: Path) -> int:
    return int(torch.load(run / LATEST, weights_only=True)["step"])


def test_a_compressed_archive_is_refused_before_unpacking(tmp_path, capsys):
    """A zip bomb (50 MB of zeros deflated to ~50 KB) posing as a checkpoint: never unpacked."""
    bomb = tmp_path / "bomb.pt"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb/data.pkl", b"\0" * 50_000_000)
    assert bomb.stat().st_size < 200_000
    refused(capsys, ["sample", "--checkpoint", str(bomb)], "unsafe zip archive: compressed entries")


def test_random_bytes_are_damaged_not_code(tmp_path, capsys):
    (tmp_path / "noise.pt").write_bytes(os.urandom(4096))
    line = refused(
        capsys,
        ["sample", "--checkpoint", str(tmp_path / "noise.pt")],
        "is not an lstmviz checkpoint, or damaged",
    )
    assert "Python objects or code" not in line
    (tmp_path / "legacy.pt").write_bytes(b"\x80\x02" + os.urandom(200))  # pickle-like start
    refused(capsys, ["sample", "--checkpoint", str(tmp_path / "legacy.pt")], "or damaged")


def test_no_terminal_escape_codes_in_messages(tmp_path, saved, capsys):
    class Payload:
        def __reduce__(self):
            return (print, ("\x1b[31mowned\x1b[0m",))

    raw = torch.load(saved, weights_only=True)
    raw["history"] = [Payload()]
    torch.save(raw, tmp_path / "evil.pt")
    refused(
        capsys,
        ["sample", "--checkpoint", str(tmp_path / "evil.pt")],
        "refused to load",
        "Python objects or code",
    )
    weird = tmp_path / "a\x1b[31mred.pt"
    line = refused(capsys, ["sample", "--checkpoint", str(weird)], "does not exist")
    assert "\\x1b[31m" in line  # shown, not executed by the terminal


# ============================================================== 8. signals and leftovers


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
    with pytest.raises(TrainingInterrupted, match="nothing saved"):
        train(cfg.replace(out=None), text=tiny_text, callback=ctrl_c, progress=False)


def test_a_signal_before_training_starts_stops_at_once(
    monkeypatch, tmp_path, tiny_config, capsys, corpus_file
):
    """Ctrl-C while the corpus loads: no waiting for a first step; nothing to save yet."""

    def slow_corpus(source):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(2)  # the handler interrupts this sleep
        pytest.fail("the signal did not stop the run")

    monkeypatch.setattr(training, "load_corpus", slow_corpus)
    with pytest.raises(TrainingInterrupted, match="before training started; nothing saved"):
        train(tiny_config.replace(out=str(tmp_path / "run")), progress=False)
    assert not (tmp_path / "run").exists()
    argv = ["train", "--corpus", str(corpus_file), *TINY_FLAGS, "--out", str(tmp_path / "r2")]
    assert main(argv) == 130
    assert capsys.readouterr().err.strip() == (
        "interrupted by SIGINT before training started; nothing saved"
    )


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


# ============================================================== 9. OS errors


def test_sample_into_a_closed_pipe_is_quiet(saved):
    """`lstmviz sample ... | head -c 20`: the reader leaves early; no error, no traceback."""
    proc = lstmviz_process("sample", "--checkpoint", str(saved), "--length", "200000")
    first = proc.stdout.read(20)
    proc.stdout.close()
    err = proc.stderr.read()
    proc.wait(60)
    assert len(first) == 20 and proc.returncode == 0, err
    assert err == ""


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
    monkeypatch.setattr(training, "load_corpus", lambda *a: pytest.fail("training started"))
    argv = ["train", "--corpus", str(corpus_file), *TINY_FLAGS]
    refused(capsys, [*argv, "--out", str(readonly_dir / "run")], "cannot create the run folder")
    refused(capsys, [*argv, "--out", str(readonly_dir)], "cannot write into the run folder")


def test_export_into_a_readonly_folder(readonly_dir, saved, capsys):
    argv = ["export", "--checkpoint", str(saved), "--out", str(readonly_dir / "model.pt")]
    refused(capsys, argv, "cannot write checkpoint", str(readonly_dir / "model.pt"))
    assert list(readonly_dir.iterdir()) == []


def test_name_too_long(tmp_path, corpus_file, capsys):
    refused(
        capsys,
        ["train", "--corpus", str(corpus_file), *TINY_FLAGS, "--out", str(tmp_path / ("x" * 300))],
        "the name is too long",
    )
    refused(capsys, ["sample", "--checkpoint", str(tmp_path / ("y" * 300))], "name is too long")


def test_permission_denied_reading(tmp_path, monkeypatch, capsys):
    path = tmp_path / "secret.txt"
    path.write_text("hello")

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(os, "open", denied)
    refused(
        capsys,
        ["train", "--corpus", str(path)],
        f"cannot read corpus {str(path)!r}",
        "permission denied",
    )


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
    assert err.count("\n") == 0 and "Traceback" not in err
    assert err.startswith(f"error: cannot write checkpoint {str(run / LATEST)!r} (nothing was ")
    assert err.endswith("the disk is full; free some space and try again")
    monkeypatch.setattr(checkpoint.torch, "save", real_save)
    assert load_checkpoint(run).step == 5  # the earlier checkpoint is intact
    assert sorted(p.name for p in run.iterdir()) == [".lstmviz.lock", LATEST]  # no temp files


def test_really_full_disk_on_a_tiny_tmpfs(tmpfs, saved, capsys):
    small = tmpfs("16k")
    (small / "old.pt").write_bytes(b"previous export")
    argv = ["export", "--checkpoint", str(saved), "--out", str(small / "old.pt"), "--force"]
    refused(capsys, argv, "the disk is full")
    assert (small / "old.pt").read_bytes() == b"previous export"
    assert sorted(p.name for p in small.iterdir()) == ["old.pt"]


# ============================================================== 10. GateRecorder and threads


def test_gate_recorder_records_only_its_own_thread(tiny_trained):
    model, vocab = tiny_trained.model, tiny_trained.vocab
    ids = vocab.encode("ROMEO")
    barrier = threading.Barrier(2)

    def steps(n: int, first: int) -> None:
        state = model.init_state(1)
        for i in range(n):
            barrier.wait(timeout=30)  # the two threads step in lockstep: interleaved
            _, state = model.step(ids[(first + i) % len(ids)].view(1), state)

    with GateRecorder(model) as alone:
        state = model.init_state(1)
        for i in range(5):
            _, state = model.step(ids[i].view(1), state)

    other = threading.Thread(target=steps, args=(5, 2))
    other.start()
    with GateRecorder(model) as rec:
        steps(5, 0)
    other.join(30)
    assert rec.trace.steps == 5  # not 10: the other thread's steps are not interleaved in
    for name in "ifgoch":
        torch.testing.assert_close(rec.trace[name, 1], alone.trace[name, 1], atol=0, rtol=0)

    # a recorder entered in the other thread records that thread's steps
    box = {}

    def own():
        with GateRecorder(model) as r:
            state = model.init_state(1)
            for i in range(3):
                _, state = model.step(ids[i].view(1), state)
        box["steps"] = r.trace.steps

    t = threading.Thread(target=own)
    t.start()
    t.join(30)
    assert box["steps"] == 3
    assert "records only the thread that entered it" in GateRecorder.__doc__


def test_gate_recorder_ignores_fused_forward_calls_of_other_threads(tiny_trained):
    """Whole-sequence calls (the forward hook path) from another thread stay out of the trace."""
    model, vocab = tiny_trained.model, tiny_trained.vocab
    ids = vocab.encode("ROMEO and JULIET")[None]
    stop, calls = threading.Event(), [0]

    def busy() -> None:
        with torch.no_grad():
            while not stop.is_set():
                model(ids[:, :7])
                calls[0] += 1

    other = threading.Thread(target=busy)
    other.start()
    try:
        while calls[0] < 3:  # the other thread is running the model
            time.sleep(0.01)
        with torch.no_grad(), GateRecorder(model) as rec:
            for _ in range(4):
                model(ids)
                time.sleep(0.01)  # give the other thread time to call in between
    finally:
        stop.set()
        other.join(30)
    assert calls[0] > 3
    assert rec.trace.steps == 4 * ids.shape[1]  # only this thread's 4 calls of 16 characters
