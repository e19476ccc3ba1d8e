"""Range checks for settings and arguments: one place that says what is allowed, in the message.

Each check raises LstmvizError naming the setting, the allowed range and the value it got. They
refuse ``bool`` where a number is wanted (``True`` is an int in Python, never a sensible size).
"""

from __future__ import annotations

import math
import operator
from numbers import Integral, Real

from .errors import LstmvizError

#: Seeds accepted everywhere (torch.manual_seed takes 64 bits; a training run also seeds
#: ``seed * 1_000_003 + step``, which must stay inside that range too).
SEED_MAX = 2**32 - 1
#: Most optimizer steps of a run (and in a checkpoint): exact as a float (the schedule's progress)
#: and far inside 64 bits with ``seed * 1_000_003`` added (a step of 2**64 overflowed).
STEP_MAX = 2**53


def whole(name: str, value: object, lo: int, hi: int | None = None, *, index: bool = False) -> int:
    """``value`` as an int if it is a whole number in [lo, hi], else LstmvizError.

    Whole numbers are ints and NumPy integers; with ``index`` also what ``operator.index``
    takes (0-d integer tensors: an index into a text or a trace). Never a bool of any kind
    (``True`` would pass as 1). Settings keep ``index`` off: they are saved as plain values.
    """
    ok = not _is_bool(value) and (index or isinstance(value, Integral))
    try:
        number = operator.index(value) if ok else None  # type: ignore[arg-type]
    except TypeError:
        number = None
    if number is None:
        raise LstmvizError(f"{name} must be a whole number {_range(lo, hi)}, got {value!r}")
    if number < lo or (hi is not None and number > hi):
        raise LstmvizError(f"{name} must be {_range(lo, hi)}, got {value!r}")
    return int(number)


def _is_bool(value: object) -> bool:
    """True for Python, NumPy and torch booleans (all of which ``operator.index`` may accept)."""
    dtype = getattr(value, "dtype", None)
    return (
        isinstance(value, bool)
        or type(value).__name__ in ("bool_", "bool")
        or (dtype is not None and str(dtype) in ("bool", "torch.bool"))
    )


def real(
    name: str,
    value: object,
    lo: float,
    hi: float = math.inf,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
    note: str = "",
) -> float:
    """``value`` as a float if lo <(=) value <(=) hi (NaN never passes), else LstmvizError."""
    allowed = (
        f"{'>' if lo_open else '>='} {lo:g}"
        if hi == math.inf and not hi_open
        else f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    )
    if hi == math.inf and hi_open:
        allowed = f"finite and {'>' if lo_open else '>='} {lo:g}"
    if isinstance(value, Real) and not isinstance(value, bool):
        v = float(value)
        if (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi):
            return v
    raise LstmvizError(f"{name} must be a number {allowed}{note}, got {value!r}")


def seed(name: str, value: object, *, optional: bool = False) -> int | None:
    """A seed: a whole number in [0, SEED_MAX] (or None when ``optional``)."""
    if value is None and optional:
        return None
    return whole(name, value, 0, SEED_MAX)


def _range(lo: int, hi: int | None) -> str:
    return f">= {lo}" if hi is None else f"from {lo} to {hi}"
