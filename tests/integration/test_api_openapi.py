"""The dashboard API against its own OpenAPI document, checked by an independent tool.

schemathesis generates requests from /openapi.json and checks every response (status codes,
schemas, headers) against the document; the app runs over a real Redis and a SQLite history,
with an admin token in SQL that every generated request carries (schemathesis's own
`ignored_auth` check also calls each operation without it and expects a refusal).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
import redis as redis_sync
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from streams.contracts import ScoredMention, utc_now
from streams.store import RedisKeys, RiskStore, connect
from tickerpulse.dashboard import build_dashboard
from tickerpulse.settings import Settings

pytestmark = pytest.mark.integration

PREFIX = f"tptest:{uuid.uuid4().hex[:12]}:"
REDIS_URL = "redis://127.0.0.1:6379/0"


def _settings(tmp: str) -> Settings:
    return Settings(
        redis={"url": REDIS_URL, "key_prefix": PREFIX},
        alerts={"database_url": f"sqlite:///{tmp}/alerts.db", "migrate_on_start": True},
    )


async def _seed(settings: Settings) -> None:
    store = RiskStore(connect(settings.redis), RedisKeys(PREFIX), settings.risk)
    now = datetime.now(UTC)
    mention = ScoredMention(
        doc_id="news:wire:1", ticker="ACME", kind="news", source="wire", published_at=now,
        excerpt="ACME cuts guidance", sentiment="negative",
        probabilities={"negative": 0.9, "neutral": 0.05, "positive": 0.05}, confidence=0.9,
        sentiment_source="entity", document_sentiment="negative",
        document_probabilities={"negative": 0.9, "neutral": 0.05, "positive": 0.05},
        document_confidence=0.9, relevance=1.0, relevance_kind="subject", link_confidence=1.0,
        model_version="t",
        scored_at=now,
    )
    try:
        await store.commit_batch([mention])
    finally:
        await store.redis.close()


def _app():  # type: ignore[no-untyped-def]
    import tempfile

    tmp = tempfile.mkdtemp(prefix="tp-openapi-")
    settings = _settings(tmp)
    asyncio.run(_seed(settings))
    dashboard = build_dashboard(settings)
    token = dashboard.tokens.create("schemathesis", "admin", utc_now())
    return dashboard.app, {"Authorization": f"Bearer {token}"}


APP, AUTH = _app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def _cleanup():  # type: ignore[no-untyped-def]
    yield
    client = redis_sync.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=PREFIX + "*"))
    if keys:
        client.delete(*keys)
    client.close()


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_document(case) -> None:  # type: ignore[no-untyped-def]
    response = case.call(headers=_auth(case))
    excluded = []
    if _longer_than_allowed(case, response):
        # JSON Schema cannot say "at most api.max_silence_days from now"; the description
        # does, and the 422 names the bound: the one schema-valid body the API refuses
        excluded.append(positive_data_acceptance)
    case.validate_response(response, excluded_checks=excluded, headers=_auth(case))


def _auth(case) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The valid token in place of the generated one; none where a negative case left the
    Authorization header out on purpose (then the API must refuse)."""
    negative = case.meta is not None and case.meta.generation.mode.is_negative
    if negative and "authorization" not in {k.lower() for k in (case.headers or {})}:
        return {}
    return AUTH


def _longer_than_allowed(case, response) -> bool:  # type: ignore[no-untyped-def]
    if (case.method, case.path) != ("POST", "/api/v1/silences") or response.status_code != 422:
        return False
    return "a silence lasts at most" in response.text
