"""The one exception type lstmviz raises for bad user input (files, corpora, prompts, checkpoints,
configs), ``one_line`` to show any message as the CLI prints it, and ``shell_quote`` for a path
in a command a message suggests."""

import os
import re
import shlex
import string


class LstmvizError(ValueError):
    """A problem with what the user gave us. The message says what is wrong and what to do.

    The CLI prints it as one line and exits non-zero, with no traceback.
    """


#: The longest line ``one_line`` gives by default: a message quoting a 10^6-character vocabulary
#: or a whole text must not become one 9 MB line on a terminal.
LINE_MAX = 2000


def one_line(text: object, width: int | None = LINE_MAX) -> str:
    """``text`` on one line, terminal control characters (colour codes...) shown as escapes,
    at most ``width`` characters (None: all)."""
    return clip(visible(" ".join(str(text).split())), width)


#: Control characters a terminal acts on (C0, DEL, C1) ...
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: ... and the same but for newline and tab, which text may hold.
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def visible(text: str, *, lines: bool = False) -> str:
    """``text`` with terminal control characters (ESC, BEL...) shown as escapes ("\\x1b"), so a
    terminal shows them instead of obeying them; ``lines=True`` keeps newlines and tabs."""
    pattern = _CONTROL_IN_TEXT if lines else _CONTROL
    return pattern.sub(lambda m: repr(m.group())[1:-1], text)


def clip(text: str, width: int | None) -> str:
    """``text`` cut to about ``width`` characters, saying how many were left out (None: all)."""
    if width is None or len(text) <= width:
        return text
    kept = max(0, width - 40)  # room for the note below
    return f"{text[:kept]}... ({len(text) - kept:,} more characters)"


def first_line(error: BaseException, width: int | None = 160) -> str:
    """The first line of ``error``'s message, at most ``width`` characters (its type if empty)."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:width]


def shell_quote(path: str | os.PathLike) -> str:
    """``path`` as a POSIX shell word that names it exactly, to paste into a terminal.

    A name that is not UTF-8 (bytes Python keeps as surrogates) or holds control characters is
    written ``$'...'`` with ``\\xNN`` escapes (bash, zsh, ksh), so the command still works;
    anything else is ``shlex.quote``'d."""
    raw = os.fsencode(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and text.isprintable():
        return shlex.quote(text)
    plain = {ord(c) for c in "-_./+,:=@%" + string.ascii_letters + string.digits}
    return "$'" + "".join(chr(b) if b in plain else f"\\x{b:02x}" for b in raw) + "'"
