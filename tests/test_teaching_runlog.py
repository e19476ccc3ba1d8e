"""A run's log read as the seed printed its own (lesson 04): epochs and batches counted from 0."""

from __future__ import annotations

import json

import pytest
from conftest import TINY

from lstmviz.core.checkpoint import LOG
from lstmviz.core.errors import LstmvizError
from lstmviz.core.training import TrainConfig, train
from lstmviz.teaching import runlog

# 64 streams of the 36,000 training characters are 562 columns: 17 windows of 32 per epoch.
EPOCH = 17


@pytest.fixture(scope="module")
def log(tmp_path_factory, tiny_text):
    """A real run's log.json: 40 steps, validation at 17, 34 (epoch ends) and 40 (the last)."""
    out = tmp_path_factory.mktemp("run") / "out"
    cfg = TrainConfig(**{**TINY, "batch_size": 64, "steps": 40, "eval_every": 20})
    train(cfg.replace(out=str(out), sample_len=20), text=tiny_text, progress=False)
    return runlog.load(out / LOG)


def test_validations_count_epochs_and_batches_from_zero_as_the_seed(log):
    vals = runlog.validations(log)
    assert log["steps_per_epoch"] == EPOCH
    # eval_every 20, the epoch ends 17 and 34, and the last step 40
    assert [(v.step, v.epoch, v.batch, v.epoch_end) for v in vals] == [
        (17, 0, 16, True),
        (20, 1, 2, False),
        (34, 1, 16, True),
        (40, 2, 5, False),
    ]
    raw = [e for e in log["history"] if e["kind"] == "val"]
    assert [v.val_loss for v in vals] == [e["val_loss"] for e in raw]
    assert [v.train_loss for v in vals] == [e["train_loss"] for e in raw]


def test_seed_lines_read_like_the_seeds_log(log):
    vals = runlog.validations(log)
    lines = runlog.seed_lines(log)
    assert len(lines) == 4
    assert lines[0] == (
        f"Epoch: 0, Batch: 16, Train Loss: {vals[0].train_loss:.6f}, "
        f"Validation Loss: {vals[0].val_loss:.6f}"
    )
    # only the epoch ends, and the last validation
    ends = runlog.seed_lines(log, epoch_ends=True)
    assert [line.split(", Train")[0] for line in ends] == [
        "Epoch: 0, Batch: 16",
        "Epoch: 1, Batch: 16",
        "Epoch: 2, Batch: 5",
    ]
    # the seed's own lines have the same form
    seed = [line for line in runlog.SEED_LOG.splitlines() if line != "."]
    assert [line.split(": ")[0] for line in seed] == ["Epoch"] * 6
    assert all(line.count(", ") == 3 for line in seed + ends)


def test_a_validation_before_any_logged_training_prints_a_dash():
    log = {
        "steps_per_epoch": 10,
        "history": [{"kind": "val", "step": 5, "train_loss": None, "val_loss": 2.5}],
    }
    assert runlog.seed_lines(log) == [
        "Epoch: 0, Batch: 4, Train Loss: -, Validation Loss: 2.500000"
    ]


def test_samples_are_the_recorded_texts_by_step(log):
    got = runlog.samples(log)
    assert list(got) == [17, 34, 40]
    assert all(len(text) == 20 for text in got.values())


def test_load_refuses_what_is_not_a_run_log(tmp_path):
    bad = tmp_path / "other.json"
    bad.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(LstmvizError, match="not a run log written by `lstmviz train`"):
        runlog.load(bad)
    with pytest.raises(LstmvizError, match="cannot read the run log"):
        runlog.load(tmp_path / "missing.json")


def test_epoch_train_means_average_each_finished_epoch():
    log = {
        "steps_per_epoch": 4,
        "history": [
            {"kind": "train", "step": 2, "train_loss": 3.0},
            {"kind": "train", "step": 4, "train_loss": 2.0},  # the last step of epoch 0
            {"kind": "val", "step": 4, "train_loss": 2.0, "val_loss": 2.2},
            {"kind": "train", "step": 6, "train_loss": 1.5},
            {"kind": "train", "step": 8, "train_loss": 1.0},
            {"kind": "train", "step": 10, "train_loss": 0.5},  # epoch 2, unfinished: left out
        ],
    }
    assert runlog.epoch_train_means(log) == [2.5, 1.25]
