"""The alert payload (versioned) sent to webhooks and the Kafka ``alerts`` topic.

``schema_version`` changes only with incompatible changes; the JSON Schema is exported to
``alerts/schemas/alert.v1.schema.json`` by :func:`export_schema` (kept in sync by a test).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from alerts.decision import Notification
from alerts.rules import Rule, parse_duration
from streams.contracts import RiskUpdate, ScoredMention
from streams.risk import apply_mention, assess, contributing_documents
from streams.settings import RiskSettings

PAYLOAD_VERSION: Literal[1] = 1
SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / f"alert.v{PAYLOAD_VERSION}.schema.json"


class _P(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RuleRef(_P):
    name: str = Field(description="Rule name from the rules file.")
    family: str = Field(description="Inhibition family (defaults to the name).")
    description: str = ""
    metric: str = Field(description="score, sentiment, sentiment_change, buzz_z, ...")
    direction: Literal["above", "below"]
    enter: float
    exit: float
    horizon: str | None = None
    value: float = Field(description="The metric's value when this was decided.")


class Risk(_P):
    score: float = Field(ge=0, le=100, description="Risk 0-100.")
    components: dict[str, float]
    sentiment: dict[str, float] = Field(description="Decayed sentiment per horizon, -1..1.")
    volume: dict[str, float]
    buzz_z: float
    negative_mentions: dict[str, float]
    as_of: AwareDatetime


class Window(_P):
    horizon: str | None = Field(description="The horizon the rule looks at, if any.")
    start: AwareDatetime
    end: AwareDatetime


class TopDocument(_P):
    id: str
    source: str
    kind: str
    excerpt: str = Field(description="Headline or text excerpt.")
    sentiment: str
    weight: float
    url: str | None = None


class AlertPayload(_P):
    """One notification: firing or resolved."""

    type: Literal["tickerpulse.alert"] = "tickerpulse.alert"
    timestamp: AwareDatetime = Field(description="When the alert was decided (Standard Webhooks "
                                                 "payload convention; equals decided_at).")
    schema_version: Literal[1] = PAYLOAD_VERSION
    event_id: str = Field(description="Idempotency key: equals webhook-id and the Kafka header.")
    fingerprint: str = Field(description="Stable per rule + ticker.")
    ticker: str
    rule: RuleRef
    severity: Literal["info", "warning", "critical"]
    status: Literal["firing", "resolved"]
    repeat: bool = Field(description="A reminder of an alert that is still firing.")
    started_at: AwareDatetime
    decided_at: AwareDatetime
    risk: Risk
    window: Window
    top_documents: list[TopDocument]
    model_version: str
    rules_version: str
    dashboard_url: str

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode("utf-8")


def build_payload(
    note: Notification,
    rule: Rule,
    update: RiskUpdate,
    *,
    rules_version: str,
    public_url: str,
    max_documents: int = 5,
) -> AlertPayload:
    c = rule.condition
    span = parse_duration(c.horizon) if c.horizon else None
    end = update.as_of
    start = end - (span or timedelta(0)) if span else min(note.started_at, end)
    docs = sorted(update.top_documents, key=lambda d: abs(d.weight), reverse=True)
    return AlertPayload(
        timestamp=note.decided_at,
        event_id=note.event_id,
        fingerprint=note.fingerprint,
        ticker=note.ticker,
        rule=RuleRef(name=rule.name, family=rule.family, description=rule.description,
                     metric=c.metric, direction=c.direction, enter=c.enter, exit=c.exit,
                     horizon=c.horizon, value=note.value),
        severity=rule.severity,
        status=note.status,
        repeat=note.repeat,
        started_at=note.started_at,
        decided_at=note.decided_at,
        risk=Risk(score=update.score, components=dict(update.components),
                  sentiment=dict(update.sentiment), volume=dict(update.volume),
                  buzz_z=update.buzz_z, negative_mentions=dict(update.negative_mentions),
                  as_of=update.as_of),
        window=Window(horizon=c.horizon, start=start, end=end),
        top_documents=[TopDocument(id=d.doc_id, source=d.source, kind=d.kind, excerpt=d.excerpt,
                                   sentiment=d.sentiment, weight=d.weight, url=d.url)
                       for d in docs[:max_documents]],
        model_version=update.model_version,
        rules_version=rules_version,
        dashboard_url=f"{public_url.rstrip('/')}/tickers/{note.ticker}",
    )


# The sample's story: a quiet, positive day for ACME, then a missed quarter and a burst of
# negative news and posts in the last quarter of an hour.
_SAMPLE_DAY = ("ACME expected to beat estimates, analysts say", "ACME opens new plant")
_SAMPLE_BURST = ("ACME misses earnings, cuts guidance", "$ACME guidance cut is brutal",
                 "ACME shares fall 9% after guidance cut", "Dumping $ACME, what a disaster")
_SAMPLE_MENTIONS = (  # (minutes before the alert, kind, sentiment, excerpt)
    *((1400 - 100 * i, "news", "positive", _SAMPLE_DAY[i % 2]) for i in range(12)),
    *((14 - i, ("news", "social")[i % 2], "negative", _SAMPLE_BURST[i % 4]) for i in range(14)),
)
_SAMPLE_PROBABILITIES = {
    "negative": {"negative": 0.9, "neutral": 0.08, "positive": 0.02},
    "neutral": {"negative": 0.1, "neutral": 0.8, "positive": 0.1},
    "positive": {"negative": 0.02, "neutral": 0.08, "positive": 0.9},
}


def sample_risk(at: datetime) -> tuple[Risk, list[TopDocument]]:
    """The risk of a ticker after a few sample mentions, computed by the real scoring
    (streams.risk), so its components and horizons are the ones real alerts carry."""
    state = None
    settings = RiskSettings()
    for i, (minutes, kind, sentiment, excerpt) in enumerate(_SAMPLE_MENTIONS):
        when = at - timedelta(minutes=minutes)
        probabilities = _SAMPLE_PROBABILITIES[sentiment]
        mention = ScoredMention.model_validate({  # a version 1 record: read by every version
            "schema_version": 1, "doc_id": f"{kind}:sample:{i}", "ticker": "ACME", "kind": kind,
            "source": "sample", "published_at": when, "excerpt": excerpt, "sentiment": sentiment,
            "probabilities": probabilities, "confidence": max(probabilities.values()),
            "relevance": 1.0, "relevance_kind": "subject", "link_confidence": 1.0,
            "followers": 5000, "model_version": "sample", "scored_at": when,
        })
        state = apply_mention(state, mention, at, settings)
    assert state is not None  # noqa: S101 - the sample has mentions
    a = assess(state, at, settings)
    risk = Risk(score=a.score, components=a.components, sentiment=a.sentiment, volume=a.volume,
                buzz_z=a.buzz_z, negative_mentions=a.negative_mentions, as_of=at)
    docs = [TopDocument(id=d.doc_id, source=d.source, kind=d.kind, excerpt=d.excerpt,
                        sentiment=d.sentiment, weight=d.weight, url=d.url)
            for d in contributing_documents(a.top)]
    return risk, docs


def sample_payload(
    public_url: str = "http://127.0.0.1:8080", event: str = "evt_test"
) -> AlertPayload:
    """A realistic sample alert for `webhook send-test` and the docs."""
    at = datetime.fromisoformat("2026-01-05T14:30:00+00:00")
    risk, docs = sample_risk(at)
    return AlertPayload(
        timestamp=at, event_id=event, fingerprint="0000000000000000", ticker="ACME",
        rule=RuleRef(name="send-test", family="send-test", description="A test alert.",
                     metric="score", direction="above", enter=60, exit=50, value=risk.score),
        severity="warning", status="firing", repeat=False, started_at=at, decided_at=at,
        risk=risk, window=Window(horizon=None, start=at, end=at), top_documents=docs[:3],
        model_version="sample", rules_version="sample",
        dashboard_url=f"{public_url.rstrip('/')}/tickers/ACME",
    )


def schema_json() -> str:
    """The payload's JSON Schema (draft 2020-12), as the file holds it."""
    schema = AlertPayload.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://tickerpulse.dev/schemas/alert.v{PAYLOAD_VERSION}.schema.json"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def export_schema(path: Path = SCHEMA_PATH) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(schema_json(), encoding="utf-8")
    return path
