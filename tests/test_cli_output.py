"""What the command line prints when it refuses: one line ``error: ...`` on stderr, exit status 2,
nothing on stdout and nothing half-written -- for bad flags, sampling arguments and devices, and
for every export target that is not a regular file (even with --force)."""

from __future__ import annotations

import argparse
import io
import json
import os
import shlex
import stat
import time

import pytest
from faults import TINY_FLAGS, lstmviz_process, no_hang, refused, run_lstmviz

import lstmviz.core.checkpoint as checkpoint
import lstmviz.core.cli as cli
from lstmviz.__main__ import main
from lstmviz.core.checkpoint import load_checkpoint
from lstmviz.core.errors import LstmvizError

#: (flag, value, key words of its refusal): the setting, and what is allowed.
BAD_TRAIN_FLAGS = [
    ("--seq-len", "0", ("seq_len", "--seq-len", ">= 1")),
    ("--batch-size", "0", ("--batch-size", ">= 1")),
    ("--hidden-size", "0", ("--hidden-size", ">= 1")),
    ("--num-layers", "0", ("--num-layers", "from 1 to 64")),
    ("--embedding-dim", "-3", ("--embedding-dim", ">= 1")),
    ("--dropout", "1.5", ("--dropout", "[0, 1)")),
    ("--dropout", "1", ("--dropout", "[0, 1)")),
    ("--lr", "nan", ("--lr", "(0, 1e+06]", "nan")),
    ("--lr", "0", ("--lr", "(0, 1e+06]")),
    ("--lr", "inf", ("--lr", "(0, 1e+06]")),
    ("--lr", "1e300", ("--lr", "(0, 1e+06]")),
    ("--min-lr", "-1", ("--min-lr", "[0, 1e+06]")),
    ("--grad-clip", "-1", ("--grad-clip", "> 0", "inf: no clipping")),
    ("--grad-clip", "0", ("--grad-clip", "> 0")),
    ("--grad-clip", "nan", ("--grad-clip", "> 0")),
    ("--eval-every", "0", ("--eval-every", ">= 1")),
    ("--log-every", "0", ("--log-every", ">= 1")),
    ("--save-every", "-1", ("--save-every", ">= 0")),
    ("--steps", "-5", ("--steps", "from 1 to")),
    ("--steps", "0", ("--steps", "from 1 to")),
    ("--val-chars", "-1", ("--val-chars", ">= 1")),
    ("--val-chars", "0", ("--val-chars", ">= 1")),
    ("--reset-prob", "1.5", ("--reset-prob", "[0, 1]")),
    ("--val-fraction", "0", ("--val-fraction", "(0, 1)")),
    ("--val-fraction", "1", ("--val-fraction", "(0, 1)")),
    ("--seed", "-1", ("--seed", "0 to 4294967295")),
    ("--seed", str(10**23), ("--seed", "0 to 4294967295")),
    ("--seq-len", "abc", ("--seq-len", "invalid int value", "'abc'")),
]


@pytest.mark.parametrize("flag, value, words", BAD_TRAIN_FLAGS)
def test_bad_training_settings_are_refused_before_any_work(flag, value, words, tmp_path, capsys):
    out = tmp_path / "run"
    start = time.monotonic()
    refused(capsys, ["train", flag, value, "--out", str(out), "--no-progress"], *words)
    assert not out.exists()  # refused before the folder was made or the corpus loaded
    assert time.monotonic() - start < 5


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--temperature", "1e-45"], ("temperature", "0 (greedy)")),
        (["--temperature", "inf"], ("temperature", "0 (greedy)")),
        (["--temperature", "nan"], ("temperature", "0 (greedy)")),
        (["--seed", str(10**23)], ("seed", "0 to 4294967295")),
        (["--prime", "\ud800"], ("lone surrogate",)),
        (["--length", "-2"], ("length", ">= 0")),
        (["--top-k", "0"], ("top_k",)),
    ],
)
def test_cli_sample_refuses_before_printing_anything(tmp_path, saved, flags, words, capsys):
    refused(capsys, ["sample", "--checkpoint", str(saved), *flags], *words)


def test_sample_into_a_closed_pipe_is_quiet(saved):
    """`lstmviz sample ... | head -c 20`: the reader leaves early; no error, no traceback."""
    proc = lstmviz_process("sample", "--checkpoint", str(saved), "--length", "200000")
    first = proc.stdout.read(20)
    proc.stdout.close()
    err = proc.stderr.read()
    proc.wait(60)
    assert len(first) == 20 and proc.returncode == 0, err
    assert err == ""


@pytest.mark.parametrize("device", ["meta", "xla", "vulkan", "lazy", "privateuseone"])
def test_devices_torch_knows_but_lstmviz_cannot_use(saved, capsys, device):
    """torch.device() accepts these names; training or sampling then failed as "a bug" (exit 1)."""
    refused(capsys, ["train", *TINY_FLAGS, "--device", device], "unknown device", device)
    refused(capsys, ["sample", "--checkpoint", str(saved), "--device", device], "unknown device")


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
    assert "FIFO" in capsys.readouterr().err
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


@pytest.mark.parametrize("how", ["same path", "via a symlinked folder", "hard link"])
def test_export_onto_its_own_source_is_refused(tmp_path, saved, capsys, how):
    """--force replaced the training checkpoint by its float16 export: optimizer state lost."""
    target = saved
    if how == "via a symlinked folder":
        (tmp_path / "alias").symlink_to(tmp_path)
        target = tmp_path / "alias" / saved.name
    elif how == "hard link":
        target = tmp_path / "hard.pt"
        os.link(saved, target)
    before = saved.read_bytes()
    flags = ["export", "--checkpoint", str(saved), "--out", str(target), "--force"]
    refused(capsys, flags, "the checkpoint itself")
    assert saved.read_bytes() == before


def test_export_into_a_readonly_folder(readonly_dir, saved, capsys):
    argv = ["export", "--checkpoint", str(saved), "--out", str(readonly_dir / "model.pt")]
    refused(capsys, argv, "cannot write checkpoint", str(readonly_dir / "model.pt"))
    assert list(readonly_dir.iterdir()) == []


def test_really_full_disk_on_a_tiny_tmpfs(tmpfs, saved, capsys):
    small = tmpfs("16k")
    (small / "old.pt").write_bytes(b"previous export")
    argv = ["export", "--checkpoint", str(saved), "--out", str(small / "old.pt"), "--force"]
    refused(capsys, argv, "the disk is full")
    assert (small / "old.pt").read_bytes() == b"previous export"
    assert sorted(p.name for p in small.iterdir()) == ["old.pt"]


# ----------------------------------------------------------------------------- help


def test_bare_lstmviz_prints_help_and_succeeds():
    """`lstmviz` with no subcommand: the help on stdout, exit 0 -- not an error."""
    done = run_lstmviz()
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.startswith("usage: lstmviz")
    for command in ("train", "sample", "eval", "export", "lessons"):
        assert f"\n    {command} " in done.stdout, command
    flat = " ".join(done.stdout.split())
    assert "01_vanilla_rnn.ipynb" in flat and "`lstmviz lessons DIR`" in flat


@pytest.mark.parametrize("command", [None, *cli.EXAMPLES])
def test_help_shows_defaults_an_example_that_parses_and_the_lessons(command, capsys):
    argv = ["--help"] if command is None else [command, "--help"]
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 0
    text = capsys.readouterr().out
    assert max(len(line) for line in text.splitlines()) <= 100
    flat = " ".join(text.split())  # wrapped to the terminal's width
    assert cli.LESSONS_HINT in flat
    examples = [line.strip() for line in text.split("example", 1)[1].splitlines()[1:]]
    examples = [line for line in examples if line.startswith("lstmviz ")]
    assert examples == ([cli.EXAMPLES[command]] if command else list(cli.EXAMPLES.values()))
    for line in examples:  # every example is a command line the parser accepts as shown
        args = cli.build_parser().parse_args(shlex.split(line)[1:])
        assert args.command == line.split()[1]
    wanted = {
        None: [],
        "train": ["(full: 512, quick: 256)", "(default: auto)"],
        "sample": ["(default: 500)", "(default: 1.0)", "(default: a fresh one)"],
        "eval": ["(default: the one it was trained on)"],
    }.get(command, [])
    for words in wanted:
        assert words in flat, words


def test_help_defaults_are_the_parsers_own():
    """What `sample --help` says is what an omitted flag gives."""
    args = cli.build_parser().parse_args(["sample", "--checkpoint", "x"])
    assert (args.length, args.temperature, args.seed, args.top_k) == (500, 1.0, None, None)
    assert args.prime == "\n"


def test_every_subcommand_has_an_example():
    """A new subcommand needs its line in cli.EXAMPLES (and so in its help and the main help)."""
    sub = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == set(cli.EXAMPLES)
    for name, parser in sub.choices.items():
        assert cli.EXAMPLES[name] in parser.format_help()


# ---- what the CLI writes: bounded error lines, the text it generates, the hints it gives


def _model_file(path, chars: str):
    """An untrained 1 x 16 model over ``chars``, saved as a checkpoint at ``path``."""
    import torch

    from lstmviz.core.model import CharLSTM
    from lstmviz.core.vocab import Vocab

    torch.manual_seed(0)
    model = CharLSTM(len(chars), hidden_size=16, num_layers=1, dropout=0.0, embedding_dim=8)
    return checkpoint.save_checkpoint(path, model, Vocab(chars))


def test_an_error_quoting_a_huge_vocabulary_is_one_short_line(tmp_path, capsys):
    from lstmviz.core.errors import LINE_MAX

    chars = "".join(map(chr, range(0x10000, 0x10000 + 200_000)))  # no surrogates among them
    path = _model_file(tmp_path / "big.pt", chars)
    line = refused(capsys, ["sample", "--checkpoint", str(path), "--prime", "a"], "'a'",
                   "200000 characters", "more characters")  # fmt: skip
    assert len(line) <= len("error: ") + LINE_MAX  # was about 1 MB


def test_sample_with_stdout_closed_is_one_line(tmp_path):
    import subprocess
    import sys

    from faults import ROOT

    path = _model_file(tmp_path / "m.pt", "\nabc")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "lstmviz", "sample", "--checkpoint", str(path)]
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          env=env, timeout=120, preexec_fn=lambda: os.close(1))  # fmt: skip
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert "standard output is closed" in lines[0] and "a bug" not in lines[0]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_control_characters_are_escaped_on_a_terminal_only(tmp_path, monkeypatch, capsys):
    path = _model_file(tmp_path / "m.pt", "\x07\n\x1bab")  # BEL, newline, ESC, a, b
    argv = ["sample", "--checkpoint", str(path), "--prime", "\x1ba", "--length", "300"]  # ESC a
    terminal = _Terminal()
    monkeypatch.setattr("sys.stdout", terminal)
    assert main([*argv, "--seed", "1"]) == 0
    shown = terminal.getvalue()
    assert "\x1b" not in shown and "\x07" not in shown
    assert shown.startswith("\\x1ba") and "\\x07" in shown and "\n" in shown.rstrip("\n")
    monkeypatch.undo()
    assert main([*argv, "--seed", "1"]) == 0  # to a file or a pipe: the text as generated
    raw = capsys.readouterr().out
    assert raw == shown.replace("\\x1b", "\x1b").replace("\\x07", "\x07")


def test_the_resume_hint_works_for_a_folder_name_that_is_not_utf8(tmp_path):
    import signal
    import subprocess
    from pathlib import Path

    from lstmviz.core.signals import TrainingInterrupted

    raw = os.fsencode(tmp_path) + b"/caf\xe9 run"
    os.mkdir(raw)
    stop = TrainingInterrupted(signal.SIGINT, 5, Path(os.fsdecode(raw)))
    command = str(stop).split("Resume with: ")[1]
    assert command.isascii() and command.isprintable()
    # the shell turns the quoted folder back into its bytes
    word = command.removeprefix("python -m lstmviz train --out ").removesuffix(" --resume")
    seen = subprocess.run(["bash", "-c", f"cd {word} && pwd -P"], capture_output=True)
    assert seen.returncode == 0 and seen.stdout.strip().endswith(b"/caf\xe9 run")


def test_a_checkpoint_pickled_with_protocol_4_loads(saved, tmp_path, capsys):
    import torch

    raw = torch.load(saved, weights_only=True)
    for protocol in (3, 4, 5):
        path = tmp_path / f"p{protocol}.pt"
        torch.save(raw, path, pickle_protocol=protocol)
        loaded = load_checkpoint(path)
        assert loaded.step == raw["step"] and loaded.vocab.chars == raw["vocab"]
        for name, weight in raw["model"].items():
            assert torch.equal(loaded.model.state_dict()[name], weight)
        assert main(["sample", "--checkpoint", str(path), "--length", "20"]) == 0
    capsys.readouterr()


def test_a_protocol_4_pickle_of_objects_is_still_refused(saved, tmp_path, capsys):
    import datetime

    import torch

    raw = torch.load(saved, weights_only=True)
    raw["history"] = [{"when": datetime.date(2024, 1, 1)}]  # an object, not a plain value
    torch.save(raw, tmp_path / "obj.pt", pickle_protocol=4)
    refused(capsys, ["sample", "--checkpoint", str(tmp_path / "obj.pt")], "Python objects")


def test_a_folder_name_that_is_not_utf8_is_printed_not_a_crash(tmp_path, capsys):
    """The lessons' hint and train's last line name such a folder; printing it used to raise."""
    import subprocess

    from faults import TINY_FLAGS

    lessons = os.fsdecode(os.fsencode(tmp_path) + b"/le\xe7ons")
    assert main(["lessons", lessons]) == 0
    out = capsys.readouterr().out
    word = next(line for line in out.splitlines() if "jupyter lab" in line).split("lab ", 1)[1]
    seen = subprocess.run(["bash", "-c", f"cd {word} && pwd -P"], capture_output=True)
    assert seen.returncode == 0 and seen.stdout.strip().endswith(b"/le\xe7ons")
    corpus = tmp_path / "c.txt"
    corpus.write_text("To be, or not to be, that is the question.\n" * 100, encoding="utf-8")
    run = os.fsdecode(os.fsencode(tmp_path) + b"/r\xe9sum\xe9")
    argv = ["train", "--corpus", str(corpus), "--out", run, *TINY_FLAGS, "--batch-size", "4"]
    assert main([*argv, "--steps", "2", "--no-progress", "--sample-len", "0"]) == 0
    assert "done: step 2" in capsys.readouterr().out
    assert os.path.isfile(os.path.join(os.fsencode(run), b"checkpoint.pt"))
    log = json.loads(open(os.path.join(os.fsencode(run), b"log.json"), "rb").read())
    assert log["config"]["out"] == run  # the same name, read back
