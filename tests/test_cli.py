"""The command line: train, sample, export; any bad input: one line, exit status 2, no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from lstmviz.__main__ import main
from lstmviz.core.checkpoint import LATEST, load_checkpoint

TINY_FLAGS = [
    "--hidden-size",
    "16",
    "--num-layers",
    "2",
    "--embedding-dim",
    "4",
    "--seq-len",
    "16",
    "--batch-size",
    "8",
    "--lr",
    "0.02",
    "--eval-every",
    "5",
    "--log-every",
    "5",
    "--device",
    "cpu",
    "--no-progress",
]


@pytest.fixture
def run_dir(tmp_path, corpus_file, capsys):
    """A finished 5-step run in tmp_path/run."""
    out = tmp_path / "run"
    assert (
        main(
            ["train", "--corpus", str(corpus_file), *TINY_FLAGS, "--steps", "5", "--out", str(out)]
        )
        == 0
    )
    assert "done: step 5" in capsys.readouterr().out
    return out


def fails(capsys, argv, message):
    """Run the CLI, expect exit status 2 and exactly one stderr line 'error: ...message...'."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert message in lines[0], lines[0]
    assert "Traceback" not in err


def test_train_resume_and_sample(run_dir, capsys):
    ck = load_checkpoint(run_dir)
    assert ck.step == 5 and ck.config["hidden_size"] == 16
    assert main(["train", "--out", str(run_dir), "--resume", "--steps", "8", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "step 5:" not in out and "step 8: val" in out  # the log goes on after the saved step
    assert "done: step 8" in out
    assert load_checkpoint(run_dir).step == 8

    argv = [
        "sample",
        "--checkpoint",
        str(run_dir / LATEST),
        "--prime",
        "ROMEO",
        "--length",
        "50",
        "--top-k",
        "5",
        "--temperature",
        "0.8",
        "--seed",
        "3",
    ]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert first.startswith("ROMEO") and len(first) == len("ROMEO") + 50 + 1
    assert main(argv) == 0
    assert capsys.readouterr().out == first  # same seed, same text


def test_export(run_dir, tmp_path, capsys):
    small = tmp_path / "small.pt"
    assert main(["export", "--checkpoint", str(run_dir), "--out", str(small)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert load_checkpoint(small).model.head.weight.dtype == torch.float32
    before = small.read_bytes()
    fails(capsys, ["export", "--checkpoint", str(run_dir), "--out", str(small)], "already exists")
    assert small.read_bytes() == before


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "is empty"),
        (b"To be, or not to be\n", "corpus is too short"),
        (b"\x7fELF\x02\x01\x01\x00\x00\x00\x00", "looks like a binary file"),
        ("ç'est la vie".encode("cp1252"), "is not UTF-8 text"),
    ],
)
def test_train_bad_corpus_files(tmp_path, capsys, content, message):
    path = tmp_path / "corpus.txt"
    path.write_bytes(content)
    fails(
        capsys,
        ["train", "--corpus", str(path), *TINY_FLAGS, "--out", str(tmp_path / "run")],
        message,
    )
    assert not (tmp_path / "run").exists()  # nothing written


def test_train_missing_path_and_directory(tmp_path, capsys):
    fails(capsys, ["train", "--corpus", str(tmp_path / "nope.txt"), *TINY_FLAGS], "does not exist")
    fails(capsys, ["train", "--corpus", str(tmp_path), *TINY_FLAGS], "is a directory")


def test_train_refuses_to_clobber_and_other_vocab(run_dir, tmp_path, corpus_file, capsys):
    before = (run_dir / LATEST).read_bytes()
    fails(
        capsys,
        ["train", "--corpus", str(corpus_file), *TINY_FLAGS, "--out", str(run_dir)],
        "already holds a checkpoint",
    )
    other = tmp_path / "other.txt"
    other.write_text(corpus_file.read_text(encoding="utf-8").upper(), encoding="utf-8")
    fails(
        capsys,
        ["train", "--out", str(run_dir), "--resume", "--steps", "9", "--corpus", str(other)],
        "holds other data",
    )
    # same file name, other text: the recorded size and SHA-256 catch it
    corpus_file.write_text(other.read_text(encoding="utf-8"), encoding="utf-8")
    fails(capsys, ["train", "--out", str(run_dir), "--resume", "--steps", "9"], "holds other data")
    assert (run_dir / LATEST).read_bytes() == before


def test_sample_bad_inputs(run_dir, tmp_path, capsys):
    fails(
        capsys,
        ["sample", "--checkpoint", str(run_dir), "--prime", "naïve"],
        "the prime contains 'ï' (U+00EF) at position 2",
    )
    data = (run_dir / LATEST).read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 3])
    cut = ["sample", "--checkpoint", str(tmp_path / "cut.pt")]
    fails(capsys, cut, "not an lstmviz checkpoint, or damaged")
    fails(capsys, ["sample", "--checkpoint", str(tmp_path / "none.pt")], "does not exist")
    fails(capsys, ["sample", "--checkpoint", str(run_dir), "--length", "-3"], "length must be")
    if not torch.cuda.is_available():
        fails(capsys, ["sample", "--checkpoint", str(run_dir), "--device", "cuda"], "no CUDA GPU")

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    raw = torch.load(run_dir / LATEST, weights_only=True)
    raw["config"] = Payload()
    torch.save(raw, tmp_path / "evil.pt")
    fails(capsys, ["sample", "--checkpoint", str(tmp_path / "evil.pt")], "refused to load")
    assert not marker.exists()


def test_real_process_prints_one_line(tmp_path):
    """In a real process too: one line on stderr, status 2, no traceback."""
    (tmp_path / "bin.dat").write_bytes(bytes(range(256)))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lstmviz",
            "train",
            "--corpus",
            str(tmp_path / "bin.dat"),
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and proc.stderr.startswith("error: corpus")
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_version(capsys):
    import lstmviz

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"lstmviz {lstmviz.__version__}"


def test_train_flags_come_from_train_config(capsys):
    """Every TrainConfig field is a flag, typed by its annotation; the presets come from PRESETS."""
    import dataclasses

    from lstmviz.core.cli import build_parser
    from lstmviz.core.training import PRESETS, TrainConfig

    train_parser = build_parser()._subparsers._group_actions[0].choices["train"]
    actions = {a.dest: a for a in train_parser._actions}
    for f in dataclasses.fields(TrainConfig):
        assert actions[f.name].help.startswith(f.metadata["help"].replace("%", "%%"))
    assert list(actions["preset"].choices) == list(PRESETS)
    assert actions["hidden_size"].type is int and actions["val_chars"].type is int
    assert actions["lr"].type is float and actions["corpus"].type is str
    args = build_parser().parse_args(["train", "--val-chars", "300", "--min-lr", "1e-4"])
    assert (args.val_chars, args.min_lr, args.seq_len) == (300, 1e-4, None)
    with pytest.raises(SystemExit):
        main(["train", "--hidden-size", "big"])
    assert "invalid int value: 'big'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        main(["train", "--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    assert "--hidden-size N" in text and "(full: 512, quick: 256)" in text
    assert max(len(line) for line in text.splitlines()) <= 100


def test_pretrained_names_work_where_a_checkpoint_path_does(tmp_path, capsys, monkeypatch):
    import lstmviz.core.cli as cli

    asked = []
    monkeypatch.setattr(
        cli, "pick_device", lambda name=None: asked.append(name) or torch.device("cpu")
    )
    argv = ["sample", "--checkpoint", "shakespeare", "--prime", "ROMEO", "--length", "40"]
    assert main([*argv, "--seed", "1"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("ROMEO") and len(text) == len("ROMEO") + 40 + 1
    assert asked == [None]  # no --device: the best available device, as in train
    assert main([*argv, "--seed", "1", "--device", "cpu"]) == 0
    assert capsys.readouterr().out == text and asked == [None, "cpu"]

    out = tmp_path / "python16.pt"
    assert main(["export", "--checkpoint", "python", "--out", str(out)]) == 0
    capsys.readouterr()
    assert load_checkpoint(out).vocab == load_checkpoint("python").vocab
    fails(
        capsys,
        ["sample", "--checkpoint", "hamlet"],
        "'hamlet' does not exist and is not a pretrained model's name (python, shakespeare, "
        "shakespeare_epoch1)",
    )
