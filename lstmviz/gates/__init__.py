"""Gates: record, name and change what happens inside the LSTM cells of a model.

``record`` (one call, module ``record_call``) and ``GateRecorder`` (a whole model, many calls,
module ``recorder``) give a ``Trace`` (module ``trace``) indexed by name (``i f g o c h`` or Ng's
long names) and layer; ``intervene`` clamps units (``interventions``, running fused calls step
by step with ``stepwise``); ``analysis`` turns a trace into (T, H) arrays and statistics;
``features`` finds the units that follow properties of the text; ``attribution`` measures which
earlier characters a prediction used (``influence``, ``occlusion``) and how far back
(``memory_span``).
"""

from .attribution import Influence, influence, memory_span, occlusion, span_shares
from .interventions import Intervention, intervene
from .record_call import record, record_text
from .recorder import GateRecorder
from .trace import Trace

__all__ = [
    "GateRecorder",
    "Influence",
    "Intervention",
    "Trace",
    "influence",
    "intervene",
    "memory_span",
    "occlusion",
    "record",
    "record_text",
    "span_shares",
]
