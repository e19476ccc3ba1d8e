"""Viz: every figure (``plots``, ``curves``, ``diagrams``), the live figure box (``livefig``),
the explorers (``widgets``) and their shared helpers (``style``). Imports plotly and ipywidgets,
so ``import lstmviz`` does not load it until asked."""

from . import curves, diagrams, livefig, plots, style, widgets

__all__ = ["curves", "diagrams", "livefig", "plots", "style", "widgets"]
