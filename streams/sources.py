"""The input sources: one table, one entry per raw topic the ingest agent reads.

An entry names the source's kind (``Document.kind``), its raw topic (dead letters go to
``<topic>.dlq``), the contract its producers write, what the codec checks of a valid record
(:class:`InputFacts`), how the record becomes the :class:`Document` the model reads, its
source weight in the risk score, and the model's validation set its drift is measured
against. Topic creation, the ingest agent, the codec, the risk score and the drift monitor
all read this table; nothing else lists the sources. Adding one is one entry here plus
its contract (and its kind in ``DocumentKind``) in :mod:`streams.contracts`::

    kind     topic         contract     weight in the risk score                  drift reference
    news     news.raw      NewsArticle  risk.news_weight                          fpb
    social   social.raw    SocialPost   risk.social_weight x reach x engagement   tfns
    filing   filings.raw   Filing       risk.filing_weight                        fpb
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from streams.contracts import (
    Document,
    DocumentKind,
    Filing,
    NewsArticle,
    ScoredMention,
    SocialPost,
)
from streams.errors import ConfigurationError
from streams.settings import RiskSettings
from streams.text import EXCERPT_CHARS, doc_id_for, normalise_text, ticker_hints

R = TypeVar("R", bound=BaseModel)


@dataclass(frozen=True)
class InputFacts:
    """What the codec checks of every valid input record, whatever its source."""

    ids: dict[str, str | None]  # identifiers that must hold printable characters only
    required_name: str  # what ``required_text`` is called in an empty_text detail
    required_text: str  # must not be blank once normalised
    text: str  # all of its text, bounded by stream.max_text_chars
    tickers: list[str]  # the producer's ticker hints (syntax and count checked)
    time_name: str  # the event-time field, for timestamp_out_of_range details
    event_time: datetime


@dataclass(frozen=True)
class InputSource(Generic[R]):
    kind: DocumentKind
    topic: str  # without the configured prefix
    contract: type[R]
    facts: Callable[[R], InputFacts]
    to_document: Callable[[R, datetime], Document]  # (valid record, ingest time)
    weight: Callable[[ScoredMention, RiskSettings], float]  # source weight of one mention
    # The model's validation set whose texts look like this source's: the drift reference
    # (streams/drift.py, models/profile.py).
    profile_source: str

    def document(self, record: BaseModel, ingested_at: datetime) -> Document:
        if not isinstance(record, self.contract):
            raise TypeError(f"{type(record).__name__} is not a {self.contract.__name__}")
        return self.to_document(record, ingested_at)


# ---- news.raw ---------------------------------------------------------------------------


def _news_facts(r: NewsArticle) -> InputFacts:
    return InputFacts({"id": r.id, "source": r.source, "url": r.url, "language": r.language},
                      "headline", r.headline, r.headline + ("\n" + r.body if r.body else ""),
                      r.tickers, "published_at", r.published_at)


def _news_document(r: NewsArticle, ingested_at: datetime) -> Document:
    headline = normalise_text(r.headline)
    body = normalise_text(r.body) if r.body else ""
    return Document(
        doc_id=doc_id_for("news", r.source, r.id), kind="news", source=r.source,
        published_at=r.published_at, text=f"{headline}. {body}" if body else headline,
        excerpt=headline[:EXCERPT_CHARS], url=r.url, ticker_hints=ticker_hints(r.tickers),
        ingested_at=ingested_at,
    )


def _news_weight(m: ScoredMention, cfg: RiskSettings) -> float:
    return cfg.news_weight


# ---- social.raw -------------------------------------------------------------------------


def _social_facts(r: SocialPost) -> InputFacts:
    return InputFacts({"id": r.id, "platform": r.platform, "author.id": r.author.id,
                       "language": r.language},
                      "post text", r.text, r.text, r.tickers, "created_at", r.created_at)


def _social_document(r: SocialPost, ingested_at: datetime) -> Document:
    text = normalise_text(r.text)
    return Document(
        doc_id=doc_id_for("social", r.platform, r.id), kind="social", source=r.platform,
        published_at=r.created_at, text=text, excerpt=text[:EXCERPT_CHARS], url=None,
        ticker_hints=ticker_hints(r.tickers), followers=r.author.followers,
        verified=r.author.verified, engagement=r.engagement, ingested_at=ingested_at,
    )


def _social_weight(m: ScoredMention, cfg: RiskSettings) -> float:
    """``risk.social_weight`` x reach (log10(1+followers)/6 in 0.05..1, x1.25 when verified)
    x engagement (1 + min(1, log10(1 + likes + 2 reposts + replies)/4))."""
    reach = min(1.0, max(0.05, math.log10(1 + m.followers) / 6)) * (1.25 if m.verified else 1.0)
    e = m.engagement
    engagement = 1 + min(1.0, math.log10(1 + e.likes + 2 * e.reposts + e.replies) / 4)
    return cfg.social_weight * reach * engagement


# ---- filings.raw ------------------------------------------------------------------------


def _filing_facts(r: Filing) -> InputFacts:
    return InputFacts({"id": r.id, "source": r.source, "form_type": r.form_type, "url": r.url,
                       "language": r.language},
                      "title", r.title, r.title + ("\n" + r.body if r.body else ""),
                      r.issuers, "filed_at", r.filed_at)


def _filing_document(r: Filing, ingested_at: datetime) -> Document:
    title = normalise_text(r.title)
    body = normalise_text(r.body) if r.body else ""
    return Document(
        doc_id=doc_id_for("filing", r.source, r.id), kind="filing", source=r.source,
        published_at=r.filed_at, text=f"{title}. {body}" if body else title,
        excerpt=title[:EXCERPT_CHARS], url=r.url, ticker_hints=ticker_hints(r.issuers),
        ingested_at=ingested_at,
    )


def _filing_weight(m: ScoredMention, cfg: RiskSettings) -> float:
    return cfg.filing_weight


# ---- the table ----------------------------------------------------------------------------

SOURCES: tuple[InputSource[Any], ...] = (
    InputSource("news", "news.raw", NewsArticle, _news_facts, _news_document, _news_weight,
                profile_source="fpb"),
    InputSource("social", "social.raw", SocialPost, _social_facts, _social_document,
                _social_weight, profile_source="tfns"),
    InputSource("filing", "filings.raw", Filing, _filing_facts, _filing_document,
                _filing_weight, profile_source="fpb"),
)
_BY_KIND: dict[str, InputSource[Any]] = {s.kind: s for s in SOURCES}
_BY_CONTRACT: dict[type[BaseModel], InputSource[Any]] = {s.contract: s for s in SOURCES}


def source_of(kind: str) -> InputSource[Any]:
    """The source of ``kind``; a kind with no entry is a configuration error, never a guess."""
    try:
        return _BY_KIND[kind]
    except KeyError:
        raise ConfigurationError(f"no input source of kind {kind!r}; known: "
                                 f"{', '.join(_BY_KIND)}") from None


def source_for(record: BaseModel) -> InputSource[Any]:
    """The source whose contract ``record`` is."""
    try:
        return _BY_CONTRACT[type(record)]
    except KeyError:
        raise TypeError(f"{type(record).__name__} is not an input contract") from None
