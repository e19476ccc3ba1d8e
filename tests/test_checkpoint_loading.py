"""Loading a checkpoint: a file that is not one, is damaged, or lies about itself is refused in one
line before any model is built -- never a blocked read, never code run, never a huge allocation."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import zipfile

import pytest
import torch
from faults import ROOT, edited, no_hang, refused, says

import lstmviz.core.checkpoint as checkpoint
import lstmviz.core.run as core_run
from lstmviz.__main__ import main
from lstmviz.core.checkpoint import (
    LATEST,
    load_checkpoint,
    save_checkpoint,
    training_checkpoint_bytes,
)
from lstmviz.core.corpus import split
from lstmviz.core.errors import LstmvizError
from lstmviz.core.model import CharLSTM, param_count, param_shapes
from lstmviz.core.training import train


@pytest.mark.parametrize("use", ["api", "cli"])
def test_fifo_checkpoint_is_refused_without_blocking(tmp_path, capsys, use):
    fifo = tmp_path / "model.pt"
    os.mkfifo(fifo)
    if use == "api":
        res = no_hang(lambda: load_checkpoint(fifo), fifo)
        assert isinstance(res.get("error"), LstmvizError), res
        says(res["error"], "FIFO", "not a regular file")
    else:
        res = no_hang(lambda: main(["sample", "--checkpoint", str(fifo)]), fifo)
        assert res.get("value") == 2, res
        err = capsys.readouterr().err
        assert err.startswith("error: ")
        says(err, "checkpoint", "FIFO")


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_endless_devices_are_refused_as_checkpoint(device, capsys):
    res = no_hang(lambda: load_checkpoint(device))
    assert isinstance(res.get("error"), LstmvizError), res
    says(res["error"], "character device", "not a regular file")
    refused(capsys, ["sample", "--checkpoint", device], "character device")


def test_a_folder_named_like_a_checkpoint_is_refused(tmp_path, capsys):
    (tmp_path / "run" / LATEST).mkdir(parents=True)  # a folder where the checkpoint should be
    refused(capsys, ["sample", "--checkpoint", str(tmp_path / "run" / LATEST)], "a folder")


def test_a_sparse_10_gb_checkpoint_is_refused_without_reading(tmp_path, capsys):
    big = tmp_path / "huge.pt"
    with open(big, "wb") as f:
        f.truncate(10 * 2**30)  # sparse: 10 GiB claimed, nothing stored
    res = no_hang(lambda: load_checkpoint(big), timeout=10)
    assert res["seconds"] < 5 and isinstance(res.get("error"), LstmvizError), res
    says(res["error"], "more than the 1,000,000,000-byte cap for a checkpoint")
    refused(capsys, ["sample", "--checkpoint", str(big)], "byte cap for a checkpoint")


def test_a_checkpoint_name_too_long(tmp_path, capsys):
    refused(capsys, ["sample", "--checkpoint", str(tmp_path / ("y" * 300))], "name is too long")


def test_non_finite_weights_are_refused_at_load(tmp_path, saved, capsys):
    raw = torch.load(saved, weights_only=True)
    raw["model"]["lstm.weight_hh_l1"][3, 4] = float("nan")
    torch.save(raw, tmp_path / "nan.pt")
    with pytest.raises(LstmvizError) as info:
        load_checkpoint(tmp_path / "nan.pt")
    says(info.value, "damaged", "'lstm.weight_hh_l1'", "NaN or infinite")
    raw = torch.load(saved, weights_only=True)
    raw["model"]["head.bias"][0] = float("-inf")
    torch.save(raw, tmp_path / "inf.pt")
    refused(capsys, ["sample", "--checkpoint", str(tmp_path / "inf.pt")], "'head.bias' holds NaN")
    raw = torch.load(saved, weights_only=True)
    raw["train_state"] = {"h": torch.full((2, 16, 32), math.nan), "c": torch.zeros(2, 16, 32)}
    torch.save(raw, tmp_path / "state.pt")
    with pytest.raises(LstmvizError) as info:
        load_checkpoint(tmp_path / "state.pt")
    says(info.value, "'train_state.h'", "NaN")


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
    says(message, "does not match its own model configuration", "'lstm.weight_ih_l0'", "(48000, 8)")
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
        "checksum",
        repr(entry.filename),
    )


@pytest.mark.parametrize(
    "changes, words",
    [
        (dict(step="abc"), ("'step'", "whole number >= 0", "'abc'")),
        (dict(step=True), ("'step'", "whole number >= 0", "True")),
        (dict(history=5), ("'history'", "list of dicts", "5")),
        (dict(history=[1, 2]), ("'history'", "list of dicts")),
        (dict(version="2"), ("'version'", "whole number >= 1", "'2'")),
        (dict(val_loss="low"), ("'val_loss'", "finite number or None")),
        (dict(best_val_loss=math.nan), ("'best_val_loss'", "finite number or None")),
        (dict(vocab=7), ("'vocab'", "a string")),
        (dict(config=[1]), ("'config'", "a dict or None")),
        (dict(model=[1]), ("'model'", "a dict of tensors")),
        (dict(optimizer="x"), ("'optimizer'", "a dict or None")),
        (dict(train_state={"h": 1}), ("'train_state'", "None or")),
    ],
)
def test_fields_of_the_wrong_type_give_one_line(tmp_path, saved, capsys, changes, words):
    bad = edited(saved, tmp_path / "bad.pt", **changes)
    refused(capsys, ["sample", "--checkpoint", str(bad)], "or damaged", *words)


def test_model_config_of_the_wrong_type(tmp_path, saved, capsys):
    raw = torch.load(saved, weights_only=True)
    for key, value in [("hidden_size", "32"), ("num_layers", 0), ("dropout", 1.5)]:
        bad = edited(saved, tmp_path / "bad.pt", model_config={**raw["model_config"], key: value})
        refused(capsys, ["sample", "--checkpoint", str(bad)], "its 'model_config' should be")


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


@pytest.mark.parametrize(
    "convert, fragment",
    [
        (lambda t: t > 0, "torch.bool"),
        (lambda t: t.long(), "torch.int64"),
        (lambda t: t.to(torch.complex64), "torch.complex64"),
        (lambda t: t.to_sparse(), "sparse"),
    ],
)
def test_weights_of_the_wrong_kind_are_refused(tmp_path, saved, capsys, convert, fragment):
    """A bool or int weight would be cast to 0/1 or whole numbers and load silently."""

    def change(c):
        c["model"]["lstm.weight_ih_l0"] = convert(c["model"]["lstm.weight_ih_l0"])

    bad = edited(saved, tmp_path / "bad.pt", change)
    refused(capsys, ["sample", "--checkpoint", str(bad)], "damaged", "lstm.weight_ih_l0", fragment)


def test_float64_weights_still_load(tmp_path, saved):
    """A float64 copy is the same model: accepted and converted, not refused."""

    def change(c):
        c["model"] = {k: v.double() for k, v in c["model"].items()}

    ck = load_checkpoint(edited(saved, tmp_path / "f64.pt", change))
    assert ck.model.lstm.weight_ih_l0.dtype == torch.float32


@pytest.mark.parametrize("vocab", ["ba", "aab"])
def test_a_vocabulary_out_of_order_names_the_file(tmp_path, saved, capsys, vocab):
    """It said "build it with Vocab.from_text(text)": advice for code, not for a damaged file."""

    def change(c):
        c["vocab"] = c["vocab"][: -len(vocab)] + vocab

    bad = edited(saved, tmp_path / "bad.pt", change)
    line = refused(capsys, ["sample", "--checkpoint", str(bad)], str(bad), "damaged")
    assert "from_text" not in line


# ----------------------------------------------------------------- structure before any value


def _expanded(t):
    """One stored number posing as 2e10 (80 GB as float32) through a zero stride."""
    return torch.zeros(1).expand(20_000_000_000)


@pytest.mark.parametrize(
    "where, convert, fragment",
    [
        ("model", _expanded, "not stored densely"),
        ("model", lambda t: t.to(torch.float8_e4m3fn), "torch.float8_e4m3fn"),
        ("model", lambda t: torch.empty(t.shape, device="meta"), "meta device"),
        ("model", lambda t: t.t(), "not stored densely"),  # a transposed view: strides lie
        ("train_state", _expanded, "not stored densely"),
        ("train_state", lambda t: torch.empty(t.shape, device="meta"), "meta device"),
        ("optimizer", _expanded, "not stored densely"),
        ("optimizer", lambda t: t.to(torch.float8_e5m2), "torch.float8_e5m2"),
        ("rng", lambda t: t.float(), "torch.float32"),
        ("rng", lambda t: torch.zeros(1, dtype=torch.uint8).expand(10**10), "not stored densely"),
    ],
)
def test_a_lying_tensor_is_refused_from_its_structure_before_any_value(
    tmp_path, run_dir, capsys, where, convert, fragment
):
    """The finiteness check ran first: a stride-0 weight asked for 80 GB, a float8 one raised
    NotImplementedError, a meta one RuntimeError ("a bug in lstmviz")."""

    def change(c):
        if where == "model":
            c["model"]["lstm.weight_hh_l0"] = convert(c["model"]["lstm.weight_hh_l0"])
        elif where == "train_state":
            c["train_state"]["c"] = convert(c["train_state"]["c"])
        elif where == "optimizer":
            c["optimizer"]["state"][1]["exp_avg"] = convert(c["optimizer"]["state"][1]["exp_avg"])
        else:
            c["rng"]["torch"] = convert(c["rng"]["torch"])

    bad = edited(run_dir / LATEST, tmp_path / "liar.pt", change)
    assert bad.stat().st_size < 300_000
    res = no_hang(lambda: load_checkpoint(bad), timeout=20)
    assert res["seconds"] < 5 and isinstance(res.get("error"), LstmvizError), res
    says(res["error"], str(bad), "damaged", fragment)
    refused(capsys, ["sample", "--checkpoint", str(bad)], "damaged", fragment)


@pytest.mark.parametrize("step", [2**64, 2**53 + 1, -1])
def test_a_step_out_of_range_is_refused(tmp_path, saved, capsys, step):
    """step = 2**64 overflowed when it became a seed (a bug exit) instead of a damaged file."""
    bad = edited(saved, tmp_path / "bad.pt", step=step)
    refused(capsys, ["sample", "--checkpoint", str(bad)], "'step'", "whole number >= 0", "at most")


@pytest.mark.parametrize("layers", [200_000, 65])
def test_a_tiny_file_declaring_a_deep_model_is_refused_at_once(tmp_path, saved, capsys, layers):
    """num_layers 200000 in a 44 KB file: building its skeleton ran for minutes."""
    raw = torch.load(saved, weights_only=True)
    bad = edited(
        saved, tmp_path / "deep.pt", model_config={**raw["model_config"], "num_layers": layers}
    )
    res = no_hang(lambda: main(["sample", "--checkpoint", str(bad), "--length", "5"]), timeout=20)
    assert res.get("value") == 2 and res["seconds"] < 5, res
    says(capsys.readouterr().err.strip(), "'model_config'", "num_layers at most 64")


def test_a_file_declaring_more_layers_than_it_holds_is_refused_before_building(tmp_path, saved):
    """64 layers declared (allowed), 2 stored: refused from the count of tensors, nothing built."""
    raw = torch.load(saved, weights_only=True)
    bad = edited(
        saved, tmp_path / "deep.pt", model_config={**raw["model_config"], "num_layers": 64}
    )
    with pytest.raises(LstmvizError) as info:
        load_checkpoint(bad)
    says(info.value, "holds 11 weight tensors", "needs 259", "damaged")


@pytest.mark.parametrize("sizes", [(7, 16, 1, 8), (50, 32, 3, 4), (1, 1, 2, 1)])
def test_shapes_computed_without_building_match_the_model(sizes):
    """The loader and the memory checks compute shapes; they must be the model's own."""
    vocab_size, hidden, layers, emb = sizes
    model = CharLSTM(vocab_size, hidden, layers, 0.0, emb)
    real = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert list(param_shapes(*sizes).items()) == list(real.items())
    assert param_count(*sizes) == sum(p.numel() for p in model.parameters())


# ----------------------------------------------------------------- never write what we cannot read


def test_a_save_larger_than_the_read_cap_is_not_written(tmp_path, saved, monkeypatch):
    """A 1.55 GB checkpoint was written, then refused by every reader (1 GB cap). Here the
    tensors fit under the cap but a long history does not: found while writing, nothing kept."""
    before = saved.read_bytes()
    ck = load_checkpoint(saved)
    monkeypatch.setattr(checkpoint, "CHECKPOINT_CAP", 100_000)
    history = [{"kind": "sample", "text": "x" * 100_000}]
    with pytest.raises(LstmvizError) as info:
        save_checkpoint(saved, ck.model, ck.vocab, step=61, history=history)
    says(info.value, "refusing to write", "100,000-byte cap", "nothing was replaced")
    assert saved.read_bytes() == before
    assert [p.name for p in saved.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_a_run_whose_checkpoint_the_loader_would_refuse_never_starts(tmp_path, tiny_config):
    """A 10**6-character vocabulary: refused before building, naming the size and the cap."""
    chars = [chr(c) for c in range(0x4E00, 0x10FFFF) if not 0xD800 <= c < 0xE000][:1_000_000]
    text = "".join(chars) * 2
    out = tmp_path / "run"
    cfg = tiny_config.replace(
        out=str(out), hidden_size=100, num_layers=1, embedding_dim=8, sample_len=0
    )
    res = no_hang(lambda: train(cfg, text=text, progress=False), timeout=60)
    assert isinstance(res.get("error"), LstmvizError), res
    says(
        res["error"], "1,000,000 characters", "its checkpoint would take", "1 GB lstmviz reads back"
    )
    assert not out.exists()
    # the same model without a run folder writes nothing, so it may train (not done here)
    size = training_checkpoint_bytes(
        dict(vocab_size=1_000_000, hidden_size=100, num_layers=1, embedding_dim=8), 16
    )
    assert (
        size
        > checkpoint.CHECKPOINT_CAP
        > training_checkpoint_bytes(
            dict(vocab_size=100_000, hidden_size=100, num_layers=1, embedding_dim=8), 16
        )
    )


def test_the_size_estimate_is_a_lower_bound_of_a_real_checkpoint(run_dir, tiny_config):
    """The refusal above rests on the estimate: it must never exceed what a save writes."""
    ck = load_checkpoint(run_dir)
    estimate = training_checkpoint_bytes(ck.model.config(), tiny_config.batch_size)
    actual = (run_dir / LATEST).stat().st_size
    assert 0.5 * actual < estimate <= actual


@pytest.fixture
def run_dir(tmp_path, tiny_config, tiny_text):
    """A finished 4-step run folder holding checkpoint.pt with optimizer, rng and stream state."""
    train(tiny_config.replace(steps=4, out=str(tmp_path / "run")), text=tiny_text, progress=False)
    return tmp_path / "run"


@pytest.mark.parametrize(
    "changes, words",
    [
        (dict(val_loss=10**400), ("'val_loss'", "finite number")),
        (dict(history=[{"kind": "train", "loss": torch.zeros(3)}]), ("'history'", "plain values")),
        (dict(config={"corpus": torch.zeros(1).expand(10**9)}), ("'config'", "plain values")),
        (dict(world_size=0), ("'world_size'", "whole number >= 1")),
    ],
)
def test_fields_that_would_break_later_are_refused_at_load(tmp_path, saved, capsys, changes, words):
    """An int too large for a float overflowed in a message; a tensor in the history broke the
    run log at the first save after resuming ("a bug in lstmviz")."""
    bad = edited(saved, tmp_path / "bad.pt", **changes)
    refused(capsys, ["sample", "--checkpoint", str(bad)], "or damaged", *words)


def test_a_save_known_to_be_too_large_writes_nothing(tmp_path, tiny_trained, monkeypatch):
    """The tensors' bytes are known before writing: refused without a temp file of that size."""
    monkeypatch.setattr(checkpoint, "CHECKPOINT_CAP", 10_000)
    path = tmp_path / "model.pt"
    with pytest.raises(LstmvizError) as info:
        save_checkpoint(path, tiny_trained.model, tiny_trained.vocab)
    says(info.value, "tensors alone take", "10,000-byte cap", "nothing was written")
    assert list(tmp_path.iterdir()) == []


def test_a_run_whose_history_would_outgrow_the_read_cap_never_starts(tmp_path, tiny_config):
    """Samples are kept in every checkpoint: 10,000 samples of 100,000 characters would make a
    checkpoint of over 1 GB late in the run, refused by every reader."""
    out = tmp_path / "run"
    cfg = tiny_config.replace(out=str(out), steps=10_001, sample_len=100_000, sample_every=1)
    res = no_hang(lambda: train(cfg, text=TEXT, progress=False), timeout=30)
    assert isinstance(res.get("error"), LstmvizError), res
    says(res["error"], "10,001 steps", "samples of 100,000 characters", "--sample-len", "1 GB")
    assert not out.exists()


def test_the_history_estimate_is_a_lower_bound_of_a_real_checkpoint(tmp_path, tiny_config):
    cfg = tiny_config.replace(
        out=str(tmp_path / "run"),
        steps=12,
        log_every=1,
        eval_every=3,
        sample_every=2,
        sample_len=500,
    )
    train(cfg, text=TEXT, progress=False)
    ck = load_checkpoint(tmp_path / "run")
    entries, samples = core_run._history_size(cfg, len(split(TEXT, cfg.val_fraction)[0]))
    assert entries + samples >= len(ck.history) > 0.8 * (entries + samples)
    estimate = training_checkpoint_bytes(ck.model.config(), cfg.batch_size)
    estimate += 90 * entries + samples * (cfg.sample_len + 90)
    assert 0.5 * (tmp_path / "run" / LATEST).stat().st_size < estimate
    assert estimate <= (tmp_path / "run" / LATEST).stat().st_size


#: A text long enough for the tiny settings, with a newline (the samples' prime).
TEXT = "".join(f"line {i}: the quick brown fox\n" for i in range(400))
