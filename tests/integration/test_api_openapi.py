"""The dashboard API against its own OpenAPI document, checked by an independent tool.

schemathesis generates requests from /openapi.json and checks every response (status codes,
schemas, headers) against the document; the app runs over a real Redis and a SQLite history.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
import redis as redis_sync
import schemathesis
from hypothesis import HealthCheck, settings

from streams.contracts import ScoredMention
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
        relevance=1.0, relevance_kind="subject", link_confidence=1.0, model_version="t",
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
    return build_dashboard(settings).app


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())


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
    case.call_and_validate()
