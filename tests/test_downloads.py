"""Corpora from http(s) URLs: complete or refused, within a deadline, checked before any request
(credentials, schemes, redirects), cached once, and never a half-written cache file.

Scripted local servers on 127.0.0.1 only."""

from __future__ import annotations

import errno
import http.server
import logging
import os
import sys
import time
from pathlib import Path

import platformdirs
import pytest
from conftest import local_server
from faults import TINY_FLAGS, edited, no_hang, refused, says

import lstmviz.core.corpus as corpus
from lstmviz.core.corpus import cache_dir, load_corpus
from lstmviz.core.errors import LstmvizError


class Handler(http.server.BaseHTTPRequestHandler):
    """Scripted answers: /ok, /short (half its Content-Length), /trickle, /loop, /big."""

    requests: list[str] = []
    body = b"Shall I compare thee to a summer's day?\n" * 50

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802 -- http.server's name
        Handler.requests.append(self.path)
        if self.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.end_headers()
        elif self.path == "/short":
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.body)))
            self.end_headers()
            self.wfile.write(self.body[: len(self.body) // 2])
            self.wfile.flush()
            self.close_connection = True
        elif self.path == "/trickle":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            for _ in range(1000):
                try:
                    self.wfile.write(b"x")
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.2)
        elif self.path == "/slowheaders":  # the status line, then a header a byte at a time
            self.wfile.write(b"HTTP/1.0 200 OK\r\nX-Slow: ")
            for _ in range(1000):
                try:
                    self.wfile.write(b"x")
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.2)
        elif self.path == "/big":
            self.send_response(200)
            self.send_header("Content-Length", str(10**12))
            self.end_headers()
        else:
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.body)))
            self.end_headers()
            self.wfile.write(self.body)


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A scripted HTTP server on 127.0.0.1 (never any other host); the cache in tmp_path."""
    monkeypatch.setenv("LSTMVIZ_CACHE", str(tmp_path / "cache"))
    Handler.requests = []
    with local_server(Handler) as url:
        yield url


def cache_files(tmp_path) -> list[str]:
    root = tmp_path / "cache"
    return sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_short_body_is_an_error_retried_and_not_cached(server, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="lstmviz")
    n = len(Handler.body)
    with pytest.raises(LstmvizError) as info:
        load_corpus(f"{server}/short")
    says(info.value, f"closed after {n // 2:,} of {n:,} bytes", "try again")
    assert Handler.requests == ["/short", "/short"]  # one retry
    assert "retrying" in caplog.text
    assert cache_files(tmp_path) == []
    assert load_corpus(f"{server}/ok") == Handler.body.decode()
    load_corpus(f"{server}/ok")
    assert Handler.requests.count("/ok") == 1 and "from the cache" in caplog.text


def test_trickling_server_is_cut_off_by_the_total_deadline(server, tmp_path, monkeypatch):
    monkeypatch.setattr(corpus, "URL_TIMEOUT", 5.0)  # each byte comes well within this
    monkeypatch.setattr(corpus, "URL_DEADLINE", 1.5)
    start = time.monotonic()
    with pytest.raises(LstmvizError) as info:
        load_corpus(f"{server}/trickle")
    says(info.value, "not finished after 1.5 s")
    assert time.monotonic() - start < 5
    assert cache_files(tmp_path) == []


def test_trickled_headers_are_cut_off_by_the_total_deadline(server, monkeypatch):
    monkeypatch.setattr(corpus, "URL_TIMEOUT", 5.0)
    monkeypatch.setattr(corpus, "URL_DEADLINE", 1.5)
    res = no_hang(lambda: load_corpus(f"{server}/slowheaders"), timeout=20)
    assert isinstance(res.get("error"), LstmvizError), res
    says(res["error"], "not finished after 1.5 s")
    assert res["seconds"] < 5


def test_temp_files_of_a_killed_download_are_cleaned(server, tmp_path, caplog):
    folder = tmp_path / "cache" / "corpora"
    folder.mkdir(parents=True)
    old, fresh = folder / ".download-old", folder / ".download-fresh"
    old.write_bytes(b"half a download")
    fresh.write_bytes(b"maybe still being written by another process")
    os.utime(old, (time.time() - 3 * corpus.URL_DEADLINE,) * 2)
    caplog.set_level(logging.INFO, logger="lstmviz")
    assert load_corpus(f"{server}/ok") == Handler.body.decode()
    assert not old.exists() and fresh.exists()
    assert "left behind by an interrupted download" in caplog.text


def test_declared_size_over_the_cap_is_refused_before_reading(server):
    res = no_hang(lambda: load_corpus(f"{server}/big"), timeout=20)
    assert isinstance(res.get("error"), LstmvizError), res
    says(res["error"], "larger than 50,000,000 bytes")


@pytest.mark.parametrize(
    "netloc", ["user:s3cr3t-pw@127.0.0.1", "s3cr3t-pw@127.0.0.1", "user:s3cr3t-pw@bad host"]
)
def test_credentials_in_urls_are_refused_before_any_request(server, netloc, capsys):
    port = server.rsplit(":", 1)[1]
    url = f"http://{netloc}:{port}/ok"
    with pytest.raises(LstmvizError) as info:
        load_corpus(url)
    assert "user name or password" in str(info.value) and "s3cr3t-pw" not in str(info.value)
    line = refused(capsys, ["train", "--corpus", url, *TINY_FLAGS], "user name or password")
    assert "s3cr3t-pw" not in line
    assert Handler.requests == []  # nothing was sent


@pytest.mark.parametrize(
    "url, fragment",
    [
        ("http://[::1", "Invalid IPv6 URL"),
        ("http://127.0.0.1:99999/x", "malformed"),
        ("http://127.0.0.1:abc/x", "malformed"),
        ("http:///x.txt", "no host"),
    ],
)
def test_malformed_urls_give_one_line(url, fragment, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("LSTMVIZ_CACHE", str(tmp_path / "cache"))
    refused(capsys, ["train", "--corpus", url, *TINY_FLAGS], fragment)


def test_redirect_loop_gives_one_line(server, capsys):
    line = refused(capsys, ["train", "--corpus", f"{server}/loop", *TINY_FLAGS], "redirect")
    assert "HTTP 302" in line


def test_readonly_cache_gives_one_line_and_no_temp_file(server, readonly_dir, monkeypatch, capsys):
    monkeypatch.setenv("LSTMVIZ_CACHE", str(readonly_dir))
    argv = ["train", "--corpus", f"{server}/ok", *TINY_FLAGS]
    refused(capsys, argv, "cannot store", "LSTMVIZ_CACHE")
    assert list(readonly_dir.rglob("*")) == []


def test_full_cache_gives_one_line_and_no_temp_file(server, tmp_path, monkeypatch, capsys):
    """ENOSPC in the middle of writing the cache file (simulated): no half file, no temp file."""
    real_fdopen = os.fdopen

    class FullDisk:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            self.f.write(data[:10])
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(corpus.os, "fdopen", lambda *a, **k: FullDisk(real_fdopen(*a, **k)))
    refused(capsys, ["train", "--corpus", f"{server}/ok", *TINY_FLAGS], "the disk is full")
    assert cache_files(tmp_path) == []


def test_really_full_cache_on_a_tiny_tmpfs(server, tmpfs, monkeypatch, capsys):
    small = tmpfs("4k")
    monkeypatch.setenv("LSTMVIZ_CACHE", str(small))
    monkeypatch.setattr(Handler, "body", b"to be or not to be\n" * 2000)  # 38 KB > 4 KB
    refused(capsys, ["train", "--corpus", f"{server}/ok", *TINY_FLAGS], "the disk is full")
    assert [p for p in small.rglob("*") if p.is_file()] == []


def test_cache_folder_comes_from_platformdirs_unless_overridden(monkeypatch, tmp_path):
    monkeypatch.delenv("LSTMVIZ_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == Path(platformdirs.user_cache_dir("lstmviz", appauthor=False))
    if sys.platform.startswith("linux"):
        assert cache_dir() == tmp_path / "xdg" / "lstmviz"
    monkeypatch.setenv("LSTMVIZ_CACHE", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"


class Redirects(http.server.BaseHTTPRequestHandler):
    """/to?URL answers 302 to URL; /text answers a small corpus. Records every request path."""

    requests: list[str] = []
    body = b"Shall I compare thee to a summer's day?\n" * 50

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802 -- http.server's name
        Redirects.requests.append(self.path)
        if self.path.startswith("/to?"):
            self.send_response(302)
            self.send_header("Location", self.path[4:].replace("PORT", str(self.server.port)))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)


@pytest.fixture
def redirects(tmp_path, monkeypatch):
    monkeypatch.setenv("LSTMVIZ_CACHE", str(tmp_path / "cache"))
    Redirects.requests = []
    with local_server(Redirects) as url:
        yield url


@pytest.mark.parametrize(
    "location, fragment",
    [
        # urllib handed "user:s3cret@127.0.0.1" to the resolver as a host name (a DNS query)
        ("http://user:s3cret@127.0.0.1:PORT/text", "user name or password"),
        ("http://user@127.0.0.1:PORT/text", "user name or password"),
        # urllib followed it: a connection to an FTP server the user never named
        ("ftp://127.0.0.1:PORT/text", "only http and https"),
        ("http://127.0.0.1:99999/text", "malformed"),
    ],
)
def test_redirects_are_checked_like_the_url_given(redirects, capsys, location, fragment):
    line = refused(
        capsys, ["train", "--corpus", f"{redirects}/to?{location}", *TINY_FLAGS], fragment
    )
    assert "s3cret" not in line
    assert Redirects.requests == [f"/to?{location}"]  # the redirect was never followed


def test_redirect_to_http_is_still_followed(redirects):
    assert load_corpus(f"{redirects}/to?http://127.0.0.1:PORT/text") == Redirects.body.decode()


def test_url_with_a_300_character_file_name(redirects):
    """The cache file was named after the URL's last part: "name too long" (a raw OSError)."""
    assert load_corpus(f"{redirects}/text/{'n' * 300}") == Redirects.body.decode()
    assert load_corpus(f"{redirects}/text/{'n' * 300}") == Redirects.body.decode()  # cached
    assert len(Redirects.requests) == 1


# ---- a secret in the URL is never saved; the cache is checked against what was downloaded

SECRET = "X-Amz-Signature=0123456789abcdef"
SMALL = dict(hidden_size=16, num_layers=1, embedding_dim=8, dropout=0.0, batch_size=4, steps=3)


def test_a_url_query_string_is_never_saved(server, tmp_path, tiny_config, caplog):
    from lstmviz.core.checkpoint import LATEST, export_checkpoint, load_checkpoint
    from lstmviz.core.training import train

    url, run = f"{server}/ok?{SECRET}", tmp_path / "run"
    train(tiny_config.replace(**SMALL, corpus=url, out=str(run)), progress=False)
    assert "query string is not saved" in caplog.text
    export_checkpoint(run / LATEST, tmp_path / "shared.pt")
    for path in [*run.iterdir(), tmp_path / "shared.pt"]:  # checkpoints, best.pt, log.json
        assert b"0123456789abcdef" not in path.read_bytes(), path
    saved = load_checkpoint(run / LATEST)
    assert saved.config["corpus"] == f"{server}/ok?<removed>"
    assert load_checkpoint(tmp_path / "shared.pt").raw["data"]["path"] is None
    # resuming needs the full URL again, and says so; with it, it resumes from the cache
    with pytest.raises(LstmvizError) as info:
        train(out=str(run), resume=True, steps=5, progress=False)
    says(info.value, "query string was not saved", "full URL")
    assert train(out=str(run), resume=True, steps=5, corpus=url, progress=False).step == 5
    assert Handler.requests == [f"/ok?{SECRET}"]


def test_an_old_checkpoint_holding_a_token_is_exported_without_it(saved, tmp_path):
    from lstmviz.core.checkpoint import export_checkpoint

    token_url = f"https://example.org/c.txt?{SECRET}#frag"  # never fetched: only stored
    edited(saved, tmp_path / "old.pt", lambda ck: ck["config"].update(corpus=token_url))
    export_checkpoint(tmp_path / "old.pt", tmp_path / "shared.pt")
    assert b"0123456789abcdef" not in (tmp_path / "shared.pt").read_bytes()
    assert b"frag" not in (tmp_path / "shared.pt").read_bytes()


def _cached(tmp_path) -> Path:
    (file,) = [p for p in (tmp_path / "cache" / "corpora").iterdir() if p.suffix != ".json"]
    return file


def test_a_truncated_cache_file_is_downloaded_again(server, tmp_path, caplog):
    url = f"{server}/ok"
    assert load_corpus(url) == Handler.body.decode()
    file = _cached(tmp_path)
    file.write_bytes(Handler.body[:300])  # still valid UTF-8, a tenth of the text
    assert load_corpus(url) == Handler.body.decode()  # all of it, not the 300 characters
    assert Handler.requests == ["/ok", "/ok"] and "downloaded it again" in caplog.text
    assert file.read_bytes() == Handler.body
    assert load_corpus(url) == Handler.body.decode()
    assert Handler.requests == ["/ok", "/ok"]  # repaired: from the cache again


def test_a_cache_file_without_its_record_is_downloaded_again(server, tmp_path):
    """Left by an older lstmviz, or by a download killed between the file and its record."""
    url = f"{server}/ok"
    load_corpus(url)
    (record,) = (tmp_path / "cache" / "corpora").glob("*.json")
    record.unlink()
    _cached(tmp_path).write_bytes(b"Shall I")
    assert load_corpus(url) == Handler.body.decode()
    assert Handler.requests == ["/ok", "/ok"] and record.exists()


def test_a_damaged_cache_file_that_cannot_be_fetched_again_is_named(
    server, tmp_path, monkeypatch, capsys
):
    url = f"{server}/ok"
    load_corpus(url)
    file = _cached(tmp_path)
    file.write_bytes(b"\xff\xfe" + Handler.body[2:])  # not UTF-8 any more

    def gone(url):
        raise LstmvizError(f"could not download corpus {url}: Connection refused; check the URL")

    monkeypatch.setattr(corpus, "_download", gone)
    refused(capsys, ["train", "--corpus", url, *TINY_FLAGS], "Connection refused", str(file),
            "delete it")  # fmt: skip


def test_the_cli_says_the_query_string_is_left_out(server, tmp_path, capsys):
    from lstmviz.__main__ import main
    from lstmviz.core.log import log

    handlers = list(log.handlers)
    flags = [*TINY_FLAGS, "--batch-size", "4", "--steps", "2", "--no-progress", "--sample-len", "0"]
    argv = ["train", "--corpus", f"{server}/ok?{SECRET}", "--out", str(tmp_path / "run"), *flags]
    assert main(argv) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1 and "query string is not saved" in notes[0], notes
    assert "0123456789abcdef" not in notes[0]
    assert log.handlers == handlers  # the CLI's note lines end with the command
