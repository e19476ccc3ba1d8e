"""Safe file access: read only regular files, at most a cap of bytes; write only over regular files.

A FIFO opened for reading blocks until a writer comes, ``/dev/zero`` never ends and a sparse file
can claim gigabytes it never stored: every read of a corpus or checkpoint goes through
``open_regular``, which looks at the path before opening it and again at the open file (``fstat``,
so a swap in between is caught too), and refuses anything that is not a regular file or is larger
than the cap -- without reading a byte of it. ``os_error`` turns an OSError into one plain sentence.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from ..critical import critical
from .errors import LstmvizError

#: The ending of ``atomic_write``'s temp files (``.NAME.XXXXXXXX.tmp``, beside NAME).
TEMP_SUFFIX = ".tmp"

#: What to do about an OSError, by errno (the rest: the system's own words only).
_ADVICE: dict[int | None, str] = {
    errno.ENOSPC: "the disk is full; free some space and try again",
    errno.EDQUOT: "the disk quota is used up; free some space and try again",
    errno.EACCES: "permission denied; choose a place you may write to, or fix its permissions",
    errno.EPERM: "not permitted; choose a place you may write to, or fix its permissions",
    errno.EROFS: "the file system is read-only; choose another place",
    errno.ENAMETOOLONG: "the name is too long for the file system; choose a shorter one",
    errno.ENOTDIR: "a part of the path is a file, not a folder; check the path",
    errno.EISDIR: "it is a folder; give a file name",
    errno.ELOOP: "too many symbolic links; check the path",
}


def os_error(e: OSError, doing: str) -> LstmvizError:
    """LstmvizError saying ``doing`` failed and why, in one line (e.g. "cannot write 'x': ...")."""
    reason = _ADVICE.get(e.errno) or (e.strerror or str(e) or type(e).__name__)
    return LstmvizError(f"{doing}: {reason}")


#: What a file is, by the test of its stat mode, in the order they are asked.
_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISREG, "a regular file"),
)


def describe(mode: int) -> str:
    """What a file of stat mode ``mode`` is, in words ("a FIFO (named pipe)", ...)."""
    return next((what for test, what in _KINDS if test(mode)), "not a regular file")


def _refuse_special(st: os.stat_result, path: Path, what: str, cap: int) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise LstmvizError(
            f"{what} {str(path)!r} is {describe(st.st_mode)}, not a regular file; "
            "give the path of an ordinary file"
        )
    if st.st_size > cap:
        raise LstmvizError(
            f"{what} {str(path)!r} is {st.st_size:,} bytes, more than the {cap:,}-byte cap for a "
            f"{what}; use a smaller file"
        )


def open_regular(path: str | os.PathLike, what: str, cap: int) -> BinaryIO:
    """Open ``path`` for reading if it is a regular file of at most ``cap`` bytes, else refuse.

    Checked before opening (``os.stat``) and after (``os.fstat``); opened with O_NONBLOCK so even
    a FIFO swapped in between cannot make the open hang.
    """
    path = Path(path)
    try:
        _refuse_special(os.stat(path), path, what, cap)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise LstmvizError(f"{what} {str(path)!r} does not exist; check the path") from None
    except OSError as e:
        raise os_error(e, f"cannot read {what} {str(path)!r}") from None
    try:
        _refuse_special(os.fstat(fd), path, what, cap)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_capped(path: str | os.PathLike, what: str, cap: int) -> bytes:
    """The bytes of regular file ``path`` (at most ``cap``; one that grew past it is refused)."""
    with open_regular(path, what, cap) as f:
        try:
            data = f.read(cap + 1)
        except OSError as e:
            raise os_error(e, f"cannot read {what} {str(path)!r}") from None
    if len(data) > cap:
        raise LstmvizError(
            f"{what} {str(path)!r} grew past the {cap:,}-byte cap for a {what} while being read"
        )
    return data


def check_write_target(path: str | os.PathLike, what: str) -> None:
    """LstmvizError unless ``path`` is absent or a regular file: never replace a link or device."""
    path = Path(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as e:
        raise os_error(e, f"cannot write {what} {str(path)!r}") from None
    if not stat.S_ISREG(st.st_mode):
        raise LstmvizError(
            f"{what} {str(path)!r} is {describe(st.st_mode)}; lstmviz writes only regular files "
            "and never replaces anything else (not even with --force). Choose another path"
        )


def atomic_write(
    path: str | os.PathLike,
    write: Callable[[BinaryIO], object],  # what it returns is ignored
    what: str,
    *,
    failed: str | None = None,
    cap: int | None = None,
) -> Path:
    """Call ``write(f)`` on a temp file beside ``path``, then rename it to ``path``: all or none.

    A kill at any moment leaves either the old file or the new one, never half of one; the temp
    file (``.NAME.*.tmp``) is removed on failure (after a kill, ``RunFolder`` removes it, or the
    next download into the corpus cache). Only a regular file (or nothing) at ``path`` is replaced.
    Ctrl-C and SIGTERM wait until the file is whole (``lstmviz.critical``): a second Ctrl-C during
    a save neither breaks the writer nor loses the save. ``cap``: a file that came out larger is
    not kept (the reader would refuse it). An OSError (a full disk, a vanished folder) becomes one
    LstmvizError saying nothing was replaced, or starting with ``failed`` when given (what
    failed, and what to do about it).
    """
    path = Path(path)
    check_write_target(path, what)  # os.replace would replace a link or device file itself
    with critical():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
        except OSError as e:
            raise os_error(e, failed or f"cannot write {what} {str(path)!r}") from None
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                size = f.tell()
                if cap is not None and size > cap:
                    raise LstmvizError(
                        f"refusing to write {what} {str(path)!r}: it came to {size:,} bytes, more "
                        f"than the {cap:,}-byte cap lstmviz reads back; nothing was replaced"
                    )
                os.fsync(f.fileno())
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; the usual permissions
            os.replace(tmp, path)
        except BaseException as e:
            if os.path.exists(tmp):
                os.unlink(tmp)
            if isinstance(e, OSError):  # the old file is untouched
                doing = failed or f"cannot write {what} {str(path)!r} (nothing was replaced)"
                raise os_error(e, doing) from None
            raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def user_path(path: str | os.PathLike, what: str) -> Path:
    """A path the user named, with ``~`` and ``~name`` expanded as a shell would.

    Shells expand ``~`` only at the start of a word, so ``--out=~/r`` reaches us unexpanded:
    every path lstmviz is given goes through here, so none becomes a literal ``./~/r`` folder.
    """
    try:
        return Path(path).expanduser()
    except RuntimeError:  # "~name/..." of a user this system does not know
        raise LstmvizError(
            f"{what} {str(path)!r}: no home folder for {str(path).split(os.sep)[0]!r}; "
            "check the path"
        ) from None
