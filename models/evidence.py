"""Evidence in the text around a candidate ticker link (pure functions of the text).

A company name that is also an ordinary word ("Apple", "Target", "Visa"), a symbol that is
also an abbreviation, or a name that is only the start of a longer one ("BG Group",
"Pearson Jones", "Harrison Ford") becomes a link only with evidence:
- context: a market word next to it ("Apple shares", "shares of Target", "Visa Inc.");
- a symbol in brackets after a name ("Bunge (NYSE: BG)");
- a list with a company already linked ("Walmart and Target");
and never when the text shows it is part of a longer proper name (:func:`partial_name`).
"""

from __future__ import annotations

import functools
import re

# Words that say the neighbouring name is a listed company (lower case, no possessive).
CONTEXT_WORDS = frozenset(
    "shares share stock stocks inc inc. corp corp. corporation plc ltd llc nyse nasdaq "
    "earnings ceo cfo chief executive revenue revenues profit profits quarterly guidance "
    "outlook forecast forecasts dividend dividends buyback buybacks analysts analyst "
    "investors shareholders shareholder downgrade downgrades downgraded upgrade upgrades "
    "upgraded ipo acquisition acquire acquires merger valuation estimates results premarket "
    "recall recalls".split()
)
_CONTEXT_AFTER = CONTEXT_WORDS - frozenset("analysts analyst investors shareholders".split())
# Capitalised words that may follow a company name without making it a longer name.
_ALLOWED_NEXT = CONTEXT_WORDS | frozenset(
    "and or & co co. company group's the a of to in on at for as vs vs. says said".split()
)
# Words that end a longer company name even in a Title Case headline ("BG Group",
# "Gates Foundation", "AMC Networks", "Apple Hospitality").
NAME_WORDS = frozenset(
    "group holdings holding partners partnership foundation capital hospitality networks "
    "network entertainment bank bancorp financial trust realty properties energy resources "
    "pharmaceuticals therapeutics technologies systems solutions industries international "
    "global airlines airways motors communications media studios ventures investments "
    "insurance healthcare labs laboratories brands foods reit fund funds".split()
)
# Capitalised words that may precede a company name at the start of a sentence.
_FUNCTION_WORDS = frozenset(
    "the a an and or but why how what when where who will would can could should is are "
    "was were do does did has have had after before as at by for from in into on of to "
    "with while if so than buy sell hold short long watch watching breaking update "
    "exclusive report analysts investors shares stock stocks today yesterday is "
    "rival rivals peer peers says".split()
)
_TITLE_WORD = re.compile(r"(?<![\w#])[A-Z][a-z]{3,}\b")
_PLAIN_WORD = re.compile(r"(?<![\w#])[a-z]{4,}\b")
_WORD = re.compile(r"#?[A-Za-z0-9][\w'’.&-]*")  # a hashtag ("#Stock") is a word, no evidence
_CLAUSE_END = re.compile(r"[;:!?()\[\]]|[.,](?=\s|$)")
_POSSESSIVE = re.compile(r"^['’]s\b")
_EXCHANGE = re.compile(r"\(\s*(?:(?:NYSE|NASDAQ|Nasdaq|NYSE American|AMEX)\s*:\s*)?$")


def _norm(word: str) -> str:
    return re.sub(r"['’]s$", "", word).lower().rstrip(".,")


def words_after(text: str, end: int, n: int) -> list[str]:
    """Up to ``n`` words after ``end`` in the same clause (a possessive 's skipped)."""
    rest = _POSSESSIVE.sub("", text[end : end + 80])
    cut = _CLAUSE_END.search(rest)
    return _WORD.findall(rest[: cut.start()] if cut else rest)[:n]


def words_before(text: str, start: int, n: int) -> list[str]:
    """Up to ``n`` words before ``start`` in the same clause."""
    if n <= 0:
        return []
    head = text[max(0, start - 80) : start]
    cuts = list(_CLAUSE_END.finditer(head))
    return _WORD.findall(head[cuts[-1].end() :] if cuts else head)[-n:]


def has_context(text: str, start: int, end: int, before: int = 3, after: int = 4) -> bool:
    """A market word within ``before`` words before or ``after`` words after the span."""
    # "Visa Inc." keeps its period: the clause cut happens after the word
    if text[end : end + 6].lower().lstrip(" ,").startswith(("inc.", "corp.")):
        return True
    if any(_norm(w) in CONTEXT_WORDS for w in words_before(text, start, before)):
        return True
    after_words = words_after(text, end, after)
    if (after_words[:1] == ["to"] and len(after_words) > 1 and after_words[1].islower()
            and sentence_initial(text, start)):
        return True  # a headline's "Apple to hold...", "Pearson to sell...": a company acts
    # "Rational investors", "Progressive analysts": after a name, people are no evidence
    return any(_norm(w) in _CONTEXT_AFTER for w in after_words)


@functools.lru_cache(maxsize=256)
def is_title_case(text: str) -> bool:
    """Nearly all words of 4+ letters after the first start upper case ("Apple Shares
    Slide"); brand spellings such as "iPhone" and all-caps words do not count either way."""
    pos = text.find(" ") + 1
    if pos == 0:
        return False
    upper, lower = len(_TITLE_WORD.findall(text, pos)), len(_PLAIN_WORD.findall(text, pos))
    return upper + lower >= 2 and upper >= 0.85 * (upper + lower)


def sentence_initial(text: str, start: int) -> bool:
    """Nothing but a sentence break (or a headline separator) before ``start``: there a
    capital letter says nothing about a name."""
    head = text[:start].rstrip(" \"'“‘(")
    return not head or head[-1] in ".!?:;-–—|"


def _capitalised(word: str) -> bool:
    return word[:1].isupper()


def next_word(text: str, end: int) -> str | None:
    """The word right after ``end`` when only one space separates them."""
    m = re.match(r" ([A-Za-z0-9][\w'’&-]*)", text[end : end + 40])
    return m.group(1) if m else None


def previous_word(text: str, start: int) -> tuple[str, int] | None:
    """The word right before ``start`` (one space between) and where it starts."""
    m = re.search(r"([A-Za-z][\w'’&-]*) $", text[max(0, start - 40) : start])
    return (m.group(1), start - len(m.group(0))) if m else None


def partial_name(text: str, start: int, end: int, ticker: str = "", before: bool = True) -> bool:
    """The span is the start or end of a longer proper name ("BG Group", "Pearson Jones",
    "Harrison Ford"): then it names some other company or person. In a Title Case
    headline only a following name word ("Group", "Foundation") counts."""
    nxt = next_word(text, end)
    if nxt and _capitalised(nxt) and nxt.upper() != ticker:
        word = _norm(nxt)
        if word in NAME_WORDS or (word not in _ALLOWED_NEXT and not is_title_case(text)):
            return True
    prev = previous_word(text, start) if before else None
    if prev:
        word, _ = prev
        if (_capitalised(word) and word.isalpha() and _norm(word) not in _FUNCTION_WORDS
                and not is_title_case(text)):
            return True
    return False


def org_extends(text: str, org_start: int, org_end: int, start: int, end: int) -> bool:
    """A predicted ORG span covers the match and capitalised words beyond it that are no
    legal suffix: the organisation is a longer name ("[BG Group]" around "BG")."""
    outside = text[org_start:start] + " " + text[end:org_end]
    return any(
        _capitalised(w) and _norm(w) not in _ALLOWED_NEXT for w in _WORD.findall(outside)
    )


def bracketed_symbol(text: str, start: int, end: int) -> bool:
    """``(BG)`` or ``(NYSE: BG)``: a symbol given for the name before it."""
    before = text[max(0, start - 20) : start]
    return text[end : end + 1] == ")" and _EXCHANGE.search(before) is not None


def exchange_prefixed(text: str, start: int) -> bool:
    """``NYSE: BG`` / ``NASDAQ:SOFI`` without brackets."""
    before = text[max(0, start - 16) : start]
    return re.search(r"\b(NYSE|NASDAQ|Nasdaq|AMEX)\s*:\s*$", before) is not None


def listed_together(text: str, a_end: int, b_start: int) -> bool:
    """Two names joined as a list: "Walmart and Target", "Amazon, Google and Meta"."""
    between = text[a_end:b_start]
    return re.fullmatch(r"\s*(,|&|and|or|,\s*and)\s*", between, re.IGNORECASE) is not None
