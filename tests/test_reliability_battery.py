"""Issue 12's held-out battery: further variations of its ten classes that once failed.

Each test reproduces one variation that gave a traceback, an exit status 1 ("a bug in
lstmviz"), a silently wrong result or lost data, before its fix. Local servers on 127.0.0.1 only.
"""

from __future__ import annotations

import http.server
import os
import signal

import pytest
import torch
from conftest import local_server
from test_reliability import TINY_FLAGS, refused

from lstmviz.core.checkpoint import BEST, HOLDER, LATEST, load_checkpoint, save_checkpoint
from lstmviz.core.corpus import load_corpus
from lstmviz.core.errors import LstmvizError
from lstmviz.core.training import TrainingInterrupted, train


@pytest.fixture
def saved(tmp_path, tiny_trained):
    """A full training checkpoint of the tiny model (optimizer state included)."""
    return save_checkpoint(
        tmp_path / "ck.pt",
        tiny_trained.model,
        tiny_trained.vocab,
        step=60,
        config=tiny_trained.config.to_dict(),
        optimizer=torch.optim.Adam(tiny_trained.model.parameters()),
    )


def edited(src, dst, change):
    """Copy checkpoint ``src`` to ``dst`` with ``change(dict)`` applied (a valid zip archive)."""
    ckpt = torch.load(src, weights_only=True)
    change(ckpt)
    torch.save(ckpt, dst)
    return dst


# ---- class 7: checkpoints that lie ------------------------------------------------------------


@pytest.mark.parametrize(
    "convert, fragment",
    [
        (lambda t: t > 0, "torch.bool"),
        (lambda t: t.long(), "torch.int64"),
        (lambda t: t.to(torch.complex64), "torch.complex64"),
        (lambda t: t.to_sparse(), "sparse"),
    ],
)
def test_weights_of_the_wrong_kind_are_refused(tmp_path, saved, capsys, convert, fragment):
    """A bool or int weight would be cast to 0/1 or whole numbers and load silently."""

    def change(c):
        c["model"]["lstm.weight_ih_l0"] = convert(c["model"]["lstm.weight_ih_l0"])

    bad = edited(saved, tmp_path / "bad.pt", change)
    refused(capsys, ["sample", "--checkpoint", str(bad)], "damaged", "lstm.weight_ih_l0", fragment)


def test_float64_weights_still_load(tmp_path, saved):
    """A float64 copy is the same model: accepted and converted, not refused."""

    def change(c):
        c["model"] = {k: v.double() for k, v in c["model"].items()}

    ck = load_checkpoint(edited(saved, tmp_path / "f64.pt", change))
    assert ck.model.lstm.weight_ih_l0.dtype == torch.float32


@pytest.fixture
def run_dir(tmp_path, tiny_config, tiny_text):
    """A finished 10-step run folder holding checkpoint.pt with optimizer and stream state."""
    train(tiny_config.replace(steps=10, out=str(tmp_path / "run")), text=tiny_text, progress=False)
    return tmp_path / "run"


def _exp_avg_cut(c):
    c["optimizer"]["state"][0]["exp_avg"] = c["optimizer"]["state"][0]["exp_avg"][:1]


def _state_float64(c):
    c["train_state"] = {k: v.double() for k, v in c["train_state"].items()}


@pytest.mark.parametrize("change", [_exp_avg_cut, _state_float64])
def test_resuming_damaged_training_state_is_one_message(run_dir, tiny_text, change):
    """An optimizer moment of the wrong shape crashed the first step (a "bug" exit 1)."""
    ck = run_dir / LATEST
    edited(ck, ck, change)
    before = ck.read_bytes()
    again = dict(out=str(run_dir), steps=12, text=tiny_text, resume=True, progress=False)
    if change is _state_float64:  # float64 carried state is the same state: resumes fine
        assert train(**again).step == 12
        return
    with pytest.raises(LstmvizError, match="damaged.*training state"):
        train(**again)
    assert ck.read_bytes() == before


# ---- class 5: export over anything --------------------------------------------------------------


@pytest.mark.parametrize("how", ["same path", "via a symlinked folder", "hard link"])
def test_export_onto_its_own_source_is_refused(tmp_path, saved, capsys, how):
    """--force replaced the training checkpoint by its float16 export: optimizer state lost."""
    target = saved
    if how == "via a symlinked folder":
        (tmp_path / "alias").symlink_to(tmp_path)
        target = tmp_path / "alias" / saved.name
    elif how == "hard link":
        target = tmp_path / "hard.pt"
        os.link(saved, target)
    before = saved.read_bytes()
    flags = ["export", "--checkpoint", str(saved), "--out", str(target), "--force"]
    refused(capsys, flags, "the checkpoint itself")
    assert saved.read_bytes() == before


# ---- classes 3, 4 and 9: corpus paths and downloads ---------------------------------------------


def test_corpus_path_of_an_unknown_users_home(capsys):
    """``~nosuchuser/x.txt``: expanduser raised RuntimeError, reported as a bug (exit 1)."""
    refused(capsys, ["train", "--corpus", "~nosuchuser_lstmviz/x.txt", *TINY_FLAGS], "~nosuchuser")


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
    line = refused(capsys, ["train", "--corpus", f"{redirects}/to?{location}", *TINY_FLAGS])
    assert fragment in line and "s3cret" not in line
    assert Redirects.requests == [f"/to?{location}"]  # the redirect was never followed


def test_redirect_to_http_is_still_followed(redirects):
    assert load_corpus(f"{redirects}/to?http://127.0.0.1:PORT/text") == Redirects.body.decode()


def test_url_with_a_300_character_file_name(redirects):
    """The cache file was named after the URL's last part: "name too long" (a raw OSError)."""
    assert load_corpus(f"{redirects}/text/{'n' * 300}") == Redirects.body.decode()
    assert load_corpus(f"{redirects}/text/{'n' * 300}") == Redirects.body.decode()  # cached
    assert len(Redirects.requests) == 1


# ---- class 8: signals ----------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_second_signal_still_says_how_to_resume(tmp_path, tiny_config, tiny_text, sig):
    """Two Ctrl-C (or SIGTERM) in a row: a bare KeyboardInterrupt ("interrupted", status 130 even
    for SIGTERM) that named neither the kept checkpoint nor the resume command."""
    out = tmp_path / "run"
    seen = []

    def twice(entry):
        seen.append(entry["step"])
        if entry["step"] == 6:
            os.kill(os.getpid(), sig)  # the first asks for a stop after this step...
            os.kill(os.getpid(), sig)  # ...the second stops at once

    cfg = tiny_config.replace(steps=1000, log_every=1, save_every=2, out=str(out))
    with pytest.raises(TrainingInterrupted) as caught:
        train(cfg, text=tiny_text, callback=twice, progress=False)
    assert caught.value.signum == sig
    assert f"--out {out} --resume" in str(caught.value)
    assert load_checkpoint(out / LATEST).step == 4  # the save of step 4 is kept, intact


# ---- class 6: settings ------------------------------------------------------------------------


@pytest.mark.parametrize("device", ["meta", "xla", "vulkan", "lazy", "privateuseone"])
def test_devices_torch_knows_but_lstmviz_cannot_use(saved, capsys, device):
    """torch.device() accepts these names; training or sampling then failed as "a bug" (exit 1)."""
    refused(capsys, ["train", *TINY_FLAGS, "--device", device], "unknown device", device)
    refused(capsys, ["sample", "--checkpoint", str(saved), "--device", device], "unknown device")


# ---- class 9: the run folder, checked before training ---------------------------------------


@pytest.mark.parametrize("name", [LATEST, BEST])
@pytest.mark.parametrize("kind", ["folder", "symlink"])
def test_checkpoint_names_that_cannot_be_written_are_refused_up_front(
    tmp_path, tiny_config, tiny_text, name, kind
):
    """A folder or link named best.pt was found only at the first save, after training."""
    out = tmp_path / "run"
    out.mkdir()
    if kind == "folder":
        (out / name).mkdir()
    else:
        (out / name).symlink_to(tmp_path / "elsewhere.pt")
    seen = []
    with pytest.raises(LstmvizError, match=f"{name}.*regular files"):
        train(tiny_config.replace(out=str(out)), text=tiny_text, callback=seen.append)
    assert seen == []  # refused before the first step


def test_a_holder_file_that_is_a_folder(tmp_path, tiny_config, tiny_text):
    """Leaving the run folder raised a raw IsADirectoryError (and kept the lock held)."""
    out = tmp_path / "run"
    (out / HOLDER).mkdir(parents=True)
    with pytest.raises(LstmvizError, match="cannot write into the run folder"):
        train(tiny_config.replace(out=str(out)), text=tiny_text, progress=False)
    (out / HOLDER).rmdir()
    assert train(tiny_config.replace(out=str(out), steps=2), text=tiny_text, progress=False)


# ---- class 2: the lock ---------------------------------------------------------------------------


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_a_folder_where_no_lock_file_can_be_created_is_not_in_use(capsys):
    """/proc/self is a folder, but no file can be created in it: filelock reports a timeout,
    which was shown as "in use by another lstmviz run (holder unknown); wait for it"."""
    line = refused(capsys, ["train", *TINY_FLAGS, "--out", "/proc/self"], "cannot write into")
    assert "in use" not in line


@pytest.mark.parametrize("vocab", ["ba", "aab"])
def test_a_vocabulary_out_of_order_names_the_file(tmp_path, saved, capsys, vocab):
    """It said "build it with Vocab.from_text(text)": advice for code, not for a damaged file."""

    def change(c):
        c["vocab"] = c["vocab"][: -len(vocab)] + vocab

    bad = edited(saved, tmp_path / "bad.pt", change)
    line = refused(capsys, ["sample", "--checkpoint", str(bad)], str(bad), "damaged")
    assert "from_text" not in line
