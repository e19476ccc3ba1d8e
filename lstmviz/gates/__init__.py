"""Gates: record, name and change what happens inside the LSTM cells of a model.

``record`` (one call) and ``GateRecorder`` (a whole model, many calls) give a ``Trace`` indexed by
name (``i f g o c h`` or Ng's long names) and layer; ``intervene`` clamps or scales units;
``features`` ranks units against properties of the text.
"""

from .interventions import Intervention, intervene
from .record import record
from .recorder import GateRecorder
from .trace import Trace

__all__ = ["GateRecorder", "Intervention", "Trace", "intervene", "record"]
