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


@pytest.mark.parametrize("hint", ["\x00", "A B", "\U0001f680", "X" * 40, "AA\nPL", "a:b", "",
                                  "$", "\u200bAAPL", "BRK/B"])
def test_hints_that_are_not_tickers_never_link(linker, hint):
    links = linker.link("Shares slid on weak guidance", [], [hint, "msft"])
    assert [link.ticker for link in links] == ["MSFT"]


def test_every_link_keeps_the_ticker_syntax(linker):
    from models.tickers import is_ticker

    text = "$aapl $BRK.B $toolongcashtag Toyota and VOLV-B.ST rally; BRK-B, 7203.T too"
    links = linker.link(text, [org(text, "Toyota")], ["\x00", "brk-b", "7203.t", "x" * 17])
    assert links and all(is_ticker(link.ticker) for link in links)
    assert {"AAPL", "BRK-B", "7203.T"} <= {link.ticker for link in links}


def test_ticker_syntax():
    from models.tickers import is_ticker, normalise_ticker

    assert [normalise_ticker(t) for t in (" $aapl ", "brk-b", "VOLV-B.ST", "7203.t")] == [
        "AAPL", "BRK-B", "VOLV-B.ST", "7203.T"]
    for bad in ("A B", "\x00", "AA\nPL", "A" * 11, "A.BCDEF", "A-B.C-D", "ÄAPL", "ﬁ", 7, None):
        assert normalise_ticker(bad) is None
    assert is_ticker("AAPL") and not is_ticker("aapl") and not is_ticker("$AAPL")


def test_the_universe_reads_plain_lists_and_the_sec_json(tmp_path):
    from models.tickers import catalogue_symbols, known_universe, read_ticker_file

    plain = tmp_path / "mine.csv"
    plain.write_text("ticker,name\nzzzq,Zed\n# comment\nA B,bad\n\nqqqz # inline\n")
    assert read_ticker_file(plain) == {"TICKER", "ZZZQ", "QQQZ"}
    sec = tmp_path / "sec.json"
    sec.write_text('{"0": {"cik_str": 1, "ticker": "HOOD", "title": "x"}, '
                   '"1": {"ticker": "\\u0000"}}')
    assert read_ticker_file(sec) == {"HOOD"}
    assert {"AAPL", "GOOGL", "7203.T"} <= catalogue_symbols()
    assert known_universe(str(sec)) == catalogue_symbols() | {"HOOD"}
