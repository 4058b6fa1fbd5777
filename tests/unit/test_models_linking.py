import pytest

from models.linking import TickerLinker, relevance
from models.records import Entity


@pytest.fixture(scope="module")
def linker():
    return TickerLinker.default()


def org(text, surface):
    start = text.index(surface)
    return Entity(surface, "ORG", start, start + len(surface), 0.9)


def tickers(links):
    return {link.ticker: link for link in links}


def test_cashtag_always_linked(linker):
    links = tickers(linker.link("$aapl and $ZZZQ up", []))
    assert links["AAPL"].method == "cashtag" and links["AAPL"].confidence > 0.95
    assert links["ZZZQ"].confidence < links["AAPL"].confidence  # unknown symbol, less sure


def test_name_needs_an_org_span(linker):
    assert linker.link("I baked an apple pie", []) == ()
    assert linker.link("Apple pie recipes are popular", []) == ()
    text = "Apple shares fell 3% after the event"
    [link] = linker.link(text, [org(text, "Apple")])
    assert (link.ticker, link.method, link.text) == ("AAPL", "alias", "Apple")


def test_short_forms_and_catalogue_names(linker):
    text = "Alphabet's Google unit and Microsoft Corp"
    links = tickers(linker.link(text, [org(text, "Alphabet"), org(text, "Microsoft Corp")]))
    assert links["GOOGL"].text in ("Alphabet", "Google")
    assert links["MSFT"].ticker == "MSFT"


def test_bare_symbol_only_when_unambiguous(linker):
    assert "NVDA" in tickers(linker.link("NVDA beats estimates", []))
    links = tickers(linker.link("The CEO said IT spending is ON track", []))
    assert not {"IT", "ON", "CEO"} & set(links)


def test_hint_linked_even_when_absent(linker):
    links = tickers(linker.link("Shares slid on weak guidance", [], ["aapl"]))
    assert links["AAPL"].method == "hint" and links["AAPL"].text == ""
    assert links["AAPL"].confidence == 1.0


def test_hint_found_by_name_without_org(linker):
    links = tickers(linker.link("Tesla recalls cars; Ford also mentioned", [], ["TSLA"]))
    assert links["TSLA"].text == "Tesla" and links["TSLA"].confidence >= 0.95


def test_subject_vs_mention(linker):
    text = "Nvidia soars on record data-center sales, lifting peers such as $AMD"
    links = tickers(linker.link(text, [org(text, "Nvidia")]))
    assert links["NVDA"].relevance_kind == "subject"
    assert links["AMD"].relevance_kind == "mention"
    assert links["NVDA"].relevance > links["AMD"].relevance


def test_relevance_rules():
    assert relevance(100, [0], n_tickers=1, rank=0) == 0.85  # named first, sole ticker
    assert relevance(100, [80], n_tickers=3, rank=2) < 0.6
    assert relevance(100, [80, 90, 95], n_tickers=3, rank=2) > relevance(100, [80], 3, 2)


def test_generic_leftovers_and_ratings_do_not_link(linker):
    text = "Compass Point ups Centene to BBB- from BB+"
    links = tickers(linker.link(text, [org(text, "Compass Point")]))
    assert not {"CMPGY", "BB", "BBB"} & set(links)
