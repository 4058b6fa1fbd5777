"""Ticker linking: from a text, its entities and its hints to (ticker, confidence, relevance).

Sources of links, strongest first:
- cashtags (`$AAPL`): always linked;
- bare symbols (`AAPL`, upper case in the text) when known and not a common word or
  acronym; a symbol known only from the SEC list needs evidence next to it ("SOFI shares",
  "(NASDAQ: SOFI)"); a symbol that starts a longer name ("BG Group") is not linked;
- company names (:mod:`models.catalogue`: alias table, index constituents, SEC names) when
  there is evidence that the text is about the company: a distinctive name written
  capitalised ("Halliburton"), a predicted ORG span on the name,
  a market word next to it ("Apple shares fall", "shares of Target", "Visa Inc."), a list
  with a company already linked ("Walmart and Target"); an alias marked ``needs_org=0``
  ("Nvidia") needs none. A name that is only part of a longer proper name ("Pearson
  Jones", "Harrison Ford", "Apple Hospitality") never links (:mod:`models.evidence`);
- hints that came with the record: always linked, method "hint" when not found in the text.

A further mention of a linked ticker (its name without evidence) adds to its spans.
Every ticker linked, hinted or found, passes the ticker syntax of :mod:`models.tickers`
(a hint such as ``"\x00"``, ``"A B"``, an emoji or a 40-character string is ignored).

Relevance (pure heuristics, documented in the README): a ticker is the subject when it is
named early, named often, or is the only ticker of the text; otherwise a passing mention.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import models.evidence as ev
from models.catalogue import Catalogue, Name, load_catalogue
from models.records import Entity, TickerLink
from models.tickers import is_ticker, normalise_ticker

_CASHTAG = re.compile(r"(?<![\w$])\$([A-Za-z]{1,6}(?:\.[A-Za-z]{1,2})?)\b")
_SYMBOL = re.compile(r"(?<![\w$])([A-Z]{2,5}(?:\.[A-Z])?)\b")
# Upper-case words that are symbols of some listed company but nearly always mean something else.
COMMON_WORDS = frozenset(
    "A I AN AM ARE ALL AT BE BIG BY CAN CEO CFO COO CTO DD EPS ETF EU FOR GDP GO HAS HE IF IN "
    "IPO IS IT ITS KEY LOW MAN NEW NOW NYSE NASDAQ OF ON ONE OR OUT PM Q SEC SO TV UK UN US USA "
    "USD EUR WELL YOY QOQ AI ESG EV IRS ATH FED FOMC CPI PPI OK AMP EDIT HOLD BUY SELL "
    "POST CASH FAST REAL LIFE LOVE PLAY RUN SAVE TRUE VERY WORK HUGE MOVE NICE RIDE "
    "FDA FTC DOJ ECB IMF WHO NATO OPEC NFT SPAC LLC USB API APP ATM HR PR IP AGM KB MB GB TB "
    "EOD EOY YTD IMO "
    "AA AAA BB BBB CCC".split()  # ... and credit ratings
)


def trie_pattern(surfaces: Iterable[str]) -> str:
    """A regex alternation of `surfaces` as a trie; at each node longer continuations are
    tried before the end, so with a trailing check the longest surface that fits wins."""
    root: dict = {}
    for surface in surfaces:
        node = root
        for char in surface:
            node = node.setdefault(char, {})
        node[""] = {}  # a surface ends here

    def build(node: dict) -> str:
        branches = [re.escape(char) + build(child) for char, child in node.items() if char]
        if not branches:
            return ""
        body = "|".join(sorted(branches))
        optional = "" in node
        if len(branches) == 1 and not optional:
            return body
        return "(?:" + body + ")" + ("?" if optional else "")

    return build(root)


@dataclass
class _Match:
    ticker: str
    start: int
    end: int
    confidence: float
    method: str
    text: str
    weak: bool = False  # no evidence of its own: counts only for a ticker linked otherwise


class TickerLinker:
    def __init__(self, catalogue: Catalogue) -> None:
        self.symbols = catalogue.symbols  # symbol -> tier ("index" | "listed")
        self.by_surface: dict[str, list[Name]] = {}
        for entry in catalogue.names:
            self.by_surface.setdefault(entry.surface.lower(), []).append(entry)
        # One trie-shaped pattern, longer continuations first ("Goldman Sachs" wins over
        # "Goldman"): the same matches as a longest-first alternation of ~2,000 names, which
        # `re` tries one by one at every position (measured: 0.42 ms per text, 7% of the
        # engine's time, before this).
        self._name_re = re.compile(
            r"(?<![\w$])(" + trie_pattern(self.by_surface) + r")(?!\w)", re.IGNORECASE
        )

    @classmethod
    def default(cls, universe_file: str | Path | None = None) -> TickerLinker:
        """The embedded catalogue, widened by ``universe_file`` (e.g. the SEC's
        company_tickers.json) when given."""
        return cls(load_catalogue(universe_file or None))

    def link(
        self, text: str, entities: Sequence[Entity], hints: Sequence[str] = ()
    ) -> tuple[TickerLink, ...]:
        orgs = [e for e in entities if e.label == "ORG"]
        found = list(self._name_re.finditer(text))
        matches = self._cashtags(text)
        for m in found:
            matches.extend(self._name_matches(text, m, orgs))
        spans = [(m.start(), m.end()) for m in found]
        # the alias table decides what an upper-case alias means ("HP" is HP Inc, not the
        # symbol HP of Helmerich & Payne)
        claimed = {(m.start(), m.end()) for m in found if any(
            e.kind == "alias" and e.ticker != m.group(1)
            for e in self.by_surface[m.group(1).lower()])}
        matches.extend(self._symbol_matches(text, orgs, spans, claimed))
        _accept_lists(text, matches)
        linked = {m.ticker for m in matches if not m.weak}
        matches = [m for m in matches if m.ticker in linked]
        hinted = [t for t in map(normalise_ticker, hints) if t]
        for ticker in hinted:  # hints may be found by any surface of the ticker
            matches.extend(self._hint_matches(text, ticker, matches))
        return link_records(text, matches, hinted)

    def _cashtags(self, text: str) -> list[_Match]:
        out = []
        for m in _CASHTAG.finditer(text):
            ticker = m.group(1).upper()
            conf = 0.99 if ticker in self.symbols else 0.85
            out.append(_Match(ticker, m.start(), m.end(), conf, "cashtag", m.group(0)))
        return out

    def _name_matches(
        self, text: str, m: re.Match, orgs: Sequence[Entity]
    ) -> list[_Match]:
        surface, start, end = m.group(1), m.start(), m.end()
        if text[end : end + 2].lstrip().startswith(":"):
            return []  # an exchange label: "NASDAQ: SOFI"
        org = next((e for e in orgs if e.start < end and start < e.end), None)
        capitalised = _capitalised(surface)
        out = []
        for entry in self.by_surface[surface.lower()]:
            if entry.surface.isupper() and not surface.isupper():
                continue  # an upper-case name ("NOW", "CDW") is written upper case
            if not entry.unambiguous and (
                ev.partial_name(text, start, end, entry.ticker)
                or (org is not None and ev.org_extends(text, org.start, org.end, start, end))
            ):
                continue  # part of a longer name: another company or a person
            conf, weak = _name_confidence(text, entry, start, end, org, capitalised)
            if conf:
                out.append(_Match(entry.ticker, start, end, conf, entry.method, surface, weak))
        return out

    def _symbol_matches(
        self, text: str, orgs: Sequence[Entity], names: list[tuple[int, int]],
        claimed: set[tuple[int, int]],
    ) -> list[_Match]:
        if text.isupper():
            return []
        out = []
        for m in _SYMBOL.finditer(text):
            word, start, end = m.group(1), m.start(), m.end()
            tier = self.symbols.get(word)
            inside = (start, end) in claimed or any(
                s <= start and end <= e and e - s > end - start for s, e in names)
            if tier is None or word in COMMON_WORDS or inside:
                continue  # unknown, a common word, or inside a company name ("GE HealthCare")
            org = next((e for e in orgs if e.start <= start and end <= e.end), None)
            if ev.bracketed_symbol(text, start, end) or ev.exchange_prefixed(text, start):
                out.append(_Match(word, start, end, 0.9, "symbol", word))
                continue
            if ev.partial_name(text, start, end, word, before=False) or (
                org is not None and ev.org_extends(text, org.start, org.end, start, end)
            ):
                continue  # "BG Group", "AMC Networks"
            if tier == "index":
                out.append(_Match(word, start, end, 0.8 if org else 0.6, "symbol", word))
            else:  # known only from the SEC list: many are abbreviations too
                sure = org is not None or ev.has_context(text, start, end, before=0, after=2)
                out.append(_Match(word, start, end, 0.65 if sure else 0.5, "symbol", word,
                                  weak=not sure))
        return out

    def _hint_matches(self, text: str, ticker: str, matches: list[_Match]) -> list[_Match]:
        if any(m.ticker == ticker for m in matches):
            return []
        out = []
        for m in re.finditer(r"(?<!\w)" + re.escape(ticker) + r"(?!\w)", text):
            out.append(_Match(ticker, m.start(), m.end(), 0.95, "symbol", m.group(0)))
        for m in self._name_re.finditer(text):
            for entry in self.by_surface[m.group(1).lower()]:
                if entry.ticker == ticker:
                    out.append(_Match(ticker, m.start(), m.end(), 0.95, entry.method, m.group(1)))
        return out


_SMALL_WORDS = frozenset("of and the & de du la von van".split())


def _capitalised(surface: str) -> bool:
    """Written as a name: every word capitalised ("Global Payments", not "Global payments")."""
    return all(w[:1].isupper() or not w[:1].isalpha() or w.lower() in _SMALL_WORDS
               for w in surface.split())


def _name_confidence(
    text: str, entry: Name, start: int, end: int, org: Entity | None, capitalised: bool
) -> tuple[float, bool]:
    """(confidence, weak) of a name match; confidence 0 = not a candidate at all."""
    scale = 1.0 if entry.kind == "alias" else 0.95
    several_words = " " in entry.surface  # "Lockheed Martin": a name, not a word
    # The model tags an ordinary word that opens a sentence as ORG as readily as a company
    # ("Apple orchards", "Target practice"): there its tag alone is no evidence.
    if org is not None and (entry.unambiguous or entry.distinctive or several_words or (
            capitalised and not ev.sentence_initial(text, start))):
        exact = org.start == start or org.end == end
        return (0.9 if exact else 0.75) * scale, False
    context = ev.has_context(text, start, end)
    if capitalised and context:
        return (0.7 if entry.kind == "alias" else 0.65 if entry.kind == "name" else 0.6), False
    if entry.unambiguous:
        if capitalised:
            return 0.6, False
        return (0.5, False) if context else (0.0, True)
    if capitalised and (entry.distinctive or (
            several_words and entry.kind != "registered" and not ev.is_title_case(text))):
        return 0.55, False
    return (0.5, True) if capitalised else (0.0, True)


def _accept_lists(text: str, matches: list[_Match]) -> None:
    """A capitalised name listed with a linked company is one too ("Walmart and Target")."""
    changed = True
    while changed:
        changed = False
        strong = [m for m in matches if not m.weak]
        for m in matches:
            if m.weak and any(ev.listed_together(text, s.end, m.start)
                              or ev.listed_together(text, m.end, s.start) for s in strong):
                m.weak, m.confidence, changed = False, 0.6, True


def relevance(text_length: int, starts: Sequence[int], n_tickers: int, rank: int) -> float:
    """0..1: named first, early, repeated, or the sole ticker = the subject of the text."""
    early = 1.0 if rank == 0 else max(0.0, 1.0 - min(starts) / text_length)
    repeated = min(len(starts) - 1, 2) / 2
    sole = 1.0 if n_tickers == 1 else 0.0
    return round(min(1.0, 0.3 + 0.35 * early + 0.15 * repeated + 0.2 * sole), 3)


def link_records(text: str, matches: list[_Match], hinted: Sequence[str]) -> tuple[TickerLink, ...]:
    by_ticker: dict[str, list[_Match]] = {}
    matches = [m for m in matches if is_ticker(m.ticker)]
    hinted = [h for h in hinted if is_ticker(h)]
    for m in sorted(matches, key=lambda m: m.start):
        by_ticker.setdefault(m.ticker, []).append(m)
    tickers = list(by_ticker) + [h for h in dict.fromkeys(hinted) if h not in by_ticker]
    links = []
    for rank, ticker in enumerate(tickers):
        group = by_ticker.get(ticker)
        if group is None:  # hinted, not found in the text
            rel = 0.7 if len(tickers) == 1 else 0.4
            links.append(TickerLink(ticker, 1.0, rel, _kind(rel), "hint", ""))
            continue
        best = max(group, key=lambda m: m.confidence)
        conf = max(best.confidence, 0.95) if ticker in hinted else best.confidence
        rel = relevance(max(len(text), 1), [m.start for m in group], len(tickers), rank)
        spans = tuple(sorted({(m.start, m.end) for m in group}))
        links.append(
            TickerLink(ticker, round(conf, 3), rel, _kind(rel), best.method, best.text, spans)
        )
    return tuple(links)


def _kind(rel: float) -> str:
    return "subject" if rel >= 0.6 else "mention"
