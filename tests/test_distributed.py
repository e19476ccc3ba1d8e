"""Data-parallel training under torchrun: 2 CPU processes (gloo) against one process, kill, resume.

Every run uses dropout 0: a single process draws one dropout mask for the whole batch, while each
rank draws its own for its share of the streams from its own generator, so with dropout the two
runs would differ by design. Everything else (initial weights, data order, the random state resets,
averaged gradients) is the same, so the losses agree to float rounding.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from lstmviz.core import distributed
from lstmviz.core.checkpoint import LATEST, load_checkpoint
from lstmviz.core.errors import LstmvizError
from lstmviz.core.sampling import generate
from lstmviz.core.training import train

ROOT = Path(__file__).resolve().parents[1]
#: Two runs that take the same steps agree to float rounding (summation order of the averaged
#: gradients); measured differences are below 1e-6 after 20 Adam steps.
TOL = 2e-5
#: A tiny model; constant lr, so a run's steps (which set the cosine schedule) change nothing.
SETTINGS = dict(
    hidden_size=32,
    num_layers=2,
    dropout=0.0,
    embedding_dim=8,
    seq_len=16,
    batch_size=8,
    lr=2e-2,
    min_lr=2e-2,
    reset_prob=0.1,
    eval_every=4,
    log_every=1,  # a run stopped at any step then logs the same means as one never stopped
    save_every=4,
    val_chars=2000,
    device="cpu",
    precision="fp32",  # float rounding only: bf16 (auto on a CPU with it) rounds far more
    seed=0,
)

pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available(), reason="this torch build has no torch.distributed"
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, tiny_text) -> Path:
    path = tmp_path_factory.mktemp("ddp") / "tiny.txt"
    path.write_text(tiny_text, encoding="utf-8")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(corpus: Path, out: Path, *extra: str, nproc: int = 2) -> list[str]:
    """The command line of ``torchrun --nproc_per_node nproc -m lstmviz train`` on 127.0.0.1."""
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in SETTINGS.items()]
    return [
        sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}",
        "--master_addr=127.0.0.1", f"--master_port={_free_port()}", "--local-addr=127.0.0.1",
        "-m", "lstmviz", "train", f"--corpus={corpus}", f"--out={out}", "--no-progress",
        *flags, *extra,
    ]  # fmt: skip


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    res = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=120, cwd=ROOT)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    return res


def _losses(history: list[dict]) -> list[tuple]:
    """The logged and validated losses of a history (samples carry text, not losses)."""
    return [
        (e["kind"], e["step"], e["train_loss"], e["val_loss"])
        for e in history
        if e["kind"] != "sample"
    ]


def _assert_same_run(a: list[dict], b: list[dict]) -> None:
    la, lb = _losses(a), _losses(b)
    assert [x[:2] for x in la] == [x[:2] for x in lb]  # the same log and validation entries
    for x, y in zip(la, lb, strict=True):
        for u, v in zip(x[2:], y[2:], strict=True):
            assert (u is None) == (v is None)
            assert u is None or abs(u - v) < TOL, (x, y)


def test_two_processes_take_the_same_steps_as_one(corpus, tmp_path):
    one = train(corpus=str(corpus), steps=20, out=str(tmp_path / "one"), progress=False, **SETTINGS)
    two = tmp_path / "two"
    res = _run(_torchrun(corpus, two, "--steps=20"))
    assert res.stdout.count("done: step 20") == 1  # rank 0 alone reports
    ck = load_checkpoint(two / LATEST)
    assert (ck.step, ck.raw["world_size"]) == (20, 2)
    # the checkpoint holds all 8 streams' carried state, gathered from both ranks
    assert tuple(ck.raw["train_state"]["h"].shape) == (2, 8, 32)
    _assert_same_run(one.history, ck.history)
    assert any(e["val_loss"] is not None for e in ck.history)
    ref = one.model.state_dict()
    for name, w in ck.model.state_dict().items():
        assert torch.allclose(w, ref[name], atol=TOL), name
    # it loads and samples like any checkpoint
    assert len(generate(ck.model, ck.vocab, "ROMEO", 40, seed=0)) == 40
    assert generate(ck.model, ck.vocab, "ROMEO", 40, seed=0) == generate(
        one.model, one.vocab, "ROMEO", 40, seed=0
    )


def _child(parent: int, rank: int) -> int | None:
    """The pid of the torchrun worker of ``parent`` with RANK=rank (Linux /proc), or None."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            env = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and f"RANK={rank}".encode() in env:
            return int(entry.name)
    return None


def _start(cmd: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(), cwd=ROOT
    )


def _wait_for_save(ckpt: Path, proc: subprocess.Popen, after: float = 0.0) -> None:
    """Wait until ``ckpt`` is (re)written after time ``after`` (its mtime), while proc runs."""
    deadline = time.monotonic() + 60
    while not (ckpt.exists() and ckpt.stat().st_mtime > after):
        assert proc.poll() is None, proc.communicate()[0][-3000:]
        assert time.monotonic() < deadline, "no checkpoint after 60 s"
        time.sleep(0.05)


def _end(proc: subprocess.Popen) -> tuple[str, float]:
    """Its output and how long it took to end (killing what is left after 60 s)."""
    t0 = time.monotonic()
    try:
        log, _ = proc.communicate(timeout=60)  # no hang: ends within seconds
    finally:
        if proc.poll() is None:
            for pid in (_child(proc.pid, 0), _child(proc.pid, 1)):
                if pid:
                    os.kill(pid, signal.SIGKILL)
            proc.kill()
            proc.wait()
    return log, time.monotonic() - t0


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the workers via /proc")
def test_stop_kill_and_resume_across_world_sizes(corpus, tmp_path):
    out, ckpt = tmp_path / "run", tmp_path / "run" / LATEST
    endless = _torchrun(corpus, out, "--steps=100000")

    # 1. SIGTERM to torchrun (what a job scheduler sends): it passes it to both ranks, which stop
    # after the same step; rank 0 saves every stream's state and says how to resume
    proc = _start(endless)
    _wait_for_save(ckpt, proc)
    proc.send_signal(signal.SIGTERM)
    log, ended = _end(proc)
    # no hang: torchrun ends; before torch 2.4 its agent waits out its own 30 s shutdown grace
    assert proc.returncode != 0 and ended < 60
    lines = [ln for ln in log.splitlines() if ln.startswith("interrupted by SIGTERM")]
    assert len(lines) == 1, log[-3000:]
    stopped = load_checkpoint(ckpt)
    assert lines[0].startswith(f"interrupted by SIGTERM at step {stopped.step}; saved ")
    assert stopped.raw["world_size"] == 2
    assert tuple(stopped.raw["train_state"]["h"].shape) == (2, 8, 32)

    # 2. resume with 2 processes, then SIGKILL rank 1 after its next checkpoint: the run ends at
    # once with one line from rank 0, and the last checkpoint stays whole
    proc = _start(endless + ["--resume"])
    _wait_for_save(ckpt, proc, after=ckpt.stat().st_mtime)
    victim = _child(proc.pid, 1)
    assert victim is not None, "rank 1 not found"
    os.kill(victim, signal.SIGKILL)
    log, ended = _end(proc)
    assert proc.returncode != 0 and ended < 60  # see above
    lines = [ln for ln in log.splitlines() if ln.startswith("error: process 0 of 2")]
    assert len(lines) == 1, log[-3000:]
    assert "--resume" in lines[0] and "checkpoint.pt" in lines[0]
    # no traceback through lstmviz (torchrun prints its own failure report, which names rank 1)
    assert not re.search(r'File "[^"]*lstmviz', log), log[-3000:]
    assert "SIGKILL" in log
    killed = load_checkpoint(ckpt)
    assert killed.step > stopped.step and killed.raw["world_size"] == 2

    # 3. resume with ONE process (the 8 streams re-split); the whole run -- 2 processes, stopped,
    # 2 processes, killed, 1 process -- is the run one process would have trained uninterrupted
    end = killed.step + 6
    resumed = train(out=str(out), resume=True, steps=end, progress=False)
    assert resumed.step == end and load_checkpoint(ckpt).raw["world_size"] == 1
    ref = train(corpus=str(corpus), steps=end, progress=False, **SETTINGS)
    _assert_same_run(ref.history, resumed.history)
    for name, w in resumed.model.state_dict().items():
        assert torch.allclose(w, ref.model.state_dict()[name], atol=TOL), name


def test_a_refusal_is_one_line_from_rank_0(corpus, tmp_path):
    # 7 streams over 2 processes: refused before training, by rank 0 for both
    cmd = _torchrun(corpus, tmp_path / "run", "--steps=4", "--batch-size=7")
    res = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=120, cwd=ROOT)
    assert res.returncode != 0
    errors = [ln for ln in (res.stdout + res.stderr).splitlines() if ln.startswith("error:")]
    assert errors == [
        "error: --batch-size 7 does not split evenly over 2 processes; use a batch size "
        "divisible by 2 (each process trains batch_size / processes streams)"
    ]
    assert not (tmp_path / "run").exists()  # nothing written


def test_ranks_from_env_and_shares(monkeypatch):
    for k in distributed.ENV:
        monkeypatch.delenv(k, raising=False)
    assert distributed.from_env() is None  # no torchrun: one process, as before
    monkeypatch.setenv("RANK", "1")
    with pytest.raises(LstmvizError, match="WORLD_SIZE, LOCAL_RANK not set"):
        distributed.from_env()
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")  # where they meet (torchrun sets it too)
    monkeypatch.setenv("MASTER_PORT", "29500")
    ranks = distributed.from_env()
    assert ranks == distributed.Ranks(1, 4, 1) and not ranks.main
    assert distributed.share(8, ranks) == slice(2, 4)  # contiguous: rows 2, 3 of 8
    with pytest.raises(LstmvizError, match="--batch-size 10 does not split evenly over 4"):
        distributed.share(10, ranks)
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(LstmvizError, match="outside 0..WORLD_SIZE-1=3"):
        distributed.from_env()


# ---- a torchrun environment that is half set, or a job whose other processes never come


@pytest.fixture
def rank_env(monkeypatch):
    """RANK, WORLD_SIZE and LOCAL_RANK as torchrun sets them, MASTER_* unset (tests add them)."""
    for key, value in (("RANK", "0"), ("WORLD_SIZE", "1"), ("LOCAL_RANK", "0")):
        monkeypatch.setenv(key, value)
    for key in ("MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_USE_AGENT_STORE"):
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    "env, words",
    [
        ({}, ("MASTER_ADDR and MASTER_PORT not set", "torchrun", "unset RANK")),
        ({"MASTER_ADDR": "127.0.0.1"}, ("MASTER_PORT not set",)),
        ({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "99999"}, ("MASTER_PORT='99999'", "65535")),
        ({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "http"}, ("not a TCP port",)),
        ({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1", "LOCAL_RANK": "-1"}, ("LOCAL_RANK",)),
    ],
)
def test_a_half_set_environment_is_refused_before_joining(rank_env, env, words, tiny_text):
    for key, value in env.items():
        rank_env.setenv(key, value)
    start = time.monotonic()
    with pytest.raises(LstmvizError) as info:
        train(text=tiny_text, steps=2, hidden_size=16, num_layers=1, progress=False)
    text = str(info.value)
    assert "\n" not in text and all(w in text for w in words), text
    assert time.monotonic() - start < 5


def test_a_job_whose_peers_never_come_stops_waiting(rank_env, tiny_text, caplog):
    rank_env.setenv("WORLD_SIZE", "2")
    rank_env.setenv("MASTER_ADDR", "127.0.0.1")
    rank_env.setenv("MASTER_PORT", str(_free_port()))
    rank_env.setattr(distributed, "JOIN_TIMEOUT", distributed.timedelta(seconds=2))
    rank_env.setattr(distributed, "JOIN_NOTE_S", 0.5)
    start = time.monotonic()
    with pytest.raises(LstmvizError) as info:
        train(text=tiny_text, steps=2, hidden_size=16, num_layers=1, progress=False)
    text = str(info.value)
    assert "never joined" in text and "within 2 s" in text and "a bug" not in text, text
    assert "waiting for the other processes" in caplog.text
    assert time.monotonic() - start < 15


def _listening(port: int) -> bool:
    """Whether some process listens on TCP ``port`` (Linux's /proc/net/tcp)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        if any(r.split()[1].endswith(f":{port:04X}") and r.split()[3] == "0A" for r in rows):
            return True
    return False


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux's /proc/net/tcp")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_waiting_for_peers_stops_at_once(tmp_path, tiny_text, signum):
    port = _free_port()
    (tmp_path / "c.txt").write_text(tiny_text, encoding="utf-8")
    env = {
        **os.environ, "RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0",
        "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
    }  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "lstmviz", "train", f"--corpus={tmp_path / 'c.txt'}",
         "--hidden-size=16", "--num-layers=1", "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not _listening(port):  # rank 0 waits for the others on its store
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.1)
        sent = time.monotonic()
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert time.monotonic() - sent < 5
    lines = err.strip().splitlines()
    assert proc.returncode == 128 + signum and len(lines) == 1, err
    assert f"interrupted by {signal.Signals(signum).name}" in lines[0] and "a bug" not in err
