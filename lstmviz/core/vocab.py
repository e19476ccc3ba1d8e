"""Characters <-> integer ids, in sorted character order, so every process agrees on them."""

from __future__ import annotations

import operator
from collections.abc import Iterable

import numpy as np
import torch
from torch import Tensor

from .errors import LstmvizError, clip


class Vocab:
    """The characters a model knows: ``chars[i]`` is the character with id ``i``."""

    def __init__(self, chars: str | Iterable[str]):
        chars = "".join(chars)
        if not chars:
            raise LstmvizError("a vocabulary needs at least one character; the text is empty")
        if len(set(chars)) != len(chars) or list(chars) != sorted(chars):
            raise LstmvizError(
                "vocabulary characters must be unique and sorted; "
                "build it with Vocab.from_text(text)"
            )
        self.chars: str = chars
        self.stoi: dict[str, int] = {ch: i for i, ch in enumerate(chars)}
        # Sorted code points: encoding is one vectorised binary search instead of a Python loop
        # over millions of characters (5M characters of Shakespeare encode in ~0.1 s).
        self._codes = np.frombuffer(chars.encode("utf-32-le"), dtype=np.uint32)

    @classmethod
    def from_text(cls, text: str) -> Vocab:
        """Vocabulary of every character in ``text``, sorted by code point."""
        return cls(sorted(set(text)))

    def __len__(self) -> int:
        return len(self.chars)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and other.chars == self.chars

    def __hash__(self) -> int:
        return hash(self.chars)

    def __repr__(self) -> str:
        return f"Vocab({len(self)} chars: {self.chars[:40]!r}{'...' if len(self) > 40 else ''})"

    def encode(self, text: str, *, what: str = "text") -> Tensor:
        """``text`` (length T) -> ids (T,) LongTensor; LstmvizError names any unknown character."""
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        ids = np.searchsorted(self._codes, codes)
        ids_clipped = np.minimum(ids, len(self._codes) - 1)
        bad = np.flatnonzero(self._codes[ids_clipped] != codes)
        if bad.size:
            pos = int(bad[0])
            ch = text[pos]
            raise LstmvizError(
                f"the {what} contains {ch!r} (U+{ord(ch):04X}) at position {pos}, "
                "which is not one of "
                f"the {len(self)} characters this model knows; remove or replace it "
                f"(known characters: {self.listing()})"
            )
        return torch.from_numpy(ids.astype(np.int64))

    def listing(self, width: int = 300) -> str:
        """The characters as a Python string literal for messages, cut to about ``width``."""
        return clip(repr(self.chars), width)

    def decode(self, ids: Tensor | Iterable[int]) -> str:
        """Ids (any shape is flattened) -> the string of their characters."""
        if isinstance(ids, Tensor):
            ids = ids.reshape(-1).tolist()
        try:
            ids = [operator.index(i) for i in ids]
        except TypeError:
            ids = [-1]
        if ids and not 0 <= min(ids) <= max(ids) < len(self):
            raise LstmvizError(
                f"ids must be integers in 0..{len(self) - 1} for this vocabulary "
                f"of {len(self)} characters"
            )
        chars = self.chars
        return "".join([chars[i] for i in ids])
