"""The dashboard's feed-drift table in a real browser (Debian Chromium), over a real Redis:
the stream worker's latest readings (DriftStore) shown per kind, a large shift marked."""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from models.profile import CONFIDENCE_BINS
from streams.contracts import RiskUpdate
from streams.drift import DriftMonitor, Observation, references_by_kind
from tickerpulse.embedded import free_port, wait_for_port
from tickerpulse.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _readings() -> list[RiskUpdate]:
    hist = [0.0] * CONFIDENCE_BINS
    hist[-1] = 1.0
    source = {"n": 100, "label_shares": {"negative": 0.2, "neutral": 0.5, "positive": 0.3},
              "confidence_hist": hist, "no_ticker_share": 0.1, "unknown_token_share": 0.0}
    monitor = DriftMonitor(references_by_kind({"sources": {"fpb": source, "tfns": source}}),
                           min_texts=1)
    like = ([Observation("negative", 0.97, True)] * 20 + [Observation("neutral", 0.97, True)] * 50
            + [Observation("positive", 0.97, True)] * 30)
    monitor.observe("social", like)
    monitor.observe("news", [Observation("neutral", 0.4, False, 3, 10)] * 40)
    return monitor.due(1_767_600_000.0, "test-model")


async def _seed(settings: Settings, readings: list[RiskUpdate]) -> None:
    from streams.store import DriftStore, RedisKeys, connect

    redis = connect(settings.redis)
    try:
        await DriftStore(redis, RedisKeys(settings.redis.key_prefix)).save(readings)
    finally:
        await redis.close()


@pytest.fixture
def served(redis_url: str, redis_prefix: str, tmp_path: Path) -> Iterator[str]:
    import uvicorn

    from tickerpulse.dashboard import build_dashboard

    settings = Settings(
        redis={"url": redis_url, "key_prefix": redis_prefix},
        alerts={"database_url": f"sqlite:///{tmp_path}/alerts.db", "migrate_on_start": True},
    )
    asyncio.run(_seed(settings, _readings()))
    dashboard = build_dashboard(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(dashboard.app, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for_port("127.0.0.1", port)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    dashboard.alerts.close()


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian chromium not installed")
def test_drift_table_shows_each_kind_and_marks_a_large_shift(served: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking"],
        )
        page = browser.new_page()
        page.goto(served + "/")
        page.wait_for_selector("#drift-table tbody tr td.num", timeout=15_000)
        rows = page.locator("#drift-table tbody tr")
        cells = [r.locator("td").all_inner_texts() for r in rows.all()]
        assert [c[0] for c in cells] == ["news", "social"]
        news, social = cells
        assert news[1] == "40" and float(news[2]) > 0.25 and news[5] == "100.0%"
        assert news[6] == "30.00%"  # 3 unknown tokens of 10
        assert social[1] == "100" and float(social[2]) < 0.01 and social[5] == "0.0%"
        assert rows.nth(0).get_attribute("class") == "sev-warning"
        assert not rows.nth(1).get_attribute("class")
        page.locator("#drift").screenshot(path=str(served_artifacts() / "drift-table.png"))
        browser.close()


def served_artifacts() -> Path:
    path = Path(__file__).resolve().parents[2] / "var"
    path.mkdir(exist_ok=True)
    return path
