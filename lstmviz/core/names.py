"""The gate vocabulary, defined once: PyTorch's letters, Ng's symbols, long names, meanings, ranges.

Every module that names a gate imports it from here: the hook points of ``core.cell``, the
``Trace`` of ``gates``, the clamps of ``gates.interventions``, every axis and title in ``viz``
and the lessons' sandbox. A new gate name or alias belongs here and nowhere else.

    PyTorch  Ng      long name    meaning
    i        Γ_u     update       how much of the candidate ĉ is written
    f        Γ_f     forget       how much of c⟨t−1⟩ is kept
    g        ĉ       candidate    the new content offered
    o        Γ_o     output       how much of the cell is shown
    c        c       cell         the memory cell
    h        a       activation   the layer's output (PyTorch's hidden state)
"""

from __future__ import annotations

import math

from .errors import LstmvizError

#: The recorded activations, in PyTorch's gate order (i f g o packed in the weights), then c and h.
NAMES = ("i", "f", "g", "o", "c", "h")
#: The sigmoid gates, each a fraction in [0, 1].
GATES = ("i", "f", "o")

#: Ng's symbol for each name (Γ_u is written with a real subscript in figures).
SYMBOLS = {"i": "Γ_u", "f": "Γ_f", "g": "ĉ", "o": "Γ_o", "c": "c", "h": "a"}
#: The long name of each, as the lessons say it.
LONG = {
    "i": "update",
    "f": "forget",
    "g": "candidate",
    "o": "output",
    "c": "cell",
    "h": "activation",
}
#: Ng's notation first, PyTorch's letter in brackets: what every axis, title and hover says.
LABELS = {
    "i": "update gate Γ_u (i)",
    "f": "forget gate Γ_f (f)",
    "g": "candidate ĉ (g)",
    "o": "output gate Γ_o (o)",
    "c": "memory cell c",
    "h": "activation a (h)",
}
#: What each name computes, in Ng's notation (``Trace.names``: TransformerLens-style hook points).
MEANINGS = {
    "i": "update gate Γ_u = σ(W_ii x⟨t⟩ + W_hi a⟨t−1⟩ + b_i), in [0, 1]: how much of ĉ is written "
    "(PyTorch's input gate)",
    "f": "forget gate Γ_f = σ(W_if x⟨t⟩ + W_hf a⟨t−1⟩ + b_f), in [0, 1]: how much of c⟨t−1⟩ is "
    "kept",
    "g": "candidate ĉ⟨t⟩ = tanh(W_ig x⟨t⟩ + W_hg a⟨t−1⟩ + b_g), in [−1, 1]: the new content "
    "offered",
    "o": "output gate Γ_o = σ(W_io x⟨t⟩ + W_ho a⟨t−1⟩ + b_o), in [0, 1]: how much of the cell is "
    "shown",
    "c": "memory cell c⟨t⟩ = Γ_f ∗ c⟨t−1⟩ + Γ_u ∗ ĉ⟨t⟩, unbounded",
    "h": "activation a⟨t⟩ = Γ_o ∗ tanh(c⟨t⟩), in [−1, 1]: the layer's output (PyTorch's hidden "
    "state)",
}
#: Long names accepted wherever a name is: the ``LONG`` names, and PyTorch's "hidden" for h.
ALIASES = {**{long: name for name, long in LONG.items()}, "hidden": "h"}
#: The values each name can take: a gate is a fraction, ĉ and a a tanh, the cell is unbounded.
RANGES = {
    "i": (0.0, 1.0),
    "f": (0.0, 1.0),
    "g": (-1.0, 1.0),
    "o": (0.0, 1.0),
    "c": (-math.inf, math.inf),
    "h": (-1.0, 1.0),
}


def canonical(name: str) -> str:
    """``'forget'`` -> ``'f'``: one of ``i f g o c h`` or an alias, else LstmvizError."""
    key = ALIASES.get(name, name) if isinstance(name, str) else name
    if key not in NAMES:
        raise LstmvizError(
            f"unknown name {name!r}; use one of i f g o c h or "
            + ", ".join(f"{a} (={n})" for a, n in ALIASES.items())
        )
    return key
