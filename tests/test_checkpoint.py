"""Checkpoints: round trip, float16 export, atomic writes, refusing code, damaged, foreign files."""

from __future__ import annotations

import os

import pytest
import torch

import lstmviz.core.checkpoint as checkpoint
from lstmviz.core.checkpoint import (
    export_checkpoint,
    load_checkpoint,
    load_pretrained,
    read_raw,
    save_checkpoint,
)
from lstmviz.core.errors import LstmvizError
from lstmviz.core.sampling import generate


@pytest.fixture
def saved(tmp_path, tiny_trained):
    path = save_checkpoint(
        tmp_path / "ck.pt",
        tiny_trained.model,
        tiny_trained.vocab,
        step=60,
        config=tiny_trained.config.to_dict(),
        val_loss=tiny_trained.val_loss,
        best_val_loss=1.5,
        history=tiny_trained.history,
    )
    return path


def test_round_trip(saved, tiny_trained):
    ck = load_checkpoint(saved)
    assert not ck.model.training and ck.vocab == tiny_trained.vocab and ck.step == 60
    assert ck.config["hidden_size"] == 32 and ck.val_loss == tiny_trained.val_loss
    assert ck.best_val_loss == 1.5 and ck.history == tiny_trained.history
    for name, p in tiny_trained.model.state_dict().items():
        assert torch.equal(p, ck.model.state_dict()[name]), name
    assert generate(ck.model, ck.vocab, "A", 30, seed=0) == generate(
        tiny_trained.model, tiny_trained.vocab, "A", 30, seed=0
    )
    assert load_checkpoint(saved.parent / "ck.pt").step == 60
    assert not [p for p in os.listdir(saved.parent) if p.endswith(".tmp")]
    mask = os.umask(0)
    os.umask(mask)
    assert saved.stat().st_mode & 0o777 == 0o666 & ~mask  # like any other file, not mkstemp's 0600


def test_half_export(saved, tmp_path, tiny_trained):
    out = export_checkpoint(saved, tmp_path / "small.pt")
    raw = read_raw(out)
    assert raw["model"]["head.weight"].dtype == torch.float16 and raw["optimizer"] is None
    ck = load_checkpoint(out)
    assert ck.model.head.weight.dtype == torch.float32
    ref = tiny_trained.model.state_dict()
    for name, p in ck.model.state_dict().items():
        assert torch.allclose(p, ref[name], rtol=1e-3, atol=1e-4), name
    assert out.stat().st_size < saved.stat().st_size


def test_atomic_write_keeps_old_file(saved, tiny_trained, monkeypatch):
    before = saved.read_bytes()

    def crash(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt  # killed in the middle of writing

    monkeypatch.setattr(checkpoint.torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(saved, tiny_trained.model, tiny_trained.vocab, step=99)
    assert saved.read_bytes() == before
    assert os.listdir(saved.parent) == ["ck.pt"]  # no temp file left behind


class Payload:
    """Unpickling this creates a file: proof that code in a pickle would run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_checkpoint_with_code_is_refused(tmp_path, saved):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    raw = torch.load(saved, weights_only=True)
    raw["history"] = [Payload(marker)]
    torch.save(raw, evil)
    with pytest.raises(LstmvizError, match="refused to load .*contains Python objects or code"):
        load_checkpoint(evil)
    assert not marker.exists()
    torch.load(evil, weights_only=False)  # the payload is real: an unsafe load runs it
    assert marker.exists()


def test_damaged_and_foreign_files(tmp_path, saved, tiny_trained):
    data = saved.read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(LstmvizError, match="not an lstmviz checkpoint, or damaged .*truncated"):
        load_checkpoint(tmp_path / "trunc.pt")
    (tmp_path / "notes.pt").write_text("just some text\n")
    with pytest.raises(LstmvizError, match="not an lstmviz checkpoint, or damaged"):
        load_checkpoint(tmp_path / "notes.pt")
    torch.save(tiny_trained.model.state_dict(), tmp_path / "plain.pt")
    with pytest.raises(LstmvizError, match="not an lstmviz checkpoint"):
        load_checkpoint(tmp_path / "plain.pt")
    with pytest.raises(LstmvizError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(LstmvizError, match="folder without a checkpoint.pt"):
        load_checkpoint(tmp_path)


def test_mismatched_contents(tmp_path, saved):
    raw = torch.load(saved, weights_only=True)
    other_vocab = dict(raw, vocab=raw["vocab"][:-1])  # one character fewer than the model has
    torch.save(other_vocab, tmp_path / "vocab.pt")
    with pytest.raises(LstmvizError, match="vocabulary has .* characters but its model expects"):
        load_checkpoint(tmp_path / "vocab.pt")
    bigger = dict(raw, model_config=dict(raw["model_config"], hidden_size=64))
    torch.save(bigger, tmp_path / "config.pt")
    with pytest.raises(LstmvizError, match="does not match its own model configuration"):
        load_checkpoint(tmp_path / "config.pt")
    newer = dict(raw, version=99)
    torch.save(newer, tmp_path / "newer.pt")
    with pytest.raises(LstmvizError, match="newer lstmviz"):
        load_checkpoint(tmp_path / "newer.pt")


def test_load_pretrained(tmp_path, saved, monkeypatch):
    monkeypatch.setattr(checkpoint, "PRETRAINED_DIR", tmp_path / "shipped")
    with pytest.raises(
        LstmvizError, match="no pretrained model named 'shakespeare'; available: none"
    ):
        load_pretrained()
    export_checkpoint(saved, tmp_path / "shipped" / "tiny.pt")
    with pytest.raises(LstmvizError, match="available: tiny"):
        load_pretrained("shakespeare")
    assert load_pretrained("tiny").step == 60


def test_save_refuses_wrong_vocab(tmp_path, tiny_trained):
    from lstmviz.core.vocab import Vocab

    with pytest.raises(LstmvizError, match="vocabulary has 3 characters"):
        save_checkpoint(tmp_path / "x.pt", tiny_trained.model, Vocab("abc"))
    assert not (tmp_path / "x.pt").exists()
