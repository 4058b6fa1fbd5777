"""Redis as it really fails: evicting policies, credentials, OOM/READONLY/MASTERDOWN as
backpressure, and a SIGKILL under ``appendfsync everysec`` mid-stream.

Each test starts its own ``redis-server`` on a free port (streams.store.local), so the shared
Redis on 6379 is never reconfigured.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis as redis_sync
from redis import exceptions as rexc

from streams.errors import ConfigurationError, StoreUnavailable
from streams.settings import RedisSettings, RiskSettings
from streams.store import RedisKeys, RiskStore, check_server, connect
from streams.store.connection import classify
from streams.store.local import LocalRedis
from support.pipeline import pipeline_env
from support.records import mention

pytestmark = pytest.mark.integration
PASSWORD = "s3cret-Passw0rd-xyz"


@pytest.mark.parametrize(("exc", "kind"), [
    (rexc.ConnectionError("Connection refused"), "backpressure"),
    (rexc.TimeoutError("Timeout reading from socket"), "backpressure"),
    (rexc.BusyLoadingError("Redis is loading the dataset in memory"), "backpressure"),
    (rexc.OutOfMemoryError("command not allowed when used memory > 'maxmemory'"),
     "backpressure"),
    (rexc.ReadOnlyError("You can't write against a read only replica."), "backpressure"),
    (rexc.TryAgainError("Multiple keys request during rehashing of slot"), "backpressure"),
    (rexc.ClusterDownError("The cluster is down"), "backpressure"),
    (rexc.MasterDownError("Link with MASTER is down"), "backpressure"),
    (rexc.ResponseError("MASTERDOWN Link with MASTER is down"), "backpressure"),
    (rexc.ResponseError("NOREPLICAS Not enough good replicas to write."), "backpressure"),
    (rexc.AuthenticationError("invalid username-password pair or user is disabled."), "auth"),
    (rexc.ResponseError("NOAUTH Authentication required."), "auth"),
    (rexc.NoPermissionError("this user has no permissions to run the 'eval' command"), "auth"),
    (rexc.ResponseError("ERR wrong number of arguments for 'hget' command"), None),
    (rexc.DataError("Invalid input of type: 'dict'"), None),
    (rexc.SlotNotCoveredError("slot 42 is not covered by the cluster"), "backpressure"),
    (rexc.CrossSlotTransactionError("keys in different slots"), None),
    (ValueError("a bug"), None),
])
def test_redis_errors_are_classified(exc: Exception, kind: str | None) -> None:
    assert classify(exc) == kind


@pytest.mark.parametrize("policy", ["allkeys-lru", "volatile-ttl", "volatile-lfu"])
def test_an_evicting_policy_refuses_to_start_unless_allowed(policy: str) -> None:
    with LocalRedis(args=("--save", "", "--maxmemory-policy", policy)) as server:
        with pytest.raises(ConfigurationError, match=f"maxmemory-policy {policy}.*noeviction"):
            check_server(RedisSettings(url=server.url))
        facts = check_server(RedisSettings(url=server.url, allow_eviction=True))
        assert facts["maxmemory-policy"] == policy


def test_the_policy_is_read_from_info_when_config_is_disabled() -> None:
    args = ("--save", "", "--maxmemory-policy", "allkeys-lfu", "--rename-command", "CONFIG", "")
    with LocalRedis(args=args) as server:
        with pytest.raises(ConfigurationError, match="allkeys-lfu"):
            check_server(RedisSettings(url=server.url))


def test_noeviction_with_aof_passes(caplog: pytest.LogCaptureFixture) -> None:
    args = ("--save", "", "--appendonly", "yes", "--appendfsync", "everysec")
    with LocalRedis(args=args) as server:
        facts = check_server(RedisSettings(url=server.url))
    assert facts == {"maxmemory-policy": "noeviction", "appendonly": "yes", "save": ""}
    assert "keeps nothing on disk" not in caplog.text


async def test_a_wrong_password_is_one_clear_error_not_a_retry_loop() -> None:
    with LocalRedis(args=("--save", "", "--requirepass", PASSWORD)) as server:
        for url in (f"redis://:wrong-{PASSWORD[:4]}@127.0.0.1:{server.port}/0", server.url):
            settings = RedisSettings(url=url)
            with pytest.raises(ConfigurationError, match="refused the credentials") as info:
                check_server(settings)
            assert PASSWORD not in str(info.value) and "wrong-" not in str(info.value)
            redis = connect(settings)  # a password rotated while running: same, at once
            store = RiskStore(redis, RedisKeys("tp:"), RiskSettings())
            start = time.monotonic()
            with pytest.raises(ConfigurationError, match="refused the credentials"):
                await store.latest("AAPL")
            assert time.monotonic() - start < 5 and redis.outages == 0
            await redis.close()
        good = RedisSettings(url=f"redis://:{PASSWORD}@127.0.0.1:{server.port}/0")
        assert check_server(good)["maxmemory-policy"] == "noeviction"


def run_worker(env: dict[str, str], timeout_s: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tickerpulse.cli.main", "worker", "--agents", "aggregate"],
        env=env, capture_output=True, text=True, timeout=timeout_s)


@pytest.mark.slow
def test_worker_exits_with_one_line_on_eviction_policy_and_on_a_wrong_password(
    kafka_bootstrap: str, tmp_path: Path,
) -> None:
    import os

    base = {**os.environ, **pipeline_env(kafka_bootstrap, "", "tp:", "evict", None,
                                         str(tmp_path / "cache"), str(tmp_path / "faust"))}
    with LocalRedis(args=("--save", "", "--maxmemory-policy", "allkeys-lru")) as server:
        out = run_worker({**base, "TICKERPULSE_REDIS__URL": server.url})
        assert out.returncode != 0
        assert "maxmemory-policy allkeys-lru" in out.stderr.strip().splitlines()[-1]
        assert "Traceback" not in out.stderr
    with LocalRedis(args=("--save", "", "--requirepass", PASSWORD)) as server:
        url = f"redis://:not-{PASSWORD}@127.0.0.1:{server.port}/0"
        start = time.monotonic()
        out = run_worker({**base, "TICKERPULSE_REDIS__URL": url})
        assert out.returncode != 0 and time.monotonic() - start < 60
        assert "refused the credentials" in out.stderr.strip().splitlines()[-1]
        assert PASSWORD not in out.stderr + out.stdout
        assert "Traceback" not in out.stderr


def _fill_past_maxmemory(client: redis_sync.Redis) -> None:
    """2 MB of data, then maxmemory 1 MB: every write is refused with OOM until raised."""
    for i in range(20):
        client.set(f"fill:{i}", b"x" * 100_000)
    client.config_set("maxmemory", "1mb")


async def test_oom_is_backpressure_the_commit_waits_then_lands() -> None:
    now = datetime.now(UTC)
    with LocalRedis() as server:
        admin = redis_sync.Redis(port=server.port)
        _fill_past_maxmemory(admin)
        failing = connect(RedisSettings(url=server.url, retry_forever=False))
        with pytest.raises(StoreUnavailable, match="OOM|maxmemory"):
            await RiskStore(failing, RedisKeys("tp:"), RiskSettings()).commit_batch(
                [mention(1, at=now)])
        await failing.close()

        redis = connect(RedisSettings(url=server.url))
        store = RiskStore(redis, RedisKeys("tp:"), RiskSettings())
        task = asyncio.ensure_future(store.commit_batch([mention(i, at=now) for i in range(5)]))
        await asyncio.sleep(1.5)
        assert not task.done(), "an OOM must make the commit wait, not fail"
        admin.config_set("maxmemory", "0")
        result = await asyncio.wait_for(task, 30)
        assert result.counted == [True] * 5
        assert redis.outages == 1 and redis.recoveries == 1
        assert (await store.latest("AAPL")).mentions_total == 5  # type: ignore[union-attr]
        await redis.close()
        admin.close()


async def test_readonly_and_masterdown_are_backpressure() -> None:
    now = datetime.now(UTC)
    dead = LocalRedis()  # never started: a master that is down
    with LocalRedis() as server:
        admin = redis_sync.Redis(port=server.port)
        redis = connect(RedisSettings(url=server.url))
        store = RiskStore(redis, RedisKeys("tp:"), RiskSettings())
        await store.commit_batch([mention(1, at=now)])
        admin.replicaof("127.0.0.1", dead.port)  # a demoted master: READONLY on writes
        task = asyncio.ensure_future(store.commit_batch([mention(2, at=now)]))
        await asyncio.sleep(1.5)
        assert not task.done()
        admin.replicaof("NO", "ONE")  # promoted again (a failover's end)
        assert (await asyncio.wait_for(task, 30)).counted == [True]

        admin.config_set("replica-serve-stale-data", "no")
        admin.replicaof("127.0.0.1", dead.port)  # reads now answer MASTERDOWN
        read = asyncio.ensure_future(store.latest("AAPL"))
        await asyncio.sleep(1.5)
        assert not read.done()
        admin.replicaof("NO", "ONE")
        latest = await asyncio.wait_for(read, 30)
        assert latest is not None and latest.mentions_total == 2
        assert redis.outages == 2
        await redis.close()
        admin.close()
    dead.close()


# ---- SIGKILL under appendfsync everysec, mid-stream -------------------------------------


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    from models.testing import tiny_model_dir

    root = tmp_path_factory.mktemp("model")
    return str(tiny_model_dir(root)), str(root / "cache")


async def _counted_when(run, at_least: int, timeout_s: float = 90) -> int:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while (n := await run.store.mentions_counted()) < at_least:
        assert time.monotonic() < deadline, f"stuck at {n} counted: {run.worker.tail()}"
        await asyncio.sleep(0.1)
    return n


@pytest.mark.slow
async def test_redis_sigkill_with_everysec_mid_stream_loses_nothing(
    tiny_model: tuple[str, str], tmp_path: Path, kafka_bootstrap: str,
) -> None:
    """docs/redis.md: with ``appendfsync everysec`` a SIGKILL of redis-server loses nothing the
    kernel already has; an OS crash or power loss loses up to ~1-2 s of acknowledged commits
    (emulated here by restarting from a copy of the AOF taken a second before the kill). The
    worker, still running, re-commits its last ``redis.repair_window_s`` of batches when Redis
    is back, so either way every mention ends up counted exactly once."""
    import shutil

    from streams.feed import Feed
    from streams.producer import publish
    from support.pipeline import PipelineRun, explicit_pairs

    data = tmp_path / "redis"
    server = LocalRedis(data, args=(
        "--save", "", "--appendonly", "yes", "--appendfsync", "everysec")).start()
    run = PipelineRun(kafka_bootstrap, server.url, "tp:", tiny_model, tmp_path)
    try:
        messages = list(Feed(seed=17, run_id=run.name).messages(6_000))
        run.worker.start().wait_ready()
        producing = asyncio.ensure_future(publish(messages, run.kafka, rate=250))

        before = await _counted_when(run, 800)
        server.kill9()  # 1. the process dies, the kernel keeps what it wrote
        server.start()
        kept = await run.store.mentions_counted()

        await _counted_when(run, before + 800)
        shutil.copytree(data / "appendonlydir", tmp_path / "aof-copy")
        await asyncio.sleep(1.0)  # commits acknowledged after the copy...
        before_crash = await run.store.mentions_counted()
        server.kill9()  # 2. ...are lost as by an OS crash: restart from the older copy
        shutil.rmtree(data / "appendonlydir")
        shutil.copytree(tmp_path / "aof-copy", data / "appendonlydir")
        server.start()
        kept_crash = await run.store.mentions_counted()

        await producing
        pairs = await run.wait_all_counted({m.truth.doc_id for m in messages})
        await run.assert_exactly_once(pairs)
        assert explicit_pairs(messages) <= pairs
        assert run.worker.proc is not None and run.worker.proc.poll() is None, "worker died"
        log = run.worker.log_path.read_text(errors="replace")
        repairs = [int(n) for n in re.findall(r"(\d+) of them had been lost by Redis", log)]
        assert kept_crash < before_crash, "the emulated crash lost nothing: no test of repair"
        assert sum(repairs) >= before_crash - kept_crash > 0
        print(f"\nSIGKILL: {before} counted before, {kept} after the restart (nothing lost); "
              f"crash from a 1 s old AOF: {before_crash} before, {kept_crash} after, "
              f"{sum(repairs)} re-counted by the worker; final {len(pairs)}, exactly once")
    finally:
        await run.close()
        server.close()
