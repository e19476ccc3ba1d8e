"""Build lstmviz/data/python_stdlib.txt.xz, the fixed "python" corpus, from Python 3.11's stdlib.

Run once, with CPython 3.11.7:  python tools/build_python_corpus.py
The shipped snapshot makes load_corpus("python") the same text on every interpreter (it used to be
read from the running Python's standard library, so 3.12 gave different text and a different
validation tail). The selection is the one lstmviz used before the snapshot: ``*.py`` files in
sorted path order, skipping the folders in SKIP, whole files (right-stripped, then a blank line)
added until CAP characters; a file that would pass CAP is skipped and later, smaller ones still
fit. The text is Python Software Foundation licensed (lstmviz/data/LICENSE-python-corpus).
"""

from __future__ import annotations

import hashlib
import lzma
import sys
import sysconfig
from pathlib import Path

VERSION = (3, 11, 7)  # the interpreter whose standard library the snapshot is
CAP = 3_000_000  # characters; whole files only
SKIP = {"test", "tests", "idlelib", "site-packages", "__pycache__"}  # tests and vendored code
OUT = Path(__file__).resolve().parents[1] / "lstmviz" / "data"
NOTICE = """\
python_stdlib.txt.xz, lstmviz's "python" corpus, is source code from the standard library of
CPython 3.11.7 (Lib/*.py, tests and idlelib left out), built by tools/build_python_corpus.py.
It is distributed under the Python Software Foundation License; CPython's LICENSE.txt follows.

"""


def stdlib_files(root: Path) -> list[Path]:
    """The ``*.py`` files under ``root`` that the corpus draws from, in corpus order."""
    return sorted(
        (p for p in root.rglob("*.py") if not SKIP.intersection(p.relative_to(root).parts)),
        key=lambda p: p.relative_to(root).as_posix(),
    )


def stdlib_text(root: Path, cap: int = CAP) -> str:
    """Whole source files from ``stdlib_files(root)``, at most ``cap`` characters in all."""
    parts, total = [], 0
    for path in stdlib_files(root):
        try:
            src = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        src = src.rstrip() + "\n\n"
        if total + len(src) > cap:
            continue  # keep going: a later, smaller file may still fit
        parts.append(src)
        total += len(src)
    return "".join(parts)


def main() -> None:
    if sys.version_info[:3] != VERSION:
        sys.exit(
            f"run this with Python {'.'.join(map(str, VERSION))}, not {sys.version.split()[0]}"
        )
    root = Path(sysconfig.get_paths()["stdlib"])
    data = stdlib_text(root).encode("utf-8")
    OUT.mkdir(parents=True, exist_ok=True)
    # xz without a timestamp or file name: the same input gives the same bytes
    (OUT / "python_stdlib.txt.xz").write_bytes(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME))
    (OUT / "LICENSE-python-corpus").write_text(NOTICE + (root / "LICENSE.txt").read_text())
    print(f"{len(data):,} characters, sha256 {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    main()
