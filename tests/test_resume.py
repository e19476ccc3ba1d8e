"""Resuming a run (``--resume``): a checkpoint whose stored settings or training state do not fit is
refused in one line, and nothing is overwritten."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import pytest
import torch
from faults import edited, says

import lstmviz.core.checkpoint as checkpoint
from lstmviz.core.checkpoint import LATEST
from lstmviz.core.errors import LstmvizError
from lstmviz.core.training import train


def test_resuming_a_checkpoint_with_bad_stored_settings(tmp_path, tiny_config, tiny_text):
    run = tmp_path / "run"
    train(tiny_config.replace(out=str(run), steps=3), text=tiny_text, progress=False)
    raw = torch.load(run / LATEST, weights_only=True)
    raw["config"]["seq_len"] = -4
    torch.save(raw, run / LATEST)
    with pytest.raises(LstmvizError) as info:
        train(out=str(run), resume=True, text=tiny_text, progress=False, steps=6)
    says(info.value, "damaged", "training settings", "--seq-len", "-4")


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
    says(info.value, "damaged", "training state does not fit")
    assert read_step(run) == 3  # nothing was overwritten


def read_step(run: Path) -> int:
    return int(torch.load(run / LATEST, weights_only=True)["step"])


@pytest.fixture
def run_dir(tmp_path, tiny_config, tiny_text):
    """A finished 10-step run folder holding checkpoint.pt with optimizer and stream state."""
    train(tiny_config.replace(steps=10, out=str(tmp_path / "run")), text=tiny_text, progress=False)
    return tmp_path / "run"


def _exp_avg_cut(c):
    c["optimizer"]["state"][0]["exp_avg"] = c["optimizer"]["state"][0]["exp_avg"][:1]


def _state_float64(c):
    c["train_state"] = {k: v.double() for k, v in c["train_state"].items()}


@pytest.mark.parametrize("change", [_exp_avg_cut, _state_float64])
def test_resuming_damaged_training_state_is_one_message(run_dir, tiny_text, change):
    """An optimizer moment of the wrong shape crashed the first step (a "bug" exit 1)."""
    ck = run_dir / LATEST
    edited(ck, ck, change)
    before = ck.read_bytes()
    again = dict(out=str(run_dir), steps=12, text=tiny_text, resume=True, progress=False)
    if change is _state_float64:  # float64 carried state is the same state: resumes fine
        assert train(**again).step == 12
        return
    with pytest.raises(LstmvizError) as info:
        train(**again)
    says(info.value, "damaged", "training state")
    assert ck.read_bytes() == before


def _group(**changes):
    def change(c):
        c["optimizer"]["param_groups"][0].update(changes)

    return change


def _moment(key, value):
    def change(c):
        c["optimizer"]["state"][0][key] = torch.full_like(c["optimizer"]["state"][0][key], value)

    return change


@pytest.mark.parametrize(
    "change, words",
    [
        (_group(maximize=True), ("maximize=True",)),
        (_group(weight_decay=1e6), ("weight_decay=1000000.0",)),
        (_group(eps=-1.0), ("eps=-1.0",)),
        (_group(betas=(math.nan, 0.999)), ("betas=(nan, 0.999)",)),
        (_group(amsgrad=True), ("amsgrad=True",)),
        (_moment("exp_avg_sq", -1.0), ("negative second moment",)),
        (_moment("step", -3.0), ("step count of -3.0",)),
        (_moment("step", 2.5), ("step count of 2.5",)),
    ],
)
def test_resuming_with_poisoned_optimizer_settings_is_refused(run_dir, tiny_text, change, words):
    """maximize=True made the loss climb (exit 0); eps=-1 or a NaN beta poisoned the weights, and
    the "last good checkpoint" then named was the poisoned file itself."""
    ck = run_dir / LATEST
    edited(ck, ck, change)
    before = ck.read_bytes()
    with pytest.raises(LstmvizError) as info:
        train(out=str(run_dir), steps=12, text=tiny_text, resume=True, progress=False)
    says(info.value, str(ck), "damaged", "training state", *words)
    assert ck.read_bytes() == before


def test_the_learning_rate_and_implementation_flags_stored_are_not_trusted(run_dir, tiny_text):
    """The rate is the schedule's (set every step) and foreach/fused say how, not what: a stored
    lr of 1e6 or fused=True resumes exactly like the untouched checkpoint."""
    ck = run_dir / LATEST
    plain = run_dir.parent / "plain"
    plain.mkdir()
    (plain / LATEST).write_bytes(ck.read_bytes())
    edited(ck, ck, _group(lr=1e6, foreach=True, fused=True))
    again = dict(steps=12, text=tiny_text, resume=True, progress=False)
    edited_run = train(out=str(run_dir), **again)
    plain_run = train(out=str(plain), **again)
    assert edited_run.step == plain_run.step == 12
    for key, value in plain_run.model.state_dict().items():
        torch.testing.assert_close(edited_run.model.state_dict()[key], value, atol=0, rtol=0)


def test_adam_moments_no_gradients_can_produce_are_refused(run_dir, tiny_text):
    """exp_avg of 1e30 beside a tiny exp_avg_sq: finite, but the next update overflowed the
    weights, and the message then called the poisoned file the last good checkpoint."""
    ck = run_dir / LATEST

    def change(c):
        st = c["optimizer"]["state"][2]
        st["exp_avg_sq"] = torch.full_like(st["exp_avg_sq"], 1e-20)
        st["exp_avg"] = torch.full_like(st["exp_avg"], 1e30)

    edited(ck, ck, change)
    with pytest.raises(LstmvizError) as info:
        train(out=str(run_dir), steps=12, text=tiny_text, resume=True, progress=False)
    says(info.value, "damaged", "exp_avg", "no gradients can produce")


def test_the_moment_bound_holds_for_any_gradients():
    """The bound rests on Cauchy-Schwarz, not on typical values: gradients spanning 39 orders of
    magnitude (down to where their squares underflow), signs flipping, zeros, through torch's own
    Adam, always pass."""
    gen = torch.Generator().manual_seed(0)
    p = torch.nn.Parameter(torch.zeros(2000))
    adam = torch.optim.Adam([p], lr=1e-3)
    for step in range(60):
        scale = 10.0 ** torch.randint(-22, 17, (2000,), generator=gen)
        g = torch.randn(2000, generator=gen) * scale
        g[torch.rand(2000, generator=gen) < 0.3] = 0.0
        p.grad = g if step % 7 else -g.abs().clamp(max=1e6)
        adam.step()
    assert all(torch.isfinite(t).all() for t in adam.state[p].values())
    fresh = torch.optim.Adam([torch.nn.Parameter(torch.zeros(2000))], lr=1e-3)
    checkpoint._optimizer_state(adam.state_dict(), fresh)  # raises ValueError if refused


def test_a_carried_state_no_lstm_produces_is_refused(run_dir, tiny_text):
    ck = run_dir / LATEST
    edited(ck, ck, lambda c: c["train_state"]["h"].fill_(3.0))
    with pytest.raises(LstmvizError) as info:
        train(out=str(run_dir), steps=12, text=tiny_text, resume=True, progress=False)
    says(info.value, "damaged", "outside [-1, 1]")


def test_a_checkpoint_that_diverges_at_once_is_not_called_good(run_dir, tiny_text):
    """Huge but finite weights: the first step after resuming is NaN. The message named that very
    file as "the last good checkpoint"."""
    ck = run_dir / LATEST
    edited(ck, ck, lambda c: c["model"]["lstm.weight_hh_l0"].fill_(3e38))
    before = ck.read_bytes()
    with pytest.raises(LstmvizError) as info:
        train(out=str(run_dir), steps=12, text=tiny_text, resume=True, progress=False)
    line = says(info.value, "first step after resuming", str(ck), "damaged", "step 10")
    assert "last good" not in line and ck.read_bytes() == before


def test_resuming_a_folder_with_only_a_best_checkpoint_says_what_works(run_dir, tiny_text):
    (run_dir / LATEST).rename(run_dir / "moved.pt")
    with pytest.raises(LstmvizError) as info:
        train(out=str(run_dir), steps=12, text=tiny_text, resume=True, progress=False)
    says(info.value, "nothing to resume", "best.pt", "another --out")
    assert "drop --resume" not in str(info.value)


# ---- resuming on the data the run trained on (its path, size and SHA-256 are in the checkpoint)

SMALL = dict(hidden_size=16, num_layers=1, embedding_dim=8, dropout=0.0)


def _shuffled(text: str) -> str:
    """The same characters (so the same vocabulary) in another order: other data."""
    lines = text.splitlines(keepends=True)
    return "".join(lines[1::2] + lines[0::2])


@pytest.fixture
def on_file(tmp_path, tiny_config, tiny_text, monkeypatch):
    """A 3-step run in tmp_path/run trained on the relative --corpus a/c.txt (from tmp_path)."""
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "c.txt").write_text(tiny_text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    cfg = tiny_config.replace(**SMALL, corpus="a/c.txt", out=str(tmp_path / "run"), steps=3)
    train(cfg, progress=False)
    return tmp_path / "run"


def test_the_checkpoint_records_the_data_it_trained_on(on_file, tmp_path, tiny_text):
    raw = torch.load(on_file / LATEST, weights_only=True)
    data = tiny_text.encode("utf-8")
    assert raw["data"]["size"] == len(data)
    assert raw["data"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert raw["data"]["path"] == str(tmp_path / "a" / "c.txt")  # resolved, absolute
    assert raw["config"]["corpus"] == str(tmp_path / "a" / "c.txt")


def test_a_relative_corpus_resumes_from_another_folder(on_file, tmp_path, monkeypatch):
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert train(out=str(on_file), resume=True, steps=5, progress=False).step == 5
    # and naming the same file by its absolute path is accepted too
    again = train(
        out=str(on_file), resume=True, steps=6, corpus=str(tmp_path / "a" / "c.txt"),
        progress=False,
    )  # fmt: skip
    assert again.step == 6


def test_a_corpus_changed_in_place_is_refused(on_file, tmp_path, tiny_text):
    (tmp_path / "a" / "c.txt").write_text(_shuffled(tiny_text), encoding="utf-8")
    with pytest.raises(LstmvizError) as info:
        train(out=str(on_file), resume=True, steps=5, progress=False)
    says(info.value, "holds other data", "SHA-256", "--corpus", "new --out")
    assert read_step(on_file) == 3  # nothing was overwritten


def test_another_file_of_the_same_name_is_refused(on_file, tmp_path, tiny_text, monkeypatch):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "c.txt").write_text(_shuffled(tiny_text), encoding="utf-8")
    monkeypatch.chdir(tmp_path / "b")
    with pytest.raises(LstmvizError) as info:
        train(out=str(on_file), resume=True, steps=5, corpus="c.txt", progress=False)
    says(info.value, "holds other data", str(tmp_path / "b" / "c.txt"))
    assert read_step(on_file) == 3


def test_a_moved_corpus_is_named_with_corpus(on_file, tmp_path):
    (tmp_path / "a" / "c.txt").rename(tmp_path / "moved.txt")
    with pytest.raises(LstmvizError) as info:
        train(out=str(on_file), resume=True, steps=5, progress=False)
    says(info.value, "cannot be read now", "pass --corpus")
    done = train(
        out=str(on_file), resume=True, steps=5, corpus=str(tmp_path / "moved.txt"), progress=False
    )
    assert done.step == 5 and done.config.corpus == str(tmp_path / "moved.txt")


def test_a_checkpoint_without_a_record_may_name_its_corpus_anew(on_file, tmp_path, caplog):
    """Written before lstmviz recorded its data, with a relative corpus: --corpus is the way on."""
    raw = torch.load(on_file / LATEST, weights_only=True)
    del raw["data"]
    raw["config"]["corpus"] = "a/c.txt"
    torch.save(raw, on_file / LATEST)
    (tmp_path / "a" / "c.txt").rename(tmp_path / "moved.txt")
    done = train(
        out=str(on_file), resume=True, steps=5, corpus=str(tmp_path / "moved.txt"), progress=False
    )
    assert done.step == 5 and "no record of the data" in caplog.text
    # without a record, another alphabet is still caught, by the vocabulary
    raw = torch.load(on_file / LATEST, weights_only=True)
    del raw["data"]
    torch.save(raw, on_file / LATEST)
    (tmp_path / "upper.txt").write_text(
        (tmp_path / "moved.txt").read_text(encoding="utf-8").upper(), encoding="utf-8"
    )
    with pytest.raises(LstmvizError, match="another vocabulary"):
        train(out=str(on_file), resume=True, steps=7, corpus=str(tmp_path / "upper.txt"))


def test_a_given_text_must_be_the_same_text(tmp_path, tiny_config, tiny_text):
    run = tmp_path / "run"
    train(tiny_config.replace(**SMALL, out=str(run), steps=3), text=tiny_text, progress=False)
    with pytest.raises(LstmvizError) as info:
        train(out=str(run), resume=True, steps=5, text=_shuffled(tiny_text), progress=False)
    says(info.value, "holds other data", "<text>")
    assert train(out=str(run), resume=True, steps=5, text=tiny_text, progress=False).step == 5
