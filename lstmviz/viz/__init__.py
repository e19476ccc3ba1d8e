"""Viz: every figure (``plots``, ``curves``, ``diagrams``), the live figure box (``livefig``),
the explorers (``widgets``), the recorded explorer page (``export.export_html``) and their shared
helpers (``style``). Imports plotly and ipywidgets, so ``import lstmviz`` does not load it until
asked."""

from . import curves, diagrams, export, livefig, plots, style, widgets
from .export import export_html

__all__ = ["curves", "diagrams", "export", "export_html", "livefig", "plots", "style", "widgets"]
