"""Teaching: what only the lessons use. Each module's docstring names the lessons that use it.

``scratch`` (from-scratch RNN and LSTM), ``gradients`` (gradient vs lag), ``tasks`` (the memory
task), ``sandbox`` (the gate sandbox), ``compare`` (the lesson-06 experiments), ``notebook``
(``setup()`` at the top of every lesson).
"""

import importlib as _importlib


def __getattr__(name: str):
    try:
        return _importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
