"""Text and id normalisation shared by every input source's ``to_document``."""

from __future__ import annotations

import re
import unicodedata

from models.tickers import normalise_ticker
from streams.contracts import DocumentKind

EXCERPT_CHARS = 200

_WS = re.compile(r"\s+")
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))


def normalise_text(text: str) -> str:
    """NFC, zero-width characters removed, other control/invisible characters turned into
    spaces, whitespace collapsed."""
    text = unicodedata.normalize("NFC", text).translate(_ZERO_WIDTH)
    if not text.isprintable():  # the per-character pass only when there is something to do
        text = "".join(ch if ch.isprintable() else " " for ch in text)
    return _WS.sub(" ", text).strip()


def ticker_hints(tickers: list[str]) -> list[str]:
    """Valid tickers of a producer's hints, normalised, once each, in order."""
    return list(dict.fromkeys(t for t in map(normalise_ticker, tickers) if t))


def escape_id_part(part: str) -> str:
    """``%`` -> ``%25`` and ``:`` -> ``%3A``: parts without either are unchanged."""
    return part.replace("%", "%25").replace(":", "%3A")


def doc_id_for(kind: DocumentKind, source: str, record_id: str) -> str:
    """``<kind>:<source>:<id>``, unambiguous: ``:`` and ``%`` in the parts are escaped."""
    return f"{kind}:{escape_id_part(source)}:{escape_id_part(record_id)}"
