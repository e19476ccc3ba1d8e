"""Issue 12's held-out battery: further variations of its ten classes that once failed.

Each test reproduces one variation that gave a traceback, an exit status 1 ("a bug in
lstmviz"), a silently wrong result or lost data, before its fix. Local servers on 127.0.0.1 only.
"""

from __future__ import annotations

import http.server
import threading

import pytest
import torch
from test_reliability import TINY_FLAGS, refused, run_lstmviz, saved  # noqa: F401 -- fixture

from lstmviz.core.checkpoint import BEST, LATEST, load_checkpoint
from lstmviz.core.corpus import load_corpus
from lstmviz.core.errors import LstmvizError


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
