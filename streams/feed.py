"""A synthetic feed: realistic news and posts for a watchlist, with scripted events and truth.

Deterministic for a seed. Baseline traffic has a calm mix of sentiment for every ticker, and
a few headlines name two companies with opposite fortunes ("Exxon jumps ... while Chevron
sinks ...": :data:`PAIRS`, the first rises, the second falls), so each ticker's own sentiment
matters. Two scripted events move risk:

- ``shock``: a negative earnings shock for one ticker (a burst of negative wire headlines and
  worried posts) starting at ``shock_at`` (fraction of the run);
- ``rumour``: a viral negative rumour for another ticker: one post with a big audience, then
  exact reposts (``RT @user: ...``) and near-duplicate quote posts with high engagement.

Every message comes with a :class:`Truth` (what was meant, per ticker), so tests can check the
pipeline.
:func:`malformed` makes each kind of bad input the ingest agent must dead-letter.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal

from streams.errors import RECORD_REASONS

COMPANIES: dict[str, tuple[str, str]] = {  # ticker -> (name, product)
    "AAPL": ("Apple", "iPhone"), "MSFT": ("Microsoft", "Azure"), "NVDA": ("Nvidia", "GPU"),
    "AMZN": ("Amazon", "AWS"), "TSLA": ("Tesla", "Model Y"), "GOOGL": ("Alphabet", "search"),
    "META": ("Meta", "advertising"), "JPM": ("JPMorgan", "lending"),
}
NEWS = {
    "positive": [
        "{name} shares rise after strong {product} sales beat expectations",
        "{name} raises full-year guidance as {product} demand grows",
        "Analysts upgrade {name} to buy, citing robust {product} growth",
        "{name} reports record quarterly revenue on {product} strength",
    ],
    "neutral": [
        "{name} to hold annual shareholder meeting on {day}",
        "{name} names new chief financial officer",
        "{name} sets date for quarterly earnings report",
        "{name} to present at investor conference next week",
    ],
    "negative": [
        "{name} shares fall as {product} demand weakens",
        "{name} faces regulatory scrutiny over {product} practices",
        "Analysts downgrade {name}, warning of slowing {product} growth",
    ],
}
SHOCK_NEWS = [
    "{name} misses earnings estimates, shares plunge {pct}% after hours",
    "{name} slashes full-year outlook after {product} revenue miss; stock tumbles",
    "{name} reports surprise quarterly loss, shares sink {pct}%",
    "Investors dump {name} after disastrous earnings and weak {product} guidance",
]
SOCIAL = {
    "positive": ["${t} looking strong into the close, adding more",
                 "{name} crushing it with {product}, ${t} long term hold",
                 "${t} breakout confirmed, great quarter ahead"],
    "neutral": ["anyone watching ${t} today?", "what do you all think about {name} this week",
                "${t} trading sideways, waiting for earnings"],
    "negative": ["${t} breaking down hard, getting out", "not liking the {product} numbers from "
                 "{name}, ${t} looks weak", "${t} puts are printing today"],
}
SHOCK_SOCIAL = ["${t} earnings were a disaster, {pct}% down after hours, selling everything",
                "{name} guidance cut is terrible, ${t} is going to crash",
                "brutal miss from {name}, ${t} bagholders in pain"]
PAIRS: tuple[tuple[str, str, str, str], ...] = (  # (riser, faller, its name, its name)
    ("XOM", "CVX", "Exxon", "Chevron"),
    ("KO", "PEP", "Coca-Cola", "PepsiCo"),
)
MIXED = [
    "{up} shares jump on record output while {down} sinks after a plant outage",
    "{up} lifted by strong volumes while {down} slumps on weak demand",
    "Analysts upgrade {up} on robust margins while {down} tumbles on a profit warning",
]
RUMOUR = ("BREAKING: {name} shares plunge on reports of an SEC fraud probe, more downside "
          "coming ${t}")
QUOTES = ["this is huge if true", "wow", "holy", "not good", "sell now"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]

Event = Literal["baseline", "shock", "rumour"]


@dataclass(frozen=True)
class Truth:
    doc_id: str
    kind: Literal["news", "social"]
    ticker: str
    sentiment: str
    event: Event
    repost_of: str | None = None
    others: tuple[tuple[str, str], ...] = ()  # (ticker, sentiment) of other companies named


@dataclass(frozen=True)
class FeedMessage:
    topic_kind: Literal["news", "social"]
    key: bytes
    value: bytes
    truth: Truth


@dataclass
class Feed:
    watchlist: tuple[str, ...] = ("AAPL", "MSFT", "NVDA", "AMZN", "TSLA", "GOOGL")
    shock: str | None = "NVDA"
    rumour: str | None = "TSLA"
    shock_at: float = 0.4  # fraction of the run when the events start
    news_share: float = 0.35
    mixed_share: float = 0.04  # headlines naming two companies with opposite fortunes
    seed: int = 7
    run_id: str = "sim"

    def messages(self, count: int, clock=lambda: datetime.now(UTC)) -> Iterator[FeedMessage]:  # type: ignore[no-untyped-def]
        rng = random.Random(self.seed)
        rumour_id: str | None = None
        for i in range(count):
            now = clock()
            in_event = i >= int(count * self.shock_at)
            roll = rng.random()
            if in_event and self.shock and roll < 0.25:
                yield self._shock(rng, i, now)
            elif in_event and self.rumour and roll < 0.40:
                msg = self._rumour(rng, i, now, rumour_id)
                rumour_id = rumour_id or msg.truth.doc_id
                yield msg
            elif self.mixed_share and rng.random() < self.mixed_share:
                yield self._mixed(rng, i, now)
            else:
                yield self._baseline(rng, i, now)

    def _fill(self, rng: random.Random, template: str, ticker: str) -> str:
        name, product = COMPANIES.get(ticker, (ticker, "products"))
        return template.format(name=name, product=product, t=ticker, pct=rng.randint(6, 18),
                               day=rng.choice(DAYS))

    def _baseline(self, rng: random.Random, i: int, now: datetime) -> FeedMessage:
        ticker = rng.choice(self.watchlist)
        sentiment = rng.choices(["positive", "neutral", "negative"], [0.35, 0.45, 0.20])[0]
        if rng.random() < self.news_share:
            text = self._fill(rng, rng.choice(NEWS[sentiment]), ticker)
            return self._news(i, now, text, ticker, sentiment, "baseline", rng)
        text = self._fill(rng, rng.choice(SOCIAL[sentiment]), ticker)
        return self._post(i, now, text, ticker, sentiment, "baseline", rng)

    def _mixed(self, rng: random.Random, i: int, now: datetime) -> FeedMessage:
        up, down, up_name, down_name = rng.choice(PAIRS)
        text = rng.choice(MIXED).format(up=up_name, down=down_name)
        msg = self._news(i, now, text, up, "positive", "baseline", rng, hints=False)
        truth = replace(msg.truth, others=((down, "negative"),))
        return replace(msg, truth=truth)

    def _shock(self, rng: random.Random, i: int, now: datetime) -> FeedMessage:
        t = self.shock or ""
        if rng.random() < 0.5:
            return self._news(i, now, self._fill(rng, rng.choice(SHOCK_NEWS), t), t,
                              "negative", "shock", rng)
        return self._post(i, now, self._fill(rng, rng.choice(SHOCK_SOCIAL), t), t, "negative",
                          "shock", rng)

    def _rumour(self, rng: random.Random, i: int, now: datetime, first: str | None) -> FeedMessage:
        t = self.rumour or ""
        text = self._fill(rng, RUMOUR, t)
        if first is None:
            return self._post(i, now, text, t, "negative", "rumour", rng, followers=250_000)
        if rng.random() < 0.6:
            text = f"RT @trader{rng.randint(1, 999)}: {text}"
        else:
            text = f"{rng.choice(QUOTES)} {text}"
        return self._post(i, now, text, t, "negative", "rumour", rng, repost_of=first,
                          engagement=(rng.randint(50, 5000), rng.randint(20, 2000)))

    def _news(self, i: int, now: datetime, headline: str, ticker: str, sentiment: str,
              event: Event, rng: random.Random, hints: bool = True) -> FeedMessage:
        source = rng.choice(["wire-a", "wire-b", "wire-c"])
        hinted = rng.random() < 0.5 and hints
        rec = {"schema_version": 1, "id": f"{self.run_id}-{i}", "source": source,
               "published_at": now.isoformat(), "headline": headline,
               "url": f"https://news.example/{self.run_id}/{i}", "language": "en",
               "tickers": [ticker] if hinted else []}
        truth = Truth(f"news:{source}:{self.run_id}-{i}", "news", ticker, sentiment, event)
        return FeedMessage("news", f"{self.run_id}-{i}".encode(), json.dumps(rec).encode(), truth)

    def _post(self, i: int, now: datetime, text: str, ticker: str, sentiment: str, event: Event,
              rng: random.Random, followers: int | None = None, repost_of: str | None = None,
              engagement: tuple[int, int] | None = None) -> FeedMessage:
        likes, reposts = engagement or (rng.randint(0, 40), rng.randint(0, 10))
        rec = {"schema_version": 1, "id": f"{self.run_id}-{i}", "platform": "x",
               "created_at": now.isoformat(), "text": text,
               "author": {"id": f"user{rng.randint(1, 5000)}",
                          "followers": followers or int(rng.lognormvariate(6, 2)),
                          "verified": followers is not None},
               "engagement": {"likes": likes, "reposts": reposts, "replies": likes // 10}}
        truth = Truth(f"social:x:{self.run_id}-{i}", "social", ticker, sentiment, event,
                      repost_of)
        return FeedMessage("social", f"{self.run_id}-{i}".encode(), json.dumps(rec).encode(),
                           truth)


MALFORMED_REASONS: tuple[str, ...] = tuple(r for r in RECORD_REASONS if r != "value_out_of_range")
"""Reasons :func:`malformed` makes for both kinds (news has no count to put out of range)."""


def malformed(i: int, reason: str, kind: Literal["news", "social"] = "social",
              max_text_chars: int = 20_000) -> bytes:
    """The bytes of a bad ``kind`` message that must be dead-lettered with ``reason``
    (every reason of :data:`RECORD_REASONS`; ``value_out_of_range`` for social only)."""
    retype: dict[str, object]
    if kind == "news":
        good: dict[str, object] = {
            "schema_version": 1, "id": f"bad-{i}", "source": "wire-x", "headline": "Apple up",
            "published_at": "2026-11-28T10:00:00Z", "url": "https://news.example/bad"}
        text_field, drop, retype = "headline", "url", {"tickers": "AAPL"}
        time_field = "published_at"
    else:
        good = {"schema_version": 1, "id": f"bad-{i}", "platform": "x",
                "created_at": "2026-11-28T10:00:00Z", "text": "fine text $AAPL",
                "author": {"id": "u", "followers": 1}}
        text_field, drop, retype = "text", "author", {"author": {"id": "u", "followers": "lots"}}
        time_field = "created_at"
    deep = "[" * 3000 + "]" * 3000
    variants: dict[str, bytes] = {
        "invalid_utf8": b'{"schema_version": 1, "text": "\xff\xfe"}',
        "invalid_json": b'{"schema_version": 1, "id": "bad-' + str(i).encode(),
        "nesting_too_deep": json.dumps(good)[:-1].encode() + b', "deep": ' + deep.encode() + b"}",
        "invalid_unicode": json.dumps({**good, "tickers": ["AAPL", "\udfff"]}).encode(),
        "unknown_schema_version": json.dumps({**good, "schema_version": 9}).encode(),
        "missing_field": json.dumps({k: v for k, v in good.items() if k != drop}).encode(),
        "wrong_type": json.dumps({**good, **retype}).encode(),
        "text_too_long": json.dumps({**good, text_field: "a" * (max_text_chars + 1)}).encode(),
        "empty_text": json.dumps({**good, text_field: " \u200b\x00 \ufeff"}).encode(),
        "invalid_ticker": json.dumps({**good, "tickers": ["AAPL", "A B"]}).encode(),
        "too_many_tickers": json.dumps({**good, "tickers": ["AAPL"] * 1001}).encode(),
        "timestamp_out_of_range": json.dumps({**good, time_field: "0001-01-01T00:00:00Z"}).encode(),
    }
    if kind == "social":
        variants["value_out_of_range"] = json.dumps(
            {**good, "author": {"id": "u", "followers": 10**40}}).encode()
    assert set(variants) | {"value_out_of_range"} == set(RECORD_REASONS)  # noqa: S101
    return variants[reason]
