"""The lessons' claim helper and their progress line: what a reader sees, and a failure's words."""

from __future__ import annotations

import nbformat
import numpy as np
import pytest
import torch
from nbclient import NotebookClient

from lstmviz.teaching.claims import ClaimFailed, claim
from lstmviz.teaching.notebook import progress


def test_a_claim_that_holds_prints_one_line(capsys):
    shown = claim(
        "{a:.1f} ± {se:.1f} % beats {b:.1f} %",
        14.7 - 2.6 > 3 * 0.8,
        a=14.7,
        b=2.6,
        se=0.8,
        check="gap > 3 SE",
    )
    assert capsys.readouterr().out == "✓ 14.7 ± 0.8 % beats 2.6 %  (gap > 3 SE)\n"
    assert shown is None  # a claim that ends a cell adds no Out[] of its own
    claim("numpy and torch booleans count", np.float64(2) > 1)
    claim("a one-element tensor too", torch.tensor([3.0]) > 1)


def test_a_claim_that_fails_names_its_sentence(capsys):
    with pytest.raises(ClaimFailed, match=r"does not hold here: 'the RNN wins \(0\.4 %\)'.*gap"):
        claim("the RNN wins ({x:.1f} %)", 0.4 > 1, x=0.4, check="gap > 3 SE")
    assert capsys.readouterr().out == ""  # no tick for a claim that failed
    assert issubclass(ClaimFailed, AssertionError)  # nbval and pytest report it as a failure


@pytest.mark.parametrize("bad", [0.3, [True], np.array([True, False]), torch.tensor([1.0])])
def test_a_claim_needs_a_single_truth_value(bad):
    with pytest.raises(TypeError, match="single True/False"):
        claim("mistyped", bad)


def test_progress_outside_ipython_is_the_iterable():
    assert list(progress(range(3), "steps")) == [0, 1, 2]


def test_progress_leaves_nothing_in_the_saved_notebook():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import time\nfrom lstmviz.teaching.notebook import progress\n"
            "total = 0\nfor i in progress(range(4), 'seeds'):\n    time.sleep(0.3)\n"
            "    total += i\nprint(total)"
        )
    ]
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    shown = [o for o in outputs if o.output_type == "display_data"]
    assert shown and all(o.data == {"text/plain": ""} for o in shown)  # emptied at the end
    assert [o.text for o in outputs if o.output_type == "stream"] == ["6\n"]
