"""What a sample looks like, in numbers: real words, line lengths, speaker names (lessons 01, 04).

The lessons say things like "it writes real words" or "high temperature makes more spelling
mistakes"; these counts are how they check them, over several samples.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

WORD = re.compile(r"[A-Za-z]+(?:'[a-z]+)?")


def words(text: str) -> list[str]:
    """The words of ``text`` (letters, with an inner apostrophe), lower-cased."""
    return [w.lower() for w in WORD.findall(text)]


def known_words(text: str) -> set[str]:
    """Every word that occurs in ``text``: the dictionary a sample's words are looked up in."""
    return set(words(text))


def is_name_line(line: str) -> bool:
    """A speaker-name line of the play script: capitals (and spaces, '.'), at least 3 letters."""
    s = line.strip()
    return len(re.sub(r"[^A-Z]", "", s)) >= 3 and re.fullmatch(r"[A-Z][A-Z .'-]*", s) is not None


def text_stats(text: str, dictionary: Iterable[str]) -> dict[str, float]:
    """Counts of one text: ``real_words`` (fraction found in ``dictionary``), ``distinct_words``
    (distinct / all words: low = repetitive), ``word_len`` (mean letters per word),
    ``line_len`` (mean characters per non-empty line), ``names_per_1000`` (speaker-name lines per
    1000 characters, so that a short sample and a long text compare)."""
    dictionary = dictionary if isinstance(dictionary, (set, frozenset)) else set(dictionary)
    ws = words(text)
    lines = [s for s in text.split("\n") if s.strip()]
    n = max(len(ws), 1)
    return {
        "real_words": sum(w in dictionary for w in ws) / n,
        "distinct_words": len(set(ws)) / n,
        "word_len": sum(map(len, ws)) / n,
        "line_len": sum(map(len, lines)) / max(len(lines), 1),
        "names_per_1000": 1000 * sum(map(is_name_line, lines)) / max(len(text), 1),
    }
