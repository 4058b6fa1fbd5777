"""Ticker linking on evidence: names without an ORG span, partial names, ambiguous symbols."""

import json

import pytest

import models.evidence as ev
from models.catalogue import clean_name, load_catalogue
from models.linking import TickerLinker
from models.records import Entity


@pytest.fixture(scope="module")
def linker():
    return TickerLinker.default()


def linked(linker, text, entities=(), hints=()):
    return {link.ticker: link for link in linker.link(text, list(entities), list(hints))}


def org(text, surface):
    start = text.index(surface)
    return Entity(surface, "ORG", start, start + len(surface), 0.9)


@pytest.mark.parametrize(("text", "ticker"), [
    ("Apple shares fall 5% after weak iPhone sales", "AAPL"),
    ("Shares of Target fell 8% in early trading", "TGT"),
    ("Visa Inc. hopes to avoid new swipe fee caps", "V"),
    ("Meta's quarterly revenue tops estimates", "META"),
    ("After the report, Delta stock fell 4%", "DAL"),
    ("Pearson plc sells its US courseware business", "PSO"),
    ("Target Cuts Outlook As Shoppers Pull Back", "TGT"),  # Title Case headline
    ("Halliburton sees weaker drilling activity", "HAL"),  # a distinctive name
    ("Booking Holdings shares rise on strong room nights", "BKNG"),
])
def test_a_known_name_links_without_an_org_span_when_the_text_is_about_it(linker, text, ticker):
    assert set(linked(linker, text)) == {ticker}


@pytest.mark.parametrize("text", [
    "I baked an apple pie for the harvest festival",
    "Apple picking season starts early in Washington orchards",
    "Target practice at the range was cancelled due to rain",
    "The team missed its revenue target by 3%",
    "Visa requirements for students tighten next year",
    "Delta Variant Spreads Across Europe",
    "Box office receipts rose 8% this weekend",
    "Rational investors should ignore the noise",
    "Nasdaq closes at a record as tech rallies",
])
def test_an_ordinary_word_without_evidence_does_not_link(linker, text):
    assert linked(linker, text) == {}


@pytest.mark.parametrize("text", [
    "BG Group appoints new CEO",
    "BG Group Names New Chief Executive",
    "Standard Life buys advice firm Pearson Jones",
    "Harrison Ford stars in a new adventure film",
    "Karl Pearson introduced the correlation coefficient",
    "Gates Foundation pledges $1 billion for vaccines",
    "Apple Hospitality shares slip after a rate rise",
])
def test_part_of_a_longer_name_is_another_company_or_a_person(linker, text):
    assert linked(linker, text) == {}


def test_an_org_span_wider_than_the_match_is_a_longer_name(linker):
    text = "BG Group appoints new CEO"
    assert linked(linker, text, [org(text, "BG Group")]) == {}
    text = "Advice firm Pearson Jones was bought"
    assert linked(linker, text, [org(text, "Pearson Jones")]) == {}
    text = "Analysts like Pearson after the update"  # ORG on the name itself: a link, sure
    assert linked(linker, text, [org(text, "Pearson")])["PSO"].confidence >= 0.85


def test_ambiguous_symbol_links_with_a_cashtag_or_brackets(linker):
    assert linked(linker, "$BG looks cheap here after the Viterra deal")["BG"].method == "cashtag"
    link = linked(linker, "Bunge Global (NYSE: BG) raises its outlook")["BG"]
    assert link.confidence >= 0.9 and len(link.spans) == 2  # the name and the symbol


def test_a_longer_known_name_wins_over_the_symbol_inside_it(linker):
    assert set(linked(linker, "GE HealthCare shares rise after FDA clearance")) == {"GEHC"}
    assert set(linked(linker, "GE Vernova shares jump on strong turbine orders")) == {"GEV"}


def test_a_name_listed_with_a_linked_company_links(linker):
    assert set(linked(linker, "Walmart and Target slash prices on 7000 items")) == {"WMT", "TGT"}
    assert set(linked(linker, "Amazon, Google and Meta face new EU rules")) == {
        "AMZN", "GOOGL", "META"}


def test_a_further_mention_of_a_linked_ticker_adds_its_span(linker):
    text = "$AAPL slips; Apple is the worst performer in the index"
    link = linked(linker, text)["AAPL"]
    assert link.spans == ((0, 5), (13, 18))


def test_hints_still_link_by_any_surface(linker):
    link = linked(linker, "Apple pie sales soar at the fair", hints=["aapl"])["AAPL"]
    assert link.text == "Apple" and link.confidence >= 0.95


@pytest.fixture(scope="module")
def sec_linker(tmp_path_factory):
    """A small file in the SEC's company_tickers.json format (made-up rows)."""
    path = tmp_path_factory.mktemp("sec") / "company_tickers.json"
    rows = [("SOFI", "SoFi Technologies, Inc."), ("AMCX", "AMC NETWORKS INC."),
            ("HOOD", "Robinhood Markets, Inc."), ("ZZQF", "ZED QUARTZ INCOME FUND"),
            ("TH", "Target Hospitality Corp."), ("VISA", "VISA")]
    path.write_text(json.dumps({str(i): {"cik_str": i, "ticker": t, "title": n}
                                for i, (t, n) in enumerate(rows)}))
    return TickerLinker.default(str(path))


@pytest.mark.parametrize(("text", "tickers"), [
    ("SoFi Technologies shares climb on member growth", {"SOFI"}),
    ("SOFI shares jump after an upgrade", {"SOFI"}),
    ("SoFi Technologies (NASDAQ: SOFI) beats estimates", {"SOFI"}),
    ("SOFI was mentioned on the call", set()),  # a symbol only the SEC file has needs evidence
    ("AMC Networks shares fall on cord-cutting losses", {"AMCX"}),
    ("Zed Quartz Income shares slip", set()),  # funds are not linked by name
    ("Target Hospitality stock rises on a new contract", {"TH"}),
    ("Target shares fall", {"TGT"}),  # the index constituent keeps its name
    ("$HOOD up 8% on crypto volumes", {"HOOD"}),
])
def test_the_sec_universe_widens_symbols_and_names_with_evidence(sec_linker, text, tickers):
    assert set(linked(sec_linker, text)) == tickers


def test_the_sec_universe_marks_its_symbols_listed():
    catalogue = load_catalogue()
    assert catalogue.symbols["AAPL"] == "index" and "SOFI" not in catalogue.symbols


@pytest.mark.parametrize(("raw", "keep_group", "clean"), [
    ("Eli Lilly and Company", False, "Eli Lilly"),
    ("BANK OF AMERICA CORP /DE/", False, "BANK OF AMERICA"),
    ("Booking Holdings Inc.", False, "Booking"),
    ("Booking Holdings Inc.", True, "Booking Holdings"),
    ("Rio Tinto (Corporation)", False, "Rio Tinto"),
])
def test_clean_name(raw, keep_group, clean):
    assert clean_name(raw, keep_group) == clean


@pytest.mark.parametrize(("text", "surface", "partial"), [
    ("BG Group appoints new CEO", "BG", True),
    ("Apple Inc. faces a class action", "Apple", False),
    ("Apple shares fall", "Apple", False),
    ("Standard Life buys Pearson Jones", "Pearson", True),
    ("Harrison Ford stars in a film", "Ford", True),
    ("Why Apple's stock could fall", "Apple", False),
    ("Hold your Amazon stock", "Amazon", False),
])
def test_partial_name(text, surface, partial):
    start = text.index(surface)
    assert ev.partial_name(text, start, start + len(surface)) is partial


@pytest.mark.parametrize(("text", "surface", "context"), [
    ("Apple shares fall 5%", "Apple", True),
    ("Shares of Target fell", "Target", True),
    ("Apple orchards report a bumper crop", "Apple", False),
    ("Rational investors should ignore the noise", "Rational", False),
    ("Analysts say Visa is undervalued", "Visa", True),
    ("Apple; shares of others fell", "Apple", False),  # another clause
])
def test_context_words_near_a_name(text, surface, context):
    start = text.index(surface)
    assert ev.has_context(text, start, start + len(surface)) is context


def test_title_case():
    assert ev.is_title_case("Apple Shares Slide After Weak iPhone Demand")
    assert not ev.is_title_case("Apple shares slide after weak iPhone demand")
    assert not ev.is_title_case("Standard Life buys Pearson Jones")  # names, not a style


@pytest.mark.parametrize(("text", "tickers"), [
    ("Should I Buy or Sell Tesla Stock Right Now?", {"TSLA"}),  # "NOW" is written upper case
    ("HP shares fall after earnings", {"HPQ"}),  # the alias table says what HP means
    ("300 HP engine for the new model", set()),
    ("Chairman's presentation to the AGM #Stock", set()),  # a hashtag is no evidence
    ("Apple #Stock #MarketScreener", set()),
])
def test_case_aliases_and_hashtags(linker, text, tickers):
    assert set(linked(linker, text)) == tickers


def test_a_name_is_written_with_every_word_capitalised(linker):
    assert linked(linker, "Texas instruments shares were sold") == {}
    assert set(linked(linker, "Texas Instruments shares fall")) == {"TXN"}
    assert set(linked(linker, "3M settles earplug lawsuits, shares rise")) == {"MMM"}


def test_an_org_tag_on_an_ordinary_word_opening_a_sentence_is_no_evidence(linker):
    for text, surface in [("Apple orchards report a bumper crop", "Apple"),
                          ("Target practice was cancelled. Shell companies hid it", "Shell"),
                          ("my apple watch died again", "apple")]:
        assert linked(linker, text, [org(text, surface)]) == {}
    text = "Goldman raises its price target on Apple"  # mid-sentence, capitalised
    assert set(linked(linker, text, [org(text, "Apple")])) == {"AAPL"}
    text = "Halliburton sees weaker demand"  # distinctive: sure with the tag
    assert linked(linker, text, [org(text, "Halliburton")])["HAL"].confidence >= 0.85


def test_a_name_of_several_capitalised_words_is_a_name(linker):
    assert set(linked(linker, "Lockheed Martin wins a fighter jet contract")) == {"LMT"}
    assert linked(linker, "Best Buy Deals Today On Every Laptop") == {}  # Title Case: no


def test_a_headline_where_the_company_acts(linker):
    assert set(linked(linker, "Pearson to sell its stake in a publisher")) == {"PSO"}
    assert set(linked(linker, "Apple to hold annual shareholder meeting on Monday")) == {"AAPL"}
    assert linked(linker, "Target practice to resume in spring") == {}
    assert linked(linker, "They want Apple to pay more") == {}  # not where a headline opens
