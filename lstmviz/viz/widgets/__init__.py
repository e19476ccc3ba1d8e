"""Interactive explorers (ipywidgets 8 + plotly FigureWidget) for JupyterLab, one module each.

* ``LiveGeneration``       (``live``) -- the model writes; text, gate/cell heatmap, coloured text
  and the top-k next-character probabilities update as it goes. Generation runs in a thread, so
  Stop works. Its "why this character?" view (``influence``: ``InfluenceView``) colours the text
  behind a chosen character by its influence.
* ``CellExplorer``         (``cells``) -- pick layer, gate and unit; select a span and find the
  units that are on inside it and off around it; rank units by correlation with character
  features.
* ``InterventionExplorer`` (``intervention``) -- clamp one memory cell to a value; the two
  continuations side by side, each character coloured by how much the clamp changed its
  log-probability.

``base`` holds what they share: the ``Explorer`` base class, sizes and small helpers. Each explorer
displays as its widget in a live kernel. Its display also carries a static PNG of its current
figures (when the lesson renderer includes PNG, see ``lstmviz.teaching.notebook.setup``), which
GitHub, nbviewer and nbconvert show: they cannot run widgets.

    ex = lstmviz.viz.widgets.LiveGeneration(model, vocab, prime="ROMEO\\n")
    ex.run()   # generate now, blocking (a lesson does this so its saved output has text in it)
    ex         # display; "Generate" in the widget runs again in a thread, "Stop" stops it
    ex.show_influence(len(ex.text) - 1)   # why the last character? (the influence view)
    ex.view = "gates"                       # back to the gates
"""

from .base import (
    EXPLORER_WIDTH,
    HEAT_UNITS,
    NAME_OPTIONS,
    PROBS_WIDTH,
    SNAPSHOT_WIDTH,
    TEXT_WIDTH,
    Explorer,
)
from .cells import CellExplorer
from .influence import INFLUENCE_CONTEXT, INFLUENCE_WRAP, InfluenceView
from .intervention import CELL_SLIDER, InterventionExplorer
from .live import (
    LENGTH_MAX,
    PACE_MAX,
    PROBS_K,
    REFRESH,
    TEXT_WINDOW,
    TEXT_WRAP,
    VIEWS,
    WINDOW,
    LiveGeneration,
)

__all__ = [
    "CELL_SLIDER",
    "EXPLORER_WIDTH",
    "HEAT_UNITS",
    "INFLUENCE_CONTEXT",
    "INFLUENCE_WRAP",
    "LENGTH_MAX",
    "NAME_OPTIONS",
    "PACE_MAX",
    "PROBS_K",
    "PROBS_WIDTH",
    "REFRESH",
    "SNAPSHOT_WIDTH",
    "TEXT_WIDTH",
    "TEXT_WINDOW",
    "TEXT_WRAP",
    "VIEWS",
    "WINDOW",
    "CellExplorer",
    "Explorer",
    "InfluenceView",
    "InterventionExplorer",
    "LiveGeneration",
]
