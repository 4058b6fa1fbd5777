"""The records the ML layer hands out: frozen, plain data, no torch types."""

from __future__ import annotations

from dataclasses import dataclass, field

SENTIMENT_LABELS: tuple[str, ...] = ("negative", "neutral", "positive")
ENTITY_TYPES: tuple[str, ...] = ("ORG", "PER", "LOC")
# BIO tags, index = class id of the token head.
ENTITY_TAGS: tuple[str, ...] = ("O",) + tuple(
    f"{prefix}-{kind}" for kind in ENTITY_TYPES for prefix in ("B", "I")
)


@dataclass(frozen=True)
class TargetSentiment:
    """What a text says about one entity or ticker (the model's target head on its spans)."""

    label: str  # negative | neutral | positive
    probabilities: dict[str, float]
    confidence: float
    source: str  # "entity": the target head on the ticker's spans | "document": fallback
    # ("document" when the model has no target head or the ticker is not in the text: a hint)


@dataclass(frozen=True)
class Entity:
    """A named-entity span in the original text (character offsets, end exclusive)."""

    text: str
    label: str  # "ORG" | "PER" | "LOC"
    start: int
    end: int
    score: float
    sentiment: TargetSentiment | None = None  # what the text says about it; set by the engine


@dataclass(frozen=True)
class TickerLink:
    """A ticker the text is about, and how sure and how central that is."""

    ticker: str
    confidence: float  # 0..1: is this really the ticker meant?
    relevance: float  # 0..1, 1 = the subject of the text
    relevance_kind: str  # "subject" | "mention"
    method: str  # "cashtag" | "symbol" | "name" | "alias" | "hint"
    text: str  # the matched surface text ("" for a hint not found in the text)
    spans: tuple[tuple[int, int], ...] = ()  # every place the text names it (char offsets)
    sentiment: TargetSentiment | None = None  # about this ticker; set by the engine


@dataclass(frozen=True)
class Prediction:
    """Everything one forward pass says about one text."""

    sentiment: str  # negative | neutral | positive
    probabilities: dict[str, float]
    confidence: float
    entities: tuple[Entity, ...] = field(default_factory=tuple)
    tickers: tuple[TickerLink, ...] = field(default_factory=tuple)
    model_version: str = ""
    targets: tuple[TargetSentiment, ...] = ()  # answers to spans a caller asked about
