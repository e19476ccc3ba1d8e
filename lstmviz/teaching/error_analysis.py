"""Where does a character model beat counting? Error analysis after Karpathy, Johnson & Fei-Fei.

Karpathy, Johnson & Fei-Fei (2015, *Visualizing and Understanding Recurrent Networks*) compared an
LSTM's loss, character by character, with that of n-gram models, and asked on which characters the
LSTM wins: those that need a long memory (a closing brace far from its opening one) or not. Used
by lesson 07:

* ``model_losses(model, vocab, text)`` -- -ln p(text[t] | text[:t]) of a network, (T,) nats,
  each window of characters read after ``warmup`` characters of context, all windows in one batch.
* ``ngram_losses(train_text, text, vocab)`` -- the same per character for n-gram models
  (``lstmviz.core.ngram.NGram``, counted once on the training text): {n: (T,)}.
* ``match_python(text)`` -- for each closing bracket or quote of Python source, where its opening
  one is (a small scanner that skips strings and comments): the distance a model must remember.
* ``speaker_lines(text)`` / ``play_groups(text)`` -- masks of the play script's character kinds:
  speaker-name lines, speech lines by position, the ends of speeches, stage directions in [ ].
* ``name_lines(text)`` / ``name_groups(text, known)`` -- the speaker-name lines themselves, and
  masks of their characters (first letter, the rest, the newline) by whether the name is known.
* ``closer_groups(text)`` -- masks of Python's closing brackets and quotes by distance bin.
* ``compare_groups(a, b, groups)`` -- mean loss of two models per group, their difference ± SE.

All masks and losses are indexed by the *predicted* character t: position t holds the loss of
predicting text[t] from the characters before it.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core.errors import LstmvizError
from ..core.ngram import NGram
from ..core.vocab import Vocab
from .stats import mean_se

# ---- settings
WARMUP = 200  # characters each window reads before its first scored one (its context at least)
WINDOW = 1000  # characters scored per window; windows run side by side in one batch
ROWS = 64  # windows per forward pass: bounds memory (rows x (WARMUP + WINDOW) x hidden)
PAIRS = {")": "(", "]": "[", "}": "{"}
#: Distance bins (characters from the opening bracket or quote to the closing one). A 5-gram sees
#: the 4 characters before the one it predicts, so in the first bin the opener is in its view.
DISTANCE_BINS = ((1, 4), (5, 10), (11, 20), (21, 40), (41, 10**9))


@torch.no_grad()
def model_losses(
    model: nn.Module, vocab: Vocab, text: str, *, warmup: int = WARMUP, window: int = WINDOW
) -> np.ndarray:
    """-ln p(text[t] | text[:t]) in nats: text (T,) -> (T,) float64, NaN for t < warmup.

    The text is cut into windows of ``window`` scored characters; each window is read from a zero
    state starting ``warmup`` characters before it, so every scored character has at least
    ``warmup`` characters of context (and at most ``warmup + window - 1``). All windows run as one
    batch (``ROWS`` at a time). ``model(ids (B, T)) -> (logits (B, T, V), state)``, eval mode.
    """
    if not isinstance(warmup, int) or not isinstance(window, int) or warmup < 1 or window < 1:
        raise LstmvizError(f"warmup and window must be whole numbers >= 1, got {warmup}, {window}")
    if len(text) <= warmup:
        raise LstmvizError(
            f"the text has {len(text)} characters, not more than warmup={warmup}: nothing to "
            "score; give a longer text or a smaller warmup"
        )
    ids = vocab.encode(text)
    out = np.full(len(text), np.nan)
    starts = list(range(warmup, len(text), window))  # first scored character of each window
    was_training = model.training
    model.eval()
    try:
        dev = next(model.parameters()).device
        full = [s for s in starts if s + window <= len(text)]
        rest = [s for s in starts if s + window > len(text)]
        groups = [full[i : i + ROWS] for i in range(0, len(full), ROWS)] + [[s] for s in rest]
        for group in groups:
            n = min(window, len(text) - group[0])  # the same for every row of a group
            x = torch.stack([ids[s - warmup : s + n - 1] for s in group]).to(dev)
            y = torch.stack([ids[s : s + n] for s in group]).to(dev)
            logits, _ = model(x)
            logits = logits[:, warmup - 1 :].float()  # the outputs that predict y
            loss = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none")
            for row, s in enumerate(group):
                out[s : s + n] = loss.view(len(group), n)[row].double().cpu().numpy()
    finally:
        model.train(was_training)
    return out


def ngram_losses(
    train_text: str, text: str, vocab: Vocab, orders: Sequence[int] = (1, 2, 3, 4, 5)
) -> dict[int, np.ndarray]:
    """{n: -ln P_n(text[t] | text[:t]) (T,)} for n-gram models counted on ``train_text``."""
    return {n: NGram.fit(train_text, n, vocab).per_char_loss(text).numpy() for n in orders}


def match_python(text: str) -> np.ndarray:
    """Where each closing bracket or quote of Python source opened: text (T,) -> (T,) int.

    ``out[t]`` is the index of the opening ``( [ {`` or quote that ``text[t]`` closes, -1 for
    every other character. Brackets inside strings and comments do not count; a string closes at
    the first unescaped copy of its delimiter (``'``, ``"``, ``'''`` or ``\"\"\"``; for a triple
    quote t is the first of the three closing characters); a one-line string still open at the
    end of its line, a closing bracket of the wrong kind or with nothing open (e.g. a text that
    starts mid-expression) are left at -1.
    """
    out = np.full(len(text), -1, dtype=np.int64)
    stack: list[tuple[str, int]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "#":  # a comment runs to the end of its line
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if ch in "'\"":
            delim = ch * 3 if text.startswith(ch * 3, i) else ch
            start, i = i, i + len(delim)
            while i < n:
                if text[i] == "\\":
                    i += 2
                elif text.startswith(delim, i):
                    out[i] = start
                    i += len(delim)
                    break
                elif text[i] == "\n" and len(delim) == 1:
                    break  # an unterminated one-line string: give up on it at the line's end
                else:
                    i += 1
            continue
        if ch in "([{":
            stack.append((ch, i))
        elif ch in PAIRS and stack and stack[-1][0] == PAIRS[ch]:
            out[i] = stack.pop()[1]
        i += 1
    return out


def closer_groups(
    text: str, bins: Sequence[tuple[int, int]] = DISTANCE_BINS
) -> dict[str, np.ndarray]:
    """Masks (T,) bool of Python's closing brackets and quotes, by distance to the opener.

    Keys ``"bracket, 5-10 back"`` etc. (``"41+"`` for an open-ended last bin) for ``) ] }`` and
    ``"quote, ..."`` for ``' "``; the distance is t - (index of the opener) (``match_python``).
    """
    opener = match_python(text)
    closing = opener >= 0
    dist = np.where(closing, np.arange(len(text)) - opener, 0)
    chars = np.array(list(text)) if text else np.zeros(0, dtype="<U1")
    kinds = {"bracket": np.isin(chars, list(PAIRS)), "quote": np.isin(chars, ["'", '"'])}
    groups = {}
    for kind, is_kind in kinds.items():
        for lo, hi in bins:
            label = f"{lo}+" if hi >= 10**9 else f"{lo}-{hi}"
            groups[f"{kind}, {label} back"] = closing & is_kind & (dist >= lo) & (dist <= hi)
    return groups


def name_lines(text: str) -> list[tuple[int, int, str]]:
    """The play's speaker-name lines as (start, end, name): text[start:end] is the name + newline.

    The play script's layout: a blank line, the speaker's name on a line of its own, the speech.
    A name line is a non-empty line right after an empty one (or at the start) and right before a
    non-empty one; a stage direction laid out like a name ("Enter MACBETH" over a speech) counts.
    """
    out = []
    lines = text.split("\n")
    pos = 0
    for k, line in enumerate(lines):
        end = pos + len(line) + 1  # with its newline
        before_blank = k == 0 or lines[k - 1] == ""
        after_text = k + 1 < len(lines) and lines[k + 1] != ""
        if line and before_blank and after_text:
            out.append((pos, min(end, len(text)), line))
        pos = end
    return out


def speaker_lines(text: str) -> np.ndarray:
    """(T,) bool: the characters (newline included) of the play's speaker-name lines."""
    out = np.zeros(len(text), dtype=bool)
    for start, end, _ in name_lines(text):
        out[start:end] = True
    return out


def name_groups(text: str, known: Collection[str], near: int = WARMUP) -> dict[str, np.ndarray]:
    """Masks (T,) bool of the name lines' characters: 1st letter, the rest, newline; known or new.

    A name is *known* when it is in ``known`` (for example the names of the training text's name
    lines, ``{name for _, _, name in name_lines(train_text)}``), *new* otherwise. ``rest``: the
    characters after the first, up to the newline. ``new, in last {near}: rest``: the rest of a new
    name whose same name line began fewer than ``near`` characters before (with the default, inside
    the context ``model_losses`` gives every character).
    """
    if not isinstance(near, int) or near < 1:
        raise LstmvizError(f"near must be a whole number >= 1, got {near!r}")
    names = set(known)
    labels = ("1st letter", "known name: rest", "new name: rest", f"new, in last {near}: rest",
              "known name: newline", "new name: newline")  # fmt: skip
    groups = {label: np.zeros(len(text), dtype=bool) for label in labels}
    last: dict[str, int] = {}  # where each name's previous name line began
    for start, end, name in name_lines(text):
        kind = "known name" if name in names else "new name"
        stop = end - 1 if text[end - 1] == "\n" else end  # the name's characters end here
        groups["1st letter"][start] = True
        groups[f"{kind}: rest"][start + 1 : stop] = True
        if kind == "new name" and start - last.get(name, -(10**18)) < near:
            groups[f"new, in last {near}: rest"][start + 1 : stop] = True
        if stop < end:
            groups[f"{kind}: newline"][stop] = True
        last[name] = start
    return groups


def play_groups(text: str) -> dict[str, np.ndarray]:
    """Masks (T,) bool of the play script's character kinds (each character in at most one).

    ``speaker-name line``; in a speech, by position in its line: ``speech, 1st character``,
    ``speech, 2nd-10th``, ``speech, 11th-30th``, ``speech, 31st+``, ``speech, end of line``
    (the newline ending a speech line); ``end of speech`` (the newline of the blank line after
    it); and, across these, ``inside [ ]`` (a stage direction, from ``[`` to its ``]``).
    """
    T = len(text)
    chars = np.array(list(text)) if text else np.zeros(0, dtype="<U1")
    newline = chars == "\n"
    t = np.arange(T)
    last_nl = np.maximum.accumulate(np.where(newline, t, -1)) if T else t
    pos = t - last_nl - 1  # 0 = a line's first character (a newline: its line's length)
    prev_nl = np.concatenate([[True], newline[:-1]])  # the character before is a newline
    name = speaker_lines(text)
    blank = newline & prev_nl  # the newline of an empty line
    speech = ~name & ~blank
    groups = {
        "speaker-name line": name,
        "speech, 1st character": speech & ~newline & (pos == 0),
        "speech, 2nd-10th": speech & ~newline & (pos >= 1) & (pos <= 9),
        "speech, 11th-30th": speech & ~newline & (pos >= 10) & (pos <= 29),
        "speech, 31st+": speech & ~newline & (pos >= 30),
        "speech, end of line": speech & newline,
        "end of speech": blank,
    }
    depth = np.cumsum((chars == "[").astype(int) - np.concatenate([[0], (chars == "]")[:-1]]))
    groups["inside [ ]"] = (depth > 0) if T else np.zeros(0, dtype=bool)
    return groups


@dataclass
class GroupRow:
    """Two models' mean loss on one group of characters."""

    group: str
    n: int  # characters in the group (scored by both)
    loss_a: float  # mean loss of model a, nats/char
    loss_b: float  # mean loss of model b, nats/char
    gain: float  # loss_b - loss_a: how much lower a's loss is (> 0: a wins)
    se: float  # standard error of gain over the group's characters (NaN for n < 2)


def compare_groups(
    loss_a: np.ndarray, loss_b: np.ndarray, groups: Mapping[str, np.ndarray]
) -> list[GroupRow]:
    """Per group: mean loss of a and b (T,) and gain = b - a ± SE, over the characters both score.

    The SE treats the characters as independent, which neighbouring characters are not: a guide
    to the noise, not a test.
    """
    a, b = np.asarray(loss_a, dtype=float), np.asarray(loss_b, dtype=float)
    if a.shape != b.shape:
        raise LstmvizError(f"the two losses differ in length: {a.shape} and {b.shape}")
    scored = np.isfinite(a) & np.isfinite(b)
    rows = []
    for name, mask in groups.items():
        m = np.asarray(mask, dtype=bool)
        if m.shape != a.shape:
            raise LstmvizError(f"group {name!r} has shape {m.shape}, the losses {a.shape}")
        m = m & scored
        d = b[m] - a[m]
        n = int(m.sum())
        gain, se = mean_se(d) if n > 1 else (float(d.mean()) if n else math.nan, math.nan)
        means = [float(v.mean()) if n else math.nan for v in (a[m], b[m])]
        rows.append(GroupRow(name, n, means[0], means[1], gain, se))
    return rows


def table(rows: Sequence[GroupRow], a: str = "LSTM", b: str = "5-gram") -> str:
    """The rows as a text table: group, characters, both losses, gain ± SE."""
    head = f"{'characters':<24} {'n':>6} {a:>8} {b:>8}   {b + ' - ' + a:>16}"
    lines = [
        f"{r.group:<24} {r.n:>6} {r.loss_a:>8.3f} {r.loss_b:>8.3f}   {r.gain:>+8.3f} ± {r.se:5.3f}"
        for r in rows
    ]
    return "\n".join([head, "-" * len(head), *lines])
