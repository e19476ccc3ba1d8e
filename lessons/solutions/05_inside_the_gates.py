"""Worked solutions for lesson 05 (Inside the gates). Try each exercise in the lesson first."""

from __future__ import annotations

import torch

from lstmviz.gates import analysis, features


@torch.no_grad()
def exercise_1(lstm: torch.nn.LSTM, trace, t: int, layer: int = 1) -> dict[str, torch.Tensor]:
    """One step of a fused nn.LSTM's ``layer`` (>= 1) by hand: the six quantities at step t, (H,).

    A layer above the first reads the activation a⟨t⟩ of the layer below at the *same* step; its
    previous state is its own a⟨t−1⟩, c⟨t−1⟩. PyTorch stacks the rows of each weight i, f, g, o.
    """
    x = trace["h", layer - 1][0, t]  # layer 1's input x⟨t⟩: layer 0's a⟨t⟩, not the character
    a_prev, c_prev = trace["h", layer][0, t - 1], trace["c", layer][0, t - 1]
    w_ih, w_hh = getattr(lstm, f"weight_ih_l{layer}"), getattr(lstm, f"weight_hh_l{layer}")
    b_ih, b_hh = getattr(lstm, f"bias_ih_l{layer}"), getattr(lstm, f"bias_hh_l{layer}")
    z = w_ih @ x + b_ih + w_hh @ a_prev + b_hh
    zi, zf, zg, zo = z.chunk(4)
    gamma_u, gamma_f, c_hat, gamma_o = zi.sigmoid(), zf.sigmoid(), zg.tanh(), zo.sigmoid()
    c = gamma_u * c_hat + gamma_f * c_prev
    a = gamma_o * torch.tanh(c)
    return {"i": gamma_u, "f": gamma_f, "g": c_hat, "o": gamma_o, "c": c, "h": a}


def exercise_2(trace_a, text_a: str, trace_b, text_b: str) -> tuple[int, int, float]:
    """Find the 'end of line' cell on passage A, then its r on held-out passage B."""
    layer, unit, _ = features.best_cell(trace_a, text_a, "end of line")
    acts_b = analysis.activations(trace_b, "c", layer)[:, [unit]]
    _, r = features.correlations(acts_b, {"end of line": features.is_newline(text_b)})
    return layer, unit, float(r[0, 0])
