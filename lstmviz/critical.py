"""``critical()``: a section of code that Ctrl-C (SIGINT) and SIGTERM do not cut in half.

Python raises KeyboardInterrupt wherever the main thread happens to be. In the middle of ``import
torch`` that leaves half-initialised modules behind (a traceback, a later AttributeError, or the
interrupt swallowed by an import that catches too much); in the middle of ``torch.save`` it comes
out as a RuntimeError from the zip writer. Inside ``critical()`` both signals are only noted, and
delivered to the handlers that were there before as soon as the section ends, whole.

This module uses the standard library only, so the package can hold signals around its own first
import of torch (``lstmviz/__init__.py``); it sits below every layer.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

#: The signals a critical section holds back.
HELD = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def critical(on_signal: Callable[[int], None] | None = None) -> Iterator[list[int]]:
    """Hold SIGINT and SIGTERM until the block ends, then deliver them (or ``on_signal(signum)``).

    Yields the list of signals held so far. Only the main thread receives signals in Python, so
    elsewhere this does nothing; a signal that is ignored (SIG_IGN) or handled outside Python is
    left alone. Sections nest: an inner one hands what it held to the outer one.
    """
    held: list[int] = []
    old: dict[int, Any] = {}  # signal number -> the handler it had (signal.getsignal's type)
    if threading.current_thread() is threading.main_thread():
        for sig in HELD:
            handler = signal.getsignal(sig)
            if handler is None or handler == signal.SIG_IGN:
                continue
            old[sig] = signal.signal(sig, lambda signum, frame: held.append(signum))
    try:
        yield held
    finally:
        for signum, previous in old.items():
            signal.signal(signum, previous)
        for signum in held:
            if on_signal is not None:
                on_signal(signum)
            else:  # to the handler that was there before (KeyboardInterrupt, StopOnSignal...)
                signal.raise_signal(signum)


def importing() -> AbstractContextManager[list[int]]:
    """``critical()`` for the package's own imports (torch takes ~1.5 s to import).

    A library user gets the signal once the import is whole (a KeyboardInterrupt); the command
    line (``python -m lstmviz``, the ``lstmviz`` script) says so in one line and exits with
    128 + signum (130 for Ctrl-C), before anything was written.
    """
    return critical(_stop_the_command if _running_the_command() else None)


def _running_the_command() -> bool:
    """Whether this process is lstmviz's command line, not a program that imports lstmviz."""
    argv = getattr(sys, "orig_argv", sys.argv)
    as_module = any(a == "-m" and b == "lstmviz" for a, b in zip(argv, argv[1:], strict=False))
    script = sys.argv[:1] != ["-m"] and bool(sys.argv) and _base(sys.argv[0]) == "lstmviz"
    return as_module or script


def _base(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".exe")


def _stop_the_command(signum: int) -> None:
    name = signal.Signals(signum).name
    print(f"interrupted by {name} before training started; nothing was written", file=sys.stderr)
    raise SystemExit(128 + signum)
