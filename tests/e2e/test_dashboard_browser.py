"""The dashboard page in a real browser (Debian Chromium), over a real Redis and SQL history.

Scored mentions go through the real RiskStore into Redis; the app is served by uvicorn on a
free port; Chromium loads the page, which must show the tickers ranked by risk and, on a click,
the ticker's components and top documents. Once an API token exists, the page asks for one,
refuses a wrong one, and with a right one (kept in sessionStorage) shows the same board. The
chart has a time axis, risk labels and one point per SQL snapshot; the silences panel adds and
expires silences through the API (an admin token when the API has tokens).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import threading
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from streams.contracts import ScoredMention
from tickerpulse.embedded import free_port, wait_for_port
from tickerpulse.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _mention(doc: int, ticker: str, sentiment: str, p: float) -> ScoredMention:
    rest = (1.0 - p) / 2
    probs = {"negative": rest, "neutral": rest, "positive": rest} | {sentiment: p}
    now = datetime.now(UTC) - timedelta(seconds=doc)
    return ScoredMention(
        doc_id=f"news:wire:{ticker}-{doc}", ticker=ticker, kind="news", source="wire",
        published_at=now, excerpt=f"{ticker} headline number {doc}", url=None,
        sentiment=sentiment, probabilities=probs, confidence=p, relevance=1.0,  # type: ignore[arg-type]
        sentiment_source="entity", document_sentiment=sentiment,  # type: ignore[arg-type]
        document_probabilities=probs, document_confidence=p,  # type: ignore[arg-type]
        relevance_kind="subject", link_confidence=1.0, model_version="test-model",
        scored_at=now,
    )


async def _seed(settings: Settings, mentions: list[ScoredMention]) -> None:
    from streams.store import RedisKeys, RiskStore, connect

    store = RiskStore(connect(settings.redis), RedisKeys(settings.redis.key_prefix), settings.risk)
    try:
        await store.commit_batch(mentions)
    finally:
        await store.redis.close()


async def _latest(settings: Settings, ticker: str):  # type: ignore[no-untyped-def]
    from streams.store import RedisKeys, RiskStore, connect

    store = RiskStore(connect(settings.redis), RedisKeys(settings.redis.key_prefix), settings.risk)
    try:
        return await store.latest(ticker)
    finally:
        await store.redis.close()


@pytest.fixture
def served(redis_url: str, redis_prefix: str, tmp_path) -> str:  # type: ignore[no-untyped-def]
    yield from _serve(redis_url, redis_prefix, tmp_path, token_role=None)


@pytest.fixture
def served_with_token(redis_url: str, redis_prefix: str, tmp_path):  # type: ignore[no-untyped-def]
    yield from _serve(redis_url, redis_prefix, tmp_path, token_role="read")


@pytest.fixture
def served_with_history(redis_url: str, redis_prefix: str, tmp_path):  # type: ignore[no-untyped-def]
    yield from _serve(redis_url, redis_prefix, tmp_path, token_role=None, history=True)


@pytest.fixture
def served_with_admin(redis_url: str, redis_prefix: str, tmp_path):  # type: ignore[no-untyped-def]
    yield from _serve(redis_url, redis_prefix, tmp_path, token_role="read", admin=True)


HISTORY_HOURS_AGO = {20: 10.0, 12: 35.0, 6: 80.0, 1: 55.0}  # BADCO's risk snapshots


def _serve(redis_url: str, redis_prefix: str, tmp_path, token_role: str | None,  # type: ignore[no-untyped-def]
           history: bool = False, admin: bool = False):
    import uvicorn

    from streams.contracts import utc_now
    from tickerpulse.dashboard import build_dashboard

    settings = Settings(
        redis={"url": redis_url, "key_prefix": redis_prefix},
        alerts={"database_url": f"sqlite:///{tmp_path}/alerts.db", "migrate_on_start": True},
    )
    mentions = [_mention(i, "BADCO", "negative", 0.95) for i in range(6)]
    mentions += [_mention(i, "GOODCO", "positive", 0.9) for i in range(3)]
    asyncio.run(_seed(settings, mentions))
    dashboard = build_dashboard(settings)
    token = dashboard.tokens.create("browser", token_role, utc_now()) if token_role else None
    admin_token = dashboard.tokens.create("admin-browser", "admin", utc_now()) if admin else None
    if history:
        latest = asyncio.run(_latest(settings, "BADCO"))
        for hours, score in HISTORY_HOURS_AGO.items():
            dashboard.alerts.add_snapshots([latest.model_copy(update={"score": score})],
                                           utc_now() - timedelta(hours=hours))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(dashboard.app, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for_port("127.0.0.1", port)
    url = f"http://127.0.0.1:{port}"
    yield (url, token, admin_token) if admin else (url, token) if token_role else url
    server.should_exit = True
    thread.join(timeout=10)
    dashboard.alerts.close()


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian chromium not installed")
def test_page_ranks_tickers_and_shows_details(served: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking"],
        )
        page = browser.new_page()
        page.goto(served + "/")
        page.wait_for_selector("#board tbody tr.row", timeout=10_000)
        tickers = page.locator("#board tbody tr.row td:first-child").all_inner_texts()
        assert tickers == ["BADCO", "GOODCO"]
        scores = [float(s) for s in page.locator("#board td.score").all_inner_texts()]
        assert scores[0] > scores[1]
        page.locator("#board tr.row", has_text="GOODCO").click()
        page.wait_for_function("document.querySelector('#detail-title').textContent.startsWith('GOODCO')")
        assert page.url.endswith("/tickers/GOODCO")
        docs = page.locator("#docs li").all_inner_texts()
        assert docs and all("GOODCO headline" in d for d in docs)
        assert page.locator("#components tr").count() > 0
        page.screenshot(path=str(_artifacts() / "dashboard.png"), full_page=True)
        browser.close()


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian chromium not installed")
def test_page_asks_for_a_token_and_uses_it(served_with_token: tuple[str, str]) -> None:
    from playwright.sync_api import sync_playwright

    url, token = served_with_token
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking"],
        )
        page = browser.new_page()
        sent: list[str | None] = []
        page.on("request", lambda r: sent.append(r.headers.get("authorization"))
                if "/api/v1/risk" in r.url else None)
        page.goto(url + "/")
        page.wait_for_selector("#auth:not([hidden])", timeout=10_000)
        assert page.locator("#board tbody tr.row").count() == 0
        page.fill("#token-input", "tp_" + "wrong" * 9)
        page.click("#auth button[type=submit]")
        page.wait_for_function(
            "document.querySelector('#auth-error').textContent.includes('not valid')")
        page.screenshot(path=str(_artifacts() / "dashboard-token.png"))
        page.fill("#token-input", token)
        page.click("#auth button[type=submit]")
        page.wait_for_selector("#board tbody tr.row", timeout=10_000)
        page.wait_for_selector("#auth", state="hidden", timeout=10_000)
        tickers = page.locator("#board tbody tr.row td:first-child").all_inner_texts()
        assert tickers == ["BADCO", "GOODCO"]
        assert page.evaluate("sessionStorage.getItem('tickerpulse.api-token')") == token
        assert f"Bearer {token}" in sent and None in sent  # first without, then with
        page.reload()  # same tab: the token is still there, no prompt
        page.wait_for_selector("#board tbody tr.row", timeout=10_000)
        page.wait_for_selector("#auth", state="hidden", timeout=10_000)
        page.click("#signout")
        page.wait_for_selector("#auth:not([hidden])", timeout=10_000)
        browser.close()


def _browser(pw):  # type: ignore[no-untyped-def]
    return pw.chromium.launch(
        executable_path=CHROMIUM,
        args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
    )


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian chromium not installed")
def test_chart_has_a_time_axis_labels_and_the_snapshots(served_with_history: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = _browser(pw)
        page = browser.new_page()
        page.goto(served_with_history + "/tickers/BADCO")
        page.wait_for_function(
            f"document.querySelectorAll('#chart circle.point').length === {len(HISTORY_HOURS_AGO)}")
        assert page.locator("#chart .y-label").all_text_contents() == ["0", "25", "50", "75", "100"]
        times = page.locator("#chart .x-label").all_text_contents()
        assert len(times) == 5 and times[-1] == "now"
        assert all(re.fullmatch(r"\d{2}:\d{2}", t) for t in times[:-1]), times
        titles = " ".join(page.locator("#chart .axis-title").all_text_contents())
        assert "risk (0–100)" in titles and "time" in titles and "24 h" in titles
        points = page.eval_on_selector_all(
            "#chart circle.point",
            "cs => cs.map(c => [+c.getAttribute('cx'), +c.getAttribute('cy')])")
        xs = [x for x, _ in points]
        assert xs == sorted(xs) and len(set(xs)) == len(xs)  # oldest on the left
        highest = min(range(len(points)), key=lambda i: points[i][1])  # smallest y is on top
        assert list(HISTORY_HOURS_AGO.values())[highest] == max(HISTORY_HOURS_AGO.values())
        page.screenshot(path=str(_artifacts() / "dashboard-chart.png"), full_page=True)
        browser.close()


def _silences(url: str, token: str | None = None, expired: bool = False) -> list[dict]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = httpx.get(f"{url}/api/v1/silences", params={"include_expired": expired}, headers=headers)
    r.raise_for_status()
    return r.json()


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian chromium not installed")
def test_silences_panel_lists_adds_and_expires_silences(served: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = _browser(pw)
        page = browser.new_page()
        page.goto(served + "/")
        page.wait_for_selector("#board tbody tr.row", timeout=10_000)
        page.wait_for_selector("#silence-list tbody td.muted", timeout=10_000)  # none yet
        assert page.locator("#admin-token").is_hidden()  # an open API needs no admin token
        page.fill("#silence-form input[name=duration]", "forever")
        page.fill("#silence-form input[name=ticker]", "badco")
        page.click("#silence-form button[type=submit]")
        page.wait_for_function("document.querySelector('#silence-error').textContent !== ''")
        assert _silences(served) == []
        page.fill("#silence-form input[name=duration]", "2h")
        page.fill("#silence-form input[name=comment]", "earnings call")
        page.click("#silence-form button[type=submit]")
        page.wait_for_selector("#silence-list tbody tr[data-id]", timeout=10_000)
        row = page.locator("#silence-list tbody tr[data-id]").inner_text()
        assert "BADCO" in row and "earnings call" in row
        (stored,) = _silences(served)
        assert stored["ticker"] == "BADCO" and stored["active"] and stored["rule"] is None
        page.screenshot(path=str(_artifacts() / "dashboard-silences.png"), full_page=True)
        page.click(f"#silence-list button.expire[data-id='{stored['id']}']")
        page.wait_for_selector("#silence-list tbody td.muted", timeout=10_000)
        assert _silences(served) == []
        (expired,) = _silences(served, expired=True)
        assert expired["id"] == stored["id"] and not expired["active"]
        browser.close()


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian chromium not installed")
def test_silences_take_an_admin_token_when_the_api_has_auth(
    served_with_admin: tuple[str, str, str],
) -> None:
    from playwright.sync_api import sync_playwright

    url, read_token, admin_token = served_with_admin
    with sync_playwright() as pw:
        browser = _browser(pw)
        page = browser.new_page()
        page.goto(url + "/")
        page.wait_for_selector("#auth:not([hidden])", timeout=10_000)
        page.fill("#token-input", read_token)
        page.click("#auth button[type=submit]")
        page.wait_for_selector("#board tbody tr.row", timeout=10_000)
        page.wait_for_selector("#admin-token:not([hidden])", timeout=10_000)
        page.fill("#silence-form input[name=ticker]", "GOODCO")
        page.click("#silence-form button[type=submit]")  # the read token may not
        page.wait_for_function(
            "document.querySelector('#silence-error').textContent.includes('admin token')")
        assert _silences(url, read_token) == []
        page.fill("#admin-token", admin_token)
        page.click("#silence-form button[type=submit]")
        page.wait_for_selector("#silence-list tbody tr[data-id]", timeout=10_000)
        (stored,) = _silences(url, read_token)
        assert stored["ticker"] == "GOODCO" and stored["created_by"] == "admin-browser"
        assert page.evaluate("sessionStorage.getItem('tickerpulse.admin-token')") == admin_token
        assert page.input_value("#admin-token") == ""  # not left in the page
        browser.close()


def _artifacts():  # type: ignore[no-untyped-def]
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "var"
    path.mkdir(exist_ok=True)
    return path

