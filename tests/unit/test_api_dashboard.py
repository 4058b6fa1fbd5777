"""Dashboard routes over an in-memory reader (fast harness; the real-Redis test is integration)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from streams.contracts import RiskUpdate
from tickerpulse.api.app import create_app
from tickerpulse.api.risk import RiskPoint


def _update(ticker: str, score: float) -> RiskUpdate:
    return RiskUpdate(
        ticker=ticker,
        as_of=datetime(2026, 11, 28, 12, 0, tzinfo=UTC),
        score=score,
        components={"sentiment": 0.5},
        sentiment={"15m": -0.2, "1h": -0.1, "1d": 0.0},
        volume={"15m": 1.0, "1h": 2.0, "1d": 3.0},
        buzz_z=1.5,
        negative_mentions={"15m": 1.0, "1h": 1.0, "1d": 1.0},
        mentions_total=3,
        model_version="test",
        trigger_doc_id="news:x:1",
    )


class MemoryReader:
    def __init__(self, updates: list[RiskUpdate]) -> None:
        self.updates = {u.ticker: u for u in updates}

    async def latest_all(self) -> list[RiskUpdate]:
        return list(self.updates.values())

    async def latest(self, ticker: str) -> RiskUpdate | None:
        return self.updates.get(ticker)


async def _history(ticker: str, hours: int) -> list[RiskPoint]:
    return [RiskPoint(as_of=datetime(2026, 11, 28, h, tzinfo=UTC), score=10.0 * h) for h in (1, 2)]


@pytest.fixture
def client() -> httpx.AsyncClient:
    reader = MemoryReader([_update("AAPL", 20.0), _update("TSLA", 80.0), _update("MSFT", 50.0)])
    app = create_app(reader, _history)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_board_sorted_by_score_and_filtered(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/v1/risk", params={"min_score": 30})).json()
    assert body["count"] == 2
    assert [t["ticker"] for t in body["tickers"]] == ["TSLA", "MSFT"]


async def test_one_ticker_case_insensitive_and_404(client: httpx.AsyncClient) -> None:
    ok = await client.get("/api/v1/risk/tsla")
    assert ok.status_code == 200 and ok.json()["score"] == 80.0
    missing = await client.get("/api/v1/risk/NOPE")
    assert missing.status_code == 404 and "NOPE" in missing.json()["detail"]


async def test_history_and_page(client: httpx.AsyncClient) -> None:
    hist = (await client.get("/api/v1/risk/AAPL/history")).json()
    assert [p["score"] for p in hist["points"]] == [10.0, 20.0]
    page = await client.get("/tickers/AAPL")
    assert page.status_code == 200 and "Risk board" in page.text


async def test_openapi_documents_every_json_route(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.")
    assert {"/api/v1/risk", "/api/v1/risk/{ticker}", "/api/v1/risk/{ticker}/history"} <= set(
        spec["paths"]
    )
    assert "404" in spec["paths"]["/api/v1/risk/{ticker}"]["get"]["responses"]
