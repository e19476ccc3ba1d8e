"""A training run's log read as the seed's blog post printed its own (lesson 04).

``lstmviz train --out OUT`` writes ``OUT/log.json`` (``write_log`` in ``lstmviz.core.training``):
the run's config, ``steps_per_epoch`` and its ``history``, a list of entries of kind "train",
"val" and "sample". The seed post printed its run as ``Epoch: 0, Batch: 0, Train Loss: 4.375697,
Validation Loss: 4.338589``; ``seed_lines`` writes a log in that form, so that the two read side
by side, and ``samples`` returns the text the run sampled at each epoch's end.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from ..core.errors import LstmvizError
from ..core.run import LOG_FORMAT

#: The seed post's loss log, quoted as it printed it (its dots included). Its run read an excerpt
#: of 'The Outcasts' with its own vocabulary, so its numbers do not compare digit for digit with a
#: run on the plays.
SEED_LOG = """\
Epoch: 0, Batch: 0, Train Loss: 4.375697, Validation Loss: 4.338589
Epoch: 0, Batch: 5, Train Loss: 3.400858, Validation Loss: 3.402019
Epoch: 1, Batch: 0, Train Loss: 3.239244, Validation Loss: 3.299909
Epoch: 1, Batch: 5, Train Loss: 3.206378, Validation Loss: 3.262871
.
.
.
Epoch: 49, Batch: 0, Train Loss: 1.680400, Validation Loss: 2.052764
Epoch: 49, Batch: 5, Train Loss: 1.701830, Validation Loss: 2.061397"""


@dataclass(frozen=True)
class Validation:
    """One validation of a run: after ``step`` optimizer steps (1-based), counted as the seed does.

    ``epoch`` and ``batch`` are 0-based, as the seed printed them: the batch just trained is batch
    ``batch`` of epoch ``epoch``; ``epoch_end`` says it was that epoch's last batch.
    ``train_loss`` is the mean training loss (nats/char) of the last logged steps before it (None
    if the run logged none yet), ``val_loss`` the validation loss (nats/char).
    """

    step: int
    epoch: int
    batch: int
    epoch_end: bool
    train_loss: float | None
    val_loss: float


def load(path: str | os.PathLike) -> dict[str, Any]:
    """A run's ``log.json`` as a dict, checked to be one (format ``lstmviz-log-1``)."""
    try:
        with open(path, encoding="utf-8") as f:
            log = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise LstmvizError(f"cannot read the run log {os.fspath(path)!r}: {e}") from None
    if not isinstance(log, dict) or log.get("format") != LOG_FORMAT:
        raise LstmvizError(
            f"{os.fspath(path)!r} is not a run log written by `lstmviz train` (format "
            f"{LOG_FORMAT!r}); it is OUT/log.json of a run folder"
        )
    return log


def validations(log: dict[str, Any]) -> list[Validation]:
    """Every validation of the run, in order, with its epoch and batch counted from 0."""
    per = int(log["steps_per_epoch"])
    return [
        Validation(
            step=e["step"],
            epoch=(e["step"] - 1) // per,
            batch=(e["step"] - 1) % per,
            epoch_end=e["step"] % per == 0,
            train_loss=e.get("train_loss"),
            val_loss=e["val_loss"],
        )
        for e in log["history"]
        if e["kind"] == "val"
    ]


def seed_line(v: Validation) -> str:
    """``'Epoch: 0, Batch: 695, Train Loss: 1.630149, Validation Loss: 1.614176'``."""
    train = "-" if v.train_loss is None else f"{v.train_loss:.6f}"
    return (
        f"Epoch: {v.epoch}, Batch: {v.batch}, Train Loss: {train}, "
        f"Validation Loss: {v.val_loss:.6f}"
    )


def seed_lines(log: dict[str, Any], epoch_ends: bool = False) -> list[str]:
    """The run's validations in the seed's form; ``epoch_ends``: only at epoch ends and the last."""
    vals = validations(log)
    keep = [v for i, v in enumerate(vals) if not epoch_ends or v.epoch_end or i == len(vals) - 1]
    return [seed_line(v) for v in keep]


def samples(log: dict[str, Any]) -> dict[int, str]:
    """``{step: text}`` of every sample the run recorded (the text after its prime)."""
    return {e["step"]: e["text"] for e in log["history"] if e["kind"] == "sample"}


def epoch_train_means(log: dict[str, Any]) -> list[float]:
    """The mean logged training loss (nats/char) of each whole epoch, in order: (epochs,).

    Each "train" entry is the mean of the steps since the one before; an entry counts for the
    epoch its step ends in. Only epochs the run finished are included.
    """
    per = int(log["steps_per_epoch"])
    sums: dict[int, list[float]] = {}
    for e in log["history"]:
        if e["kind"] == "train" and e.get("train_loss") is not None:
            sums.setdefault((e["step"] - 1) // per, []).append(e["train_loss"])
    last = max((e["step"] for e in log["history"]), default=0) // per  # epochs finished
    return [sum(sums[k]) / len(sums[k]) for k in range(last) if k in sums]
