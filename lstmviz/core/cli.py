"""Command line: ``python -m lstmviz train|sample|eval|export|lessons ...``.

    python -m lstmviz train --preset full --out runs/full --save-every 200
    python -m lstmviz train --out runs/full --resume            # continue after a kill
    python -m lstmviz sample --checkpoint runs/full/best.pt --prime "ROMEO" --length 500 --top-k 5
    python -m lstmviz sample --checkpoint shakespeare            # a pretrained model, by name
    python -m lstmviz export --checkpoint runs/full/best.pt --out shakespeare.pt   # float16
    python -m lstmviz eval --checkpoint shakespeare    # validation loss, as on the model card
    python -m lstmviz lessons my-lessons               # copy the lessons; jupyter lab my-lessons

``train``'s flags are TrainConfig's fields (``--hidden-size`` sets ``hidden_size``; the help text
is written next to each field in ``config.py``); ``--preset`` chooses among ``PRESETS``.
Bad input (a missing corpus, an unknown character in the prime, a damaged checkpoint, a bad flag,
an unwritable folder, a full disk...) prints one line ``error: ...`` on stderr and exits with
status 2; nothing is overwritten. Ctrl-C (SIGINT) or SIGTERM during ``train`` saves a last
checkpoint, prints the command that resumes it, and exits with 130 (SIGINT) or 143 (SIGTERM); while
lstmviz is still starting (importing torch) it prints one line, nothing written, and exits the
same way (``lstmviz.critical``). A signal during a save waits until the file is whole.
An unexpected failure (a bug) prints one line too and exits with 1; LSTMVIZ_DEBUG=1 shows its
traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import logging
import os
import signal
import sys
import typing
from pathlib import Path

from .checkpoint import available_pretrained, export_checkpoint, load_checkpoint
from .config import PRESETS, TrainConfig
from .device import pick_device
from .distributed import Echo, PeerLost
from .errors import LstmvizError, one_line, shell_quote, visible
from .evaluation import evaluate
from .files import check_write_target, os_error, user_path
from .lessons import DEFAULT_DIR, copy_lessons
from .log import log
from .run import train
from .sampling import stream
from .signals import TrainingInterrupted
from .version import package_version


def _flag_type(hint: typing.Any) -> type:
    """int for ``int`` or ``int | None``: the type a flag's text is converted to."""
    kinds = [k for k in typing.get_args(hint) if k is not type(None)]
    return kinds[0] if kinds else hint


def _defaults(name: str, default: typing.Any) -> str:
    """' (full: 512, quick: 256)' where the presets differ, else ' (default: 5.0)'."""
    values = {p: settings.get(name, default) for p, settings in PRESETS.items()}
    if len(set(map(str, values.values()))) > 1:
        return " (" + ", ".join(f"{p}: {_show(v)}" for p, v in values.items()) + ")"
    default = next(iter(values.values()), default)
    return "" if default is None else f" (default: {_show(default)})"


def _show(value: typing.Any) -> str:
    return "none" if value is None else str(value)


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One ``--flag`` per TrainConfig field: type from its annotation, help and choices from its
    metadata, the presets' values appended to the help."""
    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        help_text = f.metadata["help"] + _defaults(f.name, f.default)
        # default None: only what the user typed overrides the preset (and a resumed run can
        # tell an explicit change from a default)
        kind = _flag_type(hints[f.name])
        parser.add_argument(
            "--" + f.name.replace("_", "-"),
            type=kind,
            metavar={int: "N", float: "X"}.get(kind),
            choices=f.metadata.get("choices"),
            default=None,
            help=help_text.replace("%", "%%"),
        )


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line ``error: ...`` (exit 2) like every other refusal."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"error: {one_line(message)} (see {self.prog} --help)\n")


class _Help(argparse.HelpFormatter):
    """Help that shows each flag's default (argparse's ArgumentDefaultsHelpFormatter, but not for
    a default of None or False, which says nothing); descriptions and epilogs are wrapped
    paragraph by paragraph, except indented lines (the examples), which are kept as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = []
        for para in text.split("\n\n"):
            lines = para.splitlines()
            if any(line.startswith("  ") for line in lines):
                paragraphs.append("\n".join(indent + line for line in lines))
            else:
                paragraphs.append(super()._fill_text(para, width, indent))
        return "\n\n".join(paragraphs)

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default in (None, False, argparse.SUPPRESS) or "default" in text:
            return text
        return text + " (default: %(default)s)"


#: Where a learner starts; every help page ends with it.
LESSONS_HINT = (
    "New to LSTMs? The seven lessons (01_vanilla_rnn.ipynb to 07_how_far_back.ipynb) use this "
    "library step by step: `lstmviz lessons DIR` copies them out of the package, then "
    "`jupyter lab DIR` opens them (in the repository: `make lab`)."
)

#: One example per subcommand, shown in its help (tests/test_cli_output.py parses each one).
EXAMPLES = {
    "train": "lstmviz train --preset quick --corpus shakespeare --out runs/quick",
    "sample": "lstmviz sample --checkpoint shakespeare --prime 'ROMEO:' --length 300 --seed 1",
    "eval": "lstmviz eval --checkpoint shakespeare",
    "export": "lstmviz export --checkpoint runs/quick/best.pt --out quick.pt --evaluate",
    "lessons": "lstmviz lessons my-lessons",
}


def _epilog(*commands: str) -> str:
    """'example:' and the command lines of ``commands``, then where the lessons are."""
    label = "example:" if len(commands) == 1 else "examples:"
    lines = "\n".join(f"  {EXAMPLES[c]}" for c in commands)
    return f"{label}\n{lines}\n\n{LESSONS_HINT}"


def build_parser() -> argparse.ArgumentParser:
    """The ``lstmviz`` argument parser with subcommands train, sample, eval, export and lessons."""
    parser = _Parser(
        prog="lstmviz",
        description="Train, sample, score and export character LSTMs (the lessons' models).",
        epilog=_epilog(*EXAMPLES),
        formatter_class=_Help,
    )
    parser.add_argument("--version", action="version", version=f"lstmviz {package_version()}")
    # not required: a bare `lstmviz` prints this help (main), not an error
    sub = parser.add_subparsers(dest="command")
    device_help = next(f for f in dataclasses.fields(TrainConfig) if f.name == "device").metadata[
        "help"
    ]
    names = ", ".join(available_pretrained())
    checkpoint_help = f"checkpoint file, run folder, or a pretrained model's name ({names})"

    tr = sub.add_parser(
        "train",
        help="train a character LSTM",
        description="Train a character LSTM (the preset's values where a flag is not given).",
        epilog=_epilog("train"),
        formatter_class=_Help,
    )
    _add_config_flags(tr)
    tr.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its checkpoint.pt"
    )
    tr.add_argument("--no-progress", action="store_true", help="no progress bar")

    sa = sub.add_parser(
        "sample",
        help="generate text from a checkpoint",
        description="Generate text from a trained checkpoint or a pretrained model.",
        epilog=_epilog("sample"),
        formatter_class=_Help,
    )
    sa.add_argument("--checkpoint", required=True, help=checkpoint_help)
    sa.add_argument("--prime", default="\n", help="text to start from (default: a newline)")
    sa.add_argument("--length", type=int, default=500, help="characters to generate")
    sa.add_argument(
        "--top-k",
        type=int,
        default=None,
        help="sample among the K most likely characters (default: all of them)",
    )
    sa.add_argument("--temperature", type=float, default=1.0, help="0: greedy; <1 safer; >1 wilder")
    sa.add_argument(
        "--seed", type=int, default=None, help="same seed, same text (default: a fresh one)"
    )
    sa.add_argument("--device", default=None, help=device_help)

    ev = sub.add_parser(
        "eval",
        help="print a checkpoint's validation loss (nats/char, bits/char, perplexity)",
        description=(
            "Score a checkpoint on the validation part of its corpus (the last val_fraction of "
            "the text, as training splits it), in float32: the number a model card gives."
        ),
        epilog=_epilog("eval"),
        formatter_class=_Help,
    )
    ev.add_argument("--checkpoint", required=True, help=checkpoint_help)
    ev.add_argument(
        "--corpus", default=None, help="corpus to split (default: the one it was trained on)"
    )
    ev.add_argument("--device", default=None, help=device_help)

    ex = sub.add_parser(
        "export",
        help="write a float16 weights-only copy of a checkpoint",
        description="Write a float16 weights-only copy of a checkpoint (for shipping).",
        epilog=_epilog("export"),
        formatter_class=_Help,
    )
    ex.add_argument("--checkpoint", required=True, help=checkpoint_help)
    ex.add_argument("--out", required=True, help="file to write")
    ex.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    ex.add_argument(
        "--evaluate",
        action="store_true",
        help="score the float16 weights on the validation text (as eval does) and store that "
        "loss as the export's val_loss (what load_pretrained(name).val_loss and a model card say)",
    )
    le = sub.add_parser(
        "lessons",
        help="copy the seven lessons (Jupyter notebooks) into a folder",
        epilog=_epilog("lessons"),
        formatter_class=_Help,
        description=(
            "Copy the lessons that come with lstmviz (notebooks and worked solutions) into DIR, "
            "then open them with `jupyter lab DIR`. A file there that you changed is never "
            "overwritten without --force; identical files are left as they are."
        ),
    )
    le.add_argument(
        "dir",
        nargs="?",
        default=DEFAULT_DIR,
        metavar="DIR",
        help="folder to copy into, made if missing",
    )
    le.add_argument(
        "--force", action="store_true", help="overwrite lesson files in DIR that differ"
    )
    return parser


def _lessons(args: argparse.Namespace) -> None:
    done = copy_lessons(args.dir, force=args.force)
    notebooks = sum(p.suffix == ".ipynb" for p in done.written + done.replaced)
    if done.written or done.replaced:
        print(
            f"copied {len(done.written) + len(done.replaced)} file(s) ({notebooks} notebooks) "
            f"into {done.dest}"
            + (f", replacing {len(done.replaced)} that differed" if done.replaced else "")
            + (f"; {len(done.unchanged)} were there already" if done.unchanged else "")
        )
    else:
        print(f"{done.dest} already holds these lessons, unchanged")
    print(f"open them with:  jupyter lab {shell_quote(done.dest)}")  # a name not UTF-8: $'..'


def _train(args: argparse.Namespace) -> None:
    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    result = train(
        resume=args.resume,
        progress=not args.no_progress,
        callback=_print_entry if args.no_progress else None,
        **overrides,
    )
    if not _reports():
        return
    val = "-" if result.val_loss is None else f"{result.val_loss:.4f}"
    best = "-" if result.best_val_loss is None else f"{result.best_val_loss:.4f}"
    where = f"; checkpoints in {result.out}" if result.out else " (no --out: nothing saved)"
    print(f"done: step {result.step}, val loss {val} nats/char, best {best}{where}")


def _print_entry(e: dict) -> None:
    """Without a progress bar, one plain log line per logged step (good for nohup log files)."""
    if e["kind"] == "sample":
        print(f"step {e['step']}: sample {e['prime'] + e['text']!r}", flush=True)
    elif e["kind"] == "train":
        print(
            f"step {e['step']}: train {e['train_loss']:.4f} nats/char, lr {e['lr']:.2e}, "
            f"{e['chars_per_sec']:,.0f} chars/s ({e.get('precision', 'fp32')})",
            flush=True,
        )
    else:
        print(
            f"step {e['step']}: val {e['val_loss']:.4f} nats/char ({e['val_bpc']:.3f} bits/char, "
            f"perplexity {e['val_perplexity']:.2f}), epoch {e['epoch']:.2f}, {e['elapsed']:.0f} s",
            flush=True,
        )


def _sample(args: argparse.Namespace) -> None:
    out = sys.stdout
    if out is None:  # started with stdout closed (`... >&-`): nowhere to write the text
        raise LstmvizError(
            "standard output is closed, so there is nowhere to write the sample; run it with "
            "its output going to a terminal, a file or a pipe"
        )
    ckpt = load_checkpoint(args.checkpoint, device=pick_device(args.device))
    # stream() checks the prime before anything is printed
    chars = stream(
        ckpt.model,
        ckpt.vocab,
        args.prime,
        args.length,
        top_k=args.top_k,
        temperature=args.temperature,
        seed=args.seed,
    )
    # On a terminal, a model's ESC or BEL would be obeyed (colours, cursor moves, a beep): show
    # those as escapes. A file or a pipe gets the text exactly as generated.
    show = functools.partial(visible, lines=True) if _is_terminal(out) else str
    out.write(show(args.prime))
    for ch in chars:
        out.write(show(ch))
    out.write("\n")
    out.flush()


def _is_terminal(stream: typing.TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):  # no isatty, or already closed
        return False


def _eval(args: argparse.Namespace) -> None:
    result = evaluate(args.checkpoint, args.corpus, device=pick_device(args.device))
    print(f"{args.checkpoint}: {result}")


def _export(args: argparse.Namespace) -> None:
    args.out = str(user_path(args.out, "export target"))  # "--out=~/x": the shell left the ~
    check_write_target(args.out, "export target")  # a link, device, FIFO, folder: even with --force
    if Path(args.out).exists() and not args.force:
        raise LstmvizError(f"{args.out!r} already exists; pass --force to overwrite it")
    val_loss = None
    if args.evaluate:
        ckpt = load_checkpoint(args.checkpoint)
        ckpt.model.half().float()  # score the weights as they will be shipped
        result = evaluate(ckpt)
        val_loss = result.loss
        print(f"the float16 weights: {result}")
    path = export_checkpoint(args.checkpoint, args.out, val_loss=val_loss)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


def _reports() -> bool:
    """False on torchrun's ranks other than 0: rank 0 reports for the whole run."""
    return os.environ.get("RANK", "0") == "0"


class _Stderr(logging.StreamHandler):
    """A handler writing to whatever ``sys.stderr`` is when a message comes (tests swap it)."""

    @property
    def stream(self) -> typing.TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: typing.TextIO) -> None:
        pass


class _NoteFormatter(logging.Formatter):
    """A warning from the ``lstmviz`` logger as one ``note: ...`` line."""

    def format(self, record: logging.LogRecord) -> str:
        return f"note: {one_line(record.getMessage())}"


@contextlib.contextmanager
def _warnings_shown() -> typing.Iterator[None]:
    """While the CLI runs, the library's warnings (a secret left out, a damaged cache file
    replaced...) are ``note: ...`` lines on stderr; its INFO diagnostics stay quiet."""
    handler = _Stderr()
    handler.setLevel(logging.WARNING)
    handler.setFormatter(_NoteFormatter())
    log.addHandler(handler)
    try:
        yield
    finally:
        log.removeHandler(handler)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 refused, 1 a bug, 130/143 SIGINT/SIGTERM)."""
    parser = build_parser()
    args = parser.parse_args(argv)  # a bad flag: one line, SystemExit(2); --help: 0
    if args.command is None:  # bare `lstmviz`: what it can do, not an error
        parser.print_help()
        return 0
    with _warnings_shown():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    """The command ``args`` names, its refusals and failures as one line; the exit status."""
    if sys.stdout is not None and hasattr(sys.stdout, "reconfigure"):
        # a character the terminal cannot show, a folder name that is not UTF-8 (Python keeps
        # its bytes as surrogates): written as \\uXXXX or \\udcXX, never a crash after the work
        sys.stdout.reconfigure(errors="backslashreplace")
    if "RANK" in os.environ:
        # under torchrun, which SIGTERMs the survivors when a rank dies: finish the one-line
        # report instead of dying mid-sentence (train() itself stops on SIGTERM between steps)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        commands = {
            "train": _train,
            "sample": _sample,
            "eval": _eval,
            "export": _export,
            "lessons": _lessons,
        }
        commands[args.command](args)
    except TrainingInterrupted as e:
        if _reports():
            print(one_line(str(e)), file=sys.stderr)
        return 128 + e.signum
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except LstmvizError as e:
        if not isinstance(e, Echo):  # under torchrun, rank 0 prints what all ranks refused
            print(f"error: {one_line(str(e))}", file=sys.stderr)
        if isinstance(e, PeerLost):
            # the other processes are gone and their process group with them; the interpreter's
            # teardown would free it, which can hang in gloo (torch 2.3) until torchrun kills this
            # process: the line is out and every file was written whole, so leave at once
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(2)
        return 2
    except BrokenPipeError:  # `... sample | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return 0
    except OSError as e:  # one not turned into an LstmvizError where it happened (e.g. stdout)
        print(
            f"error: {one_line(str(os_error(e, e.filename or 'input/output failed')))}",
            file=sys.stderr,
        )
        return 2
    except Exception as e:
        if os.environ.get("LSTMVIZ_DEBUG"):
            raise
        print(
            f"error: unexpected {type(e).__name__}: {one_line(str(e))[:300]} -- a bug in lstmviz; "
            "please report it (LSTMVIZ_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
