"""Ctrl-C and SIGTERM during training: finish the step, save, and say how to resume.

``StopOnSignal`` is the handler ``train`` holds while it runs: the first signal asks the loop to
stop after the current step (``train`` then saves ``checkpoint.pt`` and raises
``TrainingInterrupted``); a second one stops at once, naming the last checkpoint kept; before the
first step (loading the corpus, building the model) a signal stops at once, nothing to save.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

from .checkpoint import LATEST
from .errors import shell_quote


class TrainingInterrupted(KeyboardInterrupt):
    """``train`` stopped by SIGINT (Ctrl-C) or SIGTERM after a whole step, its checkpoint saved.

    ``.signum`` the signal, ``.step`` steps done (None: stopped before training started),
    ``.checkpoint`` the file saved (None without ``out``); ``str()`` says how to resume. The CLI
    exits with status 128 + signum (130, 143).
    """

    def __init__(self, signum: int, step: int | None, out: Path | None, *, again: bool = False):
        self.signum, self.step = signum, step
        self.checkpoint = None if out is None else out / LATEST
        name = signal.Signals(signum).name
        if again:  # a second signal: stopped mid-step (or mid-save: the old file stays whole)
            if self.checkpoint is None or not self.checkpoint.exists():
                self.checkpoint = None
                message = f"stopped at once by a second {name}; nothing saved"
            else:
                message = (
                    f"stopped at once by a second {name}; the last checkpoint saved, "
                    f"{str(self.checkpoint)!r}, is kept. "
                    f"Resume with: {_resume_command(self.checkpoint.parent)}"
                )
        elif step is None:
            message = f"interrupted by {name} before training started; nothing saved"
        elif out is None:
            message = f"interrupted by {name} at step {step}; nothing saved (no --out folder)"
        else:
            message = (
                f"interrupted by {name} at step {step}; saved {str(self.checkpoint)!r}. "
                f"Resume with: {_resume_command(out)}"
            )
        super().__init__(message)


def _resume_command(out: Path) -> str:
    """The shell command that resumes the run in ``out`` (quoted: a folder may hold spaces)."""
    return f"python -m lstmviz train --out {shell_quote(out)} --resume"


class StopOnSignal:
    """While training: SIGINT / SIGTERM ask the loop to stop after the current step and save.

    A second signal stops at once (TrainingInterrupted naming the last checkpoint kept). Only in
    the main thread (Python delivers signals there); the previous handlers come back on exit.
    """

    def __init__(self, out: Path | None = None) -> None:
        self.out = out  # the run folder, named in the message of a second signal
        self.signum: int | None = None
        self.looping = False  # set when the loop starts: before it there is nothing to save
        self._old: dict = {}

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: object) -> None:
        if not self.looping:  # loading the corpus, building the model: stop now
            raise TrainingInterrupted(signum, None, None)
        if self.signum is not None:
            raise TrainingInterrupted(signum, None, self.out, again=True)
        self.signum = signum

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)
