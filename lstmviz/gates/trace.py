"""``Trace``: the recorded activations of an LSTM, indexed by name and layer.

``record`` (one call) and ``GateRecorder`` (a whole model, many calls) both return one. Names are
``i f g o c h`` or their long aliases (``lstmviz.core.names``); values keep the module's layout.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..core import checks
from ..core.errors import LstmvizError
from ..core.names import ALIASES, MEANINGS, NAMES, canonical


class Trace:
    """Recorded activations of an LSTM: ``trace[name, layer]`` -> a tensor like the layer's output.

    (B, T, H) when batch-first, (T, B, H) otherwise, (T, H) unbatched. ``name`` is one of
    ``i f g o c h`` (see ``Trace.names``) or an alias: update=i, forget=f, candidate=g, output=o,
    cell=c, activation=hidden=h. ``layer`` counts from 0; negative indices count from the top.
    ``trace.output`` and ``trace.final_state`` are what the module returned (for ``record``) or
    the top layer's a⟨1..T⟩ and the last step's (h, c) (for a ``GateRecorder``). The values are
    views of the trace's storage: copy before changing them in place.
    """

    #: name -> meaning, in Ng's notation (TransformerLens-style list of hook points)
    names = MEANINGS
    aliases = ALIASES

    def __init__(
        self,
        layers: list[dict[str, Tensor]],
        *,
        batch_first: bool = False,
        unbatched: bool = False,
        output: Tensor | None = None,
        final_state: tuple[Tensor, Tensor] | None = None,
        start: int = 0,
    ):
        """layers: per layer {name: (T, B, H)}; output, final_state in the module's layout."""
        self._layers = layers
        self.batch_first = batch_first and not unbatched
        self.unbatched = unbatched
        self.start = start  # index of the first kept step among all steps recorded (ring buffer)
        self._output, self._final_state = output, final_state

    # ---- shape facts
    @property
    def num_layers(self) -> int:
        return len(self._layers)

    @property
    def steps(self) -> int:
        """Number of time steps T held."""
        first = next(iter(self._layers[0].values()), None) if self._layers else None
        return 0 if first is None else first.shape[0]

    def __len__(self) -> int:
        return self.steps

    @property
    def batch_size(self) -> int:
        first = next(iter(self._layers[0].values()))
        return first.shape[1]

    def hidden_size(self, layer: int = -1) -> int:
        """Units in ``layer``."""
        return next(iter(self._layers[self._layer(layer)].values())).shape[-1]

    def available(self, layer: int = -1) -> tuple[str, ...]:
        """The names recorded for ``layer`` (all six unless a module reports fewer)."""
        return tuple(n for n in NAMES if n in self._layers[self._layer(layer)])

    # ---- access
    def _layer(self, layer: int) -> int:
        L = len(self._layers)
        try:
            # ints, NumPy ints, 0-d integer tensors
            index = checks.whole("layer", layer, -L, index=True)
        except LstmvizError:
            index = None
        if index is None or not -L <= index < L:
            raise LstmvizError(
                f"layer {layer!r} is out of range: this trace has {L} layer(s), 0..{L - 1}"
            )
        return index % L

    def _layout(self, t: Tensor) -> Tensor:
        if self.unbatched:
            return t[:, 0]
        return t.transpose(0, 1) if self.batch_first else t

    def __getitem__(self, key: tuple[str, int]) -> Tensor:
        """``trace['c', 0]`` -> (B, T, H) / (T, B, H) / (T, H) values of ``name`` in ``layer``."""
        if not (isinstance(key, tuple) and len(key) == 2):
            raise LstmvizError(f"index a trace with (name, layer), e.g. trace['c', 0]; got {key!r}")
        name, layer = canonical(key[0]), self._layer(key[1])
        data = self._layers[layer]
        if name not in data:
            raise LstmvizError(
                f"{name!r} was not recorded for layer {layer}; available: "
                f"{' '.join(self.available(layer))}"
            )
        return self._layout(data[name])

    def __contains__(self, key: tuple[str, int]) -> bool:
        try:
            self[key]
        except LstmvizError:
            return False
        return True

    @property
    def output(self) -> Tensor:
        """The top layer's a⟨1..T⟩, in the module's layout (what ``nn.LSTM`` returns first)."""
        return self._output if self._output is not None else self["h", -1]

    @property
    def final_state(self) -> tuple[Tensor, Tensor]:
        """(h_n, c_n), each (L, B, H) or (L, H) unbatched: the state after the last step."""
        if self._final_state is not None:
            return self._final_state
        h = torch.stack([d["h"][-1] for d in self._layers])
        c = torch.stack([d["c"][-1] for d in self._layers])
        return (h[:, 0], c[:, 0]) if self.unbatched else (h, c)

    def __repr__(self) -> str:
        if not self._layers:
            return "Trace(empty)"
        layout = "(T, H)" if self.unbatched else "(B, T, H)" if self.batch_first else "(T, B, H)"
        return (
            f"Trace({self.num_layers} layer(s), {self.steps} steps, batch {self.batch_size}, "
            f"hidden {self.hidden_size()}, layout {layout}, names {' '.join(self.available())})"
        )
