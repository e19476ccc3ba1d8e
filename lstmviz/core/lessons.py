"""The lessons that ship with the package: where they lie, and copying them (``lstmviz lessons``).

The repository keeps one copy, in ``lessons/``; ``pyproject.toml`` maps that folder into the wheel
as ``lstmviz/lessons/`` (the notebooks and ``solutions/``). Installed from a wheel, they are found
there; run from a source checkout (``PYTHONPATH``, an editable install), in the checkout's
``lessons/``. ``copy_lessons`` never writes over a file the user changed unless told to.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import BinaryIO

from .errors import LstmvizError
from .files import atomic_write, check_write_target, os_error, read_capped, user_path

#: What ``lstmviz lessons`` copies, relative to the lessons folder: every notebook (the numbered
#: lessons and any other, such as an explorer) and the worked solutions with their README.
PATTERNS = ("*.ipynb", "solutions/*.py", "solutions/*.md")

#: The folder ``lstmviz lessons`` copies into when none is given.
DEFAULT_DIR = "lstmviz-lessons"

#: Largest lesson file read into memory to compare or copy (the biggest is under 2 MB).
_CAP = 64 * 1024 * 1024


def lessons_dir() -> Path:
    """The lessons folder: the wheel's ``lstmviz/lessons``, or a source checkout's ``lessons``."""
    package = Path(__file__).resolve().parents[1]
    shipped, checkout = package / "lessons", package.parent / "lessons"
    if any(shipped.glob("[0-9][0-9]_*.ipynb")):
        return shipped
    # only beside a pyproject.toml: never some other "lessons" folder in site-packages
    if (package.parent / "pyproject.toml").is_file() and any(checkout.glob("[0-9][0-9]_*.ipynb")):
        return checkout
    raise LstmvizError(
        f"no lessons next to the lstmviz package in {str(package)!r} (an install without its "
        "package data?); reinstall lstmviz with pip, or clone its repository"
    )


def lesson_files(source: Path | None = None) -> list[Path]:
    """Every file ``lstmviz lessons`` copies, relative to ``source`` (default ``lessons_dir()``)."""
    source = lessons_dir() if source is None else source
    found = {p.relative_to(source) for pattern in PATTERNS for p in source.glob(pattern)}
    return sorted(p for p in found if (source / p).is_file())


@dataclasses.dataclass
class Copied:
    """What ``copy_lessons`` did: files written, files already identical, files replaced."""

    dest: Path
    written: list[Path]
    unchanged: list[Path]
    replaced: list[Path]


def copy_lessons(dest: str | os.PathLike, force: bool = False) -> Copied:
    """Copy the lessons into folder ``dest``; a file there that differs is replaced only if
    ``force``. Checks every file before writing any, so a refusal leaves ``dest`` as it was."""
    dest = user_path(dest, "lessons folder")  # "~/x" quoted, or from Python: the home folder
    source = lessons_dir()
    if dest.exists() and not dest.is_dir():
        raise LstmvizError(
            f"{str(dest)!r} is a file, not a folder; give a folder to copy the lessons into "
            "(it is made if missing)"
        )
    plan: list[tuple[Path, bytes]] = []
    unchanged: list[Path] = []
    changed: list[Path] = []
    for rel in lesson_files(source):
        data = read_capped(source / rel, "lesson file", _CAP)
        target = dest / rel
        # a link, a folder or a device where a lesson goes: never replaced, not even with --force
        check_write_target(target, "lesson file")
        if target.exists():
            if read_capped(target, "lesson file", _CAP) == data:
                unchanged.append(rel)
                continue
            changed.append(rel)
        plan.append((rel, data))
    if changed and not force:
        names = ", ".join(str(p) for p in changed[:4]) + (", ..." if len(changed) > 4 else "")
        raise LstmvizError(
            f"{len(changed)} file(s) in {str(dest)!r} differ from the lessons shipped with this "
            f"lstmviz ({names}): your own changes? Nothing was copied. Pass --force to overwrite "
            "them, or choose another folder"
        )
    if plan:
        try:
            dest.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise os_error(e, f"cannot make the folder {str(dest)!r}") from None
    for done, (rel, data) in enumerate(plan):
        before = f"{done} file(s) before it were copied" if done else "nothing was copied"

        def write(f: BinaryIO, data: bytes = data) -> None:
            f.write(data)

        atomic_write(
            dest / rel,
            write,
            "lesson file",
            failed=f"cannot write {str(dest / rel)!r} ({before})",
        )
    return Copied(
        dest,
        written=[rel for rel, _ in plan if rel not in changed],
        unchanged=unchanged,
        replaced=changed,
    )
