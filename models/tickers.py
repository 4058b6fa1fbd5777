"""Ticker syntax and the known universe (no torch: importable by the streaming layer).

Syntax: after trimming whitespace and one leading ``$`` and upper-casing, a ticker is ASCII,
at most :data:`MAX_TICKER_LENGTH` characters, and matches :data:`TICKER_PATTERN`: a root of
1-10 letters/digits, then up to two suffixes of 1-4 letters/digits each led by ``.`` or ``-``
(``AAPL``, ``BRK-B``, ``BRK.B``, ``7203.T``, ``VOLV-B.ST``). Control characters, spaces,
emoji, ``:``/``/`` and anything longer never make a ticker.

Universe: the symbols the linker knows (pytickersymbols' index constituents, US listing
preferred, plus the alias table ``aliases.csv``) and, optionally, a user file: one ticker per
line (``#`` starts a comment; CSV rows use their first column), or the SEC's
``company_tickers.json`` (``{"0": {"ticker": ...}, ...}``).
"""

from __future__ import annotations

import csv
import functools
import json
import re
from collections.abc import Iterable
from pathlib import Path

TICKER_PATTERN = r"^[A-Z0-9]{1,10}(?:[.-][A-Z0-9]{1,4}){0,2}$"
MAX_TICKER_LENGTH = 16
_TICKER = re.compile(TICKER_PATTERN)
ALIASES_FILE = Path(__file__).with_name("aliases.csv")


def is_ticker(value: object) -> bool:
    """``value`` is already a ticker in canonical form (upper case, no ``$``)."""
    return (isinstance(value, str) and len(value) <= MAX_TICKER_LENGTH and value.isascii()
            and _TICKER.fullmatch(value) is not None)


def normalise_ticker(raw: object) -> str | None:
    """The canonical ticker of a hint or cashtag (``" $aapl "`` -> ``"AAPL"``), or None."""
    if not isinstance(raw, str) or len(raw) > MAX_TICKER_LENGTH + 8:
        return None
    text = raw.strip()
    text = text[1:] if text.startswith("$") else text
    if not text.isascii():
        return None
    text = text.upper()
    return text if is_ticker(text) else None


def us_symbol(stock: dict) -> str | None:
    """A pytickersymbols entry's symbol, the US (USD, no exchange suffix) listing preferred."""
    for entry in stock.get("symbols") or []:
        if entry.get("currency") == "USD" and "." not in (entry.get("yahoo") or "."):
            return str(entry["yahoo"])
    return stock.get("symbol") or None


@functools.lru_cache(maxsize=1)
def catalogue_symbols() -> frozenset[str]:
    """pytickersymbols (as the linker reads it) + the alias table's tickers."""
    from pytickersymbols import PyTickerSymbols

    out = set()
    for stock in PyTickerSymbols().get_all_stocks():
        symbol = us_symbol(stock)
        if symbol:
            out.add(symbol.upper())
    with ALIASES_FILE.open(newline="", encoding="utf-8") as handle:
        out.update(row["ticker"].strip().upper() for row in csv.DictReader(handle))
    return frozenset(t for t in out if is_ticker(t))


def read_ticker_file(path: Path) -> frozenset[str]:
    """Tickers of a user list: SEC ``company_tickers.json``, or one per line / first CSV column.
    Entries that are not tickers are skipped."""
    text = path.read_text(encoding="utf-8")
    found: Iterable[object]
    if path.suffix == ".json":
        data = json.loads(text)
        rows = data.values() if isinstance(data, dict) else data
        found = [row.get("ticker") if isinstance(row, dict) else row for row in rows]
    else:
        found = [line.split("#", 1)[0].split(",", 1)[0] for line in text.splitlines()]
    return frozenset(t for t in map(normalise_ticker, found) if t)


@functools.lru_cache(maxsize=8)
def known_universe(extra_file: str | None = None) -> frozenset[str]:
    """Every ticker known to the project, plus those of ``extra_file`` (cached per file)."""
    universe = catalogue_symbols()
    if extra_file:
        universe = universe | read_ticker_file(Path(extra_file).expanduser())
    return universe
