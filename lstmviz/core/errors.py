"""The one exception type lstmviz raises for bad user input (files, corpora, prompts, checkpoints,
configs), and ``one_line`` to show any message as the CLI prints it."""

import re


class LstmvizError(ValueError):
    """A problem with what the user gave us. The message says what is wrong and what to do.

    The CLI prints it as one line and exits non-zero, with no traceback.
    """


def one_line(text: object) -> str:
    """``text`` on one line, terminal control characters (colour codes...) shown as escapes."""
    flat = " ".join(str(text).split())
    return re.sub(r"[\x00-\x1f\x7f-\x9f]", lambda m: repr(m.group())[1:-1], flat)


def first_line(error: BaseException, width: int | None = 160) -> str:
    """The first line of ``error``'s message, at most ``width`` characters (its type if empty)."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:width]
