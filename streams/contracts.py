"""Typed, versioned, immutable records: the only shapes that cross a topic.

Input (produced by feeds):      NewsArticle on ``news.raw``, SocialPost on ``social.raw``,
                                Filing on ``filings.raw`` (the table of input sources, with
                                their topics and weights, is :mod:`streams.sources`).
Internal / output (ours):       Document on ``docs``, ScoredMention on ``scored`` (one per
                                document x ticker, key = ticker), RiskUpdate on ``risk``
                                (key = ticker), ReviewCandidate on ``review`` (key =
                                doc_id: a text worth a human label).

Every record carries ``schema_version``; a record with a version its contract does not accept
(:func:`accepted_versions`) is dead-lettered. JSON Schemas for producers and subscribers are
exported by :func:`export_schemas`, one file per contract and version.

ScoredMention is at version 2: ``sentiment``/``probabilities``/``confidence`` are about the
mention's ticker (``sentiment_source`` says whether the model's target head gave them or they
are the document's), and ``document_*`` carry the document's overall sentiment. A version 1
record is still accepted and read as version 2 with the document's sentiment as the ticker's
(see docs/input-contracts.md, "ScoredMention v2").
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from models.review import REVIEW_REASONS, ReviewReason
from models.tickers import MAX_TICKER_LENGTH, TICKER_PATTERN

SCHEMA_VERSION = 1
"""The version of every contract but ScoredMention (2): see :func:`accepted_versions`."""

Sentiment = Literal["negative", "neutral", "positive"]
DocumentKind = Literal["news", "social", "filing"]
"""One per input source (:data:`streams.sources.SOURCES`)."""
MAX_COUNT = 10**10
"""Upper bound of every count (followers, likes, reposts, replies): more is not a real count."""
Ticker = Annotated[str, StringConstraints(pattern=TICKER_PATTERN, max_length=MAX_TICKER_LENGTH)]
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
HINTS_DOC = ("Optional ticker hints: each, once trimmed of spaces and one leading '$' and "
             "upper-cased, must match " + TICKER_PATTERN + " (at most "
             f"{MAX_TICKER_LENGTH} characters); at most stream.max_ticker_hints entries.")


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json().encode("utf-8")


# ---- input contracts -----------------------------------------------------------------


class NewsArticle(_Record):
    """A news wire article (topic ``news.raw``)."""

    schema_version: Literal[1] = Field(description="Contract version; only 1 is accepted.")
    id: str = Field(min_length=1, max_length=256, description="Publisher's article id.")
    source: str = Field(min_length=1, max_length=128, description="Wire or publisher name.")
    published_at: AwareDatetime = Field(description="Publication time, ISO 8601 with zone.")
    headline: str = Field(description="Headline; must not be blank.")
    body: str | None = Field(default=None, description="Article body, optional.")
    url: str = Field(min_length=1, max_length=2048, description="Canonical URL.")
    tickers: list[str] = Field(default_factory=list, description=HINTS_DOC)
    language: str = Field(default="en", min_length=2, max_length=8, description="ISO 639-1.")


class Author(_Record):
    id: str = Field(min_length=1, max_length=256)
    followers: int = Field(ge=0, le=MAX_COUNT)
    verified: bool = False


class Engagement(_Record):
    likes: int = Field(default=0, ge=0, le=MAX_COUNT)
    reposts: int = Field(default=0, ge=0, le=MAX_COUNT)
    replies: int = Field(default=0, ge=0, le=MAX_COUNT)


class SocialPost(_Record):
    """A social media post (topic ``social.raw``)."""

    schema_version: Literal[1] = Field(description="Contract version; only 1 is accepted.")
    id: str = Field(min_length=1, max_length=256, description="Platform's post id.")
    platform: str = Field(min_length=1, max_length=64, description="e.g. x, stocktwits, reddit.")
    created_at: AwareDatetime = Field(description="Post time, ISO 8601 with zone.")
    text: str = Field(description="Post text; must not be blank.")
    author: Author
    engagement: Engagement = Field(default_factory=Engagement)
    tickers: list[str] = Field(default_factory=list, description=HINTS_DOC)
    language: str = Field(default="en", min_length=2, max_length=8)


class Filing(_Record):
    """An SEC filing or a company press release, about its issuer(s) (topic ``filings.raw``)."""

    schema_version: Literal[1] = Field(description="Contract version; only 1 is accepted.")
    id: str = Field(min_length=1, max_length=256,
                    description="Accession number or the publisher's release id.")
    source: str = Field(min_length=1, max_length=128,
                        description="Where it was filed or released, e.g. sec-edgar, "
                        "businesswire, the issuer's newsroom.")
    form_type: str = Field(min_length=1, max_length=32,
                           description="SEC form (8-K, 10-Q, 6-K, ...) or press-release.")
    filed_at: AwareDatetime = Field(description="Filing or release time, ISO 8601 with zone.")
    issuers: list[str] = Field(min_length=1, description="The issuers' tickers, at least one; "
                               + HINTS_DOC.removeprefix("Optional ticker hints: "))
    title: str = Field(description="Title or headline; must not be blank.")
    body: str | None = Field(default=None, description="Text of the filing or release, optional.")
    url: str = Field(min_length=1, max_length=2048, description="Canonical URL.")
    language: str = Field(default="en", min_length=2, max_length=8, description="ISO 639-1.")


# ---- internal / output contracts ------------------------------------------------------


class Novelty(_Record):
    """Whether a document is fresh evidence or a (near-)repeat of a recent one."""

    duplicate_of: str | None = Field(default=None, description="doc_id of the original.")
    kind: Literal["fresh", "exact", "near"] = "fresh"
    similarity: float = Field(default=0.0, ge=0.0, le=1.0)


class Document(_Record):
    """A validated, normalised text (topic ``docs``, key = doc_id)."""

    schema_version: Literal[1] = 1
    doc_id: str = Field(
        description="Globally unique: '<kind>:<source>:<id>', with '%' and ':' in source and "
        "id written '%25' and '%3A'.")
    kind: DocumentKind
    source: str = Field(description="News source or social platform.")
    published_at: AwareDatetime
    text: str = Field(description="What the model reads (headline + body, or the post).")
    excerpt: str = Field(description="Headline or the first 200 characters of the post.")
    url: str | None = None
    ticker_hints: list[Ticker] = Field(default_factory=list)
    followers: Count = 0
    verified: bool = False
    engagement: Engagement = Field(default_factory=Engagement)
    novelty: Novelty = Field(default_factory=Novelty)
    ingested_at: AwareDatetime


Probabilities = dict[Sentiment, float]
V2_ONLY_FIELDS = ("sentiment_source", "document_sentiment", "document_probabilities",
                  "document_confidence")


class ScoredMention(_Record):
    """One document x ticker, scored (topic ``scored``, key = ticker).

    Version 2: the sentiment fields are about this ticker; ``document_*`` are the document's.
    A version 1 record (no ``document_*``, one sentiment for the whole document) is read as
    version 2 with ``sentiment_source`` "document" and the document fields copied from it."""

    ACCEPTS: ClassVar[tuple[int, ...]] = (1, 2)

    schema_version: Literal[2] = Field(
        default=2, description="Contract version 2; a version 1 record is read as version 2.")
    doc_id: str
    ticker: Ticker
    kind: DocumentKind
    source: str
    published_at: AwareDatetime
    excerpt: str
    url: str | None = None
    sentiment: Sentiment = Field(description="What the text says about this ticker.")
    probabilities: Probabilities = Field(
        description="negative/neutral/positive about this ticker.")
    confidence: float = Field(ge=0.0, le=1.0, description="Max of probabilities.")
    sentiment_source: Literal["entity", "document"] = Field(
        description="'entity': the model's target head on the ticker's spans; 'document': the "
        "document's sentiment (no target head, or the ticker was only hinted).")
    document_sentiment: Sentiment = Field(description="What the text says overall.")
    document_probabilities: Probabilities = Field(description="The document's probabilities.")
    document_confidence: float = Field(ge=0.0, le=1.0, description="Max of those.")
    relevance: float = Field(ge=0.0, le=1.0, description="1 = subject of the text.")
    relevance_kind: Literal["subject", "mention"]
    link_confidence: float = Field(ge=0.0, le=1.0, description="Ticker link confidence.")
    followers: Count = 0
    verified: bool = False
    engagement: Engagement = Field(default_factory=Engagement)
    novelty: Novelty = Field(default_factory=Novelty)
    model_version: str
    scored_at: AwareDatetime
    ingested_at: AwareDatetime | None = Field(
        default=None, description="When its document was ingested (latency metrics).")

    @model_validator(mode="before")
    @classmethod
    def _read_v1_as_v2(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("schema_version") != 1:
            return data
        extra = [k for k in V2_ONLY_FIELDS if k in data]
        if extra:
            raise ValueError(f"version 1 record with version 2 fields: {', '.join(extra)}")
        return {**data, "schema_version": 2, "sentiment_source": "document",
                "document_sentiment": data.get("sentiment"),
                "document_probabilities": data.get("probabilities"),
                "document_confidence": data.get("confidence")}


class ContributingDocument(_Record):
    doc_id: str
    source: str
    kind: DocumentKind
    excerpt: str
    sentiment: Sentiment
    weight: float
    url: str | None = None


class RiskUpdate(_Record):
    """Per-ticker risk after one scored mention (topic ``risk``, key = ticker)."""

    schema_version: Literal[1] = 1
    ticker: str
    as_of: AwareDatetime
    score: float = Field(ge=0.0, le=100.0, description="Risk 0-100, higher = more risk.")
    components: dict[str, float] = Field(description="Named inputs of the score.")
    sentiment: dict[str, float] = Field(description="Decayed sentiment per horizon, -1..1.")
    volume: dict[str, float] = Field(description="Decayed mention volume per horizon.")
    buzz_z: float = Field(description="Mention volume z-score against the ticker's baseline.")
    negative_mentions: dict[str, float] = Field(description="Decayed negative count per horizon.")
    mentions_total: int = Field(ge=0)
    top_documents: list[ContributingDocument] = Field(default_factory=list)
    model_version: str
    trigger_doc_id: str = Field(description="The last mention folded into this update.")
    trigger_doc_ids: list[str] = Field(
        default_factory=list,
        description="Every mention folded into this update (one batch of the ticker), in order.",
    )


class ReviewTarget(_Record):
    """A ticker's or entity's own predicted sentiment in a review candidate."""

    text: str = Field(max_length=256, description="Surface text in the document ('' when "
                      "the ticker was only hinted).")
    ticker: str | None = Field(default=None, max_length=64,
                               description="The linked ticker; null for another entity.")
    label: Sentiment
    confidence: float = Field(ge=0.0, le=1.0)
    source: Literal["entity", "document"] = Field(
        description="'entity': the target head; 'document': the document's, given to it.")


# The longest document id ingest makes: `filing:` + a 128-character source and a 256-character
# id, each character of them escaped to at most 3 (streams.text.doc_id_for); the review
# queue's SQL columns hold what these bounds let through, so no record stalls its consumer.
MAX_DOC_ID_LENGTH = len("filing::") + 3 * (128 + 256)
MAX_MODEL_VERSION_LENGTH = 512


class ReviewCandidate(_Record):
    """A fresh document worth a human label (topic ``review``, key = doc_id): see
    docs/review.md for the reasons and the priority."""

    schema_version: Literal[1] = 1
    doc_id: str = Field(min_length=1, max_length=MAX_DOC_ID_LENGTH)
    kind: DocumentKind
    source: str = Field(min_length=1, max_length=128)
    text: str = Field(max_length=20_000, description="The text, cut to "
                      "stream.review.max_text_chars.")
    text_truncated: bool = False
    text_hash: str = Field(min_length=1, max_length=64,
                           description="Hash of the whole normalised text (novelty's exact "
                           "hash): a second exact copy is not stored.")
    model_version: str = Field(max_length=MAX_MODEL_VERSION_LENGTH)
    label: Sentiment = Field(description="The document head's label.")
    probabilities: Probabilities
    confidence: float = Field(ge=0.0, le=1.0)
    reasons: list[ReviewReason] = Field(min_length=1, max_length=len(REVIEW_REASONS))
    priority: float = Field(ge=0.0, le=1.0)
    targets: list[ReviewTarget] = Field(default_factory=list, max_length=64)
    scored_at: AwareDatetime


ALL_CONTRACTS: dict[str, type[BaseModel]] = {
    "news_article": NewsArticle,
    "social_post": SocialPost,
    "filing": Filing,
    "document": Document,
    "scored_mention": ScoredMention,
    "risk_update": RiskUpdate,
    "review_candidate": ReviewCandidate,
}


def current_version(model: type[BaseModel]) -> int:
    """The version a contract writes (its ``schema_version`` literal)."""
    return int(max(get_args(model.model_fields["schema_version"].annotation)))


def accepted_versions(model: type[BaseModel]) -> tuple[int, ...]:
    """The versions a reader of this contract accepts (older ones are read as the current)."""
    return tuple(getattr(model, "ACCEPTS", (current_version(model),)))


def export_schemas(directory: Path) -> list[Path]:
    """Write one JSON Schema file per contract at its current version; returns the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in ALL_CONTRACTS.items():
        path = directory / f"{name}.v{current_version(model)}.schema.json"
        schema = model.model_json_schema()
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written


def utc_now() -> datetime:
    from datetime import UTC

    return datetime.now(UTC)
