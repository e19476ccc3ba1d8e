"""A training run's folder: what it holds, and ``RunFolder``, which keeps one run at a time in it.

A run folder (``train(out=...)``, ``--out``) holds ``checkpoint.pt`` (the latest state, what
``--resume`` continues), ``best.pt`` (the lowest validation loss so far), ``epochN.pt`` (the first
``keep_epochs`` epochs' ends) and ``log.json`` (settings, losses and samples, plain JSON).
``RunFolder`` locks it (``filelock``) so that two runs never write into one, checks it writable
before any training, and removes the temporary files a killed save left behind. Nothing in it is
written through a symbolic or hard link or into a FIFO or device (every file, even the lock's holder
line, is a new file put in place by ``files.atomic_write``), and a fresh run never replaces another
run's files (``run_files``).
"""

from __future__ import annotations

import datetime
import os
import socket
import stat
from pathlib import Path

import filelock

from .errors import LstmvizError
from .files import atomic_write, check_write_target, os_error, read_capped
from .log import log

#: File name of the latest checkpoint inside a training run's ``out`` folder.
LATEST = "checkpoint.pt"
#: File name of the checkpoint with the lowest validation loss so far.
BEST = "best.pt"
#: The run's log: plain JSON (settings, every logged loss, the samples), rewritten as it grows.
LOG = "log.json"
#: Lock file of a run folder (flock'd by filelock; the OS releases it when the process ends).
LOCK = ".lstmviz.lock"
#: Who holds the lock: "pid N on HOST since TIME", written after locking, removed on release.
HOLDER = ".lstmviz.lock.holder"


def epoch_file(epoch: int) -> str:
    """File name of the checkpoint kept at the end of epoch ``epoch`` (1-based): "epoch1.pt"."""
    return f"epoch{epoch}.pt"


def run_files(out: Path) -> list[str]:
    """The names of the files a run leaves in folder ``out`` that it holds (checkpoint.pt, best.pt,
    epochN.pt, log.json), sorted; a fresh run there would replace them."""
    try:
        names = [p.name for p in out.iterdir()] if out.is_dir() else []
    except OSError:
        return []
    return sorted(n for n in names if n in (LATEST, BEST, LOG) or _is_epoch_file(n))


def _is_epoch_file(name: str) -> bool:
    return name.startswith("epoch") and name.endswith(".pt") and name[5:-3].isdigit()


def _is_ours(tmp_name: str) -> bool:
    """Whether ``.NAME.XXXX.tmp`` is a temp file of a file lstmviz writes in a run folder."""
    name = tmp_name[1:].rsplit(".", 2)[0]
    return name in (LATEST, BEST, LOG, HOLDER) or _is_epoch_file(name)


class RunFolder:
    """``with RunFolder(out):`` -- a training run's folder, created, locked and checked writable.

    Two runs writing into one folder would silently replace each other's checkpoints, so the folder
    is locked (``filelock``: an OS lock the system releases when the process ends, even on kill -9);
    a second writer gets an LstmvizError naming the folder and the holder. Entering also writes a
    probe (the holder file), so a read-only folder or a path that is a file is refused before any
    training, and removes temporary files a killed save left behind (``.checkpoint.pt.*.tmp``).
    A folder this run created and left empty is removed again on exit.
    """

    def __init__(self, out: str | os.PathLike):
        self.out = Path(out)
        self._lock: filelock.BaseFileLock | None = None
        self._created = False
        self._holder_written = False  # only a holder file we wrote is removed on exit

    def __enter__(self) -> RunFolder:
        out = self.out
        try:
            if out.exists() and not out.is_dir():
                raise LstmvizError(
                    f"the run folder {str(out)!r} is a file, not a folder; choose another --out"
                )
            self._created = not out.exists()
            out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise os_error(e, f"cannot create the run folder {str(out)!r}") from None
        try:  # filelock opens its file without following links, but say why in one line
            check_write_target(out / LOCK, "lock file")
        except LstmvizError:
            self._remove_if_created()
            raise
        lock = filelock.FileLock(out / LOCK, timeout=0)
        try:
            lock.acquire()
        except filelock.Timeout:
            if not (out / LOCK).exists():  # filelock's answer when the file cannot be created
                self._remove_if_created()
                raise LstmvizError(
                    f"cannot write into the run folder {str(out)!r}: no file can be created in "
                    "it; choose another --out"
                ) from None
            raise LstmvizError(
                f"the run folder {str(out)!r} is in use by another lstmviz run ({self.holder()}); "
                "wait for it to finish, or choose another --out"
            ) from None
        except OSError as e:
            self._remove_if_created()
            raise os_error(e, f"cannot write into the run folder {str(out)!r}") from None
        self._lock = lock
        try:
            now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            holder = f"pid {os.getpid()} on {socket.gethostname()} since {now}\n"
            try:  # a new file replaces the old one: never written through a link (or a hard
                # link: the user's file keeps its content), never opened if it is a FIFO
                atomic_write(out / HOLDER, lambda f: f.write(holder.encode()), "lock holder file")
            except LstmvizError as e:
                raise LstmvizError(f"cannot write into the run folder {str(out)!r}: {e}") from None
            self._holder_written = True
            # a folder, link or FIFO named like a file the run writes would be found only at the
            # first save (or would make it hang): refuse it now
            for name in (LATEST, BEST, LOG, *run_files(out)):
                check_write_target(out / name, "run file")
        except LstmvizError:
            self.__exit__()
            raise
        for stale in [p for p in out.glob(".*.tmp") if _is_ours(p.name)]:
            # we hold the lock, so no save is in progress: these are leftovers of a killed save
            try:
                if stat.S_ISDIR(os.lstat(stale).st_mode):
                    continue  # not a file of ours: leave it
                stale.unlink(missing_ok=True)
                log.info("removed %s, left behind by an interrupted save", stale)
            except OSError:
                continue
        return self

    def holder(self) -> str:
        """Who holds the lock, as written in its holder file ("pid N on HOST since TIME")."""
        try:
            text = read_capped(self.out / HOLDER, "lock holder file", 1000).decode()
            return " ".join(text.split())[:200] or "holder unknown"
        except (LstmvizError, UnicodeDecodeError):
            return "holder unknown"

    def __exit__(self, *exc: object) -> None:
        if self._lock is None:
            return
        try:
            if self._holder_written and stat.S_ISREG(os.lstat(self.out / HOLDER).st_mode):
                (self.out / HOLDER).unlink()
        except OSError:  # not ours to fix here; the lock goes anyway
            pass
        self._holder_written = False
        self._lock.release()
        self._lock = None
        self._remove_if_created()

    def _remove_if_created(self) -> None:
        """Leave no empty folder behind when a run we started here wrote nothing."""
        if not self._created:
            return
        try:
            leftovers = {p.name for p in self.out.iterdir()}
            if leftovers <= {LOCK, HOLDER}:
                for name in leftovers:
                    (self.out / name).unlink(missing_ok=True)
                self.out.rmdir()
        except OSError:
            pass
