"""Shared fixtures: a small text, a tiny untrained model, a tiny model trained in seconds and its
checkpoint, a local HTTP server, and folders that cannot be written (a tmpfs, read-only)."""

from __future__ import annotations

import contextlib
import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from lstmviz.core.checkpoint import save_checkpoint
from lstmviz.core.corpus import load_corpus
from lstmviz.core.model import CharLSTM
from lstmviz.core.training import TrainConfig, train
from lstmviz.core.vocab import Vocab

# Tiny models gain nothing from threads, and on a busy 2-core machine OpenMP threads waiting for
# each other make them 10x slower. Subprocesses started by tests inherit the environment variable.
torch.set_num_threads(1)
os.environ["OMP_NUM_THREADS"] = "1"

#: A tiny model's settings: 2 layers like the real one, so layer-wise code paths are exercised.
TINY = dict(
    hidden_size=32,
    num_layers=2,
    dropout=0.1,
    embedding_dim=8,
    seq_len=32,
    batch_size=16,
    steps=30,
    lr=2e-2,
    min_lr=2e-2,
    reset_prob=0.1,
    eval_every=10,
    log_every=5,
    save_every=10,
    device="cpu",
    seed=0,
)


#: A short text with what the explorers and feature finders look for: a speaker line, quotes,
#: brackets, capitals. The tiny model's vocabulary is its characters.
TINY_TEXT = (
    'OBERON\nDo you "amend" it then; it lies in you:\nWhy should (Titania) cross her Oberon?\n' * 3
)


@pytest.fixture
def tiny_model() -> tuple[CharLSTM, Vocab]:
    """A fresh untrained CharLSTM (2 layers x 16 units, no dropout, eval mode) and its Vocab.

    Seeded, so every test gets the same weights; fresh, so a test may change them. Two layers,
    like the real model, so layer-wise code paths (the fused forward, lstm_step) are exercised.
    """
    torch.manual_seed(0)
    vocab = Vocab.from_text(TINY_TEXT)
    model = CharLSTM(len(vocab), hidden_size=16, num_layers=2, dropout=0.0, embedding_dim=8)
    return model.eval(), vocab


@pytest.fixture(scope="session")
def tiny_text() -> str:
    """The first 40,000 characters of the Shakespeare corpus."""
    return load_corpus("shakespeare")[:40_000]


@pytest.fixture
def tiny_config() -> TrainConfig:
    """Settings for a model that trains in about a second."""
    return TrainConfig(**TINY)


@pytest.fixture(scope="session")
def tiny_trained(tiny_text):
    """A tiny model trained for 60 steps on ``tiny_text`` (a TrainResult)."""
    return train(TrainConfig(**{**TINY, "steps": 60}), text=tiny_text, progress=False)


@pytest.fixture
def corpus_file(tmp_path, tiny_text):
    """``tiny_text`` written to a UTF-8 file; returns its path."""
    path = tmp_path / "tiny.txt"
    path.write_text(tiny_text, encoding="utf-8")
    return path


@contextlib.contextmanager
def local_server(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on 127.0.0.1 (never any other host) in a thread; yields its base URL."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.port = httpd.server_address[1]  # handlers may build URLs back to this server
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.port}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def saved(tmp_path, tiny_trained):
    """A full training checkpoint of the tiny model (optimizer state included), as a file."""
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
