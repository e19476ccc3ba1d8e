"""Numbers read from a recorded trace: one sequence's values, unit rankings, saturation, memory.

Data access and analysis without any figure: ``activations`` turns a ``Trace`` (or an array) into
one (T, H) NumPy array, one row per character and one column per unit; the rest compute from such
arrays. ``lstmviz.viz`` draws them; the lessons print them.

* ``activations(trace, name, layer)`` -- (T, H) values of one of ``i f g o c h``.
* ``top_units(values, k)``            -- the most variable (or most active) units.
* ``saturation_fractions(values)``    -- per unit, the fraction of steps a gate is < 0.1 / > 0.9.
* ``half_life(f)``                   -- n½ = ln ½ / mean ln Γ_f: steps until a memory is halved.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..core.errors import LstmvizError
from ..core.names import canonical


def is_trace(source: Any) -> bool:
    """True for a recorded ``Trace`` (or anything indexed like one), False for a plain array."""
    return hasattr(source, "names") and hasattr(source, "num_layers")


def activations(source: Any, name: str = "c", layer: int | None = -1, batch: int = 0) -> np.ndarray:
    """One sequence's values as a (T, H) NumPy array, from a Trace or a (T, H) array / tensor."""
    if is_trace(source):
        value = source[canonical(name), -1 if layer is None else layer]
        if hasattr(value, "detach"):
            value = value.detach().float().cpu().numpy()
        value = np.asarray(value)
        if value.ndim == 3:  # (B, T, H) batch-first, else (T, B, H)
            value = value[batch] if getattr(source, "batch_first", True) else value[:, batch]
    else:
        value = (
            source.detach().float().cpu().numpy()
            if hasattr(source, "detach")
            else np.asarray(source)
        )
        if value.ndim == 3 and value.shape[0] == 1:
            value = value[0]
    if value.ndim == 1:
        value = value[:, None]
    if value.ndim != 2:
        raise LstmvizError(
            f"expected activations shaped (T, H) -- one row per character, one column per unit -- "
            f"or a Trace; got shape {tuple(value.shape)}"
        )
    return value


def top_units(values: np.ndarray, k: int, by: str = "variance") -> np.ndarray:
    """The ``k`` units of largest variance (``by="activity"``: mean |value|): (T, H) -> (k,)."""
    if by == "variance":
        score = values.std(axis=0)
    elif by == "activity":
        score = np.abs(values).mean(axis=0)
    else:
        raise LstmvizError(f"rank units by 'variance' or 'activity', not {by!r}")
    return np.argsort(-score, kind="stable")[: max(1, int(k))]


def saturation_fractions(
    values: np.ndarray, low: float = 0.1, high: float = 0.9
) -> tuple[np.ndarray, np.ndarray]:
    """Per unit, the fraction of steps below ``low`` and above ``high``: (T, H) -> ((H,), (H,))."""
    values = np.asarray(values)
    return (values < low).mean(axis=0), (values > high).mean(axis=0)


def half_life(f: np.ndarray) -> float:
    """The memory half-life of a forget gate Γ_f (T,), in steps: n½ = ln ½ / mean_t ln Γ_f⟨t⟩.

    The one half-life the lessons use: a value written into c and then kept by a gate held at the
    geometric mean of ``f`` shrinks to half its size after n½ steps (Γ_f^n½ = ½). For a constant
    gate it is exact: ``half_life([0.95] * T)`` = ln ½ / ln 0.95 ≈ 13.5. Infinite when Γ_f ≡ 1.
    """
    mean_log = float(np.mean(np.log(np.clip(np.asarray(f, dtype=np.float64), 1e-300, 1.0))))
    return math.inf if mean_log >= 0 else math.log(0.5) / mean_log
