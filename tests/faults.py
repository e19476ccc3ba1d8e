"""Helpers for the tests of bad input and faults: the CLI in-process and as a real process, a call
that must not block, an edited checkpoint, and ``says`` for messages.

The tests built on them (test_corpus_input, test_downloads, test_run_folder,
test_checkpoint_loading, test_resume, test_signals, test_divergence, test_settings,
test_cli_output) use real FIFOs, real local HTTP servers on 127.0.0.1 only, real concurrent
processes, real signals, a real tmpfs where this machine lets us mount one (root), and a simulated
ENOSPC elsewhere. They assert the kind of
error and its key words, not whole sentences: a message may be reworded, but it must keep saying
what is wrong and what to do.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from lstmviz.__main__ import main

ROOT = Path(__file__).resolve().parents[1]

#: The CLI flags of conftest's TINY settings (a model that trains in about a second).
TINY_FLAGS = [
    *("--hidden-size 32 --num-layers 2 --dropout 0.1 --embedding-dim 8 --seq-len 32").split(),
    *("--batch-size 16 --lr 0.02 --min-lr 0.02 --reset-prob 0.1 --seed 0 --device cpu").split(),
]


def says(message: BaseException | str, *words: str) -> str:
    """Assert that ``message`` is one line holding each of ``words``; returns it."""
    text = str(message)
    assert "\n" not in text.strip(), text
    for word in words:
        assert word in text, f"{word!r} not in {text!r}"
    return text


def refused(capsys, argv, *words):
    """Run the CLI in-process: exit 2, nothing on stdout, one stderr line 'error: ...words'."""
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
    return says(lines[0], *words)


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
    """``python -m lstmviz ARGS`` run to its end: (returncode, stdout, stderr)."""
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


def no_hang(fn, fifo: Path | None = None, timeout: float = 20) -> dict:
    """Call ``fn`` in a thread; if it blocks (a FIFO open), unblock it, fail instead of hanging.

    Returns {"value" or "error": what it returned or raised, "seconds": how long it took}.
    """
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


def edited(src: Path, dst: Path, change=None, **fields) -> Path:
    """Copy checkpoint ``src`` to ``dst`` (a valid zip archive) with ``change(dict)`` applied and
    ``fields`` set."""
    ckpt = torch.load(src, weights_only=True)
    if change is not None:
        change(ckpt)
    ckpt.update(fields)
    torch.save(ckpt, dst)
    return dst
