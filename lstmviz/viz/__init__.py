"""Viz: every figure (``plots``, ``curves``), the live figure box (``livefig``) and the explorers
(``widgets``). Imports plotly and ipywidgets, so ``import lstmviz`` does not load it until asked."""

import importlib as _importlib


def __getattr__(name: str):
    try:
        return _importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
