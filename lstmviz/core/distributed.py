"""Data-parallel training over several processes started by torchrun (one per GPU, or CPU shares).

    torchrun --nproc_per_node 4 -m lstmviz train --preset full --out runs/full

torchrun starts the processes ("ranks") and gives each RANK, WORLD_SIZE and LOCAL_RANK in its
environment; ``train`` sees them (``from_env``) and trains with
``torch.nn.parallel.DistributedDataParallel`` (NCCL between GPUs, gloo between CPUs). The global
``batch_size`` text streams are split into contiguous shares, rank r owning rows
``[r*B/N, (r+1)*B/N)``; DDP averages the gradients, so N processes take the same steps as one
process with the whole batch. Each rank carries the (h, c) of its own streams; rank 0 alone
validates, logs and writes checkpoints, holding the state of all streams gathered from the ranks,
so a checkpoint resumes with any number of processes (the streams are split again).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import Tensor, nn

from .errors import LstmvizError, first_line
from .log import log
from .signals import TrainingInterrupted

T = TypeVar("T")

# ---- settings -------------------------------------------------------------------------------
#: A collective waiting longer than this fails instead of hanging. Rank 0 validates alone while the
#: others wait at the next step, so it must exceed one validation (minutes on a CPU, seconds on a
#: GPU). A dead process is normally noticed much sooner: torchrun stops the others within 0.1 s.
TIMEOUT = timedelta(minutes=10)
#: The pause between the last barrier and leaving the group (see ``group``): gloo's workers need
#: microseconds to free finished work; this leaves room on a loaded machine.
SETTLE_S = 0.25
#: The variables torchrun sets in every process it starts ...
ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
#: ... and where the processes meet (the rendezvous: rank 0's address and a TCP port).
MEET = ("MASTER_ADDR", "MASTER_PORT")
#: How long a process waits for the others of its job to join. torchrun starts them together
#: (on several machines, after its own rendezvous), so they meet within seconds; a process
#: started by hand with WORLD_SIZE=2 and no peer must not wait the 10 minutes of ``TIMEOUT``.
JOIN_TIMEOUT = timedelta(minutes=3)
#: After this many seconds of waiting to join, say what the process waits for.
JOIN_NOTE_S = 10.0


@dataclass(frozen=True)
class Ranks:
    """This process's place in a torchrun job: rank 0..world_size-1, and its rank on its machine."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """True on the process that validates, logs and writes checkpoints (rank 0)."""
        return self.rank == 0


class Echo(LstmvizError):
    """Rank 0's refusal raised again on another rank; rank 0 reports it, so the CLI stays quiet."""


def from_env() -> Ranks | None:
    """The torchrun job this process belongs to (from RANK, WORLD_SIZE, LOCAL_RANK), else None."""
    found = {k: os.environ.get(k) for k in ENV}
    if not any(found.values()):
        return None
    missing = [k for k, v in found.items() if v is None]
    given = {k: v for k, v in found.items() if v is not None}
    if missing:
        raise LstmvizError(
            f"{', '.join(missing)} not set while {', '.join(k for k in ENV if k not in missing)} "
            "is: start distributed training with torchrun, or unset these variables"
        )
    try:
        ranks = Ranks(*(int(given[k]) for k in ENV))
    except ValueError:
        raise LstmvizError(
            f"RANK, WORLD_SIZE and LOCAL_RANK must be whole numbers, got {found}"
        ) from None
    if not 0 <= ranks.rank < ranks.world_size:
        raise LstmvizError(f"RANK={ranks.rank} is outside 0..WORLD_SIZE-1={ranks.world_size - 1}")
    if ranks.local_rank < 0:
        raise LstmvizError(f"LOCAL_RANK={ranks.local_rank} is negative; it counts from 0")
    meeting_point()  # refused now, not as a traceback from deep inside torch.distributed
    return ranks


def meeting_point() -> tuple[str, int]:
    """(MASTER_ADDR, MASTER_PORT) where the processes of a torchrun job meet, checked."""
    missing = [k for k in MEET if not os.environ.get(k)]
    if missing:
        raise LstmvizError(
            f"{' and '.join(missing)} not set while RANK, WORLD_SIZE and LOCAL_RANK are: start "
            "distributed training with torchrun (which sets them all), or unset RANK, WORLD_SIZE "
            "and LOCAL_RANK to train in one process"
        )
    text = os.environ["MASTER_PORT"]
    port = int(text) if text.strip().isdigit() else -1
    if not 1 <= port <= 65535:
        raise LstmvizError(
            f"MASTER_PORT={text!r} is not a TCP port (a whole number from 1 to 65535); let "
            "torchrun choose it, or set a free port"
        )
    return os.environ["MASTER_ADDR"], port


def local_device(ranks: Ranks, device: torch.device) -> torch.device:
    """``device`` for this rank: cuda becomes cuda:LOCAL_RANK (one GPU per process)."""
    if device.type != "cuda":
        return device
    count = torch.cuda.device_count()
    if ranks.local_rank >= count:
        raise LstmvizError(
            f"torchrun started process {ranks.local_rank} on this machine but it has {count} "
            f"GPU(s); use --nproc_per_node {count} (one process per GPU)"
        )
    device = torch.device("cuda", ranks.local_rank)
    torch.cuda.set_device(device)
    return device


@contextlib.contextmanager
def group(ranks: Ranks, device: torch.device) -> Iterator[None]:
    """Join the process group (NCCL on GPUs, gloo otherwise) for the block; always leave it.

    A lost peer becomes an LstmvizError with one clear line, instead of a traceback per rank.
    SIGTERM is ignored outside ``train``'s own handler (which stops after a whole step): torchrun
    sends it to the survivors when a rank dies, often while this rank is already on its way out
    with that one line to print, which the default action (die at once) would swallow.
    """
    backend = "nccl" if device.type == "cuda" else "gloo"
    store = _join(ranks)
    previous = signal.getsignal(signal.SIGTERM)
    # device_id binds NCCL to this rank's GPU at once (no guessing which GPU a barrier uses)
    gpu = device if device.type == "cuda" else None
    try:
        dist.init_process_group(
            backend,
            store=store,
            rank=ranks.rank,
            world_size=ranks.world_size,
            timeout=TIMEOUT,
            device_id=gpu,
        )
    except (RuntimeError, ValueError) as e:
        raise LstmvizError(
            f"process {ranks.rank} of {ranks.world_size} could not start the {backend} process "
            f"group ({first_line(e)}); start the job again with torchrun"
        ) from None
    peers_gone = False
    try:
        try:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            yield
            dist.barrier()  # every rank done before any leaves
        except RuntimeError as e:
            if not lost(e):
                raise
            # the training loop reports failures with its step; this is one before or after it
            raise PeerLost(
                f"{failure(e, ranks)}, outside the training steps. See the other processes' "
                "messages above; start again (with --resume if the run folder has a checkpoint)"
            ) from None
    except PeerLost:
        peers_gone = True
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
        # With a peer gone there is nothing to leave in step, and gloo's teardown can then hang
        # (torch 2.3, see below) before the one-line report is printed: leave it to the exit.
        if dist.is_initialized() and not peers_gone:
            # gloo's worker threads free each finished collective after the caller has seen it
            # finish, and freeing its tensors needs the GIL; destroy_process_group joins them
            # while holding the GIL, so a worker still freeing deadlocks both (seen with torch
            # 2.3 in about 1 run in 15: stuck forever in ~ProcessGroupGloo, its worker waiting
            # for the GIL in ~AsyncAllgatherWork). Letting go of the GIL a moment first lets
            # the workers finish.
            time.sleep(SETTLE_S)
            dist.destroy_process_group()


def _join(ranks: Ranks) -> dist.Store:
    """Meet the other processes at MASTER_ADDR:MASTER_PORT (the env:// rendezvous); the store.

    Waits at most ``JOIN_TIMEOUT``, saying what it waits for after ``JOIN_NOTE_S``. The wait
    runs in a worker thread: torch's C++ wait never returns to Python, so Ctrl-C or SIGTERM
    would go unheard until it ended; here either stops the process at once, with one line.
    """
    addr, port = meeting_point()
    box: dict = {}

    def meet() -> None:
        try:
            box["store"] = next(
                dist.rendezvous("env://", ranks.rank, ranks.world_size, timeout=JOIN_TIMEOUT)
            )[0]
        except BaseException as e:  # noqa: BLE001 -- handed to the main thread
            box["error"] = e

    def stop(signum: int, frame: object) -> None:
        raise TrainingInterrupted(signum, None, None)

    main = threading.current_thread() is threading.main_thread()
    old = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)} if main else {}
    try:
        worker = threading.Thread(target=meet, name="lstmviz-rendezvous", daemon=True)
        worker.start()
        began, noted = time.monotonic(), False
        while worker.is_alive():
            worker.join(0.2)
            if not noted and time.monotonic() - began > JOIN_NOTE_S:
                noted = True
                log.warning(
                    "process %d of %d: waiting for the other processes to join at %s:%d "
                    "(at most %d s; Ctrl-C stops)",
                    ranks.rank,
                    ranks.world_size,
                    addr,
                    port,
                    JOIN_TIMEOUT.total_seconds(),
                )
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
    if "error" in box:
        e = box["error"]
        if isinstance(e, dist.DistError | RuntimeError) and "timed out" in str(e).lower():
            raise LstmvizError(
                f"process {ranks.rank} of {ranks.world_size}: the other processes never joined "
                f"at {addr}:{port} within {JOIN_TIMEOUT.total_seconds():.0f} s "
                f"({first_line(e)}). Start all {ranks.world_size} with torchrun "
                "(--nproc_per_node), or unset RANK, WORLD_SIZE and LOCAL_RANK to train in one "
                "process"
            ) from None
        if isinstance(e, RuntimeError | ValueError | OSError):
            raise LstmvizError(
                f"process {ranks.rank} of {ranks.world_size} could not meet the others at "
                f"{addr}:{port} ({first_line(e)}); check MASTER_ADDR and MASTER_PORT, or let "
                "torchrun set them"
            ) from None
        raise e
    store = box["store"]
    store.set_timeout(TIMEOUT)  # as init_process_group does: later waits may be long (validation)
    return store


def on_main(ranks: Ranks, fn: Callable[[], T]) -> T:
    """``fn()`` run on rank 0 only (reading files), its result sent to every rank.

    An LstmvizError on rank 0 is raised on every rank (as ``Echo`` on the others), so no rank
    waits for the others forever.
    """
    box: list = [None]
    if ranks.main:
        try:
            box[0] = ("ok", fn())
        except LstmvizError as e:
            box[0] = ("error", str(e))
    dist.broadcast_object_list(box, src=0)
    kind, value = box[0]
    if kind == "error":
        raise (LstmvizError if ranks.main else Echo)(value)
    return value


def share(batch_size: int, ranks: Ranks) -> slice:
    """The rows of the (batch_size, n) streams this rank trains on: a contiguous, equal share."""
    if batch_size % ranks.world_size:
        raise LstmvizError(
            f"--batch-size {batch_size} does not split evenly over {ranks.world_size} processes; "
            f"use a batch size divisible by {ranks.world_size} (each process trains "
            "batch_size / processes streams)"
        )
    per = batch_size // ranks.world_size
    return slice(ranks.rank * per, (ranks.rank + 1) * per)


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` in DistributedDataParallel (which averages gradients over the ranks)."""
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def agree(
    loss: float, signum: int | None, ranks: Ranks, device: torch.device
) -> tuple[float, int | None]:
    """The mean of ``loss`` over all ranks, and the signal any rank received (or None).

    One all-reduce per step: every rank sees the same loss (so all stop alike on a NaN) and the
    same signal (so all stop after the same step and rank 0 can save their gathered state).
    """
    got = 0.0 if signum is None else 1.0
    t = torch.tensor([loss, got, float(signum or 0)], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    total, signalled, signums = t.tolist()
    agreed = round(signums / signalled) if signalled else None
    return total / ranks.world_size, agreed


def gather_state(state: tuple[Tensor, Tensor], ranks: Ranks) -> tuple[Tensor, Tensor]:
    """Each rank's carried (h, c), (L, B/N, H) -> all streams' (L, B, H), in rank order."""
    out = []
    for t in state:
        parts = [torch.empty_like(t) for _ in range(ranks.world_size)]
        dist.all_gather(parts, t.contiguous())
        out.append(torch.cat(parts, dim=1))
    return out[0], out[1]


class PeerLost(LstmvizError):
    """This rank lost contact with the others (a dead peer, a timeout): one line, exit 2."""


def lost(error: BaseException) -> bool:
    """True if ``error`` says the other ranks are gone (a dead peer, a timeout)."""
    text = str(error).lower()
    return isinstance(error, dist.DistError) or any(w in text for w in _LOST_WORDS)


#: Words in the RuntimeError of a collective whose peer died (gloo, NCCL) or timed out.
_LOST_WORDS = ("gloo", "nccl", "connection reset", "connection closed", "timed out", "timeout")


def failure(error: BaseException, ranks: Ranks) -> str:
    """Why this rank's run ended, in one line: it lost contact with the others (and how)."""
    # gloo: "[.../pair.cc:537] Read error [127.0.0.1]:52369: Connection reset by peer. This..."
    first = re.sub(r"^\[[^\]]*\]\s*", "", first_line(error, width=None)).split(". ")[0]
    return (
        f"process {ranks.rank} of {ranks.world_size} lost contact with the other processes "
        f"({first[:160]})"
    )
