"""Command line: ``python -m lstmviz train ...``, ``python -m lstmviz sample ...``, ``python -m lstmviz export ...``.

    python -m lstmviz train --preset full --out runs/full --save-every 200
    python -m lstmviz train --out runs/full --resume            # continue after a kill
    python -m lstmviz sample --checkpoint runs/full/best.pt --prime "ROMEO" --length 500 --top-k 5
    python -m lstmviz export --checkpoint runs/full/best.pt --out shakespeare.pt   # float16, for shipping

Bad input (a missing corpus, an unknown character in the prime, a damaged checkpoint...) prints one
line ``error: ...`` on stderr and exits with status 2; nothing is overwritten.
"""

from __future__ import annotations

import argparse
import os
import sys

from .errors import LstmvizError

# CLI flag -> TrainConfig field. Flags default to None so only what the user typed overrides the
# preset (and a resumed run can tell an explicit change from a default).
_TRAIN_FLAGS = [
    (
        "--corpus",
        str,
        "shakespeare, python, a UTF-8 file path or an http(s) URL (default: shakespeare)",
    ),
    ("--hidden-size", int, "LSTM units per layer"),
    ("--num-layers", int, "stacked LSTM layers"),
    ("--dropout", float, "dropout between layers and before the output layer"),
    ("--embedding-dim", int, "size of the character embedding"),
    ("--seq-len", int, "characters per truncated-BPTT window"),
    ("--batch-size", int, "parallel text streams per batch"),
    ("--steps", int, "total optimizer steps (a resumed run continues up to this)"),
    ("--lr", float, "peak learning rate (Adam)"),
    ("--min-lr", float, "learning rate at the last step (cosine decay)"),
    ("--grad-clip", float, "max gradient norm"),
    ("--reset-prob", float, "chance per stream and batch of zeroing the carried state"),
    ("--val-fraction", float, "last fraction of the text kept for validation"),
    ("--val-chars", int, "validate on the first N validation characters only"),
    ("--eval-every", int, "validate every N steps"),
    ("--log-every", int, "log the training loss every N steps"),
    ("--save-every", int, "write OUT/checkpoint.pt every N steps (0: only at the end)"),
    ("--seed", int, "random seed"),
    ("--device", str, "cpu, cuda, mps (default: the best available)"),
]


def build_parser() -> argparse.ArgumentParser:
    """The ``lstmviz`` argument parser with subcommands train, sample and export."""
    parser = argparse.ArgumentParser(
        prog="lstmviz", description="Train and sample character LSTMs."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    tr = sub.add_parser(
        "train", help="train a character LSTM", description="Train a character LSTM."
    )
    tr.add_argument(
        "--preset",
        choices=["quick", "full"],
        default=None,
        help="starting settings (default: $LSTMVIZ_PRESET, else full on CUDA, quick otherwise)",
    )
    for flag, kind, help_text in _TRAIN_FLAGS:
        tr.add_argument(flag, type=kind, default=None, help=help_text)
    tr.add_argument("--out", default=None, help="run folder for checkpoint.pt and best.pt")
    tr.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its checkpoint.pt"
    )
    tr.add_argument("--no-progress", action="store_true", help="no progress bar")

    sa = sub.add_parser(
        "sample",
        help="generate text from a checkpoint",
        description="Generate text from a trained checkpoint.",
    )
    sa.add_argument("--checkpoint", required=True, help="checkpoint file (or a run folder)")
    sa.add_argument("--prime", default="\n", help="text to start from (default: a newline)")
    sa.add_argument("--length", type=int, default=500, help="characters to generate")
    sa.add_argument(
        "--top-k", type=int, default=None, help="sample among the K most likely characters"
    )
    sa.add_argument("--temperature", type=float, default=1.0, help="0: greedy; <1 safer; >1 wilder")
    sa.add_argument("--seed", type=int, default=None, help="same seed, same text")
    sa.add_argument("--device", default="cpu", help="cpu (default), cuda or mps")

    ex = sub.add_parser(
        "export",
        help="write a float16 weights-only copy of a checkpoint",
        description="Write a float16 weights-only copy of a checkpoint (for shipping).",
    )
    ex.add_argument("--checkpoint", required=True, help="checkpoint file (or a run folder)")
    ex.add_argument("--out", required=True, help="file to write")
    ex.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    return parser


def _train(args: argparse.Namespace) -> None:
    from .training import train

    overrides = {
        flag[2:].replace("-", "_"): getattr(args, flag[2:].replace("-", "_"))
        for flag, _, _ in _TRAIN_FLAGS
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if args.preset:
        overrides["preset"] = args.preset
    result = train(
        out=args.out,
        resume=args.resume,
        progress=not args.no_progress,
        callback=_print_entry if args.no_progress else None,
        **overrides,
    )
    if os.environ.get("RANK", "0") != "0":
        return  # under torchrun: rank 0 reports for the run
    val = "-" if result.val_loss is None else f"{result.val_loss:.4f}"
    best = "-" if result.best_val_loss is None else f"{result.best_val_loss:.4f}"
    where = f"; checkpoints in {result.out}" if result.out else " (no --out: nothing saved)"
    print(f"done: step {result.step}, val loss {val} nats/char, best {best}{where}")


def _print_entry(e: dict) -> None:
    """Without a progress bar, one plain log line per logged step (good for nohup log files)."""
    if e["kind"] == "train":
        print(
            f"step {e['step']}: train {e['train_loss']:.4f} nats/char, lr {e['lr']:.2e}, "
            f"{e['chars_per_sec']:,.0f} chars/s",
            flush=True,
        )
    else:
        print(
            f"step {e['step']}: val {e['val_loss']:.4f} nats/char ({e['val_bpc']:.3f} bits/char, "
            f"perplexity {e['val_perplexity']:.2f}), {e['elapsed']:.0f} s",
            flush=True,
        )


def _sample(args: argparse.Namespace) -> None:
    from .checkpoint import load_checkpoint
    from .sampling import stream
    from .training import pick_device

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
    out = sys.stdout
    out.write(args.prime)
    for ch in chars:
        out.write(ch)
    out.write("\n")
    out.flush()


def _export(args: argparse.Namespace) -> None:
    from pathlib import Path

    from .checkpoint import export_checkpoint

    if Path(args.out).exists() and not args.force:
        raise LstmvizError(f"{args.out!r} already exists; pass --force to overwrite it")
    path = export_checkpoint(args.checkpoint, args.out)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 bad input, 130 interrupted)."""
    args = build_parser().parse_args(argv)
    try:
        {"train": _train, "sample": _sample, "export": _export}[args.command](args)
    except LstmvizError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
