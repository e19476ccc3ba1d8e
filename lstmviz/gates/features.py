"""Character features of a text, and two ways to find the units that track them.

Karpathy, Johnson & Fei-Fei (2015) found LSTM cells that count line length, track quotes and
brackets; LSTMVis (Strobelt et al. 2017) finds units by selecting a span of text. Here:

* ``features(text)`` -> one number per character for each built-in feature (inside quotes,
  bracket depth, position in line, indentation, speaker-name line, ...). A feature at step t
  describes the text read so far, up to and including character t -- what the cell state
  after reading character t could know. (``speaker_line`` is the one exception: it marks the
  whole line, since a name is only recognisable when its line ends.)
* ``rank_units(acts, text)`` -> units sorted by |Pearson correlation| with each feature.
* ``match_span(acts, start, stop)`` -> units that are on inside ``text[start:stop]`` and off
  around it (LSTMVis's select-and-match).
* ``best_cell(trace, text, feature)`` -> the memory cell (layer, unit) that follows a feature
  best, over all layers of a recorded trace (lessons 05 and 06 clamp and colour it).
* ``null_max_r(acts, feature)`` -> the best |r| over all units when the feature is circularly
  shifted: what "the best unit's |r|" reaches by chance, with the text's own autocorrelation.

``acts`` is always a (T, H) array: one row per character, one column per unit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from ..core.errors import LstmvizError
from .analysis import activations

OPEN, CLOSE = "([{", ")]}"
TAB_WIDTH = 4
#: A speaker's name on its own line: all capitals ("OBERON", "FIRST CITIZEN", "LADY MACBETH"), or
#: tiny-shakespeare's "First Citizen:". Act and scene headings are not speakers.
_SPEAKER = re.compile(
    r"^(?!ACT\b|SCENE\b|EPILOGUE\b|PROLOGUE\b)"
    r"(?:[A-Z][A-Z' .-]*[A-Z.]|[A-Z][a-z']*(?: [A-Z][a-z']*){0,3}:)$"
)


def _codes(text: str) -> np.ndarray:
    """Unicode code points of ``text``, (T,) uint32, without a Python loop."""
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def _is(text: str, chars: str) -> np.ndarray:
    """(T,) bool: which characters of ``text`` are in ``chars``."""
    return np.isin(_codes(text), _codes(chars))


def _line_starts(text: str) -> np.ndarray:
    """(T,) int: where the line of each character starts (a newline belongs to the line it ends)."""
    t = np.arange(len(text))
    newline = _is(text, "\n")
    # a newline belongs to the line it ends, so the next line starts one after it
    after = np.where(newline, t + 1, 0)
    start = np.maximum.accumulate(np.concatenate([[0], after[:-1]])) if len(text) else after
    return start


def in_quotes(text: str, quotes: str = '"') -> np.ndarray:
    """(T,) float: 1 after an opening quote has been read and until its closing quote, else 0.

    Each quote character in ``quotes`` opens a quote that only the same character closes, so
    ``"it's"`` stays one quote. The opening quote itself counts as inside, the closing one not.
    """
    out = np.zeros(len(text), dtype=np.float32)
    open_quote = None
    for t, ch in enumerate(text):
        if open_quote is None and ch in quotes:
            open_quote = ch
        elif ch == open_quote:
            open_quote = None
        out[t] = open_quote is not None
    return out


def in_triple_quotes(text: str) -> np.ndarray:
    """(T,) float: 1 inside a triple-quoted string (a Python docstring), quotes included, else 0."""
    out = np.zeros(len(text), dtype=np.float32)
    t, open_quote = 0, None
    while t < len(text):
        three = text[t : t + 3]
        if three in ('"""', "'''") and open_quote in (None, three):
            out[t : t + 3] = 1.0
            open_quote = None if open_quote else three
            t += 3
            continue
        out[t] = open_quote is not None
        t += 1
    return out


def bracket_depth(text: str) -> np.ndarray:
    """(T,) float: how many ( [ { are open after reading character t (never below 0)."""
    step = _is(text, OPEN).astype(np.int64) - _is(text, CLOSE).astype(np.int64)
    depth = np.zeros(len(text), dtype=np.int64)
    d = 0
    for t, s in enumerate(step.tolist()):
        d = max(d + s, 0)  # clip at 0: a stray ')' must not make depth negative forever
        depth[t] = d
    return depth.astype(np.float32)


def position_in_line(text: str) -> np.ndarray:
    """(T,) float: characters read on the current line; a newline resets it to 0."""
    t = np.arange(len(text))
    newline = _is(text, "\n")
    last_newline = np.maximum.accumulate(np.where(newline, t, -1)) if len(text) else t
    return (t - last_newline).astype(np.float32)


def indentation(text: str) -> np.ndarray:
    """(T,) float: indentation (spaces; a tab counts 4) of the current line read so far."""
    out = np.zeros(len(text), dtype=np.float32)
    indent, leading = 0, True
    for t, ch in enumerate(text):
        if ch == "\n":
            indent, leading = 0, True
        elif leading and ch in " \t":
            indent += TAB_WIDTH if ch == "\t" else 1
        else:
            leading = False
        out[t] = indent
    return out


def speaker_line(text: str) -> np.ndarray:
    """(T,) float: 1 on every character (and the newline) of a line that is a speaker's name."""
    out = np.zeros(len(text), dtype=np.float32)
    pos = 0
    for line in text.split("\n"):
        end = pos + len(line) + 1  # with its newline
        if _SPEAKER.match(line.strip()):
            out[pos : min(end, len(text))] = 1.0
        pos = end
    return out


def word_position(text: str) -> np.ndarray:
    """(T,) float: letters read of the current word (0 on spaces and punctuation)."""
    out = np.zeros(len(text), dtype=np.float32)
    n = 0
    for t, ch in enumerate(text):
        n = n + 1 if ch.isalnum() or ch in "_'" else 0
        out[t] = n
    return out


def is_space(text: str) -> np.ndarray:
    """(T,) float: 1 on spaces, tabs and newlines."""
    return _is(text, " \t\n\r").astype(np.float32)


def is_upper(text: str) -> np.ndarray:
    """(T,) float: 1 on capital letters."""
    return np.fromiter((ch.isupper() for ch in text), dtype=np.float32, count=len(text))


def is_newline(text: str) -> np.ndarray:
    """(T,) float: 1 on newlines (end of line)."""
    return _is(text, "\n").astype(np.float32)


#: The built-in features, by name; each maps a text (length T) to a (T,) float32 array.
FEATURES: dict[str, Callable[[str], np.ndarray]] = {
    "inside quotes": in_quotes,
    "bracket depth": bracket_depth,
    "position in line": position_in_line,
    "indentation": indentation,
    "speaker-name line": speaker_line,
    "position in word": word_position,
    "whitespace": is_space,
    "capital letter": is_upper,
    "end of line": is_newline,
}


def features(text: str, names: list[str] | None = None) -> dict[str, np.ndarray]:
    """Every built-in feature (or those in ``names``) of ``text``: name -> (T,) float32 array."""
    names = list(FEATURES) if names is None else list(names)
    unknown = [n for n in names if n not in FEATURES]
    if unknown:
        raise LstmvizError(f"unknown feature(s) {unknown}; choose from {list(FEATURES)}")
    return {n: FEATURES[n](text) for n in names}


def _as_acts(acts, length: int | None = None) -> np.ndarray:
    """Activations as a float64 (T, H) array (``analysis.activations`` of it), ``length`` rows."""
    if hasattr(acts, "detach"):  # keep a float64 tensor's precision: no detour through float32
        acts = acts.detach().cpu().numpy()
    a = activations(np.asarray(acts, dtype=np.float64))
    if length is not None and a.shape[0] != length:
        raise LstmvizError(
            f"the activations have {a.shape[0]} time steps but the text has {length} characters; "
            "they must match (one row per character)"
        )
    return a


def _standardize(x: np.ndarray) -> np.ndarray:
    """Columns to zero mean, unit norm; constant columns become 0 (correlation 0, not NaN)."""
    x = x - x.mean(axis=0)
    norm = np.sqrt((x * x).sum(axis=0))
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 1e-12)


def correlations(acts, feats: Mapping[str, np.ndarray]) -> tuple[list[str], np.ndarray]:
    """Pearson correlation of every unit with every feature: acts (T, H) -> (names, r (F, H))."""
    names = list(feats)
    a = _as_acts(acts)
    f = np.stack([np.asarray(feats[n], dtype=np.float64) for n in names], axis=1)
    if f.shape[0] != a.shape[0]:
        raise LstmvizError(
            f"features have {f.shape[0]} steps but the activations have {a.shape[0]}"
        )
    return names, _standardize(f).T @ _standardize(a)


@dataclass(frozen=True)
class Match:
    """One unit found by a ranking: which unit, its score, and (for features) which feature."""

    unit: int
    score: float
    feature: str = ""


def rank_units(
    acts,
    text: str,
    top: int = 10,
    names: list[str] | None = None,
    feats: Mapping[str, np.ndarray] | None = None,
) -> list[Match]:
    """Units most correlated with the built-in features of ``text``: acts (T, H) -> ``top`` matches.

    Score is the Pearson correlation r (sign kept; sorted by |r|). Each unit appears once, with
    the feature it follows best, so a list of 10 is 10 different units. ``feats``: features
    computed before (``features(text)``), to skip recomputing them for every ranking.
    """
    a = _as_acts(acts, len(text))
    feat_names, r = correlations(a, features(text, names) if feats is None else feats)
    best = np.abs(r).argmax(axis=0)  # (H,) the best feature of each unit
    r_best = r[best, np.arange(r.shape[1])]
    order = np.argsort(-np.abs(r_best), kind="stable")[:top]
    return [Match(int(u), float(r_best[u]), feat_names[best[u]]) for u in order]


def match_span(
    acts, start: int, stop: int, top: int = 10, margin: int | None = None
) -> list[Match]:
    """Units on inside steps [start, stop) and off around them (LSTMVis select-and-match).

    acts (T, H). Score per unit: (mean inside - mean in ``margin`` steps on each side) / the
    unit's standard deviation over the whole text, so units with large and small ranges compare
    fairly. ``margin`` defaults to the span's length. Best ``top`` units first.
    """
    a = _as_acts(acts)
    T = a.shape[0]
    if not 0 <= start < stop <= T:
        raise LstmvizError(
            f"span [{start}, {stop}) must be non-empty and inside the text's 0..{T} steps"
        )
    margin = stop - start if margin is None else int(margin)
    around = np.r_[max(0, start - margin) : start, stop : min(T, stop + margin)]
    if around.size == 0:
        raise LstmvizError(
            "the span covers the whole text, so there is nothing around it to compare with"
        )
    inside = a[start:stop].mean(axis=0)
    outside = a[around].mean(axis=0)
    spread = a.std(axis=0) + 1e-8
    score = (inside - outside) / spread
    order = np.argsort(-score, kind="stable")[:top]
    return [Match(int(u), float(score[u])) for u in order]


def best_cell(
    trace, text: str, feature: str | np.ndarray, name: str = "c"
) -> tuple[int, int, float]:
    """(layer, unit, r): the unit of ``name`` (the memory cell) most correlated with a feature.

    ``trace`` is a recorded Trace over ``text`` (one step per character); ``feature`` is the name
    of a built-in feature (``FEATURES``) or a (T,) array. r keeps its sign.
    """
    values = features(text, [feature])[feature] if isinstance(feature, str) else np.asarray(feature)
    best = None
    for layer in range(trace.num_layers):
        _, r = correlations(activations(trace, name, layer), {"feature": values})
        unit = int(np.abs(r[0]).argmax())
        if best is None or abs(r[0, unit]) > abs(best[2]):
            best = (layer, unit, float(r[0, unit]))
    assert best is not None  # a trace has at least one layer
    return best


def null_max_r(
    acts,
    feature: np.ndarray,
    n: int = 200,
    min_shift: int | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Chance level of the best unit: acts (T, H) or [(T, H), ...], feature (T,) -> (n,) max |r|.

    The feature is rotated by ``n`` random offsets (at least ``min_shift``, default T // 10, from
    no rotation), which keeps its runs and the units' slow drifts but breaks their alignment; for
    each rotation, the largest |r| over all units (all arrays, e.g. every layer) is kept. A found
    cell whose |r| exceeds the 99th percentile of this distribution beats the best of 1,024
    chance alignments, not just one.
    """
    blocks = [acts] if not isinstance(acts, (list, tuple)) else list(acts)
    a = np.concatenate([_as_acts(b) for b in blocks], axis=1)
    feature = np.asarray(feature, dtype=np.float64)
    T = a.shape[0]
    if feature.shape != (T,):
        raise LstmvizError(f"the feature has shape {feature.shape}; expected ({T},), one per step")
    lo = T // 10 if min_shift is None else int(min_shift)
    if not 0 < lo < T - lo:
        raise LstmvizError(f"min_shift must be in 1..{T // 2 - 1} for {T} steps, got {lo}")
    shifts = np.random.default_rng(seed).integers(lo, T - lo + 1, size=int(n))
    shifted = np.stack([np.roll(feature, int(k)) for k in shifts], axis=1)  # (T, n)
    return np.abs(_standardize(shifted).T @ _standardize(a)).max(axis=1)
