"""Training and generation settings, checked before any work: a wrong type or range is one
LstmvizError naming the setting and what is allowed, and a model too big for this machine is
refused before anything is allocated."""

from __future__ import annotations

import math
import time

import pytest
import torch
from faults import TINY_FLAGS, no_hang, refused, says

import lstmviz.core.run as core_run
from lstmviz.core.errors import LstmvizError
from lstmviz.core.model import CharLSTM
from lstmviz.core.sampling import generate
from lstmviz.core.training import train


def test_a_model_too_big_for_memory_is_refused_before_allocating(tiny_config, tiny_text):
    start = time.monotonic()
    with pytest.raises(LstmvizError) as info:
        train(tiny_config.replace(hidden_size=200_000), text=tiny_text, progress=False)
    assert time.monotonic() - start < 10
    with torch.device("meta"):  # the parameters the message must count, without their memory
        model = CharLSTM(len(set(tiny_text)), 200_000, 2, 0.1, 8)
    counted = sum(p.numel() for p in model.parameters())
    says(info.value, "hidden_size=200000", f"has {counted:,} parameters", "cpu memory", "smaller")


def test_grad_clip_minus_one_never_trains_backwards(tiny_config, tiny_text):
    with pytest.raises(LstmvizError, match="grad_clip"):
        train(tiny_config.replace(grad_clip=-1.0), text=tiny_text, progress=False)
    off = train(tiny_config.replace(grad_clip=math.inf, steps=10), text=tiny_text, progress=False)
    assert off.step == 10  # inf is the documented "no clipping"


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("hidden_size", 2.5, ("--hidden-size", "whole number >= 1", "2.5")),
        ("batch_size", True, ("--batch-size", "whole number >= 1", "True")),
        ("lr", "0.1", ("--lr", "(0, 1e+06]", "'0.1'")),
        ("val_chars", 1.0, ("--val-chars", "whole number")),
        ("seed", 2**64, ("--seed", "0 to 4294967295")),
        ("corpus", 5, ("corpus must be",)),
        ("device", 0, ("--device", "non-empty string or None")),
    ],
)
def test_training_settings_of_the_wrong_type(field, value, words, tiny_config):
    with pytest.raises(LstmvizError) as info:
        train(tiny_config.replace(**{field: value}), text="abc" * 1000, progress=False)
    says(info.value, *words)
    with pytest.raises(LstmvizError) as info:
        train({"steps": 3}, text="abc" * 1000, progress=False)
    says(info.value, "must be a TrainConfig")


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(temperature=1e-45), ("temperature", "0 (greedy)", "0.001 and 1000")),
        (dict(temperature=math.inf), ("temperature", "got inf")),
        (dict(temperature=math.nan), ("temperature", "got nan")),
        (dict(temperature=-1.0), ("temperature", "got -1.0")),
        (dict(seed=10**23), ("seed", "0 to 4294967295")),
        (dict(seed=-1), ("seed", "0 to 4294967295")),
        (dict(seed=1.5), ("seed", "whole number")),
        (dict(prime="RO\ud800"), ("lone surrogate",)),
        (dict(top_k=0), ("top_k", ">= 1")),
        (dict(top_k=True), ("top_k", "whole number")),
        (dict(length=-1), ("length", ">= 0")),
    ],
)
def test_bad_generation_arguments_are_refused_up_front(tiny_trained, kwargs, words):
    args = dict(prime="ROMEO", length=20, temperature=1.0, seed=0) | kwargs
    prime, length = args.pop("prime"), args.pop("length")
    with pytest.raises(LstmvizError) as info:
        generate(tiny_trained.model, tiny_trained.vocab, prime, length, **args)
    says(info.value, *words)


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--num-layers", "200000", "--hidden-size", "1"], ("--num-layers", "from 1 to 64")),
        (["--num-layers", "65"], ("--num-layers", "from 1 to 64", "65")),
        (["--steps", str(2**64)], ("--steps", "from 1 to 9007199254740992")),
    ],
)
def test_a_flag_declaring_a_huge_cost_is_refused_before_building(tmp_path, capsys, flags, words):
    """train --num-layers 200000 --hidden-size 1 was still before step 1 after 90 s (its
    parameters are few, so the memory check passed); --steps 2**64 overflowed the seed."""
    argv = ["train", *TINY_FLAGS, "--out", str(tmp_path / "run"), *flags]
    res = no_hang(lambda: refused(capsys, argv, *words), timeout=20)
    assert "error" not in res and res["seconds"] < 5, res
    assert not (tmp_path / "run").exists()


def test_the_deepest_model_allowed_still_builds_quickly(tiny_config, tiny_text):
    """The bound is a bound on cost, not on use: 64 layers of one unit train a step at once."""
    start = time.monotonic()
    cfg = tiny_config.replace(num_layers=64, hidden_size=1, steps=1, eval_every=1, seq_len=8)
    assert train(cfg, text=tiny_text, progress=False).step == 1
    assert time.monotonic() - start < 30


def test_a_step_too_big_for_memory_is_refused_before_building(monkeypatch, tiny_config):
    """Few parameters, but one step of 1000 streams x 190 characters through 64 layers of 512
    needs ~75 GB of activations: it swapped the machine instead of saying so."""
    monkeypatch.setattr(core_run, "memory_bytes", lambda device: 16 * 10**9)
    text = "".join(f"line {i}: the quick brown fox\n" for i in range(8000))
    cfg = tiny_config.replace(batch_size=1000, seq_len=190, hidden_size=512, num_layers=64)
    start = time.monotonic()
    with pytest.raises(LstmvizError) as info:
        train(cfg, text=text, progress=False)
    assert time.monotonic() - start < 10
    says(info.value, "--batch-size 1000 x --seq-len 190", "16.0 GB of cpu memory", "smaller")
    small = cfg.replace(batch_size=2, seq_len=8, hidden_size=8, num_layers=1, steps=1)
    assert train(small, text=text, progress=False).step == 1  # the same memory fits this


# ---- nonsense refused: settings that contradict each other, data with nothing to learn, bools

SMALL = dict(hidden_size=16, num_layers=1, embedding_dim=8, dropout=0.0, steps=3)


def test_min_lr_above_lr_is_refused(tiny_config, tiny_text):
    with pytest.raises(LstmvizError) as info:
        train(tiny_config.replace(lr=1e-3, min_lr=1000.0), text=tiny_text, progress=False)
    says(info.value, "--min-lr", "1000", "above lr", "--lr", "0.001")
    equal = train(tiny_config.replace(**SMALL, lr=1e-3, min_lr=1e-3), text=tiny_text)
    assert {e["lr"] for e in equal.history if e["kind"] == "train"} == {1e-3}


def test_a_resumed_lr_below_the_stored_min_lr_is_the_users_to_fix(tmp_path, tiny_config, tiny_text):
    run = tmp_path / "run"
    train(tiny_config.replace(**SMALL, out=str(run)), text=tiny_text, progress=False)  # 2e-2
    with pytest.raises(LstmvizError) as info:
        train(out=str(run), resume=True, steps=5, lr=1e-3, text=tiny_text, progress=False)
    text = says(info.value, "--min-lr", "above lr")
    assert "damaged" not in text  # the file is fine: the new --lr clashes with it


@pytest.mark.parametrize("text", ["a" * 5000, "\n" * 5000])
def test_a_one_symbol_corpus_is_refused(tiny_config, text):
    with pytest.raises(LstmvizError) as info:
        train(tiny_config, text=text, progress=False)
    says(info.value, "only one distinct character", "nothing to learn")


def test_tilde_in_out_checkpoint_and_export_is_the_home_folder(
    tmp_path, tiny_text, monkeypatch, capsys
):
    """`--out=~/r` reaches lstmviz unexpanded (a shell expands ~ only at a word's start)."""
    from faults import TINY_FLAGS

    from lstmviz.__main__ import main

    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir(), work.mkdir()
    (work / "c.txt").write_text(tiny_text, encoding="utf-8")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    flags = [*TINY_FLAGS, "--steps", "2", "--no-progress", "--sample-len", "0"]
    assert main(["train", "--corpus", "c.txt", "--out=~/r", *flags]) == 0
    assert (home / "r" / "checkpoint.pt").is_file() and not (work / "~").exists()
    assert main(["sample", "--checkpoint", "~/r/checkpoint.pt", "--length", "5"]) == 0
    assert main(["sample", "--checkpoint", "~/r", "--length", "5"]) == 0
    assert main(["export", "--checkpoint", "~/r", "--out=~/shared.pt"]) == 0
    assert (home / "shared.pt").is_file() and not (work / "~").exists()
    capsys.readouterr()


def test_bools_are_not_whole_numbers_for_the_recorder(tiny_model):
    import numpy as np

    from lstmviz.gates.recorder import GateRecorder

    model, _ = tiny_model
    for bad in (True, False, np.bool_(True), torch.tensor(True), 2.0, "3"):
        with pytest.raises(LstmvizError) as info:
            GateRecorder(model, max_steps=bad)
        says(info.value, "max_steps", "whole number")
    assert GateRecorder(model, max_steps=np.int64(4)).max_steps == 4  # NumPy ints are fine


def test_an_older_run_with_min_lr_above_lr_resumes_with_min_lr(tmp_path, tiny_config, tiny_text):
    """Accepted before min_lr <= lr was checked: its file is not damaged, --min-lr fixes it."""
    import torch

    from lstmviz.core.checkpoint import LATEST

    run = tmp_path / "run"
    train(tiny_config.replace(**SMALL, out=str(run)), text=tiny_text, progress=False)
    raw = torch.load(run / LATEST, weights_only=True)
    raw["config"].update(lr=1e-4, min_lr=4e-4)
    torch.save(raw, run / LATEST)
    with pytest.raises(LstmvizError) as info:
        train(out=str(run), resume=True, steps=5, text=tiny_text, progress=False)
    assert "damaged" not in says(info.value, "--min-lr", "above lr")
    done = train(out=str(run), resume=True, steps=5, min_lr=1e-5, text=tiny_text, progress=False)
    assert done.step == 5 and done.config.min_lr == 1e-5


def test_settings_are_plain_whole_numbers(tmp_path, tiny_config, tiny_text):
    """A tensor or a bool where a setting wants a whole number: refused before any work (a
    tensor would only fail when the first checkpoint is saved); NumPy integers are fine."""
    import numpy as np

    for bad in (torch.tensor(5), True, np.bool_(True)):
        with pytest.raises(LstmvizError) as info:
            train(tiny_config.replace(steps=bad), text=tiny_text, progress=False)
        says(info.value, "--steps", "whole number")
    out = tmp_path / "run"
    cfg = tiny_config.replace(**{**SMALL, "steps": np.int64(2), "out": str(out)})
    assert train(cfg, text=tiny_text, progress=False).step == 2
    saved = torch.load(out / "checkpoint.pt", weights_only=True)["config"]["steps"]
    assert saved == 2 and type(saved) is int
