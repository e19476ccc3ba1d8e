"""A lesson's results, stated and checked: one printed line per claim, the evidence beside it.

Used by every lesson (01-07). Each sentence of a lesson that states a result has a ``claim`` in the
code cell above it, with the numbers it rests on::

    claim("beyond lag 20 the LSTM keeps {lstm:.1f} ± {se:.1f} % of the influence, the RNN "
          "{rnn:.1f} %", lstm - rnn > 3 * se, lstm=lstm, rnn=rnn, se=se, check="gap > 3 SE")

prints ``✓ beyond lag 20 the LSTM keeps 14.7 ± 0.8 % of the influence, the RNN 2.6 %  (gap > 3
SE)``
and, where it does not hold, stops the lesson with ``ClaimFailed`` naming the sentence. The test
is written with a margin that other CPUs, thread counts and torch versions do not break (they round
differently): the printed digits may change from machine to machine, the claim may not.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

#: Printed before a claim that holds.
HOLDS = "✓"


class ClaimFailed(AssertionError):
    """A lesson's claim does not hold on this machine; the message names the sentence."""


def claim(statement: str, holds: Any, *, check: str = "", **values: Any) -> None:
    """Print ``✓ statement`` (``{name}`` fields filled from ``values``) if ``holds``, else raise.

    ``holds``: a bool (or a one-element numpy/torch boolean): the claim's test. ``check``: the test
    in words, printed after the sentence in brackets (e.g. "gap > 3 SE"). Returns None, so a claim
    ending a cell adds no output of its own. Raises ClaimFailed (an AssertionError) naming the
    sentence and its numbers when it fails.
    """
    text = statement.format(**values)
    ok = _truth(holds, text)
    line = f"{HOLDS} {text}" + (f"  ({check})" if check else "")
    if not ok:
        raise ClaimFailed(
            f"this lesson's claim does not hold here: {text!r}"
            + (f" (test: {check})" if check else "")
            + ". The lesson's text is wrong for this run; please report it with the numbers above."
        )
    print(line)


def _truth(holds: Any, text: str) -> bool:
    """``holds`` as a bool; anything but a boolean (a number, a list) is a mistake in the lesson."""
    if isinstance(holds, bool | np.bool_):
        return bool(holds)
    if isinstance(holds, torch.Tensor) and holds.dtype == torch.bool and holds.numel() == 1:
        return bool(holds.item())
    if isinstance(holds, np.ndarray) and holds.dtype == np.bool_ and holds.size == 1:
        return bool(holds.item())
    raise TypeError(
        f"claim {text!r}: its test must be a single True/False, got {type(holds).__name__} "
        f"{holds!r:.60}; write the comparison out (e.g. all(...), x < y)"
    )
