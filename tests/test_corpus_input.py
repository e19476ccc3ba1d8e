"""A corpus given as a file or a string: refused in one line when it cannot be read as text, and
never a blocked read (a FIFO, an endless device, a sparse file claiming gigabytes)."""

from __future__ import annotations

import errno
import os

import pytest
from faults import TINY_FLAGS, no_hang, refused, says

import lstmviz.core.corpus as corpus
from lstmviz.__main__ import main
from lstmviz.core.corpus import load_corpus
from lstmviz.core.errors import LstmvizError
from lstmviz.core.files import open_regular
from lstmviz.core.training import train


@pytest.mark.parametrize("use", ["api", "cli"])
def test_fifo_corpus_is_refused_without_blocking(tmp_path, capsys, use):
    fifo = tmp_path / "corpus.fifo"
    os.mkfifo(fifo)
    if use == "api":
        res = no_hang(lambda: load_corpus(str(fifo)), fifo)
        assert isinstance(res.get("error"), LstmvizError), res
        says(res["error"], "FIFO", "not a regular file")
    else:
        res = no_hang(lambda: main(["train", "--corpus", str(fifo), *TINY_FLAGS]), fifo)
        assert res.get("value") == 2, res
        says(capsys.readouterr().err, "FIFO")


def test_a_fifo_swapped_in_after_the_check_does_not_block(tmp_path, monkeypatch):
    """The open itself is non-blocking and re-checked with fstat: a race cannot hang the read."""
    fifo = tmp_path / "swap.fifo"
    os.mkfifo(fifo)
    real_stat = os.stat
    monkeypatch.setattr(os, "stat", lambda p, *a, **k: real_stat(__file__))  # "looks regular"
    res = no_hang(lambda: open_regular(fifo, "corpus", 10**6), fifo)
    assert isinstance(res.get("error"), LstmvizError), res
    says(res["error"], "FIFO", "not a regular file")


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_endless_devices_are_refused_as_corpus(device):
    res = no_hang(lambda: load_corpus(device))
    assert isinstance(res.get("error"), LstmvizError), res
    says(res["error"], "character device", "not a regular file")


def test_a_directory_is_refused_as_corpus(tmp_path, capsys):
    refused(capsys, ["train", "--corpus", str(tmp_path)], "is a directory")


def test_a_sparse_10_gb_corpus_is_refused_without_reading(tmp_path):
    big = tmp_path / "huge.txt"
    with open(big, "wb") as f:
        f.truncate(10 * 2**30)  # sparse: 10 GiB claimed, nothing stored
    res = no_hang(lambda: load_corpus(str(big)), timeout=10)
    assert res["seconds"] < 5 and isinstance(res.get("error"), LstmvizError), res
    says(res["error"], "10,737,418,240 bytes", "200,000,000-byte cap for a corpus")


def test_corpus_cap_is_the_setting(tmp_path, monkeypatch):
    path = tmp_path / "t.txt"
    path.write_text("x" * 1001)
    monkeypatch.setattr(corpus, "FILE_CAP", 1000)
    with pytest.raises(LstmvizError) as info:
        load_corpus(str(path))
    says(info.value, "1,001 bytes", "1,000-byte cap")
    monkeypatch.setattr(corpus, "FILE_CAP", 1001)
    assert load_corpus(str(path)) == "x" * 1001


def test_corpus_path_of_an_unknown_users_home(capsys):
    """``~nosuchuser/x.txt``: expanduser raised RuntimeError, reported as a bug (exit 1)."""
    refused(capsys, ["train", "--corpus", "~nosuchuser_lstmviz/x.txt", *TINY_FLAGS], "~nosuchuser")


def test_permission_denied_reading(tmp_path, monkeypatch, capsys):
    path = tmp_path / "secret.txt"
    path.write_text("hello")

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(os, "open", denied)
    refused(
        capsys,
        ["train", "--corpus", str(path)],
        f"cannot read corpus {str(path)!r}",
        "permission denied",
    )


def test_training_text_with_a_lone_surrogate(tiny_config, tiny_text):
    with pytest.raises(LstmvizError) as info:
        train(tiny_config, text=tiny_text + "\udcff", progress=False)
    says(info.value, "lone surrogate", "UTF-8")


# ---- the record of what was read (stored in checkpoints; compared when a run resumes)


def test_the_record_names_the_resolved_file_its_size_and_hash(tmp_path, monkeypatch):
    import hashlib

    data = b"To be, or not to be\n" * 50
    (tmp_path / "real.txt").write_bytes(data)
    (tmp_path / "link.txt").symlink_to(tmp_path / "real.txt")
    monkeypatch.chdir(tmp_path)
    text, rec = corpus.read_corpus("link.txt")
    assert text == data.decode()
    assert rec == {
        "source": str(tmp_path / "real.txt"),  # absolute, links resolved: found from anywhere
        "path": str(tmp_path / "real.txt"),
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    builtin = corpus.read_corpus("python")[1]
    assert builtin["source"] == "python" and builtin["path"] is None
    assert builtin["size"] == len(corpus.python_stdlib().encode())


@pytest.mark.parametrize(
    "url, kept",
    [
        ("https://h.example/c.txt?X-Amz-Signature=abc&k=v", "https://h.example/c.txt?<removed>"),
        ("https://h.example/c.txt#token=abc", "https://h.example/c.txt?<removed>"),
        ("http://h.example:8080/a/c.txt", "http://h.example:8080/a/c.txt"),
        ("shakespeare", "shakespeare"),
        ("/data/c.txt?x", "/data/c.txt?x"),  # a file name may hold a '?'
    ],
)  # fmt: skip
def test_a_url_is_saved_without_its_query_string(url, kept):
    assert corpus.public(url) == kept


def test_a_url_whose_query_string_was_removed_is_not_fetched(monkeypatch):
    monkeypatch.setattr(corpus, "_download", lambda url: pytest.fail("fetched"))
    with pytest.raises(LstmvizError) as info:
        load_corpus("https://h.example/c.txt?<removed>")
    says(info.value, "query string was not saved", "full URL")
