"""A recorded explorer: one self-contained HTML page of a ``Trace`` that needs no kernel.

``export_html(trace, text)`` writes every recorded gate and memory cell of one sequence (all
units, the layers and names you keep) into a single HTML file with its own JavaScript: the reader
picks a layer, a name (Γ_u, Γ_f, ĉ, Γ_o, c, a) and a unit, and moves along the text. The text is
coloured by the unit (as ``plots.coloured_text``), a line shows the unit over the steps, a table
gives all six values of that unit at the current step (with the memory-cell update worked out),
and a grid shows every unit at that step (click one to pick it). Nothing is fetched: the page
works from a file, a static website or an e-mail attachment. The lessons' website uses it.

Values are stored as 8-bit steps of each name's range (``lstmviz.core.names.RANGES``): gates on
[0, 1] (within ±0.002 of the trace), ĉ and a on [−1, 1] (±0.004), and each unit's memory cell on
±max|c| of that unit (±max|c| / 510). The page says so and shows values to that precision.
One character of all six names of a 2 × 512 model costs 8 KB (about 2.5 MB for 300 characters).
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import re
from collections.abc import Sequence
from importlib import resources
from typing import Any

import numpy as np

from ..core.errors import LstmvizError
from ..core.files import atomic_write
from ..core.names import LABELS, NAMES, RANGES, SYMBOLS, canonical
from ..gates import analysis
from .style import colorscale

#: A page larger than this is refused (pass fewer characters, layers or names, or raise it).
MAX_BYTES = 20_000_000
LEVELS = 255  # 8-bit steps: a stored value q in 0..255 means lo + q * (hi - lo) / 255
_ASSETS = "recorded"  # package folder with the page's script and style


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(_ASSETS, name).read_text(encoding="utf-8")


def _round_up(x: float, digits: int = 3) -> float:
    """``x`` > 0 rounded up to ``digits`` significant digits (a cell scale that covers max|c|)."""
    e = math.floor(math.log10(x)) - digits + 1
    return float(math.ceil(x / 10.0**e - 1e-9) * 10.0**e)


def quantize(values: np.ndarray, lo: np.ndarray | float, hi: np.ndarray | float) -> np.ndarray:
    """Values on [lo, hi] as 8-bit steps: (T, H) -> uint8 (T, H); ``dequantize`` undoes it."""
    q = np.rint((np.asarray(values, np.float64) - lo) / (np.subtract(hi, lo)) * LEVELS)
    return np.clip(q, 0, LEVELS).astype(np.uint8)


def dequantize(q: np.ndarray, lo: np.ndarray | float, hi: np.ndarray | float) -> np.ndarray:
    """8-bit steps back to values, as the page's script computes them: uint8 (...) -> float64."""
    return lo + q.astype(np.float64) * (np.subtract(hi, lo) / LEVELS)


def _check(trace: Any, text: Any, batch: int) -> int:
    if not analysis.is_trace(trace):
        raise LstmvizError(
            f"export_html needs a Trace (from lstmviz.record, lstmviz.record_text or a "
            f"GateRecorder's .trace), not {type(trace).__name__}"
        )
    if not isinstance(text, str):
        raise LstmvizError(
            f"text must be the string the trace was recorded on, not {type(text).__name__}"
        )
    if trace.steps == 0 or not text:
        raise LstmvizError("the trace or the text is empty: record at least one character")
    batches = 1 if trace.unbatched else trace.batch_size
    if not (isinstance(batch, int) and 0 <= batch < batches):
        raise LstmvizError(
            f"batch {batch!r} is out of range: the trace holds {batches} sequence(s), "
            f"0..{batches - 1}"
        )
    if trace.steps != len(text):
        raise LstmvizError(
            f"the trace has {trace.steps} time steps but the text has {len(text)} characters; "
            "pass the text the trace was recorded on"
        )
    return batches


def _index(value: Any, size: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise LstmvizError(f"{what} must be an integer in 0..{size - 1}, got {value!r}")
    if not -size <= int(value) < size:
        raise LstmvizError(f"{what} {int(value)} is out of range 0..{size - 1}")
    return int(value) % size


def export_html(
    trace: Any,
    text: str,
    path: str | os.PathLike | None = None,
    *,
    layer: int = -1,
    name: str = "c",
    unit: int | None = None,
    position: int = 0,
    layers: Sequence[int] | None = None,
    names: Sequence[str] | None = None,
    batch: int = 0,
    title: str | None = None,
    max_bytes: int = MAX_BYTES,
) -> str:
    """A recorded explorer of ``trace`` over ``text`` (T chars) as one HTML page -> the HTML.

    ``trace[name, layer]`` is (1, T, H), (T, 1, H) or (T, H) (``batch`` picks one sequence of a
    batch). The page starts on ``layer``, ``name`` (i f g o c h or an alias), ``unit`` (default:
    the most variable unit of that name and layer) and character ``position``; the reader can pick
    any of ``layers`` (default: all) and ``names`` (default: all recorded in every kept layer).
    With ``path``, the page is also written there (atomically; only a regular file is replaced).
    A bad argument, or a page over ``max_bytes``, is one LstmvizError saying what to change.
    """
    _check(trace, text, batch)
    L = trace.num_layers
    kept_layers = [_index(x, L, "layer") for x in (range(L) if layers is None else layers)]
    if not kept_layers or len(set(kept_layers)) != len(kept_layers):
        raise LstmvizError(f"layers must be distinct layer indices in 0..{L - 1}, got {layers!r}")
    start_layer = _index(layer, L, "layer")
    if start_layer not in kept_layers:
        raise LstmvizError(f"layer {layer} is not among the kept layers {kept_layers}")
    recorded = [n for n in NAMES if all((n, x) in trace for x in kept_layers)]
    kept_names = recorded if names is None else list(dict.fromkeys(canonical(n) for n in names))
    missing = [n for n in kept_names if n not in recorded]
    if missing or not kept_names:
        raise LstmvizError(
            f"{' '.join(missing) or 'no names'}: not recorded in every kept layer; "
            f"available: {' '.join(recorded)}"
        )
    start_name = canonical(name)
    if start_name not in kept_names:
        raise LstmvizError(f"name {name!r} is not among the kept names {' '.join(kept_names)}")
    T, H = len(text), trace.hidden_size(kept_layers[0])
    if any(trace.hidden_size(x) != H for x in kept_layers):
        raise LstmvizError("the kept layers differ in size; keep layers of one size")
    if not (isinstance(position, (int, np.integer)) and 0 <= position < T):
        raise LstmvizError(f"position must be a character index in 0..{T - 1}, got {position!r}")
    size = 4 * math.ceil(len(kept_layers) * len(kept_names) * H * T / 3)  # the base64 payload
    if size > max_bytes:
        raise LstmvizError(
            f"the page would hold {size / 1e6:.1f} MB of recorded values "
            f"({len(kept_layers)} layer(s) x {len(kept_names)} names x {H} units x {T} "
            f"characters, one byte each) and max_bytes is {max_bytes / 1e6:.1f} MB: pass fewer "
            "characters (a slice of the trace and text), layers=[...] or names=[...], "
            "or a larger max_bytes"
        )

    blocks, cell_scale = [], {}
    for x in kept_layers:
        for n in kept_names:
            values = analysis.activations(trace, n, x, batch=batch).astype(np.float64)
            if not np.isfinite(values).all():
                raise LstmvizError(
                    f"{n!r} of layer {x} holds NaN or infinite values; record a model whose "
                    "weights are finite"
                )
            lo: float | np.ndarray
            hi: float | np.ndarray
            lo, hi = RANGES[n]
            if n == "c":  # unbounded: each unit on its own ±max|c|
                peak = np.abs(values).max(axis=0)
                scale = np.array([_round_up(p) if p > 0 else 1.0 for p in peak])
                cell_scale[str(x)] = scale.tolist()
                lo, hi = -scale, scale
            blocks.append(quantize(values, lo, hi).T.tobytes())  # (H, T): one unit's steps in a row

    if unit is None:
        start_values = analysis.activations(trace, start_name, start_layer, batch=batch)
        unit = int(analysis.top_units(start_values, 1)[0])
    start_unit = _index(unit, H, "unit")
    data = {
        "version": 1,
        "title": title
        if title is not None
        else f"Recorded gates: {T} characters, {len(kept_layers)} layer(s) x {H} units",
        "text": text,
        "steps": T,
        "hidden": H,
        "layers": kept_layers,
        "names": kept_names,
        "labels": {n: LABELS[n] for n in kept_names},
        "symbols": {n: SYMBOLS[n] for n in kept_names},
        "ranges": {n: (list(RANGES[n]) if n != "c" else None) for n in kept_names},
        "cell_scale": cell_scale,
        "colors": {n: {"soft": colorscale(n, soft=True), "strong": colorscale(n)} for n in NAMES},
        "start": {
            "layer": start_layer,
            "name": start_name,
            "unit": start_unit,
            "position": int(position),
        },
        "levels": LEVELS,
        "data": base64.b64encode(b"".join(blocks)).decode("ascii"),
    }
    # "<" escaped: a text holding "</script>" cannot end the data block early
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")
    parts = {
        "TITLE": html.escape(data["title"]),
        "STYLE": _asset("explorer.css"),
        "SCRIPT": _asset("explorer.js"),
        "DATA": payload,
    }
    # one pass: a title or text that holds "{{DATA}}" is not replaced again
    page = re.sub(r"\{\{([A-Z]+)\}\}", lambda m: parts[m[1]], _asset("explorer.html"))
    if path is not None:
        atomic_write(path, lambda f: f.write(page.encode("utf-8")), "explorer page")
    return page


def read_values(page: str) -> dict:
    """The data block of a page ``export_html`` wrote, decoded: {(name, layer): (T, H) float64}.

    Also ``"text"`` and ``"start"``. What the page's script shows, for tests and for checking a
    page against its trace.
    """
    head, sep, rest = page.partition('<script type="application/json" id="lstmviz-data">')
    if not sep:
        raise LstmvizError("not a page written by lstmviz.viz.export_html (no data block)")
    data = json.loads(rest.partition("</script>")[0])
    T, H = data["steps"], data["hidden"]
    raw = np.frombuffer(base64.b64decode(data["data"]), dtype=np.uint8)
    out: dict[Any, Any] = {"text": data["text"], "start": data["start"]}
    k = 0
    for x in data["layers"]:
        for n in data["names"]:
            q = raw[k * H * T : (k + 1) * H * T].reshape(H, T).T
            if n == "c":
                scale = np.asarray(data["cell_scale"][str(x)])
                out[n, x] = dequantize(q, -scale, scale)
            else:
                lo, hi = data["ranges"][n]
                out[n, x] = dequantize(q, lo, hi)
            k += 1
    return out
