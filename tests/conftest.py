"""Shared fixtures: a small text and a tiny model trained on it (seconds, not minutes)."""

from __future__ import annotations

import os

import pytest
import torch

from lstmviz.core.corpus import load_corpus
from lstmviz.core.training import TrainConfig, train

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
