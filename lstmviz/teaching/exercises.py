"""Checks for the lessons' exercises: "not answered yet", "correct" or a hint, never a silent pass.

Used by every lesson (01-07). An exercise cell leaves the answer as ``...`` (Ellipsis) or ``None``;
the next cell calls ``check``. Run All without answers prints "not answered yet" and moves on, so a
lesson runs top to bottom; nothing fills in the answer for the student. Worked solutions live in
``lessons/solutions/NN_*.py`` (one function per exercise, taking its inputs as arguments), not
in the notebook, so they are not shown under the exercise on GitHub; ``tests/test_exercises.py``
checks each solution against the same expected value the lesson uses.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

#: What a check returns and prints first.
UNANSWERED, CORRECT, WRONG = "not answered yet", "correct", "not yet"


def unanswered(answer: Any) -> bool:
    """True for the placeholders an exercise starts with: ``...`` and ``None``."""
    return answer is ... or answer is None


def _close(answer: Any, expected: Any, rtol: float, atol: float) -> bool:
    if isinstance(expected, (str, bool)) or expected is None:
        return answer == expected
    if isinstance(expected, (int, float)) and isinstance(answer, (int, float)):
        return math.isclose(float(answer), float(expected), rel_tol=rtol, abs_tol=atol)
    try:
        a = torch.as_tensor(
            np.asarray(answer.detach().cpu() if torch.is_tensor(answer) else answer, dtype=float)
        )
        e = torch.as_tensor(
            np.asarray(
                expected.detach().cpu() if torch.is_tensor(expected) else expected, dtype=float
            )
        )
    except (TypeError, ValueError):
        return answer == expected
    return a.shape == e.shape and bool(torch.allclose(a, e, rtol=rtol, atol=atol))


def check(
    name: str,
    answer: Any,
    expected: Any | Callable[[Any], bool],
    *,
    rtol: float = 1e-3,
    atol: float = 1e-6,
    hint: str = "",
) -> str:
    """Print and return UNANSWERED, CORRECT or WRONG for exercise ``name``.

    ``expected`` is a value (numbers, arrays and tensors compared with rtol/atol, anything else
    with ==) or a predicate ``expected(answer) -> bool``. ``hint`` is printed with a wrong answer.
    """
    if unanswered(answer):
        print(
            f"Exercise {name}: {UNANSWERED}. Replace the ... with your answer and run the cell "
            f"again (a worked solution is in lessons/solutions/)."
        )
        return UNANSWERED
    try:
        ok = bool(expected(answer)) if callable(expected) else _close(answer, expected, rtol, atol)
    except Exception as e:  # a student's answer of the wrong kind is feedback, not a crash
        ok, hint = False, f"{hint} (checking it raised {type(e).__name__}: {e})".strip()
    status = CORRECT if ok else WRONG
    print(f"Exercise {name}: {status}." + ("" if ok or not hint else f" Hint: {hint}"))
    return status
