"""Redis clients (one node or a cluster) that treat Redis's failures for what they are.

- unreachable, timeouts, and the replies of a Redis that is up but cannot take writes now
  (``OOM``, ``READONLY``, ``LOADING``, ``MASTERDOWN``, ``TRYAGAIN``, ``CLUSTERDOWN``, ``BUSY``,
  ``NOREPLICAS``, a failover in progress): **backpressure**. The call waits and retries with
  capped exponential backoff (``redis.retry_forever``), counted in ``outages``; with retrying
  off it raises :class:`~streams.errors.StoreUnavailable` (a ``StoreError``: an outage, never
  a bad message).
- ``WRONGPASS`` / ``NOAUTH`` / ``NOPERM``: a :class:`~streams.errors.ConfigurationError`
  naming the server (never the password), at once: retrying cannot fix credentials.

:func:`check_server` is the start-up check (eviction policy, persistence, credentials).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.asyncio as aioredis
from redis import exceptions as rexc
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster

from streams.errors import ConfigurationError, StoreUnavailable
from streams.settings import RedisSettings

log = logging.getLogger(__name__)
T = TypeVar("T")
AnyRedis = Any  # redis.asyncio.Redis or redis.asyncio.cluster.RedisCluster

_AUTH = (rexc.AuthenticationError, rexc.AuthenticationWrongNumberOfArgsError,
         rexc.AuthorizationError, rexc.NoPermissionError)
_BACKPRESSURE = (rexc.ConnectionError, rexc.TimeoutError, rexc.BusyLoadingError,
                 rexc.OutOfMemoryError, rexc.ReadOnlyError, rexc.TryAgainError,
                 rexc.ClusterError, rexc.RedisClusterException, OSError)
_PROGRAMMING = (rexc.CrossSlotTransactionError, rexc.InvalidPipelineStack)  # bugs: no retry
_BACKPRESSURE_REPLIES = ("OOM", "READONLY", "LOADING", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN",
                         "BUSY", "NOREPLICAS", "FAILOVER", "UNBLOCKED")
_AUTH_REPLIES = ("NOAUTH", "WRONGPASS", "NOPERM")
EVICTING = ("allkeys-lru", "allkeys-lfu", "allkeys-random",
            "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl")


def classify(exc: BaseException) -> str | None:
    """``"auth"``, ``"backpressure"`` or None (a bug or a bad request: not retried)."""
    reply = str(exc).lstrip("-").split(" ", 1)[0].upper()
    if isinstance(exc, _AUTH) or reply in _AUTH_REPLIES:
        return "auth"
    if isinstance(exc, _PROGRAMMING):
        return None
    if isinstance(exc, _BACKPRESSURE) or (
            isinstance(exc, rexc.ResponseError) and reply in _BACKPRESSURE_REPLIES):
        return "backpressure"
    return None


def is_cluster(settings: RedisSettings) -> bool:
    return settings.cluster or urlsplit(settings.url).scheme.endswith("+cluster")


def _plain_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme=parts.scheme.replace("+cluster", "")))


def where(settings: RedisSettings) -> str:
    """host:port of the URL, never its credentials."""
    parts = urlsplit(settings.url)
    return f"{parts.hostname or '127.0.0.1'}:{parts.port or 6379}"


def auth_error(settings: RedisSettings, exc: BaseException) -> ConfigurationError:
    reply = str(exc).split(" ", 1)[0] if str(exc) else type(exc).__name__
    return ConfigurationError(
        f"Redis at {where(settings)} refused the credentials in redis.url "
        f"({reply}): fix the user/password (TICKERPULSE_REDIS__URL) or the ACL")


class RetryingRedis:
    """Runs Redis operations, retrying backpressure with capped exponential backoff.

    With ``retry_forever`` (the default) an operation never fails on an outage: it waits, so
    the agent stops consuming (backpressure) and no message is skipped. Operations passed in
    must be idempotent: a retry may follow a write whose reply was lost. ``recoveries`` counts
    the outages that ended; the risk store re-commits its recent batches after one (the
    restarted or promoted Redis may have lost the last second of writes).
    """

    def __init__(
        self, client: AnyRedis, retry_forever: bool = True, max_backoff_s: float = 2.0,
        settings: RedisSettings | None = None,
    ) -> None:
        self.client = client
        self.retry_forever = retry_forever
        self.max_backoff_s = max_backoff_s
        self.settings = settings or RedisSettings()
        self.cluster = isinstance(client, AsyncRedisCluster)
        self.outages = 0  # a metric: how many times Redis was found unusable
        self.recoveries = 0

    async def run(self, op: Callable[[AnyRedis], Awaitable[T]], what: str = "redis") -> T:
        delay = 0.05
        failures = 0
        while True:
            try:
                result = await op(self.client)
            except Exception as exc:
                kind = classify(exc)
                if kind == "auth":
                    raise auth_error(self.settings, exc) from None
                if kind is None:
                    raise
                failures += 1
                if failures == 1:
                    self.outages += 1
                if not self.retry_forever and failures >= 3:
                    raise StoreUnavailable(f"{what}: Redis unavailable: {exc}") from exc
                log.warning("%s: Redis unavailable (%s); retry %d in %.2fs", what, exc,
                            failures, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff_s)
                continue
            if failures:
                self.recoveries += 1
                log.warning("%s: Redis reachable again after %d retries", what, failures)
            return result

    async def close(self) -> None:
        await self.client.aclose()


def connect(settings: RedisSettings) -> RetryingRedis:
    """A client for ``redis.url``: a cluster client for ``redis+cluster://`` or ``cluster``."""
    url = _plain_url(settings.url)
    kw: dict[str, Any] = dict(socket_timeout=5.0, socket_connect_timeout=2.0,
                              decode_responses=False)
    client: AnyRedis = (AsyncRedisCluster.from_url(url, **kw) if is_cluster(settings)
                        else aioredis.Redis.from_url(url, **kw))
    return RetryingRedis(client, retry_forever=settings.retry_forever, settings=settings)


def _server_facts(client: Any) -> dict[str, str]:
    """maxmemory-policy and persistence of one node (CONFIG GET, else INFO on managed Redis)."""
    facts: dict[str, str] = {}
    try:
        cfg = client.config_get("maxmemory-policy")
        cfg.update(client.config_get("appendonly"))
        cfg.update(client.config_get("save"))
        facts = {k.decode() if isinstance(k, bytes) else k:
                 v.decode() if isinstance(v, bytes) else str(v) for k, v in cfg.items()}
    except rexc.ResponseError as exc:  # CONFIG renamed or forbidden (managed services)
        if classify(exc) == "auth" and "NOPERM" not in str(exc).upper():
            raise
        log.info("CONFIG GET refused (%s); reading INFO instead", exc)
    if "maxmemory-policy" not in facts:
        info = client.info("memory")
        facts["maxmemory-policy"] = str(info.get("maxmemory_policy", "unknown"))
    if "appendonly" not in facts:
        info = client.info("persistence")
        facts["appendonly"] = "yes" if info.get("aof_enabled") else "no"
        facts["save"] = "unknown"
    return facts


def _check_node(name: str, facts: dict[str, str], settings: RedisSettings) -> None:
    policy = facts["maxmemory-policy"]
    if policy in EVICTING and not settings.allow_eviction:
        raise ConfigurationError(
            f"Redis at {name} has maxmemory-policy {policy}: it would evict risk state and "
            f"counted doc ids (double counting); set it to noeviction, or allow it with "
            f"TICKERPULSE_REDIS__ALLOW_EVICTION=true")
    if policy == "unknown":
        log.warning("Redis at %s: maxmemory-policy unknown (neither CONFIG nor INFO said); "
                    "it must be noeviction", name)
    if facts["appendonly"] != "yes" and facts.get("save", "") in ("", '""'):
        log.warning("Redis at %s keeps nothing on disk (no AOF, no RDB): a restart loses every "
                    "ticker's risk state and counted doc ids", name)
    elif facts["appendonly"] != "yes":
        log.warning("Redis at %s has no AOF (RDB only): a crash loses the writes since the "
                    "last snapshot; appendonly yes, appendfsync everysec is recommended", name)


def check_server(settings: RedisSettings, timeout_s: float | None = None) -> dict[str, str]:
    """Start-up check: credentials, eviction policy and persistence of every master.

    Raises ConfigurationError (bad credentials, evicting policy), StoreUnavailable when Redis
    stays unreachable (``timeout_s``, or 3 tries with ``retry_forever`` off). Waits otherwise.
    """
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    delay, failures = 0.1, 0
    kw: dict[str, Any] = dict(socket_timeout=5.0, socket_connect_timeout=2.0)
    while True:
        try:
            if is_cluster(settings):
                cluster = RedisCluster.from_url(_plain_url(settings.url), **kw)
                try:
                    primaries = cluster.get_primaries()  # type: ignore[no-untyped-call]
                    nodes = [(n.name, n.redis_connection) for n in primaries]
                    found = {name: _server_facts(conn) for name, conn in nodes}
                finally:
                    cluster.close()
            else:
                single = redis.Redis.from_url(settings.url, **kw)
                try:
                    found = {where(settings): _server_facts(single)}
                finally:
                    single.close()
            for name, facts in found.items():
                _check_node(name, facts, settings)
            return next(iter(found.values()))
        except Exception as exc:
            kind = classify(exc)
            if kind == "auth":
                raise auth_error(settings, exc) from None
            if kind is None:
                raise
            failures += 1
            out_of_time = deadline is not None and time.monotonic() > deadline
            if out_of_time or (not settings.retry_forever and failures >= 3):
                raise StoreUnavailable(
                    f"Redis at {where(settings)} is not usable: {exc}") from None
            log.warning("Redis at %s not usable yet (%s); waiting", where(settings), exc)
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
