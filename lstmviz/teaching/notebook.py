"""Lesson set-up: seeds, and plotly renderers that are interactive live and static on GitHub."""

from __future__ import annotations

import random
import warnings

import numpy as np
import plotly.io as pio
import torch

from ..viz.style import static_images_available


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and torch so a lesson prints the same numbers on every run."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def setup(seed: int = 0) -> str:
    """Seed everything and choose plotly's renderer; returns the renderer string.

    Live in JupyterLab, figures use plotly's own mimetype (hover, zoom). With a browser for
    kaleido we also attach a PNG, which GitHub, nbviewer and nbconvert show, since they drop
    the plotly mimetype (plotly >= 6.1). Without one, figures are interactive only.
    """
    seed_everything(seed)
    renderer = "plotly_mimetype+png" if static_images_available() else "plotly_mimetype"
    pio.renderers.default = renderer
    if "+png" in renderer:
        png = pio.renderers["png"]
        png.width, png.height, png.scale = 900, 450, 1
        _start_kaleido()
    torch.set_printoptions(precision=4, sci_mode=False)
    np.set_printoptions(precision=4, suppress=True)
    return renderer


def _start_kaleido() -> None:
    """Keep one kaleido browser running, so each static PNG takes ~0.3 s instead of ~4 s."""
    import kaleido  # here, not at the top: only lessons with a browser start it (slow to import)

    # plotly passes its own options on every call, which a running server ignores, with a warning
    warnings.filterwarnings("ignore", message="The kopts argument is ignored")
    try:
        kaleido.start_sync_server(silence_warnings=True)
    except Exception as error:  # a missing or broken browser: PNGs then start one each time
        warnings.warn(
            f"kaleido could not start a browser ({error}); static PNGs will be slow", stacklevel=3
        )
