"""Viz: every figure (``plots``, ``curves``), the live figure box (``livefig``) and the explorers
(``widgets``). Imports plotly and ipywidgets, so ``import lstmviz`` does not load it until asked."""

from . import curves, livefig, plots, widgets

__all__ = ["curves", "livefig", "plots", "widgets"]
