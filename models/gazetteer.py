"""Known company names as an input feature: which words of a text belong to a listed name.

The entity head sees, beside each token's case shape, one bit: is this word part of a known
company name (longest match of up to five words, case-insensitive)? The names are the ticker
catalogue's (alias table, index constituents, and the SEC's registered names when the data
folder has them), frozen into the model directory as `gazetteer.txt` at training time, so a
model always sees the list it was trained with. A known name in lower case ("apple pie") is
flagged too: the case shape beside it lets the model tell the two apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

FILE = "gazetteer.txt"
MAX_WORDS = 5
# The words of BERT's pre-tokenizer: runs of letters/digits, and each punctuation mark alone
# ("AT&T" -> "at & t"), so a text's words come straight from the tokenizer's word ids.
_WORD = re.compile(r"[^\W_]+|[^\w\s]|_")


def normalise(name: str) -> str:
    return " ".join(m.group(0) for m in _WORD.finditer(name.lower()))


class Gazetteer:
    def __init__(self, names: Iterable[str]) -> None:
        self.names = frozenset(n for n in map(normalise, names) if len(n) >= 2)
        self._longest: dict[str, int] = {}  # first word -> most words of a name it starts
        for name in self.names:
            words = name.split(" ")
            if len(words) <= MAX_WORDS:
                first = words[0]
                self._longest[first] = max(self._longest.get(first, 0), len(words))

    def __len__(self) -> int:
        return len(self.names)

    @classmethod
    def from_catalogue(cls, universe_file: Path | None = None) -> Gazetteer:
        from models.catalogue import load_catalogue

        path = universe_file if universe_file and Path(universe_file).exists() else None
        return cls(name.surface for name in load_catalogue(path).names)

    @classmethod
    def read(cls, directory: Path) -> Gazetteer | None:
        path = Path(directory) / FILE
        return cls(path.read_text(encoding="utf-8").splitlines()) if path.exists() else None

    def write(self, directory: Path) -> None:
        (Path(directory) / FILE).write_text("\n".join(sorted(self.names)) + "\n", "utf-8")

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Character spans of the known names in `text`, longest match first, no overlaps."""
        words = [m.group(0).lower() for m in _WORD.finditer(text)]
        bounds = [(m.start(), m.end()) for m in _WORD.finditer(text)]
        return [(bounds[i][0], bounds[i + n - 1][1]) for i, n in self.match(words)]

    def match(self, words: list[str]) -> list[tuple[int, int]]:
        """(first word, number of words) of each known name in a lower-cased word list."""
        out: list[tuple[int, int]] = []
        i = 0
        while i < len(words):
            longest = self._longest.get(words[i], 0)
            for n in range(min(longest, len(words) - i), 0, -1):
                if (words[i] if n == 1 else " ".join(words[i : i + n])) in self.names:
                    out.append((i, n))
                    i += n
                    break
            else:
                i += 1
        return out
